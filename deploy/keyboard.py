"""Operator commands typed on the terminal (``humimic deploy --manual``), one per line:

====================  ==========================================================
line                  event
====================  ==========================================================
``s`` / ``start``     start: PASSIVE → DAMPING → STAND, STAND → POLICY (ramp done)
``s NAME``            start the clip ``NAME`` (from STAND)
``x`` / ``stop``      stop: POLICY → STAND (ramp back to the default pose)
``d`` / ``damp``      damping (kp = 0), latched
``e`` / ``estop``     e-stop: damping, latched until ``reset``
``r`` / ``reset``     reset: DAMPING → PASSIVE once no fault is active
====================  ==========================================================

Anything else is reported and ignored. A reader thread turns lines into events; the runtime
polls them at the policy rate like any other :class:`~humimic.deploy.ports.OperatorInput`.
End of input (Ctrl-D) changes nothing: the robot stays in its current state.
"""

from __future__ import annotations

import logging
import threading
from typing import TextIO

from humimic.deploy.ports import OperatorEvent, QueuedOperatorInput

__all__ = ["HELP", "KeyboardOperatorInput", "parse_line"]

log = logging.getLogger(__name__)

_WORDS = {
    "s": OperatorEvent.START,
    "start": OperatorEvent.START,
    "x": OperatorEvent.STOP,
    "stop": OperatorEvent.STOP,
    "d": OperatorEvent.DAMP,
    "damp": OperatorEvent.DAMP,
    "e": OperatorEvent.ESTOP,
    "estop": OperatorEvent.ESTOP,
    "r": OperatorEvent.RESET,
    "reset": OperatorEvent.RESET,
}

HELP = "keys + Enter: s[tart] [clip], x/stop, d[amp], e[stop], r[eset]"


def parse_line(line: str) -> tuple[OperatorEvent, str] | None:
    """``(event, argument)`` of one typed line, ``None`` for a blank or unknown one."""
    words = line.strip().split(maxsplit=1)
    if not words or words[0].lower() not in _WORDS:
        return None
    event = _WORDS[words[0].lower()]
    arg = words[1].strip() if len(words) > 1 else ""
    if event is OperatorEvent.START:
        return event, arg  # a clip name
    return event, arg or "keyboard"


class KeyboardOperatorInput(QueuedOperatorInput):
    """Reads ``stream`` (default: stdin) line by line in a daemon thread."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.unknown_lines = 0
        self._stream = stream
        self._thread = threading.Thread(target=self._read, name="keyboard", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            parsed = parse_line(line)
            if parsed is None:
                if line.strip():
                    self.unknown_lines += 1
                    log.warning("unknown operator key %r; %s", line.strip(), HELP)
                continue
            self.push(*parsed)

    def join(self, timeout_s: float | None = None) -> None:
        """Wait until the stream has ended (tests)."""
        self._thread.join(timeout_s)
