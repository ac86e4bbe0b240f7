"""The deploy runtime's ports: what a transport (in-process MuJoCo, ROS 2 over DDS, Unitree DDS,
the rclpy node) must provide. The runtime only talks to these protocols.

* :class:`StateSource`: the newest robot measurement (never blocks).
* :class:`CommandSink`: where joint commands go (never blocks for long).
* :class:`OperatorInput`: operator events since the last poll (start, stop, damp, estop, reset,
  clip).
* :class:`StatusSink`: where the runtime reports its state machine and faults.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from humimic.deploy.commands import JointCommand, RobotState

__all__ = [
    "CommandSink",
    "OperatorEvent",
    "OperatorInput",
    "QueuedOperatorInput",
    "RuntimeStatus",
    "StateSource",
    "StatusSink",
]


class StateSource(Protocol):
    def latest(self) -> RobotState | None:
        """The newest measurement, or ``None`` if none has arrived yet. Must not block."""


class CommandSink(Protocol):
    def send(self, command: JointCommand) -> None:
        """Send one joint command (position, velocity, effort, kp, kd per joint)."""


class OperatorEvent(enum.Enum):
    START = "start"
    STOP = "stop"
    DAMP = "damp"
    ESTOP = "estop"
    RESET = "reset"


class OperatorInput(Protocol):
    def poll(self) -> list[tuple[OperatorEvent, str]]:
        """Events received since the last poll, oldest first, with an argument (clip name for
        START, reason text otherwise; may be empty). Must not block."""


@dataclass(frozen=True)
class RuntimeStatus:
    """What the runtime reports each policy step.

    Attributes:
        stamp_s: runtime clock (s). state: FSM state name (``passive`` ...).
        fault: active or latched fault text ('' if none). clip: reference clip name.
        clip_time_s: time in the clip (s). overruns: missed deadlines so far.
    """

    stamp_s: float
    state: str
    fault: str
    clip: str
    clip_time_s: float
    overruns: int


class QueuedOperatorInput:
    """An :class:`OperatorInput` fed by code (tests, the in-process sim loop, a CLI thread).

    Thread-safe: :meth:`push` may be called from any thread; :meth:`poll` drains the queue.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: deque[tuple[OperatorEvent, str]] = deque()

    def push(self, event: OperatorEvent, arg: str = "") -> None:
        """Queue ``event`` with its argument (clip name for START, reason otherwise)."""
        with self._lock:
            self._events.append((event, arg))

    def poll(self) -> list[tuple[OperatorEvent, str]]:
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events


class StatusSink(Protocol):
    def publish(self, status: RuntimeStatus) -> None:
        """Report the runtime's status."""
