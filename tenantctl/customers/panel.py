"""A small typed client of the operator's Remnawave panel (API 2.x): the few user endpoints provisioning needs.

Every request carries the API key as a bearer token; every failure raises `PanelError`, whose message names the
request and the panel's answer, never the key. Responses come wrapped as `{"response": {...}}`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from tenantctl.core.errors import ConfigError, TenantctlError

log = logging.getLogger(__name__)

UNAVAILABLE = "panel_unavailable"  # no answer, or a 5xx: worth a retry
NOT_FOUND = "panel_not_found"
USER_EXISTS = "panel_user_exists"
REJECTED = "panel_rejected"  # any other 4xx: the request itself is wrong
ACTIVE, DISABLED = "ACTIVE", "DISABLED"
TIMEOUT_SECONDS = 15.0
_MESSAGE_LIMIT = 200


class PanelError(TenantctlError):
    """The panel refused a request or could not be reached; `code` says which (UNAVAILABLE, NOT_FOUND, ...)."""

    def __init__(self, message: str, *, code: str, status: int | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status


@dataclass(frozen=True)
class PanelUser:
    """A user account in the panel, as the panel reports it."""

    uuid: str
    username: str
    status: str
    expire_at: datetime
    traffic_limit_bytes: int  # 0: unlimited
    used_traffic_bytes: int
    device_limit: int | None
    subscription_url: str
    telegram_id: int | None
    tag: str | None
    description: str | None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "PanelUser":
        """Read a user object; the used traffic sits in `userTraffic` since panel 2.2, at the top level before."""
        traffic = data.get("userTraffic") or data
        return cls(uuid=str(data["uuid"]), username=data["username"], status=data["status"], expire_at=_parse_time(data["expireAt"]),
                   traffic_limit_bytes=int(data.get("trafficLimitBytes") or 0),
                   used_traffic_bytes=int(traffic.get("usedTrafficBytes") or 0), device_limit=data.get("hwidDeviceLimit"),
                   subscription_url=data["subscriptionUrl"], telegram_id=data.get("telegramId"), tag=data.get("tag"),
                   description=data.get("description"))


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def format_time(value: datetime) -> str:
    """A time as the panel expects it: ISO 8601 in UTC with milliseconds and a Z."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class PanelClient:
    """The panel's user API at `base_url` (with or without its `/api`), authenticated by `api_key`."""

    def __init__(self, base_url: str, api_key: str, *, squads: tuple[str, ...] = (), timeout: float = TIMEOUT_SECONDS) -> None:
        base = base_url.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.username or parts.password:
            raise ConfigError("the panel's URL carries a user and password: the panel is reached with its API key alone")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("the panel's URL is not an http(s) address")
        self._api = base if base.endswith("/api") else f"{base}/api"
        self._host = parts.hostname
        self._api_key = api_key
        self._squads = list(squads)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"PanelClient({self._api!r})"

    async def __aenter__(self) -> "PanelClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def new_user_squads(self) -> list[str]:
        """The internal squads a new user joins (their nodes are what it may connect to): the configured ones, else
        every squad the panel has, read once."""
        if not self._squads:
            found = await self._call("GET", "/internal-squads")
            self._squads = [squad["uuid"] for squad in found.get("internalSquads", [])]
        return list(self._squads)

    async def create_user(self, *, username: str, expire_at: datetime, traffic_limit_bytes: int, device_limit: int,
                          telegram_id: int | None = None, description: str | None = None, tag: str | None = None) -> PanelUser:
        """Create an active user, in `new_user_squads`, whose traffic never resets; USER_EXISTS if the username is taken."""
        body = {"username": username, "status": ACTIVE, "expireAt": format_time(expire_at), "trafficLimitBytes": traffic_limit_bytes,
                "trafficLimitStrategy": "NO_RESET", "hwidDeviceLimit": device_limit, "telegramId": telegram_id,
                "description": description, "tag": tag, "activeInternalSquads": await self.new_user_squads() or None}
        return PanelUser.from_api(await self._call("POST", "/users", {k: v for k, v in body.items() if v is not None}))

    async def update_user(self, uuid: str, *, expire_at: datetime, traffic_limit_bytes: int, device_limit: int,
                          description: str | None = None, tag: str | None = None) -> PanelUser:
        """Set a user's expiry, traffic limit and devices (a user the panel had expired becomes active again)."""
        body = {"uuid": uuid, "expireAt": format_time(expire_at), "trafficLimitBytes": traffic_limit_bytes,
                "trafficLimitStrategy": "NO_RESET", "hwidDeviceLimit": device_limit, "description": description, "tag": tag}
        return PanelUser.from_api(await self._call("PATCH", "/users", {k: v for k, v in body.items() if v is not None}))

    async def enable_user(self, uuid: str) -> PanelUser:
        """Let a disabled user connect again."""
        return PanelUser.from_api(await self._call("POST", f"/users/{quote(uuid)}/actions/enable"))

    async def disable_user(self, uuid: str) -> PanelUser:
        """Stop a user from connecting."""
        return PanelUser.from_api(await self._call("POST", f"/users/{quote(uuid)}/actions/disable"))

    async def reset_traffic(self, uuid: str) -> PanelUser:
        """Set a user's used traffic back to zero (a new subscription period)."""
        return PanelUser.from_api(await self._call("POST", f"/users/{quote(uuid)}/actions/reset-traffic"))

    async def get_user(self, uuid: str) -> PanelUser:
        """One user by uuid, with its used traffic and subscription URL; NOT_FOUND if there is none."""
        return PanelUser.from_api(await self._call("GET", f"/users/{quote(uuid)}"))

    async def find_user(self, username: str) -> PanelUser | None:
        """One user by username, or None."""
        try:
            return PanelUser.from_api(await self._call("GET", f"/users/by-username/{quote(username)}"))
        except PanelError as exc:
            if exc.code == NOT_FOUND:
                return None
            raise

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        what = f"{method} /api{path}"
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout, headers={
                "Authorization": f"Bearer {self._api_key}",
                # a panel reached over plain HTTP on its own network expects to sit behind an HTTPS proxy
                "X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"})
        try:
            async with self._http.request(method, self._api + path, json=body) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("Remnawave %s failed: %s", what, type(exc).__name__)
            raise PanelError(f"the panel at {self._host} did not answer {what} ({type(exc).__name__})", code=UNAVAILABLE) from None
        payload = _json(text)
        if status < 400 and isinstance(payload, dict) and isinstance(payload.get("response"), dict):
            log.debug("Remnawave %s: %s", what, status)
            return payload["response"]
        detail = self._scrub(str(payload.get("message") if isinstance(payload, dict) and payload.get("message") else text or status))
        log.info("Remnawave %s answered %s: %s", what, status, detail)  # the caller reports the error: logged, not shown
        raise PanelError(f"the panel answered {what} with {status}: {detail}", code=_code(status, detail), status=status)

    def _scrub(self, text: str) -> str:
        text = re.sub(r"\s+", " ", text).strip()  # one line
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text[:_MESSAGE_LIMIT]


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _code(status: int, detail: str) -> str:
    if status >= 500 or status == 429 or status < 400:  # a 2xx that is not the panel's answer (a proxy's page): retry too
        return UNAVAILABLE
    if status == 404:
        return NOT_FOUND
    if status in (400, 409) and "already exists" in detail.lower():
        return USER_EXISTS
    return REJECTED
