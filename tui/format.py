"""Small text formatters shared by the panes: durations, sizes, ids, numbers."""

from __future__ import annotations

import time

NOT_YET = "not yet"
MISSING = "—"
SHORT_ID_CHARS = 8  # hex characters of a node id shown in tables (32 bits: unique enough at a glance)


def short_id(node_id: str) -> str:
    return node_id[:SHORT_ID_CHARS] if node_id else MISSING


def format_duration(seconds: float | None) -> str:
    """1:02:03 under a day, "3d 04h" beyond; "—" when unknown."""
    if seconds is None:
        return MISSING
    whole = int(max(0.0, seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    return f"{hours}:{minutes:02d}:{secs:02d}"


def format_age(seconds: float | None) -> str:
    """A short "how long ago": 4 s, 12 min, 3 h, 2 d."""
    if seconds is None:
        return MISSING
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def format_span(seconds: float) -> str:
    """The length of a chart's time axis: 45 s, 12 min, 5 h, 6 d."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def format_bytes(count: int | None) -> str:
    if count is None:
        return MISSING
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # unreachable; keeps type checkers calm


def format_loss(loss: float | None) -> str:
    return MISSING if loss is None else f"{loss:.4f}"


def format_rate(tokens_per_s: float | None) -> str:
    return MISSING if tokens_per_s is None else f"{tokens_per_s:,.0f}"


def format_layers(start: int | None, stop: int | None) -> str:
    """A half-open range as people say it: layers 0–3 means 0, 1 and 2."""
    if start is None or stop is None:
        return "none"
    return f"{start}–{stop}"


def format_clock(time_s: float) -> str:
    """Local wall-clock time of day, HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.localtime(time_s))


def format_neuro(amount: float | None) -> str:
    return MISSING if amount is None else f"{amount:,.4f} NEURO"
