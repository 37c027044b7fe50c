"""Money as integer minor units: parsing operator input and formatting for people."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from tenantctl.core.errors import Invalid

_MONEY = re.compile(r"^\s*(?P<amount>[0-9][0-9 _]*(?:[.,][0-9]{1,2})?)\s*(?P<currency>RUB|₽|руб\.?)?\s*$", re.IGNORECASE)
_PERSIAN_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")


def normalize_digits(text: str) -> str:
    """Persian and Arabic-Indic digits to ASCII."""
    return text.translate(_PERSIAN_DIGITS)


def parse_rubles(text: str) -> int:
    """'5000', '5000.00', '5 000,50' or '5000 RUB' -> kopeks."""
    match = _MONEY.match(normalize_digits(str(text)))
    if not match:
        raise Invalid(f"{text!r} is not an amount in rubles (examples: 5000, 5000.00, 5000 RUB)")
    digits = match["amount"].replace(" ", "").replace("_", "").replace(",", ".")
    try:
        return int(Decimal(digits) * 100)
    except InvalidOperation:
        raise Invalid(f"{text!r} is not an amount in rubles") from None


def format_money(amount: int, currency: str = "RUB") -> str:
    """500000 -> '5 000.00 RUB'; Stars (XTR) are whole units."""
    if currency == "XTR":
        return f"{amount:,} XTR".replace(",", " ")
    rubles, kopeks = divmod(abs(amount), 100)
    sign = "-" if amount < 0 else ""
    return f"{sign}{rubles:,}.{kopeks:02d} {currency}".replace(",", " ")


def kopeks_to_stars(kopeks: int, rate_kopeks: int) -> int:
    """Whole Stars for a fee, rounded up so the platform is never underpaid (at least 1)."""
    if rate_kopeks <= 0:
        raise Invalid("STARS_RATE_KOPEKS must be positive")
    return max(1, -(-kopeks // rate_kopeks))
