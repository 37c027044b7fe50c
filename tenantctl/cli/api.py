"""`tenantctl api serve`: the tenant HTTP API (OFREP flag evaluation and the tenant's own data)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import typer

from tenantctl.cli.bot import listen_address
from tenantctl.cli.common import run_app

if TYPE_CHECKING:
    from tenantctl.core.app import App

app = typer.Typer(help="The tenant HTTP API: OFREP flag evaluation and the tenant's own data, by API token.", no_args_is_help=True)


@app.command()
def serve(listen: str = typer.Option("127.0.0.1:8081", "--listen", help="HOST:PORT to listen on.")) -> None:
    """Serve the tenant API until SIGINT/SIGTERM; clients authenticate with a tenant's API token.

    Example: `tenantctl api serve --listen 0.0.0.0:8081`, then `curl -X POST -H "Authorization: Bearer $TOKEN"
    http://127.0.0.1:8081/ofrep/v1/evaluate/flags`.
    """
    host, port = listen_address(listen)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def work(opened: "App") -> None:
        import asyncio
        import signal

        from aiohttp import web

        from tenantctl.api.app import build_app
        from tenantctl.core.errors import ConfigError

        runner = web.AppRunner(build_app(opened), access_log=None)  # no access log: nothing near a token is written
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        logging.getLogger("tenantctl.api").info("tenant API on http://%s:%s", host, port)
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stopping.set)
        try:
            await stopping.wait()
        finally:
            await runner.cleanup()

    run_app(work)
