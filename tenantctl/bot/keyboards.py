"""The master bot's inline keyboards, and the CallbackData behind every button.

Each factory packs to at most 64 bytes (Telegram's limit; tests/architecture pins it): ids are
ints, choices are enums, and a free string declares its max_length. Data that does not unpack
matches no handler and gets the "this button has expired" answer.
"""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import Field

from tenantctl.bot.locales import LANGUAGE_NAMES, t
from tenantctl.tenants.rules import LANGUAGES

Row = list[tuple[str, CallbackData]]


class RegAction(StrEnum):
    BACK = "back"
    CANCEL = "cancel"
    SKIP = "skip"
    CONFIRM = "confirm"


class RegButton(CallbackData, prefix="reg"):
    """Back, Cancel, Skip and Confirm in the registration."""

    action: RegAction


class LanguageButton(CallbackData, prefix="lang"):
    """The bot's language (registration step 3)."""

    code: str = Field(max_length=8)


class PlanButton(CallbackData, prefix="plan"):
    """A plan (registration step 5)."""

    plan_id: int


class PaymentButton(CallbackData, prefix="pay"):
    """How the activation fee is paid (registration step 6): a `billing.models` method."""

    method: str = Field(max_length=32)


class ReviewAction(StrEnum):
    APPROVE = "a"
    REJECT = "r"


class ReviewButton(CallbackData, prefix="rv"):
    """A master admin's Approve or Reject under a card receipt."""

    action: ReviewAction
    payment_id: int


class MyBot(CallbackData, prefix="mb"):
    """On the master bot: manage this bot in the dashboard (its admins, or a master admin, checked when pressed; 0: the list)."""

    bot_id: int


REGISTRATION_BUTTONS = (RegButton, LanguageButton, PlanButton, PaymentButton)


def keyboard(*rows: Row) -> InlineKeyboardMarkup:
    """An inline keyboard of (label, callback data) rows; empty rows are left out."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=text, callback_data=data.pack()) for text, data in row] for row in rows if row
    ])


def step_keyboard(lang: str, *rows: Row, back: bool = True) -> InlineKeyboardMarkup:
    """A registration step's buttons, then Back (unless `back` is False) and Cancel."""
    nav: Row = [(t(lang, "btn_back"), RegButton(action=RegAction.BACK))] if back else []
    return keyboard(*rows, nav + [(t(lang, "btn_cancel"), RegButton(action=RegAction.CANCEL))])


def languages_row() -> Row:
    """One button per language the bot speaks."""
    return [(LANGUAGE_NAMES[code], LanguageButton(code=code)) for code in LANGUAGES]


def review_keyboard(payment_id: int) -> InlineKeyboardMarkup:
    """Approve / Reject under a receipt sent to the master admins (always in English)."""
    return keyboard([(t("en", "btn_approve"), ReviewButton(action=ReviewAction.APPROVE, payment_id=payment_id)),
                     (t("en", "btn_reject"), ReviewButton(action=ReviewAction.REJECT, payment_id=payment_id))])
