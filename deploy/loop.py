"""The real-time loop: policy steps and command steps on absolute deadlines.

One thread, one time base. Command tick ``k`` is due at ``start + k·T_c`` (``T_c = 1 /
command_hz``); every ``R = command_hz / policy_hz``-th tick (``k ≡ 0 mod R``) runs
:meth:`~humimic.deploy.runtime.DeployRuntime.policy_step` first, so a new command goes out in
the same tick. Deadlines are computed from ``k``, never from the previous wake-up, so the loop
does not drift.

Waiting: :func:`sleep_until` sleeps with :func:`time.sleep` until ``busy_wait_s`` (0.2 ms)
before the deadline, then spins on the clock: the OS timer alone wakes 50-100 µs late.

Overruns: when tick ``k`` finishes later than one full period after the *next* deadline
(``now > start + (k+1)·T_c + T_c``), the loop counts one overrun (and the ticks it skips) and
jumps to the first deadline still in the future; a tick late by less than a period runs at
once, to catch up. A policy step is due whenever the loop enters a new block of ``R`` ticks,
so a skip never loses the policy step of the block it lands in.

Scheduling: on a busy machine the OS wakes the loop milliseconds late whatever it does
(a no-op loop shows the same jitter). ``realtime_priority`` runs the loop under ``SCHED_FIFO``
(Linux; needs ``CAP_SYS_NICE``, refused → a warning and normal scheduling), which removes
that; the previous policy is restored when the loop returns. On the robot, also pin the
process to an isolated core.

Statistics (:class:`LoopStats`): the policy period jitter ``|Δt − T_p|`` between consecutive
policy steps' start times and the wake-up lateness (start − deadline) of the policy steps,
as p50/p99/max, plus the counts. Tests drive the loop with a
:class:`~humimic.deploy.clock.FakeClock` and a fake ``sleep_until``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from humimic.deploy.clock import Clock, MonotonicClock
from humimic.errors import ConfigError

__all__ = ["LoopStats", "Steppable", "realtime_scheduling", "run_loop", "sleep_until"]

log = logging.getLogger(__name__)

BUSY_WAIT_S = 2e-4


class Steppable(Protocol):
    """What the loop drives (a :class:`~humimic.deploy.runtime.DeployRuntime`)."""

    def policy_step(self) -> object: ...

    def command_step(self) -> object: ...

    def note_overruns(self, count: int) -> None: ...


@dataclass(frozen=True)
class LoopStats:
    """Timing of one :func:`run_loop` run (seconds).

    Attributes:
        policy_steps, command_steps: ticks run.
        overruns: times the loop fell more than a period behind and skipped ahead.
        skipped_ticks: command ticks skipped by those jumps.
        jitter_p50_s, jitter_p99_s, jitter_max_s: ``|Δt − T_p|`` over consecutive policy
            steps (``Δt`` between their start times).
        late_p50_s, late_p99_s, late_max_s: policy step start minus its deadline.
        duration_s: from the first deadline to the end.
        realtime: the loop ran under ``SCHED_FIFO``.
    """

    policy_steps: int
    command_steps: int
    overruns: int
    skipped_ticks: int
    jitter_p50_s: float
    jitter_p99_s: float
    jitter_max_s: float
    late_p50_s: float
    late_p99_s: float
    late_max_s: float
    duration_s: float
    realtime: bool = False

    def table(self) -> str:
        """A short printable summary (µs)."""
        return (
            f"policy steps {self.policy_steps}, command steps {self.command_steps}, "
            f"overruns {self.overruns} ({self.skipped_ticks} ticks skipped)\n"
            f"period jitter  p50 {self.jitter_p50_s * 1e6:7.1f} µs  "
            f"p99 {self.jitter_p99_s * 1e6:7.1f} µs  max {self.jitter_max_s * 1e6:7.1f} µs\n"
            f"wake-up late   p50 {self.late_p50_s * 1e6:7.1f} µs  "
            f"p99 {self.late_p99_s * 1e6:7.1f} µs  max {self.late_max_s * 1e6:7.1f} µs"
        )


def sleep_until(deadline_s: float, clock: Clock, busy_wait_s: float = BUSY_WAIT_S) -> None:
    """Return at ``deadline_s`` on ``clock``: OS sleep, then spin for the last ``busy_wait_s``."""
    remaining = deadline_s - clock.now_s()
    if remaining > busy_wait_s:
        time.sleep(remaining - busy_wait_s)
    while clock.now_s() < deadline_s:
        pass


@contextlib.contextmanager
def realtime_scheduling(priority: int | None) -> Iterator[bool]:
    """Run the calling thread under ``SCHED_FIFO`` at ``priority`` (1-99) inside the block;
    yields whether it did (``None``, non-Linux or not permitted → ``False``, logged).

    Either way the garbage collector is run once and everything alive is frozen
    (:func:`gc.freeze`) for the block: the runtime's long-lived objects then leave the
    collector's scans, so a collection inside the loop costs microseconds, not the tens of
    milliseconds a full scan of torch/onnxruntime/MuJoCo objects takes."""
    gc.collect()
    gc.freeze()
    try:
        with _fifo(priority) as realtime:
            yield realtime
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _fifo(priority: int | None) -> Iterator[bool]:
    if priority is None:
        yield False
        return
    if not 1 <= priority <= 99:
        raise ConfigError(f"realtime priority must be in [1, 99], got {priority}")
    try:
        old_policy, old_param = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (AttributeError, OSError) as exc:
        log.warning("SCHED_FIFO priority %d refused (%s); normal scheduling", priority, exc)
        yield False
        return
    try:
        yield True
    finally:
        os.sched_setscheduler(0, old_policy, old_param)


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return 0.0, 0.0, 0.0
    arr = np.asarray(values)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99)), float(arr.max())


def run_loop(
    runtime: Steppable,
    clock: Clock | None = None,
    policy_hz: float = 50.0,
    command_hz: float = 500.0,
    duration_s: float | None = None,
    stop_event: threading.Event | None = None,
    *,
    sleep: Callable[[float], None] | None = None,
    realtime_priority: int | None = None,
) -> LoopStats:
    """Run ``runtime`` until ``duration_s`` has passed or ``stop_event`` is set.

    Args:
        runtime: its ``policy_step``/``command_step`` are called on the deadlines.
        clock: the time base (default :class:`MonotonicClock`); it must be the runtime's.
        policy_hz, command_hz: rates; ``command_hz`` must be an integer multiple of
            ``policy_hz``.
        duration_s: stop at the first deadline at or after ``start + duration_s``
            (``None``: until ``stop_event``).
        stop_event: checked every tick.
        sleep: ``sleep(deadline_s)`` returns at (or after) the deadline; default
            :func:`sleep_until` on ``clock``. Tests pass one that moves a FakeClock.
        realtime_priority: run under ``SCHED_FIFO`` at this priority (see the module
            docstring); ``None``: normal scheduling.

    Returns:
        The timing statistics (see :class:`LoopStats`).
    """
    clock = clock or MonotonicClock()
    if not (math.isfinite(policy_hz) and policy_hz > 0 and math.isfinite(command_hz)):
        raise ConfigError(f"run_loop: policy_hz must be > 0, got {policy_hz}")
    ratio_f = command_hz / policy_hz
    ratio = round(ratio_f)
    if ratio < 1 or abs(ratio_f - ratio) > 1e-9:
        raise ConfigError(
            f"run_loop: command_hz {command_hz} must be an integer multiple of policy_hz "
            f"{policy_hz}"
        )
    if duration_s is None and stop_event is None:
        raise ConfigError("run_loop: give duration_s or stop_event (or both)")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s >= 0):
        raise ConfigError(f"run_loop: duration_s must be >= 0, got {duration_s}")
    wait = sleep if sleep is not None else (lambda t: sleep_until(t, clock))
    period = 1.0 / command_hz
    with realtime_scheduling(realtime_priority) as realtime:
        stats = _run(runtime, clock, wait, ratio, period, duration_s, stop_event)
    return dataclasses.replace(stats, realtime=realtime)


def _run(
    runtime: Steppable,
    clock: Clock,
    wait: Callable[[float], None],
    ratio: int,
    period: float,
    duration_s: float | None,
    stop_event: threading.Event | None,
) -> LoopStats:
    policy_period = period * ratio
    start = clock.now_s()
    end = math.inf if duration_s is None else start + duration_s
    k = 0
    last_block = -1
    policy_steps = command_steps = overruns = skipped = 0
    policy_starts: list[float] = []
    late: list[float] = []
    while True:
        deadline = start + k * period
        if deadline > end or (stop_event is not None and stop_event.is_set()):
            break
        wait(deadline)
        t_start = clock.now_s()
        block = k // ratio
        if block != last_block:
            last_block = block
            runtime.policy_step()
            policy_steps += 1
            policy_starts.append(t_start)
            late.append(t_start - (start + block * policy_period))
        runtime.command_step()
        command_steps += 1
        k += 1
        now = clock.now_s()
        if now - (start + k * period) > period:
            k_next = math.floor((now - start) / period) + 1
            overruns += 1
            skipped += k_next - k
            runtime.note_overruns(1)
            k = k_next

    periods = np.diff(np.asarray(policy_starts))
    jitter = list(np.abs(periods - policy_period))
    j50, j99, jmax = _quantiles(jitter)
    l50, l99, lmax = _quantiles(late)
    return LoopStats(
        policy_steps=policy_steps,
        command_steps=command_steps,
        overruns=overruns,
        skipped_ticks=skipped,
        jitter_p50_s=j50,
        jitter_p99_s=j99,
        jitter_max_s=jmax,
        late_p50_s=l50,
        late_p99_s=l99,
        late_max_s=lmax,
        duration_s=clock.now_s() - start,
    )
