"""humimic: human motion capture → robot motion → imitation policy → ROS 2 deployment."""

import os

# MuJoCo picks its GL backend when it is first imported, by any module: headless EGL unless the
# user chose (``MUJOCO_GL=osmesa``); see humimic.render.
os.environ.setdefault("MUJOCO_GL", "egl")

from humimic.errors import HumimicError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["HumimicError", "Motion", "__version__"]


def __getattr__(name: str):  # lazy: importing humimic must not import Pinocchio/MuJoCo
    if name == "Motion":
        from humimic.motion import Motion

        return Motion
    raise AttributeError(name)
