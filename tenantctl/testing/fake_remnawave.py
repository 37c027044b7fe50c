"""In-process fake of the Remnawave panel's user API, for tests, the sandbox and benchmarks.

`FakeRemnawave` serves over real HTTP on 127.0.0.1 exactly the endpoints `tenantctl.customers.panel.PanelClient` uses,
answering as panel 2.x does (`{"response": user}`, errors as `{"message", "errorCode", "statusCode"}`), with users kept
in memory and one internal squad (`squads` holds them; a user joins those named in its creation). Failures come on demand: `fail_next(n)` answers the next n requests with 503, `down()` every request until
`up()`, and `lose_next_responses(n)` carries out the next n requests but drops the connection before answering. `latency`
makes every answer take that long, as a distant panel's would; `most_in_flight` is the most requests it answered at once.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid as uuid_module
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

__all__ = ["FakeRemnawave", "PanelRequest"]

_USERNAME_RE = re.compile(r"^[A-Za-z0-9_-]{3,36}$")
_TAG_RE = re.compile(r"^[A-Z0-9_]{1,16}$")


@dataclass(frozen=True)
class PanelRequest:
    """One request the fake received, and the status it answered (None: the connection was dropped)."""

    method: str
    path: str
    body: dict[str, Any] | None
    status: int | None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def _body(request: web.Request) -> dict[str, Any] | None:
    return await request.json() if request.body_exists else None  # aiohttp keeps the body: read again by each handler


def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"message": message, "errorCode": code, "statusCode": status}, status=status)


class FakeRemnawave:
    """A Remnawave panel on 127.0.0.1 that accepts the bearer token `api_key`: `async with FakeRemnawave() as panel`."""

    def __init__(self, api_key: str = "fake-remnawave-key") -> None:
        self.api_key = api_key
        self.users: dict[str, dict[str, Any]] = {}  # by uuid, as the panel would answer them
        self.squads: dict[str, str] = {str(uuid_module.uuid4()): "Default-Squad"}  # internal squads: uuid -> name
        self.requests: list[PanelRequest] = []
        self._fail = 0
        self._lose = 0
        self._down = False
        self.latency = 0.0  # seconds each answer takes
        self.in_flight = 0
        self.most_in_flight = 0  # the most requests it was answering at once
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> "FakeRemnawave":
        app = web.Application(middlewares=[self._guard])
        app.router.add_post("/api/users", self._create)
        app.router.add_patch("/api/users", self._update)
        app.router.add_get("/api/users/by-username/{username}", self._by_username)
        app.router.add_get("/api/users/{uuid}", self._by_uuid)
        app.router.add_post("/api/users/{uuid}/actions/{action}", self._action)
        app.router.add_get("/api/internal-squads", self._internal_squads)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ----- failures on demand ------------------------------------------------------------------------------------

    def fail_next(self, count: int = 1) -> None:
        """Answer the next `count` requests with 503, doing nothing."""
        self._fail += count

    def lose_next_responses(self, count: int = 1) -> None:
        """Carry out the next `count` requests, then drop the connection instead of answering."""
        self._lose += count

    def down(self) -> None:
        """Answer every request with 503 until `up()`."""
        self._down = True

    def up(self) -> None:
        self._down = False

    # ----- what tests read and set -------------------------------------------------------------------------------

    def user(self, username: str) -> dict[str, Any]:
        """The panel user with this username (KeyError if none)."""
        return next(u for u in self.users.values() if u["username"] == username)

    def set_used_traffic(self, username: str, used_bytes: int) -> None:
        """Set what the user has consumed so far, as the panel's nodes would report it."""
        traffic = self.user(username)["userTraffic"]
        traffic["lifetimeUsedTrafficBytes"] += max(used_bytes - traffic["usedTrafficBytes"], 0)
        traffic["usedTrafficBytes"] = used_bytes

    def calls(self, method: str | None = None, path_prefix: str = "") -> list[PanelRequest]:
        """The requests received (of one method, under one path), in order."""
        return [r for r in self.requests if (method is None or r.method == method) and r.path.startswith(path_prefix)]

    # ----- the API -----------------------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            return await self._answer(request, handler)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await _body(request)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            response = _error(401, "Unauthorized", "A001")
        elif self._down:
            response = web.Response(status=503, text="Service Unavailable")
        elif self._fail:
            self._fail -= 1
            response = web.Response(status=503, text="Service Unavailable")
        else:
            response = await handler(request)
        if self._lose and response.status < 400:
            self._lose -= 1
            self.requests.append(PanelRequest(request.method, request.path, body, None))
            request.transport.close()
            return response
        self.requests.append(PanelRequest(request.method, request.path, body, response.status))
        return response

    async def _create(self, request: web.Request) -> web.Response:
        body = await _body(request) or {}
        username = body.get("username", "")
        if not _USERNAME_RE.match(username) or "expireAt" not in body or (body.get("tag") and not _TAG_RE.match(body["tag"])):
            return _error(400, "Validation failed", "A000")
        if any(u["username"] == username for u in self.users.values()):
            return _error(400, "User username already exists", "A019")
        squads = body.get("activeInternalSquads") or []
        if any(squad not in self.squads for squad in squads):
            return _error(404, "Internal squad not found", "A094")
        uid, short = str(uuid_module.uuid4()), secrets.token_urlsafe(12)
        user = {"uuid": uid, "shortUuid": short, "username": username, "status": body.get("status", "ACTIVE"),
                "expireAt": body["expireAt"], "trafficLimitBytes": body.get("trafficLimitBytes", 0),
                "trafficLimitStrategy": body.get("trafficLimitStrategy", "NO_RESET"), "hwidDeviceLimit": body.get("hwidDeviceLimit"),
                "telegramId": body.get("telegramId"), "description": body.get("description"), "tag": body.get("tag"),
                "activeInternalSquads": [{"uuid": squad, "name": self.squads[squad]} for squad in squads],
                "subscriptionUrl": f"{self.url}/api/sub/{short}", "createdAt": _now(), "updatedAt": _now(),
                "userTraffic": {"usedTrafficBytes": 0, "lifetimeUsedTrafficBytes": 0, "onlineAt": None}}
        self.users[uid] = user
        return web.json_response({"response": user}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        body = dict(await _body(request) or {})
        user = self.users.get(body.pop("uuid", ""))
        if user is None:
            return _error(404, "User not found", "A063")
        for key in ("expireAt", "trafficLimitBytes", "trafficLimitStrategy", "hwidDeviceLimit", "description", "tag", "status"):
            if key in body:
                user[key] = body[key]
        if user["status"] == "EXPIRED" and user["expireAt"] > _now():
            user["status"] = "ACTIVE"
        user["updatedAt"] = _now()
        return web.json_response({"response": user})

    async def _internal_squads(self, request: web.Request) -> web.Response:
        squads = [{"uuid": uid, "name": name, "info": {"membersCount": sum(
            any(s["uuid"] == uid for s in u["activeInternalSquads"]) for u in self.users.values())}}
            for uid, name in self.squads.items()]
        return web.json_response({"response": {"total": len(squads), "internalSquads": squads}})

    async def _by_uuid(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["uuid"])
        return web.json_response({"response": user}) if user else _error(404, "User not found", "A063")

    async def _by_username(self, request: web.Request) -> web.Response:
        found = [u for u in self.users.values() if u["username"] == request.match_info["username"]]
        return web.json_response({"response": found[0]}) if found else _error(404, "User not found", "A063")

    async def _action(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["uuid"])
        action = request.match_info["action"]
        if action not in ("enable", "disable", "reset-traffic"):
            return _error(404, f"Cannot POST {request.path}", "A404")
        if user is None:
            return _error(404, "User not found", "A063")
        if action == "reset-traffic":
            user["userTraffic"]["usedTrafficBytes"] = 0
        else:
            user["status"] = "ACTIVE" if action == "enable" else "DISABLED"
        user["updatedAt"] = _now()
        return web.json_response({"response": user})
