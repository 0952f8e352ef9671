"""Draw a chart as a PNG: pure, from numbers and words already chosen (receiver/chart/plots.py), with matplotlib's
Agg backend and its object API (no pyplot: no global figure state, safe in a worker thread).

Words are drawn only in a font that has their script: DejaVu Sans (shipped with matplotlib) for English, a CJK font
(Noto Sans CJK, WenQuanYi, Source Han …) for Chinese when one is installed. Without one, the picture holds numbers,
times, currency codes and units only (the caption beside it, which the phone renders, carries the words) — never the
empty boxes a missing glyph becomes.
"""

from __future__ import annotations

import functools
import gc
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from receiver.facts.model import sig

DAY = 86400.0
WIDTH, HEIGHT, DPI = 8.0, 4.0, 100
"""800 x 400 pixels: sharp on a phone, a few tens of KB, far inside every channel's limits."""
STYLES: dict[str, dict[str, Any]] = {
    "actual": {"color": "#d62728", "linewidth": 2.0, "linestyle": "-"},
    "expected": {"color": "#1f77b4", "linewidth": 1.5, "linestyle": "--"},
    "peak": {"color": "#7f7f7f", "linewidth": 1.2, "linestyle": ":"},
    "low": {"color": "#7f7f7f", "linewidth": 1.2, "linestyle": ":"},
    "this_day": {"color": "#d62728", "linewidth": 2.0, "linestyle": "-"},
    "day_before": {"color": "#1f77b4", "linewidth": 1.5, "linestyle": "--"},
    "week_before": {"color": "#7f7f7f", "linewidth": 1.2, "linestyle": ":"},
    "this_week": {"color": "#d62728", "linewidth": 2.0, "linestyle": "-"},
    "previous_week": {"color": "#1f77b4", "linewidth": 1.5, "linestyle": "--"},
}
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi",
                "Sarasa Gothic SC", "Microsoft YaHei", "SimHei", "PingFang SC", "Hiragino Sans GB", "Noto Sans CJK",
                "Source Han Sans", "Droid Sans Fallback", "AR PL")  # fmt: skip
"""Fonts known to draw Chinese, simplified-Chinese faces first: a CJK collection's Japanese face (Noto Sans CJK JP)
draws some characters in Japanese shapes."""
PROBE = {"zh": "费用"}
"""Characters a font must have to draw a language's words (English: DejaVu Sans, always there)."""


@dataclass(frozen=True)
class Series:
    key: str
    """What the line is (a key of STYLES and of the catalogue's `chart` table)."""
    times: npt.NDArray[np.float64]
    """Unix seconds; for a digest, seconds since the start of its period (every period drawn on the same axis)."""
    values: npt.NDArray[np.float64]
    label: str = ""


@dataclass(frozen=True)
class Plot:
    series: tuple[Series, ...]
    unit: str
    """The y axis: "USD/h", or its words when a font can draw them."""
    marker: float | None = None
    """When the anomaly began (unix seconds): a vertical line with its time."""
    marker_label: str = ""
    note: str = ""
    """Written in the corner: the money at stake."""
    relative: bool = False
    """x is time since the period's start (a digest's days laid over each other), labelled as hours of the day."""
    texts: list[str] = field(default_factory=list, compare=False)
    """Filled by `png`: every text drawn, for the tests that read what the picture says."""


def font_for(language: str) -> str | None:
    """The family of an installed font that can draw `language`, None when there is none (numbers only, then)."""
    return _fonts().get(language)


@functools.cache
def _fonts() -> dict[str, str]:
    """English: DejaVu Sans, which matplotlib ships. Another language: the first installed font (known CJK families
    first) whose character map has the probe's characters; "Last Resort" fonts map everything to boxes, so not them.
    A font installed after matplotlib cached its list is found too (and added), so no cache has to be cleared."""
    from matplotlib import font_manager, ft2font

    manager = font_manager.fontManager
    known = {e.fname for e in manager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known:
            try:
                manager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    found = {"en": "DejaVu Sans"}
    entries = sorted(manager.ttflist, key=lambda e: (preference(e.name), e.name))
    for language, probe in PROBE.items():
        for entry in (e for e in entries if language not in found and "last resort" not in e.name.lower()):
            try:
                charmap = ft2font.FT2Font(entry.fname).get_charmap()
            except (OSError, RuntimeError, ValueError):
                continue
            if all(ord(ch) in charmap for ch in probe):
                found[language] = entry.name
    return found


def preference(name: str) -> int:
    """A font's rank for Chinese words: its place in CJK_FAMILIES, any other font last."""
    return next((i for i, family in enumerate(CJK_FAMILIES) if name.startswith(family)), len(CJK_FAMILIES))


def warm() -> dict[str, str]:
    """Import matplotlib and index the fonts now (about a second), so the first alert's chart is not the slow one."""
    return _fonts()


def png(plot: Plot, font: str | None) -> bytes:
    """The picture, as PNG bytes. `font` None: the words of `plot` are left out, only numbers and units drawn."""
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text
    from matplotlib.ticker import FuncFormatter

    words = font is not None
    family = [font] if font else ["DejaVu Sans"]
    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)  # fixed margins: a layout engine would draw everything twice
    fig.subplots_adjust(left=0.09, right=0.97, top=0.95, bottom=0.2 if words else 0.1)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if not plot.relative:
        ax.xaxis_date(UTC)  # x in days since 1970 (matplotlib's date numbers): no datetime objects to convert
    for s in plot.series:
        finite = np.isfinite(s.values)
        if not finite.any():
            continue
        x = s.times / (3600 if plot.relative else DAY)
        ax.plot(x, np.where(finite, s.values, np.nan), label=s.label if words else "_", **STYLES.get(s.key, {}))
        if not words:  # no legend can be read: each line says its last value at its end
            last = int(np.flatnonzero(finite)[-1])
            ax.annotate(_number(float(s.values[last])), (x[last], float(s.values[last])), fontfamily=family,
                        fontsize=8, xytext=(3, 0), textcoords="offset points", color=STYLES.get(s.key, {})
                        .get("color", "black"))  # fmt: skip
    if plot.marker is not None and not plot.relative:
        at = _utc(plot.marker)
        ax.axvline(plot.marker / DAY, color="#ff7f0e", linewidth=1.0)
        ax.annotate(f"{plot.marker_label} {at:%H:%M}" if words else f"{at:%H:%M}", (plot.marker / DAY, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(-3, -12), textcoords="offset points", ha="right",
                    fontsize=8, color="#ff7f0e", fontfamily=family)  # fmt: skip
    if plot.note:
        ax.text(0.01, 0.98, plot.note, transform=ax.transAxes, va="top", fontsize=9, fontfamily=family,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})  # fmt: skip
    ax.set_ylabel(plot.unit, fontfamily=family)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if plot.relative:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda h, _: f"{int(h) % 24:02d}:00"))
        ax.set_xlim(0, max((float(s.times.max()) / 3600 for s in plot.series if s.times.size), default=24))
    else:
        span = max((float(s.times.max() - s.times.min()) for s in plot.series if s.times.size), default=0.0)
        formatter = mdates.DateFormatter("%H:%M" if span <= 2 * 86400 else "%m-%d", tz=UTC)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(formatter)
    if words and any(s.label for s in plot.series):
        fig.legend(loc="lower center", ncols=len(plot.series), frameon=False, prop={"family": family, "size": 9})
    for label in ax.get_xticklabels() + ax.get_yticklabels():
        label.set_fontfamily(family)
    out = io.BytesIO()
    fig.savefig(out, format="png", pil_kwargs={"compress_level": 3})  # a little bigger, twice as fast as level 6
    plot.texts[:] = [text for t in fig.findobj(Text) if isinstance(t, Text) and (text := t.get_text())]
    del fig, canvas, ax
    # A figure is some 0.8 MB of reference cycles that only a full collection frees; without one here the receiver
    # would grow by a figure per chart until the next (measured: +36 MiB over 25 charts). About 30 ms, once a chart.
    gc.collect()
    return out.getvalue()


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(float(t), UTC)


def _number(value: float) -> str:
    """A value as the message writes it: four significant digits (facts.model.sig), no exponent."""
    return f"{sig(value):f}".rstrip("0").rstrip(".")
