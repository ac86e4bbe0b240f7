"""Robots: one module per robot (constants) plus builders for Pinocchio and MuJoCo.

>>> from humimic.robots import get_robot
>>> get_robot("g1").num_joints
29
"""

from __future__ import annotations

from humimic.errors import RobotError, unknown_name
from humimic.robots.g1 import G1
from humimic.robots.spec import RobotSpec

ROBOTS: dict[str, RobotSpec] = {G1.name: G1}


def get_robot(name: str) -> RobotSpec:
    """The registered robot called ``name``; the error lists the registered robots."""
    try:
        return ROBOTS[name]
    except KeyError:
        raise RobotError(unknown_name("robot", name, ROBOTS)) from None


__all__ = ["ROBOTS", "RobotSpec", "get_robot"]
