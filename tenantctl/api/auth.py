"""Who holds an API token, answered from memory for a token already checked, and a rate limit per key.

`TokenCache` keeps, by the token's `token_key` (a digest, never the plaintext), the tenant it belongs to and
whether that tenant may use the API. A flag watcher empties it for the bots a NOTIFY names (a revoked
token, a cancellation, an expiry, a resumption: each sends one at commit) or, on SQLite, entirely at
every poll. A known token is also checked again against the database, in the background, by the first
request that finds its check older than `recheck` seconds; the request itself is answered from memory.
That check is `tenants.tokens.authenticate`, which writes `last_used_at` when it is a minute old.

A token not held (never seen, or forgotten by a refresh) is checked against the database while the
request waits, so a token issued a moment ago works at once and a revoked one is refused at once.
Concurrent requests with the same token share one check. To keep a flood of made-up tokens off the
database, each client address may start only so many checks of tokens this process has never seen
accepted (`misses`, a token bucket; 429 beyond it), and the digests of unknown or revoked tokens are
remembered (a token never becomes valid once refused), so repeating one costs no query.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import blake2b

from tenantctl.api.flights import Flights
from tenantctl.core.app import App
from tenantctl.core.errors import Forbidden, Unauthorized
from tenantctl.tenants.tokens import authenticate

RECHECK = 1.0  # seconds: how old a known token's check may get before a request starts another in the background
REFUSED = 4096  # digests of unknown or revoked tokens remembered, the oldest forgotten first
FORBIDDEN = "forbidden"  # the status held for a tenant that may not use the API (suspended or cancelled)
log = logging.getLogger(__name__)


def token_key(token: str) -> bytes:
    """What a token is held under in memory: its BLAKE2b digest, 128 bits. The database keeps SHA-256 digests, but
    Python's BLAKE2b is its own code, not OpenSSL's, and costs a few µs less on every request."""
    return blake2b(token.encode(), digest_size=16).digest()


class Throttled(Exception):
    """Too many requests from one key: `wait` seconds until the next one may go."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"retry in {wait:.2f} s")
        self.wait = wait


@dataclass
class RateLimiter:
    """A token bucket per key: `rate` requests a second on average, bursts up to `burst`.

    At `max_keys` keys, the buckets that have refilled are forgotten (they are as good as new), and if that is
    not enough, the older half.
    """

    rate: float = 50.0
    burst: float = 100.0
    max_keys: int = 100_000
    buckets: dict[str | bytes, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, at)

    def wait(self, key: str | bytes, now: float | None = None) -> float:
        """0 if a request may go now (and take a token), else the seconds until one may."""
        now = time.monotonic() if now is None else now
        held = self.buckets.get(key)
        if held is None:
            if len(self.buckets) >= self.max_keys:
                self._forget(now)
            held = (self.burst, now)
        tokens = min(self.burst, held[0] + (now - held[1]) * self.rate)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self.buckets[key] = (tokens - 1, now)
        return 0.0

    def _forget(self, now: float) -> None:
        self.buckets = {key: (tokens, at) for key, (tokens, at) in self.buckets.items()
                        if tokens + (now - at) * self.rate < self.burst}
        if len(self.buckets) >= self.max_keys:
            self.buckets = dict(list(self.buckets.items())[len(self.buckets) // 2:])


@dataclass(frozen=True)
class Checked:
    """What the database said of a token: its tenant (None if a first check found it forbidden), the tenant's status
    (FORBIDDEN when suspended or cancelled), and when (monotonic seconds)."""

    bot_id: int | None
    status: str
    at: float


class TokenCache:
    """Tokens already checked, by `token_key`; the flag watcher refreshes it like the flag cache."""

    def __init__(self, app: App, *, misses: RateLimiter | None = None, recheck: float = RECHECK,
                 refused: int = REFUSED) -> None:
        self._app = app
        self._misses = misses or RateLimiter(rate=100.0, burst=200.0)
        self._recheck = recheck
        self._refused_max = refused
        self._known: dict[bytes, Checked] = {}
        self._seen: set[bytes] = set()  # tokens forgotten by a refresh: checked again without counting as a miss
        self._refused: dict[bytes, None] = {}  # insertion-ordered: the oldest first
        self._checks: Flights[bytes, Checked | None] = Flights("api-token-check")
        self._generation = 0  # bumped by every refresh: a check read across a change is not kept

    async def refresh(self, bot_ids: Iterable[int] | None = None) -> None:
        """Forget the tokens of `bot_ids` (None: every token) and those refused before their tenant was known: the next
        request with one of them waits for a check."""
        self._generation += 1
        if bot_ids is None:
            self._seen.update(self._known)
            self._known = {}
            return
        changed = set(bot_ids)
        forget = [digest for digest, checked in self._known.items() if checked.bot_id is None or checked.bot_id in changed]
        for digest in forget:
            del self._known[digest]
        self._seen.update(forget)

    def held(self, digest: bytes, token: str, now: float) -> int | None:
        """The id of a held token's tenant (the hot path: no await), or None when the token is not held; Forbidden when
        its tenant is suspended or cancelled. A check older than `recheck` at `now` (monotonic seconds) is started
        again in the background."""
        checked = self._known.get(digest)
        if checked is None:
            return None
        if now - checked.at >= self._recheck and not self._checks.running(digest):
            self._checks.start(digest, self._generation, lambda: self._check(digest, token))
        if checked.status == FORBIDDEN:
            raise Forbidden("the tenant is suspended or cancelled")
        return checked.bot_id

    async def check(self, digest: bytes, token: str, client: str) -> int:
        """The id of the token's tenant, asking the database unless the token was refused before. Unauthorized (unknown
        or revoked), Forbidden (suspended or cancelled), or Throttled (too many unseen tokens from `client`)."""
        if digest in self._refused:
            raise Unauthorized("unknown or revoked API token")
        running = self._checks.join(digest, self._generation)
        if running is None:
            wait = 0.0 if digest in self._seen else self._misses.wait(client)
            if wait:
                raise Throttled(wait)
            running = self._checks.start(digest, self._generation, lambda: self._check(digest, token))
        checked = await asyncio.shield(running)
        if checked is None:
            raise Unauthorized("unknown or revoked API token")
        if checked.status == FORBIDDEN:
            raise Forbidden("the tenant is suspended or cancelled")
        return checked.bot_id

    async def _check(self, digest: bytes, token: str) -> Checked | None:
        """Ask the database; keep the answer unless a refresh came in the meantime. None: unknown or revoked."""
        generation, known = self._generation, self._known.get(digest)
        try:
            async with self._app.unit_of_work() as session:
                _, bot = await authenticate(session, token=token)
            checked = Checked(bot.id, bot.status, time.monotonic())
        except Unauthorized:
            self._known.pop(digest, None)
            self._seen.discard(digest)
            self._refused[digest] = None
            if len(self._refused) > self._refused_max:
                del self._refused[next(iter(self._refused))]
            return None
        except Forbidden:
            checked = Checked(known.bot_id if known else None, FORBIDDEN, time.monotonic())
        except Exception as exc:
            if known is None:  # a request waits for this answer: it gets the error
                raise
            log.warning("checking an API token again failed (%s); it stays as it was", type(exc).__name__)
            return known
        if generation == self._generation:
            self._known[digest] = checked
        return checked

    async def close(self) -> None:
        """Stop the checks still running."""
        await self._checks.close()
