"""Every button's callback data fits Telegram's 64 bytes, at its longest realistic value."""

from __future__ import annotations

from enum import Enum

import pytest
from aiogram.filters.callback_data import CallbackData
from annotated_types import MaxLen
from pydantic.fields import FieldInfo

import tenantctl.bot.runner  # noqa: F401  (imports every router, so every factory is defined)

LIMIT = 64
LARGEST_ID = 2**63 - 1  # a BIGINT id


def _factories(base: type = CallbackData) -> list[type[CallbackData]]:
    found = []
    for cls in base.__subclasses__():
        if cls.__module__.startswith("tenantctl."):
            found.append(cls)
        found += _factories(cls)
    return found


def _longest(name: str, field: FieldInfo) -> object:
    kind = field.annotation
    if isinstance(kind, type) and issubclass(kind, Enum):
        return max(kind, key=lambda member: len(str(member.value).encode()))
    if kind is int:
        return LARGEST_ID
    if kind is str:
        limits = [meta.max_length for meta in field.metadata if isinstance(meta, MaxLen)]
        assert limits, f"{name}: a str field needs a max_length"
        return "x" * limits[0]
    raise AssertionError(f"{name}: no longest value known for {kind!r}")


def test_there_are_factories() -> None:
    assert {cls.__name__ for cls in _factories()} >= {"RegButton", "LanguageButton", "PlanButton", "PaymentButton", "ReviewButton"}


@pytest.mark.parametrize("factory", _factories(), ids=lambda cls: cls.__name__)
def test_callback_data_fits_64_bytes(factory: type[CallbackData]) -> None:
    values = {name: _longest(f"{factory.__name__}.{name}", field) for name, field in factory.model_fields.items()}
    packed = factory(**values).pack()  # aiogram refuses more than 64 bytes here already
    assert len(packed.encode()) <= LIMIT, packed
