"""Charts as PNG bytes: the tenant dashboard's 30-day income and traffic, the platform's 90-day MRR.

matplotlib is imported only when a chart is drawn, through its object API (`Figure` on the Agg canvas),
never pyplot: no global state, safe in a server, and nothing on the CLI's start-up path.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Sequence

from tenantctl.stats.dashboard import DayFigures

GIB = 1024**3
_SIZE = (8, 3.2)  # inches; at 100 dpi an 800x320 image fits a Telegram photo
_DPI = 100


def _figure(title: str, days: Sequence[date]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=_SIZE, dpi=_DPI)
    figure.subplots_adjust(left=0.08, right=0.98, top=0.88, bottom=0.14)  # fixed margins: a layout engine costs ~40 % of a chart
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=11)
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    step = max(1, len(days) // 6)
    axes.set_xticks(range(0, len(days), step), [day.strftime("%d.%m") for day in days][::step], fontsize=8)
    axes.tick_params(axis="y", labelsize=8)
    return figure, axes


def _png(figure) -> bytes:
    out = io.BytesIO()
    figure.canvas.print_png(out)
    return out.getvalue()


def income_chart_png(days: Sequence[DayFigures]) -> bytes:
    """Daily income (rubles) over the dashboard's series, as a bar chart in PNG."""
    figure, axes = _figure("Income per day, RUB", [d.day for d in days])
    axes.bar(range(len(days)), [d.income_kopeks / 100 for d in days], color="#2e7d32", width=0.8)
    axes.set_xlim(-0.6, len(days) - 0.4)
    return _png(figure)


def traffic_chart_png(days: Sequence[DayFigures]) -> bytes:
    """Daily traffic consumed and sold (GB) over the dashboard's series, as lines in PNG."""
    figure, axes = _figure("Traffic per day, GB", [d.day for d in days])
    positions = range(len(days))
    axes.plot(positions, [d.consumed_bytes / GIB for d in days], color="#1565c0", linewidth=1.8, label="consumed")
    axes.plot(positions, [d.sold_bytes / GIB for d in days], color="#ef6c00", linewidth=1.8, label="sold")
    axes.set_ylim(bottom=0)
    axes.legend(fontsize=8, frameon=False, loc="upper left")
    return _png(figure)


def mrr_chart_png(series: Sequence[tuple[date, int]]) -> bytes:
    """The platform's MRR (rubles) on each day of the series, as a line in PNG."""
    figure, axes = _figure("MRR, RUB", [day for day, _ in series])
    axes.plot(range(len(series)), [kopeks / 100 for _, kopeks in series], color="#6a1b9a", linewidth=1.8)
    axes.set_ylim(bottom=0)
    return _png(figure)
