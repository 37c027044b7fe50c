"""`tenantctl bot run`: the master bot and every tenant bot. aiogram is imported only inside the command."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import typer

from tenantctl.cli.common import fail, run_app

if TYPE_CHECKING:
    from tenantctl.core.app import App

app = typer.Typer(help="Run the Telegram bots.", no_args_is_help=True)


def listen_address(value: str) -> tuple[str, int]:
    """HOST:PORT as (host, port); one line and exit 2 otherwise."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"--listen {value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)", code=2)
    return host, int(port)


@app.command("run")
def run(
    webhook: bool = typer.Option(False, "--webhook", help="Receive updates by webhook instead of long polling."),
    listen: str = typer.Option("127.0.0.1:8080", "--listen", help="HOST:PORT the webhook server listens on."),
    public_url: str = typer.Option("", "--public-url", help="The HTTPS base URL Telegram posts to (webhook mode)."),
    with_api: bool = typer.Option(False, "--with-api", help="Serve the tenant HTTP API (OFREP flags and tenant data, "
                                  "as `tenantctl api serve` does) on the webhook listener too; needs --webhook."),
) -> None:
    """Run the master bot and every active tenant bot until SIGINT/SIGTERM.

    Example: `tenantctl bot run --webhook --listen 127.0.0.1:8080 --public-url https://bots.example.com --with-api`.
    """
    config = None
    if with_api and not webhook:
        fail("--with-api mounts the tenant API on the webhook listener: add --webhook (or run `tenantctl api serve`)", code=2)
    if webhook:
        if not public_url.startswith(("https://", "http://")):
            fail("--webhook needs --public-url, e.g. https://bots.example.com")
        host, port = listen_address(listen)
        config = (public_url.rstrip("/"), host, port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the SQLite default migrates itself quietly

    async def work(opened: "App") -> None:
        from tenantctl.bot.runner import Runner, WebhookConfig
        from tenantctl.core.errors import ConfigError
        from tenantctl.tenants.lookup import master_for_token

        async with opened.unit_of_work() as session:
            await master_for_token(session, opened.settings.master_bot_token)
        if not opened.settings.master_admin_ids:
            raise ConfigError("MASTER_ADMIN_IDS is not set: the Telegram user ids of the master admins, comma-separated")

        hook = WebhookConfig(*config) if config else None
        await Runner(opened, webhook=hook, with_api=with_api).run()

    run_app(work)
