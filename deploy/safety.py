"""The safety supervisor: every state read and every command sent goes through it.

Two checks, both pure functions of their inputs (plus the supervisor's memory of the last
filtered target and its e-stop latch):

* :meth:`SafetySupervisor.check_state` → a :class:`Fault` or ``None``: no state yet, a stale
  state (older than ``state_timeout_s``), NaN/Inf in the state, a fall (projected gravity),
  or the e-stop latch. Any fault sends the state machine to latched DAMPING.
* :meth:`SafetySupervisor.filter_command` → the command to send plus the list of
  :class:`Violation` s it corrected. A non-finite command or a latched e-stop is fatal (the
  returned command is damping and the violation carries a :class:`Fault`); limits are clamped.

Joints whose ``kp`` is 0 (damping, passive) have no position target to police: their target
passes through untouched and the rate limiter restarts from the measured position.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

from humimic.deploy.commands import DAMPING_KD_NM_S_PER_RAD, FloatArray, JointCommand, RobotState
from humimic.errors import ConfigError, DeployError
from humimic.robots.spec import RobotSpec

DEFAULT_MAX_TILT_RAD = math.radians(60.0)


@dataclass(frozen=True)
class SafetyConfig:
    """Thresholds of the safety supervisor.

    Attributes:
        state_timeout_s: a state older than this (now − stamp) is stale → fault. 40 ms is 20
            missed ticks of the G1's 500 Hz ``lowstate`` (8 of a 200 Hz stream); with a 500 Hz
            command stream the damping command leaves at most 42 ms after the last state, inside
            the 50 ms the deploy contract allows.
        max_target_rate_rad_s: largest change of a joint target per second,
            ``|q*ₖ − q*ₖ₋₁| ≤ max_target_rate_rad_s · dt_s``.
        fall_gravity_z_threshold: the robot is falling when the z component of projected
            gravity in the IMU body frame exceeds this. Upright is −1; tilted by θ it is
            −cos θ, so a max tilt θ_max gives the threshold −cos θ_max (60° → −0.5).
        position_margin_rad: targets are kept this far inside the joint limits.
        damping_kd_nm_s_per_rad: kd of the damping command sent on a fatal violation.
    """

    state_timeout_s: float = 0.04
    max_target_rate_rad_s: float = 10.0
    fall_gravity_z_threshold: float = -math.cos(DEFAULT_MAX_TILT_RAD)
    position_margin_rad: float = 0.0
    damping_kd_nm_s_per_rad: float = DAMPING_KD_NM_S_PER_RAD

    def __post_init__(self) -> None:
        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(
                f"SafetyConfig.{name}: expected {expected}, got {getattr(self, name)!r}"
            )

        for name in ("state_timeout_s", "max_target_rate_rad_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise bad(name, "a finite value > 0")
        if not -1.0 < self.fall_gravity_z_threshold < 1.0:
            raise bad("fall_gravity_z_threshold", "a value in (-1, 1) (= -cos(max tilt))")
        if not (math.isfinite(self.position_margin_rad) and self.position_margin_rad >= 0.0):
            raise bad("position_margin_rad", "a finite value >= 0")
        kd = self.damping_kd_nm_s_per_rad
        if not (math.isfinite(kd) and kd >= 0.0):
            raise bad("damping_kd_nm_s_per_rad", "a finite value >= 0")

    @classmethod
    def with_max_tilt(cls, max_tilt_rad: float, **kwargs: float) -> SafetyConfig:
        """A config whose fall threshold is ``−cos(max_tilt_rad)``."""
        return cls(fall_gravity_z_threshold=-math.cos(max_tilt_rad), **kwargs)


class FaultKind(enum.Enum):
    """Why the runtime must go to (latched) DAMPING."""

    NO_STATE = "no_state"
    STALE_STATE = "stale_state"
    NONFINITE_STATE = "nonfinite_state"
    FALL = "fall"
    NONFINITE_COMMAND = "nonfinite_command"
    ESTOP = "estop"


@dataclass(frozen=True)
class Fault:
    """A fault: its kind and a message a person can act on (joint, value, bounds)."""

    kind: FaultKind
    message: str

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


class ViolationKind(enum.Enum):
    """What :meth:`SafetySupervisor.filter_command` corrected or refused."""

    POSITION_LIMIT = "position_limit"
    TORQUE_LIMIT = "torque_limit"
    RATE_LIMIT = "rate_limit"
    NONFINITE_COMMAND = "nonfinite_command"
    ESTOP = "estop"


@dataclass(frozen=True)
class Violation:
    """One correction of one joint's command, or a fatal refusal of the whole command.

    Attributes:
        kind: what was violated.
        message: e.g. ``"left_knee_joint: target 3.1 rad outside [-0.087, 2.88]"``.
        joint: the joint's name (``None`` for a whole-command violation such as e-stop).
        value: the value asked for (rad for targets).
        clamped_to: the value sent instead (``None`` when the command was refused).
        fault: set when the violation is fatal (the state machine must go to DAMPING).
    """

    kind: ViolationKind
    message: str
    joint: str | None = None
    value: float = math.nan
    clamped_to: float | None = None
    fault: Fault | None = field(default=None)

    @property
    def fatal(self) -> bool:
        return self.fault is not None


def first_fault(violations: list[Violation]) -> Fault | None:
    """The fault of the first fatal violation, if any."""
    for v in violations:
        if v.fault is not None:
            return v.fault
    return None


class SafetySupervisor:
    """Checks states and filters commands against a robot's limits.

    Args:
        robot: joint names, limits and effort limits (policy order).
        config: thresholds.
    """

    def __init__(self, robot: RobotSpec, config: SafetyConfig | None = None) -> None:
        self.robot = robot
        self.config = config or SafetyConfig()
        margin = self.config.position_margin_rad
        self._names = robot.joint_names
        self._lower_rad = np.asarray(robot.joint_lower_rad) + margin
        self._upper_rad = np.asarray(robot.joint_upper_rad) - margin
        bad = np.flatnonzero(self._lower_rad > self._upper_rad)
        if bad.size:
            raise ConfigError(
                f"SafetyConfig.position_margin_rad: {margin} leaves no range for joint "
                f"{self._names[bad[0]]}"
            )
        self._effort_nm = np.asarray(robot.effort_limit_nm)
        self._prev_target_rad: FloatArray | None = None
        self._estop_reason: str | None = None

    # -- e-stop latch ---------------------------------------------------------------------
    def estop(self, reason: str = "operator e-stop") -> None:
        """Latch the e-stop: every state check faults and every command becomes damping."""
        if self._estop_reason is None:
            self._estop_reason = reason

    def clear_estop(self) -> None:
        """Release the e-stop latch (the operator's explicit reset)."""
        self._estop_reason = None

    @property
    def estopped(self) -> bool:
        return self._estop_reason is not None

    def reset_rate_limiter(self) -> None:
        """Forget the previous target: the next one is rate limited against the measured q."""
        self._prev_target_rad = None

    # -- state ----------------------------------------------------------------------------
    def check_state(self, state: RobotState | None, now_s: float) -> Fault | None:
        """The first fault of ``state`` at time ``now_s``, or ``None`` when it is safe.

        Order: e-stop latch, no state, non-finite values, stale (``now_s − stamp_s >
        state_timeout_s``), fall (projected gravity z > ``fall_gravity_z_threshold``).
        """
        cfg = self.config
        if self._estop_reason is not None:
            return Fault(FaultKind.ESTOP, f"e-stop latched ({self._estop_reason})")
        if state is None:
            return Fault(FaultKind.NO_STATE, "no robot state received yet")
        self._check_joint_count(state.num_joints, "RobotState")
        if not state.is_finite():
            return Fault(FaultKind.NONFINITE_STATE, _nonfinite_message(state, self._names))
        age_s = now_s - state.stamp_s
        if age_s > cfg.state_timeout_s:
            return Fault(
                FaultKind.STALE_STATE,
                f"state is {age_s * 1e3:.1f} ms old (stamp {state.stamp_s:.3f} s, "
                f"now {now_s:.3f} s); limit {cfg.state_timeout_s * 1e3:.1f} ms",
            )
        gravity_z = float(state.projected_gravity_b()[2])
        if gravity_z > cfg.fall_gravity_z_threshold:
            tilt_deg = math.degrees(math.acos(max(-1.0, min(1.0, -gravity_z))))
            max_deg = math.degrees(math.acos(-cfg.fall_gravity_z_threshold))
            return Fault(
                FaultKind.FALL,
                f"projected gravity z {gravity_z:.3f} > {cfg.fall_gravity_z_threshold:.3f} "
                f"(tilt {tilt_deg:.1f}° > {max_deg:.1f}°)",
            )
        return None

    # -- command --------------------------------------------------------------------------
    def filter_command(
        self, cmd: JointCommand, state: RobotState, dt_s: float
    ) -> tuple[JointCommand, list[Violation]]:
        """The command to send for ``cmd`` given the measured ``state``, and what was corrected.

        Fatal (the returned command is damping, the violation carries a :class:`Fault`):
        e-stop latched; any NaN/Inf in ``cmd``.

        Clamped, per joint with ``kp > 0``, in this order (the last one always holds):

        1. position limits: ``q* ∈ [lower + margin, upper − margin]``;
        2. rate limit: ``q* ∈ [p − r·dt, p + r·dt]`` with ``p`` the previous filtered target
           (the measured ``q`` for the first command, or after a ``kp = 0`` command);
        3. torque: the motor's torque ``τ = kp·(q* − q) + kd·(dq* − dq) + τ_ff`` must satisfy
           ``|τ| ≤ E``. With ``b = kd·(dq* − dq) + τ_ff`` (fixed by the command and the
           measured ``dq``) and ``kp > 0``::

               −E ≤ kp·(q* − q) + b ≤ E   ⇔   q + (−E − b)/kp ≤ q* ≤ q + (E − b)/kp

           an interval of width ``2E/kp`` that always exists. Torque comes last because it
           is physical (the motor saturates anyway) and because it only pulls ``q*`` towards
           the measured ``q``, which is safe.

        Args:
            cmd: the command from the state machine [J].
            state: the latest measured state (the caller has checked it with
                :meth:`check_state`).
            dt_s: time since the previous command (> 0), for the rate limit.
        """
        self._check_joint_count(cmd.num_joints, "JointCommand")
        self._check_joint_count(state.num_joints, "RobotState")
        if not (math.isfinite(dt_s) and dt_s > 0.0):
            raise DeployError(f"filter_command: dt_s must be finite and > 0, got {dt_s}")

        fatal = self._fatal_violation(cmd)
        if fatal is not None:
            self._prev_target_rad = None
            return self._damping(), [fatal]

        names = self._names
        q = state.joint_pos_rad
        dq = state.joint_vel_rad_s
        active = cmd.kp > 0.0
        target = cmd.position_rad.copy()
        violations: list[Violation] = []

        def clamp(kind: ViolationKind, lo: FloatArray, hi: FloatArray, what: str) -> None:
            clamped = np.clip(target, lo, hi)
            for i in np.flatnonzero(active & (clamped != target)):
                violations.append(
                    Violation(
                        kind=kind,
                        message=(
                            f"{names[i]}: target {target[i]:.4g} rad outside "
                            f"[{lo[i]:.4g}, {hi[i]:.4g}] ({what}); clamped to {clamped[i]:.4g}"
                        ),
                        joint=names[i],
                        value=float(target[i]),
                        clamped_to=float(clamped[i]),
                    )
                )
            target[active] = clamped[active]

        # 1. joint position limits
        clamp(ViolationKind.POSITION_LIMIT, self._lower_rad, self._upper_rad, "joint limits")

        # 2. rate limit against the previous filtered target (or the measured q)
        prev = q if self._prev_target_rad is None else self._prev_target_rad
        step = self.config.max_target_rate_rad_s * dt_s
        clamp(
            ViolationKind.RATE_LIMIT,
            prev - step,
            prev + step,
            f"rate {self.config.max_target_rate_rad_s:g} rad/s × {dt_s:g} s",
        )

        # 3. torque: q* ∈ [q + (−E − b)/kp, q + (E − b)/kp], b = kd·(dq* − dq) + τ_ff
        kp = np.where(active, cmd.kp, 1.0)  # placeholder 1 where kp = 0 (those are skipped)
        b = cmd.kd * (cmd.velocity_rad_s - dq) + cmd.effort_nm
        clamp(
            ViolationKind.TORQUE_LIMIT,
            q + (-self._effort_nm - b) / kp,
            q + (self._effort_nm - b) / kp,
            "effort limit",
        )

        # joints without stiffness restart the rate limiter from where they are
        self._prev_target_rad = np.where(active, target, q)
        return cmd.with_position(target), violations

    # -- helpers --------------------------------------------------------------------------
    def _fatal_violation(self, cmd: JointCommand) -> Violation | None:
        if self._estop_reason is not None:
            fault = Fault(FaultKind.ESTOP, f"e-stop latched ({self._estop_reason})")
            return Violation(ViolationKind.ESTOP, fault.message, fault=fault)
        for field_name in ("position_rad", "velocity_rad_s", "effort_nm", "kp", "kd"):
            values: FloatArray = getattr(cmd, field_name)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                i = int(bad[0])
                message = f"{self._names[i]}: command {field_name} is {values[i]}"
                fault = Fault(FaultKind.NONFINITE_COMMAND, message)
                return Violation(
                    ViolationKind.NONFINITE_COMMAND,
                    message,
                    joint=self._names[i],
                    value=float(values[i]),
                    fault=fault,
                )
        return None

    def _damping(self) -> JointCommand:
        return JointCommand.damping(self.robot.num_joints, self.config.damping_kd_nm_s_per_rad)

    def _check_joint_count(self, n: int, what: str) -> None:
        if n != self.robot.num_joints:
            raise DeployError(
                f"{what}: {n} joints, robot {self.robot.name} has {self.robot.num_joints}"
            )


def _nonfinite_message(state: RobotState, names: tuple[str, ...]) -> str:
    for field_name in ("joint_pos_rad", "joint_vel_rad_s"):
        values: FloatArray = getattr(state, field_name)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            return f"{names[i]}: measured {field_name} is {values[i]}"
    for field_name in ("imu_quat_wxyz", "gyro_b_rad_s"):
        values = getattr(state, field_name)
        if not np.isfinite(values).all():
            return f"state {field_name} is {values.tolist()}"
    return f"state stamp_s is {state.stamp_s}"
