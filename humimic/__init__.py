"""humimic: human motion capture → robot motion → imitation policy → ROS 2 deployment."""

from humimic.errors import HumimicError

__version__ = "0.1.0"

__all__ = ["HumimicError", "Motion", "__version__"]


def __getattr__(name: str):  # lazy: importing humimic must not import Pinocchio/MuJoCo
    if name == "Motion":
        from humimic.motion import Motion

        return Motion
    raise AttributeError(name)
