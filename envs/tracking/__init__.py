"""The tracking task's MDP terms (torch, pure functions of a :class:`TermInput`).

``state`` (the record), ``math`` (batched wxyz quaternions), ``observations``, ``rewards``,
``terminations``. The training env and the deploy runtime call the same functions.
"""

from __future__ import annotations

from . import math, observations, rewards, terminations
from .observations import ObservationGroup
from .rewards import RewardTerm, compute_rewards
from .state import RobotFrame, TermInput, missing_fields, needs, required_fields

__all__ = [
    "ObservationGroup",
    "RewardTerm",
    "RobotFrame",
    "TermInput",
    "compute_rewards",
    "math",
    "missing_fields",
    "needs",
    "observations",
    "required_fields",
    "rewards",
    "terminations",
]
