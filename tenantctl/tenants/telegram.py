"""A tiny Bot API client, aiohttp and not aiogram: the token's format and `getMe` for provisioning, and a bot's
Stars account (refunds and the ledger) for the payment services.

The token is part of the request URL, so no error message here ever includes the URL or the
exception text unscrubbed, and nothing is logged.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from tenantctl.core.errors import Invalid

TOKEN_RE = re.compile(r"\d{5,12}:[A-Za-z0-9_-]{30,50}")


@dataclass(frozen=True)
class BotIdentity:
    """Who a token belongs to, as `getMe` says."""

    id: int
    username: str
    first_name: str


def validate_token_format(token: str) -> str:
    """The token stripped, or Invalid if it does not look like `123456:ABC...` from @BotFather."""
    token = (token or "").strip()
    if not TOKEN_RE.fullmatch(token):
        raise Invalid("that is not a Telegram bot token: expected digits, ':' and 30-50 letters, digits, _ or - (from @BotFather)")
    return token


def scrub_tokens(text: str, token: str | None = None) -> str:
    """Text with anything that looks like a bot token (and `token`'s secret half, if given) masked."""
    text = TOKEN_RE.sub("***", text)
    return text.replace(token.split(":", 1)[-1], "***") if token else text


class BotApiError(Invalid):
    """A Bot API call that failed or could not be made, as one line with no token in it."""


async def _call(api_server: str, token: str, method: str, params: dict[str, Any], *, timeout: float) -> tuple[int, Any]:
    """POST one Bot API method: (HTTP status, the JSON body or None); network failures are one BotApiError line."""
    import aiohttp

    server = api_server.rstrip("/")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            async with http.post(f"{server}/bot{token}/{method}", json=params) as response:
                try:
                    return response.status, await response.json(content_type=None)
                except ValueError:
                    return response.status, None
    except asyncio.TimeoutError:
        raise BotApiError(f"the Bot API at {server} did not answer {method} within {timeout:g}s") from None
    except aiohttp.ClientError as exc:
        reason = scrub_tokens(str(exc) or type(exc).__name__, token)
        raise BotApiError(f"cannot reach the Bot API at {server}: {reason}") from None


async def get_me(api_server: str, token: str, *, timeout: float = 10) -> BotIdentity:
    """Ask the Bot API at `api_server` who `token` belongs to; every failure is one Invalid line."""
    token = validate_token_format(token)
    server = api_server.rstrip("/")
    status, body = await _call(server, token, "getMe", {}, timeout=timeout)
    if not isinstance(body, dict):
        raise Invalid(f"the Bot API at {server} answered getMe with HTTP {status} and no JSON")
    description = scrub_tokens(str(body.get("description") or ""), token)
    if status == 401:
        raise Invalid("Telegram rejected the token (getMe: Unauthorized)")
    if status == 404:
        raise Invalid("Telegram rejected the token (getMe: Not Found)")
    result = body.get("result")
    if not body.get("ok") or not isinstance(result, dict):
        raise Invalid(f"getMe failed: HTTP {status} {description}".rstrip())
    if not result.get("is_bot", True) or not result.get("username") or not isinstance(result.get("id"), int):
        raise Invalid("getMe did not describe a bot (no id or username)")
    return BotIdentity(id=result["id"], username=result["username"], first_name=str(result.get("first_name") or ""))


class StarsAccount:
    """A bot's Telegram Stars account over the Bot API (aiohttp): refunds and the transaction ledger.

    It implements `billing.refunds.StarsLedger`; every failure is a BotApiError carrying Telegram's description.
    """

    def __init__(self, api_server: str, token: str, *, timeout: float = 10) -> None:
        self.api_server, self.token, self.timeout = api_server, validate_token_format(token), timeout
        self.bot_id = int(self.token.split(":")[0])  # a bot token starts with the bot's Telegram id

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        status, body = await _call(self.api_server, self.token, method, params, timeout=self.timeout)
        if not isinstance(body, dict) or not body.get("ok"):
            description = body.get("description") if isinstance(body, dict) else None
            raise BotApiError(f"{method} failed: {scrub_tokens(str(description or f'HTTP {status}'), self.token)}")
        return body.get("result")

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        """Give a Stars payment back to the user who made it (refundStarPayment)."""
        await self._result("refundStarPayment", {"user_id": user_id, "telegram_payment_charge_id": charge_id})

    async def get_star_transactions(self, offset: int, limit: int) -> list[dict[str, Any]]:
        """One page of the bot's Star transactions, oldest first (getStarTransactions), as Bot API JSON."""
        result = await self._result("getStarTransactions", {"offset": offset, "limit": limit})
        return list((result or {}).get("transactions") or [])
