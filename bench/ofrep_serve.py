"""OFREP serving throughput: the tenant API against a bare aiohttp handler returning the same 20-flag JSON.

Both servers run in child processes on 127.0.0.1; the same load client (`wrk` when it is on the PATH,
else an aiohttp client in this process; C concurrent connections for D seconds each) measures req/s,
p99 latency and the server's CPU time per request (from /proc) for: bulk 200, bulk 304 (If-None-Match)
and a single flag, each against the bare handler on the same route (the single flag's route has a path
variable, which costs aiohttp's router more than a plain path). The bare handler reads the request body
the way the API does (`read_nowait` when it has all arrived), as the API must: the OFREP evaluation context
is validated (400 PARSE_ERROR or INVALID_CONTEXT) and its targetingKey decides user-sticky rollouts.

Each route's bare figure is the mean of a run just before and one just after the API's cases on it, so
drift on a shared machine evens out. The whole sequence is repeated R times and the median of each figure
reported, with the load average. On a machine of two cores or more, the server under load is pinned to
the first core and the load client to the second (`--no-pin` leaves both to the scheduler): a client
sharing the server's core takes a share of it that moves from run to run, and the ratio measured is then
the scheduler's as much as the server's. The API's rate limit is raised out of the way (it is not what is
measured).
Goals: >= 80 % of the bare aiohttp figure, and >= 5x the Unleash 8.2 server (1.4-1.7k req/s for 20 flags).

Usage: python bench/ofrep_serve.py [--seconds 5] [--connections 32] [--runs 5] [--client auto|aiohttp|PATH-TO-WRK]
                                   [--no-pin]
PostgreSQL comes from TENANTCTL_BENCH_DATABASE_URL (default: the local trust-auth server); a throwaway
database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from tenantctl.core.app import App
from tenantctl.core.db import utcnow
from tenantctl.core.migrate import upgrade
from tenantctl.core.settings import Settings
from tenantctl.flags.live import libpq_url
from tenantctl.flags.models import Feature
from tenantctl.plans.effective import recompute_flags
from tenantctl.plans.models import TenantSubscription
from tenantctl.plans.service import create_plan
from tenantctl.tenants.models import Bot
from tenantctl.tenants.rules import bot_name_key
from tenantctl.tenants.tokens import issue_api_token

SERVER = os.environ.get("TENANTCTL_BENCH_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
KEY = "x" * 43 + "="
FEATURES = 10  # a switch and its .config each: 20 OFREP flags


def settings(url: str, home: str) -> Settings:
    return Settings(database_url=url, secret_key=KEY, key_file=str(Path(home) / "secret.key"))


async def populate(app: App) -> str:
    """One active tenant with FEATURES features; its API token."""
    async with app.unit_of_work() as s:
        s.add_all(Feature(key=f"feature_{i}", env_key=f"FEATURE_{i}_ENABLED", category="other", kind="switch",
                          default_enabled=i % 2 == 0, default_config={"LIMIT": i}, config_keys=["LIMIT"]) for i in range(FEATURES))
        await s.flush()
        plan = await create_plan(s, name="growth", actor="bench", monthly_price_kopeks=1000000)
        bot_id = await s.scalar(insert(Bot).values(name="t", name_key=bot_name_key("t"), token_encrypted="x",
                                                   token_fingerprint="f" * 64, status="active").returning(Bot.id))
        await s.execute(insert(TenantSubscription).values(bot_id=bot_id, plan_tier_id=plan.id, end_date=utcnow() + timedelta(days=30)))
        await recompute_flags(s)
        token, _ = await issue_api_token(s, bot_id=bot_id, actor="bench")
        return token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cores() -> tuple[int, int] | None:
    """The core for the server and the one for the load client: the first two this process may run on (None: fewer)."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else None


async def serve(kind: str, port: int, url: str, home: str, body_file: str, core: int | None) -> None:
    """A child: the tenant API (kind "api") or the bare handler (kind "bare") on 127.0.0.1:port, on `core` if given."""
    from aiohttp import web

    if core is not None:
        os.sched_setaffinity(0, {core})
    if kind == "api":
        from tenantctl.api.app import RateLimiter, build_app

        webapp = build_app(await App.open(settings(url, home)), limiter=RateLimiter(rate=1e9, burst=1e9))
    else:
        body = Path(body_file).read_text()

        async def bare(request: web.Request) -> web.Response:
            content = request.content  # read as the API reads a small body: without waiting when it is all there
            content.read_nowait() if content.is_eof() else await request.read()
            return web.Response(text=body, content_type="application/json")

        webapp = web.Application()
        webapp.router.add_post("/ofrep/v1/evaluate/flags", bare)
        webapp.router.add_post("/ofrep/v1/evaluate/flags/{key}", bare)
    runner = web.AppRunner(webapp, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def load(url: str, headers: dict[str, str], seconds: float, connections: int, expect: int) -> dict[str, float]:
    """Requests a second, p99 latency (ms) and requests made: POSTs to `url` from `connections` concurrent clients."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as http:
        async def client() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                async with http.post(url, headers=headers, data=b"{}") as response:
                    await response.read()
                    assert response.status == expect, (url, response.status)
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rps": round(len(latencies) / elapsed), "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 2),
            "requests": len(latencies)}


WRK_SCRIPT = """wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("\\nRESULT %d %f %f %d\\n", summary.requests, summary.duration / 1e6,
                         latency:percentile(99) / 1e3, summary.errors.status))
end
"""


async def load_wrk(wrk: str, url: str, headers: dict[str, str], seconds: float, connections: int, home: str,
                   pinned: tuple[int, int] | None) -> dict[str, float]:
    """The same figures from wrk (one thread on the client's core when pinned, else two), which must see no status
    outside 2xx/3xx."""
    script = Path(home) / "ofrep.lua"
    script.write_text(WRK_SCRIPT)
    args = [wrk, "-t1" if pinned else "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(script)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    child = await asyncio.create_subprocess_exec(*args, url, stdout=asyncio.subprocess.PIPE,
                                                 preexec_fn=(lambda: os.sched_setaffinity(0, {pinned[1]})) if pinned else None)
    out = (await child.communicate())[0].decode()
    found = re.search(r"^RESULT (\d+) ([\d.]+) ([\d.]+) (\d+)$", out, re.MULTILINE)
    assert found and child.returncode == 0 and found[4] == "0", out
    return {"rps": round(int(found[1]) / float(found[2])), "p99_ms": round(float(found[3]), 2), "requests": int(found[1])}


async def start_child(*args: str) -> asyncio.subprocess.Process:
    child = await asyncio.create_subprocess_exec(sys.executable, __file__, *args, stdout=asyncio.subprocess.PIPE)
    assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"ready"
    return child


def cpu_seconds(pid: int) -> float | None:
    """A process's user + system CPU time so far (None where /proc is not there)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CASES = (  # name, server, path, If-None-Match; each route's API cases between two runs of the bare handler on it
    ("bare_bulk", "bare", "/ofrep/v1/evaluate/flags", False), ("bulk_200", "api", "/ofrep/v1/evaluate/flags", False),
    ("bulk_304", "api", "/ofrep/v1/evaluate/flags", True), ("bare_bulk", "bare", "/ofrep/v1/evaluate/flags", False),
    ("bare_single", "bare", "/ofrep/v1/evaluate/flags/feature_3", False),
    ("single", "api", "/ofrep/v1/evaluate/flags/feature_3", False),
    ("bare_single", "bare", "/ofrep/v1/evaluate/flags/feature_3", False))
BASELINE = {"bulk_200": "bare_bulk", "bulk_304": "bare_bulk", "single": "bare_single"}


async def one_run(ports: dict[str, int], pids: dict[str, int], auth: dict[str, str], etag: str, seconds: float,
                  connections: int, wrk: str | None, home: str, pinned: tuple[int, int] | None) -> dict[str, dict[str, float]]:
    """Every case once: req/s, p99 and server CPU µs a request, the bare runs of a route averaged."""
    runs: dict[str, list[dict[str, float]]] = {}
    for name, server, path, conditional in CASES:
        headers = {**auth, **({"If-None-Match": etag} if conditional else {})} if server == "api" else {}
        target = f"http://127.0.0.1:{ports[server]}{path}"
        before = cpu_seconds(pids[server])
        found = (await load_wrk(wrk, target, headers, seconds, connections, home, pinned) if wrk
                 else await load(target, headers, seconds, connections, 304 if conditional else 200))
        after = cpu_seconds(pids[server])
        if before is not None and after is not None:
            found["cpu_us"] = round((after - before) * 1e6 / found["requests"], 1)
        runs.setdefault(name, []).append(found)
    return {name: {figure: round(sum(run[figure] for run in found) / len(found), 2) for figure in found[0] if figure != "requests"}
            for name, found in runs.items()}


async def measure(url: str, home: str, seconds: float, connections: int, runs: int, wrk: str | None,
                  pinned: tuple[int, int] | None) -> list[dict[str, dict[str, float]]]:
    """`runs` runs of every case against the two servers."""
    app = await App.open(settings(url, home), check_schema=False)
    await upgrade(app.engine)
    token = await populate(app)
    await app.close()
    ports = {"api": free_port(), "bare": free_port()}
    core = str(pinned[0]) if pinned else "-"
    api = await start_child("--serve", "api", str(ports["api"]), url, home, "-", core)
    children = [api]
    try:
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{ports['api']}/ofrep/v1/evaluate/flags", headers=auth) as response:
                body, etag = await response.text(), response.headers["ETag"]
        assert len(json.loads(body)["flags"]) == 2 * FEATURES
        body_file = str(Path(home) / "flags.json")
        Path(body_file).write_text(body)
        children.append(await start_child("--serve", "bare", str(ports["bare"]), url, home, body_file, core))
        pids = {"api": api.pid, "bare": children[1].pid}
        return [await one_run(ports, pids, auth, etag, seconds, connections, wrk, home, pinned) for _ in range(runs)]
    finally:
        for child in children:
            child.kill()
            await child.wait()


async def main(seconds: float, connections: int, runs: int, client: str, pin: bool) -> None:
    import psycopg

    wrk = shutil.which("wrk") if client == "auto" else client if client != "aiohttp" else None
    pinned = cores() if pin else None
    if pinned and not wrk:  # the aiohttp client runs in this process
        os.sched_setaffinity(0, {pinned[1]})
    name = f"tenantctl_ofrep_{os.getpid()}"
    load_before = os.getloadavg()
    with psycopg.connect(libpq_url(SERVER), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as home:
            url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
            found = await measure(url, home, seconds, connections, runs, wrk, pinned)
    finally:
        with psycopg.connect(libpq_url(SERVER), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    per_run = [{case: round(run[case]["rps"] / run[BASELINE[case]]["rps"], 3) for case in BASELINE} for run in found]
    results = {case: {figure: statistics.median(run[case][figure] for run in found) for figure in found[0][case]}
               for case in found[0]}
    ratios = {case: statistics.median(run[case] for run in per_run) for case in BASELINE}
    cpu_ratios = ({case: round(results[BASELINE[case]]["cpu_us"] / results[case]["cpu_us"], 3) for case in BASELINE}
                  if "cpu_us" in results["single"] else None)
    load_average = [round(x, 2) for x in load_before + os.getloadavg()]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, PostgreSQL"
    placement = f"server on core {pinned[0]}, client on core {pinned[1]}" if pinned else "server and client not pinned"
    print(json.dumps({"bench": "ofrep_serve", "client": "wrk" if wrk else "aiohttp", "seconds": seconds,
                      "connections": connections, "runs": runs, "pinned": list(pinned) if pinned else None, "flags": 2 * FEATURES, **results,
                      "ratio_to_bare_aiohttp": ratios, "ratio_to_bare_aiohttp_per_run": per_run,
                      "cpu_ratio_to_bare_aiohttp": cpu_ratios, "load_average_before_after": load_average,
                      "targets": {"ratio_to_bare_aiohttp": 0.8, "rps": 5 * 1400}, "machine": machine}))
    print(f"OFREP bulk 200: {results['bulk_200']['rps']:.0f} req/s (p99 {results['bulk_200']['p99_ms']} ms), "
          f"bulk 304: {results['bulk_304']['rps']:.0f} req/s, single: {results['single']['rps']:.0f} req/s "
          f"(p99 {results['single']['p99_ms']} ms); bare aiohttp: {results['bare_bulk']['rps']:.0f} req/s bulk, "
          f"{results['bare_single']['rps']:.0f} req/s single; ratio to bare aiohttp: bulk 200 {ratios['bulk_200']:.2f}, "
          f"bulk 304 {ratios['bulk_304']:.2f}, single {ratios['single']:.2f} (goal >= 0.80, and >= 7000 req/s; "
          f"median of {runs} runs, client {'wrk' if wrk else 'aiohttp'}, {placement}; {machine}; load average "
          f"{load_average[0]:.2f} before, {load_average[3]:.2f} after)")


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "--serve":
        asyncio.run(serve(sys.argv[2], int(sys.argv[3]), *sys.argv[4:7], None if sys.argv[7] == "-" else int(sys.argv[7])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--client", default="auto", help="auto (wrk if on the PATH, else aiohttp), aiohttp, or wrk's path")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="leave the server and the client to the scheduler rather than a core each")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.connections, args.runs, args.client, args.pin))
