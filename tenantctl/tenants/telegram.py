"""A tiny Bot API client for provisioning: the token's format and `getMe`. aiohttp, not aiogram.

The token is part of the request URL, so no error message here ever includes the URL or the
exception text unscrubbed, and nothing is logged.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

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


async def get_me(api_server: str, token: str, *, timeout: float = 10) -> BotIdentity:
    """Ask the Bot API at `api_server` who `token` belongs to; every failure is one Invalid line."""
    import aiohttp

    token = validate_token_format(token)
    server = api_server.rstrip("/")
    url = f"{server}/bot{token}/getMe"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            async with http.get(url) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
    except asyncio.TimeoutError:
        raise Invalid(f"the Bot API at {server} did not answer getMe within {timeout:g}s") from None
    except aiohttp.ClientError as exc:
        reason = scrub_tokens(str(exc) or type(exc).__name__, token)
        raise Invalid(f"cannot reach the Bot API at {server}: {reason}") from None
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
