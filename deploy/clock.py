"""Time for the deploy runtime, behind a port so that tests are deterministic.

Every component that needs "now" (the safety supervisor's watchdog, the state machine's
STAND ramp and transition log) takes a :class:`Clock`. Production uses
:class:`MonotonicClock`; tests use :class:`FakeClock` and move time by hand.
All times are seconds on one monotonic time base; robot state stamps must use the same base.
"""

from __future__ import annotations

import math
import time
from typing import Protocol, runtime_checkable

from humimic.errors import ConfigError


@runtime_checkable
class Clock(Protocol):
    """A monotonic source of time in seconds (never goes backwards)."""

    def now_s(self) -> float:
        """Current time (s) on this clock's monotonic base."""
        ...


class MonotonicClock:
    """The process's monotonic clock (:func:`time.monotonic`)."""

    def now_s(self) -> float:
        return time.monotonic()


class FakeClock:
    """A fake clock FOR TESTS: time only moves when :meth:`advance` or :meth:`set` is called.

    It keeps the monotonic contract: moving it backwards raises :class:`ConfigError`.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)

    def now_s(self) -> float:
        return self._now_s

    def advance(self, dt_s: float) -> float:
        """Move time forward by ``dt_s`` (>= 0) and return the new time."""
        if not math.isfinite(dt_s) or dt_s < 0.0:
            raise ConfigError(f"FakeClock.advance: dt_s must be finite and >= 0, got {dt_s}")
        self._now_s += dt_s
        return self._now_s

    def set(self, now_s: float) -> None:
        """Jump to ``now_s`` (not earlier than the current time)."""
        if not math.isfinite(now_s) or now_s < self._now_s:
            raise ConfigError(
                f"FakeClock.set: now_s must be finite and >= {self._now_s}, got {now_s}"
            )
        self._now_s = float(now_s)
