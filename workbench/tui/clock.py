"""The one source of "now" and of how times read on screen, so tests can freeze both."""

from __future__ import annotations

import time
from datetime import UTC, datetime, tzinfo

from workbench.mesh.format import duration  # noqa: F401  (how durations read: one place)


class Clock:
    """Wall-clock time shown in the local zone (or a given one)."""

    def __init__(self, tz: tzinfo | None = None) -> None:
        self.tz = tz

    def now(self) -> float:
        return time.time()

    def _dt(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.tz) if self.tz else datetime.fromtimestamp(ts)

    def time_of_day(self, ts: float | None) -> str:
        return self._dt(ts).strftime("%H:%M:%S") if ts else "--:--:--"

    def date_time(self, ts: float | None) -> str:
        return self._dt(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"

    def short(self, ts: float | None) -> str:
        """`10:19` today, `11-24 10:19` this year, `2025-11-24` before."""
        if not ts:
            return "-"
        when, now = self._dt(ts), self._dt(self.now())
        if when.date() == now.date():
            return when.strftime("%H:%M")
        if when.year == now.year:
            return when.strftime("%m-%d %H:%M")
        return when.strftime("%Y-%m-%d")


class FrozenClock(Clock):
    """A clock that always reads `at` and shows UTC: screens come out the same everywhere."""

    def __init__(self, at: float, tz: tzinfo | None = UTC) -> None:
        super().__init__(tz)
        self.at = at

    def now(self) -> float:
        return self.at
