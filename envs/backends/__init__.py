"""Simulation backends behind one interface (see ``base.py`` and design.md, "Backend")."""

from humimic.envs.backends.base import Backend, EnvIds
from humimic.envs.backends.mujoco_backend import MujocoBackend

__all__ = ["Backend", "EnvIds", "MujocoBackend"]
