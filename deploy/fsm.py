"""The deploy state machine: PASSIVE → DAMPING → STAND → POLICY, faults latch DAMPING.

Deterministic: the only inputs are events (method calls) and the injected
:class:`~humimic.deploy.clock.Clock`. Every event returns an :class:`EventResult` saying
whether it was accepted and why not; every transition is logged in :attr:`StateMachine.log`
as a :class:`Transition` ``(time_s, from_state, to_state, reason)``.

Transition table (``D*`` = DAMPING latched; "—" = refused, the state is unchanged)::

    state \\ event  start               stop            damp  estop  fault  reset
    PASSIVE         DAMPING             —               D*    D*     D*     —
    DAMPING         STAND (needs state) —               D*    D*     D*     PASSIVE if no fault
    D* (latched)    —                   —               —     —      —      PASSIVE if no fault
    STAND           POLICY if ramp done —               D*    D*     D*     —
    POLICY          —                   STAND (needs    D*    D*     D*     —
                                              state)

* STAND ramps with a smoothstep ``s = 3u² − 2u³`` (``u = t / stand_ramp_s``, zero velocity at
  both ends) from the measured pose at STAND entry to the default pose, with the robot's
  stand gains (``pd_gains(stand_natural_freq_hz)``), then holds the default pose.
* STAND → POLICY is never automatic: the operator's ``start`` after the ramp has completed.
* ``stop`` in POLICY ramps back to the default pose from the measured pose.
* ``reset`` needs the caller's current fault (``SafetySupervisor.check_state``) to be
  ``None``: a stale state, a fall or a latched e-stop keeps the machine in DAMPING.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from humimic.deploy.clock import Clock
from humimic.deploy.commands import DAMPING_KD_NM_S_PER_RAD, FloatArray, JointCommand, RobotState
from humimic.deploy.safety import Fault
from humimic.errors import ConfigError, DeployError
from humimic.robots.spec import RobotSpec


class State(enum.Enum):
    PASSIVE = "passive"
    DAMPING = "damping"
    STAND = "stand"
    POLICY = "policy"


@dataclass(frozen=True)
class FsmConfig:
    """Timing and gains of the state machine.

    Attributes:
        stand_ramp_s: duration of the STAND ramp from the measured to the default pose (s).
        damping_kd_nm_s_per_rad: kd of the DAMPING command (kp = 0).
    """

    stand_ramp_s: float = 3.0
    damping_kd_nm_s_per_rad: float = DAMPING_KD_NM_S_PER_RAD

    def __post_init__(self) -> None:
        if not (math.isfinite(self.stand_ramp_s) and self.stand_ramp_s > 0.0):
            raise ConfigError(f"FsmConfig.stand_ramp_s: expected > 0, got {self.stand_ramp_s!r}")
        kd = self.damping_kd_nm_s_per_rad
        if not (math.isfinite(kd) and kd >= 0.0):
            raise ConfigError(f"FsmConfig.damping_kd_nm_s_per_rad: expected >= 0, got {kd!r}")


@dataclass(frozen=True)
class Transition:
    """One logged transition (a self-transition DAMPING → DAMPING records latching)."""

    time_s: float
    from_state: State
    to_state: State
    reason: str


@dataclass(frozen=True)
class EventResult:
    """What an event did: ``accepted``, the ``state`` after it, and the reason."""

    accepted: bool
    state: State
    reason: str

    def __bool__(self) -> bool:
        return self.accepted


def smoothstep(u: float) -> tuple[float, float]:
    """``(s, ds/du)`` of ``s = 3u² − 2u³`` with ``u`` clipped to [0, 1]."""
    u = min(max(u, 0.0), 1.0)
    return 3.0 * u * u - 2.0 * u**3, 6.0 * u * (1.0 - u)


class StateMachine:
    """The deploy state machine (see the module docstring for the table).

    Args:
        robot: default pose, stand gains, policy gains.
        clock: time source for the ramp and the transition log.
        config: ramp duration and damping gain.
    """

    def __init__(self, robot: RobotSpec, clock: Clock, config: FsmConfig | None = None) -> None:
        self.robot = robot
        self.clock = clock
        self.config = config or FsmConfig()
        self.log: list[Transition] = []
        self._state = State.PASSIVE
        self._latched_reason: str | None = None
        self._default_pos_rad = np.asarray(robot.default_joint_pos_rad, dtype=np.float64)
        stand_kp, stand_kd = robot.pd_gains(robot.stand_natural_freq_hz)
        self._stand_kp = np.asarray(stand_kp)
        self._stand_kd = np.asarray(stand_kd)
        self._policy_kp = np.asarray(robot.kp_nm_per_rad)
        self._policy_kd = np.asarray(robot.kd_nm_s_per_rad)
        self._ramp_from_rad: FloatArray = self._default_pos_rad
        self._ramp_start_s = 0.0

    # -- queries --------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def latched(self) -> bool:
        """True in DAMPING entered by a fault, ``damp`` or ``estop`` (only ``reset`` leaves)."""
        return self._latched_reason is not None

    def ramp_fraction(self) -> float:
        """Elapsed fraction ``u ∈ [0, 1]`` of the STAND ramp (0 outside STAND)."""
        if self._state is not State.STAND:
            return 0.0
        elapsed_s = self.clock.now_s() - self._ramp_start_s
        return min(max(elapsed_s / self.config.stand_ramp_s, 0.0), 1.0)

    def ramp_done(self) -> bool:
        return self._state is State.STAND and self.ramp_fraction() >= 1.0

    def tick(self) -> EventResult:
        """Advance time-driven bookkeeping. Nothing happens automatically: the STAND ramp
        is a function of the clock, and STAND → POLICY waits for ``start``. The reason says
        how far the ramp is."""
        if self._state is State.STAND:
            return EventResult(True, self._state, f"stand ramp {self.ramp_fraction():.0%}")
        return EventResult(True, self._state, "")

    # -- events ---------------------------------------------------------------------------
    def start(self, robot_state: RobotState | None = None) -> EventResult:
        """PASSIVE → DAMPING; DAMPING → STAND (ramp from ``robot_state``'s joint positions);
        STAND → POLICY once the ramp has completed."""
        if (refused := self._refuse_if_latched("start")) is not None:
            return refused
        if self._state is State.PASSIVE:
            return self._go(State.DAMPING, "start")
        if self._state is State.DAMPING:
            if robot_state is None:
                return self._refuse("start from DAMPING needs the measured robot state")
            self._begin_ramp(robot_state.joint_pos_rad)
            return self._go(State.STAND, "start: ramp to the default pose")
        if self._state is State.STAND:
            if not self.ramp_done():
                elapsed_s = self.ramp_fraction() * self.config.stand_ramp_s
                return self._refuse(
                    f"start: stand ramp not complete ({elapsed_s:.2f} of "
                    f"{self.config.stand_ramp_s:.2f} s)"
                )
            return self._go(State.POLICY, "start: policy")
        return self._refuse("start: already in POLICY")

    def stop(self, robot_state: RobotState | None = None) -> EventResult:
        """POLICY → STAND: ramp from ``robot_state``'s joint positions back to the default pose."""
        if (refused := self._refuse_if_latched("stop")) is not None:
            return refused
        if self._state is not State.POLICY:
            return self._refuse(f"stop: only from POLICY (state is {self._state.name})")
        if robot_state is None:
            return self._refuse("stop from POLICY needs the measured robot state")
        self._begin_ramp(robot_state.joint_pos_rad)
        return self._go(State.STAND, "stop: ramp to the default pose")

    def damp(self, reason: str = "operator damp") -> EventResult:
        """Any state → DAMPING, latched."""
        return self._latch(f"damp: {reason}")

    def estop(self, reason: str = "operator e-stop") -> EventResult:
        """Any state → DAMPING, latched."""
        return self._latch(f"estop: {reason}")

    def fault(self, reason: Fault | str) -> EventResult:
        """Any state → DAMPING, latched; ``reason`` is logged."""
        return self._latch(f"fault: {reason}")

    def reset(self, current_fault: Fault | None) -> EventResult:
        """DAMPING (latched or not) → PASSIVE, only when ``current_fault`` is ``None``.

        Args:
            current_fault: what ``SafetySupervisor.check_state`` says now; passing it is
                required so that a reset cannot forget to look.
        """
        if self._state is not State.DAMPING:
            return self._refuse(f"reset: only from DAMPING (state is {self._state.name})")
        if current_fault is not None:
            return self._refuse(f"reset: fault still active ({current_fault})")
        self._latched_reason = None
        return self._go(State.PASSIVE, "reset")

    # -- the command of the current state ---------------------------------------------------
    def command_for(
        self, robot_state: RobotState | None = None, policy_target_rad: ArrayLike | None = None
    ) -> JointCommand:
        """The command of the current state, before the safety filter.

        * PASSIVE: :meth:`JointCommand.passive`.
        * DAMPING: :meth:`JointCommand.damping` (kp 0, kd ``damping_kd_nm_s_per_rad``).
        * STAND: ``q* = q₀ + s·(q_default − q₀)``, ``dq* = (q_default − q₀)·(ds/du)/T``
          with stand gains (``robot_state`` is not needed: the ramp starts from the pose
          recorded at STAND entry).
        * POLICY: ``q* = policy_target_rad`` [J] with the policy gains; raises
          :class:`DeployError` when it is missing or has the wrong shape.
        """
        n = self.robot.num_joints
        if self._state is State.PASSIVE:
            return JointCommand.passive(n)
        if self._state is State.DAMPING:
            return JointCommand.damping(n, self.config.damping_kd_nm_s_per_rad)
        if self._state is State.STAND:
            s, ds_du = smoothstep(self.ramp_fraction())
            delta = self._default_pos_rad - self._ramp_from_rad
            position = self._default_pos_rad if s >= 1.0 else self._ramp_from_rad + s * delta
            velocity = delta * ds_du / self.config.stand_ramp_s
            return JointCommand.pd(position, self._stand_kp, self._stand_kd, velocity)
        if policy_target_rad is None:
            raise DeployError("command_for: POLICY needs policy_target_rad [J]")
        target = np.asarray(policy_target_rad, dtype=np.float64)
        if target.shape != (n,):
            raise DeployError(f"command_for: policy_target_rad must be [{n}], got {target.shape}")
        return JointCommand.pd(target, self._policy_kp, self._policy_kd)

    # -- internals ------------------------------------------------------------------------
    def _begin_ramp(self, joint_pos_rad: FloatArray) -> None:
        start = np.array(joint_pos_rad, dtype=np.float64)
        if start.shape != self._default_pos_rad.shape:
            raise DeployError(
                f"ramp start pose: expected [{self.robot.num_joints}], got {start.shape}"
            )
        self._ramp_from_rad = start
        self._ramp_start_s = self.clock.now_s()

    def _latch(self, reason: str) -> EventResult:
        if (refused := self._refuse_if_latched(reason)) is not None:
            return refused
        self._latched_reason = reason
        return self._go(State.DAMPING, reason)

    def _refuse_if_latched(self, event: str) -> EventResult | None:
        if self._latched_reason is None:
            return None
        return self._refuse(
            f"{event}: refused, DAMPING latched by '{self._latched_reason}'; reset first"
        )

    def _refuse(self, reason: str) -> EventResult:
        return EventResult(False, self._state, reason)

    def _go(self, to: State, reason: str) -> EventResult:
        self.log.append(Transition(self.clock.now_s(), self._state, to, reason))
        self._state = to
        return EventResult(True, to, reason)
