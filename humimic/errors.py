"""The one error hierarchy of humimic.

Every error a user can cause (a bad file, an unknown name, a wrong unit) is a
:class:`HumimicError`. The CLI prints its message as one line and exits non-zero;
messages say what was expected and where (file, frame, field).
"""

from __future__ import annotations

from collections.abc import Iterable


class HumimicError(Exception):
    """Base class of every error humimic raises on purpose."""


class ConfigError(HumimicError):
    """A configuration value is out of range or inconsistent."""


class RobotError(HumimicError):
    """A robot name, joint or body does not exist, or the robot's assets are missing."""


class MotionError(HumimicError):
    """A motion clip is malformed (shape, finiteness, names, schema version)."""


class RetargetError(HumimicError):
    """Mocap input cannot be read or retargeted."""


class RenderError(HumimicError):
    """Offscreen rendering is unavailable or failed."""


class DeployError(HumimicError):
    """The deploy runtime refused a policy or hit a fault it cannot recover from."""


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> str:
    """Message for a failed lookup that lists what exists.

    >>> unknown_name("joint", "knee", ["hip", "ankle"])
    "unknown joint 'knee'; valid: ankle, hip"
    """
    return f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}"
