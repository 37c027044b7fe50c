"""Calendar arithmetic."""

from __future__ import annotations

import calendar
from datetime import datetime


def add_months(moment: datetime, months: int = 1) -> datetime:
    """The same day `months` calendar months later (clamped: Jan 31 + 1 month = Feb 28/29)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
