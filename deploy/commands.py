"""What the deploy runtime sends and reads, per joint in policy order.

A motor's PD law on the robot (Unitree ``LowCmd``, MuJoCo's actuator in sim) is

    τ = kp·(q* − q) + kd·(dq* − dq) + τ_ff

with ``q*`` = :attr:`JointCommand.position_rad`, ``dq*`` = :attr:`JointCommand.velocity_rad_s`,
``τ_ff`` = :attr:`JointCommand.effort_nm`. All arrays are float64 ``[J]`` (``J`` joints, policy
order = motor order, see ``robots/g1.py``) and read-only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from humimic.errors import DeployError
from humimic.rotations import quat_conj, quat_rotate

FloatArray = NDArray[np.float64]

DAMPING_KD_NM_S_PER_RAD = 8.0
"""Damping gain of the DAMPING state (kp = 0), the value used across the field for the G1."""


def _frozen_array(name: str, value: ArrayLike, shape: tuple[int, ...]) -> FloatArray:
    arr = np.array(value, dtype=np.float64)  # a copy: the caller's array may change later
    if arr.shape != shape:
        raise DeployError(f"{name}: expected shape {shape}, got {arr.shape}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class JointCommand:
    """One PD command for every joint (see the module docstring for the control law).

    Attributes:
        position_rad: target position ``q*`` [J].
        velocity_rad_s: target velocity ``dq*`` [J].
        effort_nm: feed-forward torque ``τ_ff`` [J].
        kp: stiffness [J] (N·m/rad).
        kd: damping [J] (N·m·s/rad).

    Values may be non-finite (a policy can output NaN); the safety supervisor rejects them.
    Shapes are checked here: a wrong shape raises :class:`DeployError`.
    """

    position_rad: FloatArray
    velocity_rad_s: FloatArray
    effort_nm: FloatArray
    kp: FloatArray
    kd: FloatArray

    def __post_init__(self) -> None:
        pos = np.asarray(self.position_rad)
        if pos.ndim != 1:
            raise DeployError(f"JointCommand.position_rad: expected shape [J], got {pos.shape}")
        shape = pos.shape
        for name in ("position_rad", "velocity_rad_s", "effort_nm", "kp", "kd"):
            value = _frozen_array(f"JointCommand.{name}", getattr(self, name), shape)
            object.__setattr__(self, name, value)

    @property
    def num_joints(self) -> int:
        return int(self.position_rad.shape[0])

    @classmethod
    def pd(
        cls,
        position_rad: ArrayLike,
        kp: ArrayLike,
        kd: ArrayLike,
        velocity_rad_s: ArrayLike | None = None,
        effort_nm: ArrayLike | None = None,
    ) -> JointCommand:
        """A PD command to ``position_rad`` [J]; velocity and feed-forward default to 0."""
        pos = np.asarray(position_rad, dtype=np.float64)
        zeros = np.zeros_like(pos)
        return cls(
            position_rad=pos,
            velocity_rad_s=zeros if velocity_rad_s is None else np.asarray(velocity_rad_s),
            effort_nm=zeros if effort_nm is None else np.asarray(effort_nm),
            kp=np.broadcast_to(np.asarray(kp, dtype=np.float64), pos.shape),
            kd=np.broadcast_to(np.asarray(kd, dtype=np.float64), pos.shape),
        )

    @classmethod
    def damping(cls, num_joints: int, kd: float = DAMPING_KD_NM_S_PER_RAD) -> JointCommand:
        """Pure damping: ``kp = 0``, ``kd`` on every joint, zero targets (``τ = −kd·dq``)."""
        zeros = np.zeros(num_joints)
        return cls.pd(zeros, kp=0.0, kd=kd)

    @classmethod
    def passive(cls, num_joints: int) -> JointCommand:
        """Motors off in effect: all gains and targets zero (``τ = 0``)."""
        zeros = np.zeros(num_joints)
        return cls.pd(zeros, kp=0.0, kd=0.0)

    def with_position(self, position_rad: ArrayLike) -> JointCommand:
        """The same command with another target position [J]."""
        return JointCommand(
            position_rad=np.asarray(position_rad, dtype=np.float64),
            velocity_rad_s=self.velocity_rad_s,
            effort_nm=self.effort_nm,
            kp=self.kp,
            kd=self.kd,
        )


@dataclass(frozen=True)
class RobotState:
    """One measurement of the robot, per joint in policy order.

    Attributes:
        joint_pos_rad: measured positions ``q`` [J].
        joint_vel_rad_s: measured velocities ``dq`` [J].
        imu_quat_wxyz: orientation of the IMU body in the world [4] (wxyz, body → world).
        gyro_b_rad_s: angular velocity of the IMU body in its own frame [3].
        stamp_s: when it was measured, on the runtime's :class:`~humimic.deploy.clock.Clock`.
    """

    joint_pos_rad: FloatArray
    joint_vel_rad_s: FloatArray
    imu_quat_wxyz: FloatArray
    gyro_b_rad_s: FloatArray
    stamp_s: float

    def __post_init__(self) -> None:
        pos = np.asarray(self.joint_pos_rad)
        if pos.ndim != 1:
            raise DeployError(f"RobotState.joint_pos_rad: expected shape [J], got {pos.shape}")
        shapes = {
            "joint_pos_rad": pos.shape,
            "joint_vel_rad_s": pos.shape,
            "imu_quat_wxyz": (4,),
            "gyro_b_rad_s": (3,),
        }
        for name, shape in shapes.items():
            value = _frozen_array(f"RobotState.{name}", getattr(self, name), shape)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "stamp_s", float(self.stamp_s))

    @property
    def num_joints(self) -> int:
        return int(self.joint_pos_rad.shape[0])

    def is_finite(self) -> bool:
        """True when every number in the state is finite."""
        return bool(
            np.isfinite(self.joint_pos_rad).all()
            and np.isfinite(self.joint_vel_rad_s).all()
            and np.isfinite(self.imu_quat_wxyz).all()
            and np.isfinite(self.gyro_b_rad_s).all()
            and np.isfinite(self.stamp_s)
        )

    def projected_gravity_b(self) -> FloatArray:
        """Unit gravity direction in the IMU body frame [3]: ``R(q)ᵀ·(0, 0, −1)``.

        Upright gives ``(0, 0, −1)``; tilted by θ (about any horizontal axis) the z component
        is ``−cos θ``. The quaternion is normalized first (IMUs drift off unit norm).
        """
        q = self.imu_quat_wxyz / np.linalg.norm(self.imu_quat_wxyz)
        return quat_rotate(quat_conj(q), np.array([0.0, 0.0, -1.0]))
