"""Gradual rollout, bucketed exactly as Unleash's gradual rollout, so that the same ids get the same answer.

An id (a tenant's bot id, or an end user's OFREP `targetingKey`) falls in bucket
`murmur3_x86_32("{feature_key}:{id}", seed 0) % 100 + 1`, and is in a rollout of `percent` (0-100) when
its bucket is at most the percentage: raising the percentage only ever adds ids.
"""

from __future__ import annotations

from mmh3 import hash as murmur3_32

from tenantctl.core.errors import Invalid
from tenantctl.flags.models import ROLLOUT_BY


def bucket(feature_key: str, sticky_id: str) -> int:
    """The id's bucket for this feature, 1 to 100."""
    return murmur3_32(f"{feature_key}:{sticky_id}", 0, signed=False) % 100 + 1


def in_rollout(feature_key: str, sticky_id: str, percent: int) -> bool:
    """Whether the id is in the feature's rollout of `percent`; 0 is nobody, 100 everybody."""
    return percent > 0 and bucket(feature_key, sticky_id) <= percent


def validated_rollout(percent: int | None, by: str | None) -> tuple[int | None, str]:
    """A rollout as stored: a whole percentage 0-100 (None: no rollout) and its stickiness, `tenant` unless given."""
    by = by or "tenant"
    if by not in ROLLOUT_BY:
        raise Invalid(f"a rollout is sticky by {' or '.join(ROLLOUT_BY)}, not {by!r}")
    if percent is not None and (isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100):
        raise Invalid("a rollout is a whole percentage from 0 to 100")
    return percent, by
