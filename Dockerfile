# tenantctl: the CLI, the bot and the tenant API in one slim image, run as an unprivileged user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tenantctl ./tenantctl
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 tenantctl
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
USER tenantctl
WORKDIR /home/tenantctl
ENV PYTHONUNBUFFERED=1 TENANTCTL_HOME=/home/tenantctl/data
VOLUME ["/home/tenantctl/data"]
ENTRYPOINT ["tenantctl"]
CMD ["--help"]
