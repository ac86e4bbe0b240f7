"""The in-process sim-to-sim setup: a MuJoCo "sim robot" behind the ports, in lockstep.

:class:`InprocSimRobot` is a :class:`~humimic.deploy.ports.StateSource` and a
:class:`~humimic.deploy.ports.CommandSink`: :meth:`~InprocSimRobot.send` stores a
:class:`JointCommand`, :meth:`~InprocSimRobot.advance` steps the physics and the sim clock,
:meth:`~InprocSimRobot.latest` returns the measured :class:`RobotState` (encoders; IMU
orientation and gyro from the model's IMU site sensors) stamped with the sim clock.

**Actuation.** Every physics step each joint gets

    τ = clip(kp·(q* − q) + kd·(dq* − dq) + τ_ff, ±effort)

through the robot's MuJoCo *position* actuators (the ones training uses), whose force is the
affine law ``gain·ctrl + b₀ + b₁·q + b₂·q̇``. Per command: ``gain = kp``, ``b₁ = −kp``,
``b₂ = −kd``, ``b₀ = kd·dq* + τ_ff``, ``ctrl = q*``, clipped by the actuator's ``forcerange``
(the effort limit). Why not torque motors with an explicit PD: with ``dq* = τ_ff = 0`` and the
policy's kp/kd this *is* training's actuator (``b₀ = 0``), and ``implicitfast`` integrates the
``b₂·q̇`` damping implicitly exactly as in training, so a policy sees the same plant in both
(a test checks the trajectory against :class:`MujocoBackend`: bit for bit).
Before the first command the motors are off (``τ = 0``), as on hardware.

**Randomization** goes through the :class:`~humimic.envs.backends.base.Backend` interface as
in training: the sim robot holds a one-env :class:`MujocoBackend` (whose model and data it
steps itself, because a backend only takes position targets with fixed gains) and a
:class:`~humimic.domain_rand.DomainRandomizer`. Startup terms (friction, masses, COM,
armature, joint damping and friction) change the model; kp/kd scales and motor strength
multiply the commanded gains (strength also scales ``τ_ff``); the encoder offset ``b`` is
added to the measured ``q`` and subtracted from the target (a miscalibrated joint); pushes
fire on their timers. Observation noise and action delay are policy-side terms: not applied.

**Lockstep.** :func:`run_inproc` advances a :class:`FakeClock` with the simulation: per policy
period, one ``policy_step`` then ``decimation × (command_step, physics step)``, so the policy
sees exactly the state training would show it, with no transport delay. It drives the state
machine PASSIVE → DAMPING → STAND (ramp) → POLICY by operator events and returns per-step
robot and reference states and tracking errors (:class:`InprocResult`), the baseline the
DDS sim-to-sim run is compared with.

:func:`write_untrained_policy` writes a valid policy folder around a freshly initialized actor
(last layer zero: action 0, the default pose), for tests and smoke runs without training.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import torch

from humimic.deploy.clock import FakeClock
from humimic.deploy.commands import JointCommand, RobotState
from humimic.deploy.fsm import FsmConfig, State, Transition
from humimic.deploy.observation import sample_term_input
from humimic.deploy.ports import OperatorEvent, QueuedOperatorInput
from humimic.deploy.runtime import DeployRuntime, EventRecord, RuntimeCounters
from humimic.deploy.safety import SafetyConfig
from humimic.domain_rand import DomainRandConfig, DomainRandomizer
from humimic.envs.backends.mujoco_backend import MujocoBackend
from humimic.envs.motion_library import MotionLibrary
from humimic.envs.tracking.config import ACTOR_TERMS
from humimic.envs.tracking.observations import OBSERVATION_TERMS, ObservationGroup
from humimic.errors import ConfigError
from humimic.motion import Motion
from humimic.policy import PolicyMetadata, load_policy
from humimic.robots import get_robot
from humimic.robots.mujoco_model import IMU_SITE, PHYSICS_DT_S, MujocoRobot
from humimic.robots.spec import RobotSpec

__all__ = [
    "InprocResult",
    "InprocSimRobot",
    "mujoco_robot_state",
    "run_inproc",
    "write_untrained_policy",
]

log = logging.getLogger(__name__)


def _steps(dt_s: float, step_s: float, what: str) -> int:
    """``dt_s / step_s`` as an integer ≥ 1, or :class:`ConfigError`."""
    n = round(dt_s / step_s)
    if n < 1 or abs(n * step_s - dt_s) > 1e-9 * max(1.0, dt_s):
        raise ConfigError(f"{what}: {dt_s} s is not a whole number of {step_s} s steps")
    return n


def mujoco_robot_state(
    robot: MujocoRobot,
    data: mujoco.MjData,
    stamp_s: float,
    joint_pos_bias_rad: np.ndarray | None = None,
) -> RobotState:
    """What the robot's sensors say about ``data``: encoders (policy order, plus an optional
    encoder offset), the IMU site's orientation (``framequat``, wxyz) and gyro (site frame).

    ``data``'s sensors must be current (after ``mj_forward`` or ``mj_step1``).
    """
    q = data.qpos[robot.joint_qpos_adr]
    if joint_pos_bias_rad is not None:
        q = q + joint_pos_bias_rad
    return RobotState(
        joint_pos_rad=q,
        joint_vel_rad_s=data.qvel[robot.joint_dof_adr],
        imu_quat_wxyz=data.sensor("imu_quat").data,
        gyro_b_rad_s=data.sensor("imu_gyro").data,
        stamp_s=stamp_s,
    )


class InprocSimRobot:
    """A MuJoCo G1 behind the StateSource/CommandSink ports (see the module docstring).

    Args:
        spec: the robot.
        physics_dt_s: physics step (s).
        domain_rand: randomization terms (``None``: the nominal robot).
        seed: seed of the randomization draws.
        clock: the sim clock, advanced by :meth:`advance` (default: a new ``FakeClock(0)``).

    The robot starts standing in the default pose at ``spec.default_root_height_m``, at rest.
    """

    def __init__(
        self,
        spec: RobotSpec,
        physics_dt_s: float = PHYSICS_DT_S,
        domain_rand: DomainRandConfig | None = None,
        seed: int = 0,
        clock: FakeClock | None = None,
    ) -> None:
        if not (math.isfinite(physics_dt_s) and physics_dt_s > 0):
            raise ConfigError(f"InprocSimRobot.physics_dt_s: expected > 0, got {physics_dt_s}")
        self.spec = spec
        self.backend = MujocoBackend(spec, num_envs=1, decimation=1, num_threads=1)
        self.robot: MujocoRobot = self.backend.robot
        self.model: mujoco.MjModel = self.backend.models[0]
        self.data: mujoco.MjData = self.backend.datas[0]
        self.model.opt.timestep = physics_dt_s
        self.physics_dt_s = float(physics_dt_s)
        self.clock = clock if clock is not None else FakeClock(0.0)
        self._t0_s = self.clock.now_s()
        self._act = self.robot.actuator_ids
        j = spec.num_joints
        self.randomizer: DomainRandomizer | None = None
        self._bias = np.zeros(j)
        self._kp_mult = np.ones(j)
        self._kd_mult = np.ones(j)
        self._strength = np.ones(j)
        if domain_rand is not None:
            gen = torch.Generator().manual_seed(seed)
            rnd = DomainRandomizer(self.backend, domain_rand, gen)
            rnd.on_startup()
            rnd.on_reset([0])
            self._bias = rnd.joint_pos_bias[0].double().numpy()
            self._kp_mult = rnd.kp_scale[0].double().numpy()
            self._kd_mult = rnd.kd_scale[0].double().numpy()
            self._strength = rnd.motor_strength[0].double().numpy()
            self.randomizer = rnd
        self._imu_site = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, IMU_SITE)
        self._command: JointCommand | None = None
        self.send(JointCommand.passive(j))
        self.reset()

    # -- state ------------------------------------------------------------------------------------
    def reset(
        self,
        root_pos_w: Sequence[float] | None = None,
        root_quat_w: Sequence[float] = (1.0, 0.0, 0.0, 0.0),
        joint_pos_rad: Sequence[float] | None = None,
    ) -> None:
        """Put the robot at rest (default: standing in the default pose)."""
        spec = self.spec
        pos = np.array(root_pos_w if root_pos_w is not None else [0, 0, spec.default_root_height_m])
        q = np.asarray(
            joint_pos_rad if joint_pos_rad is not None else spec.default_joint_pos_rad, float
        )
        time_s = self.data.time
        mujoco.mj_resetData(self.model, self.data)
        self.data.time = time_s  # the sim clock never goes back
        self.robot.set_state(self.data, pos, np.asarray(root_quat_w, float), q)  # mj_forward
        self._write_actuators()
        self._fresh = True
        self._state: RobotState | None = None

    def latest(self) -> RobotState:
        """The measured state now (stamped with the sim clock)."""
        if self._state is None:
            self._state = mujoco_robot_state(self.robot, self.data, self.clock.now_s(), self._bias)
        return self._state

    @property
    def time_s(self) -> float:
        return self.clock.now_s()

    @property
    def root_pos_w(self) -> np.ndarray:
        return self.data.qpos[0:3].copy()

    @property
    def root_quat_w(self) -> np.ndarray:
        return self.data.qpos[3:7].copy()

    @property
    def body_pos_w(self) -> np.ndarray:
        """``[B, 3]`` tracked body origins (m), MuJoCo's kinematics of the current state."""
        return self.data.xpos[self.robot.tracked_body_ids].copy()

    @property
    def projected_gravity_b(self) -> np.ndarray:
        """Gravity direction in the IMU frame (upright ``(0, 0, −1)``)."""
        return self.latest().projected_gravity_b()

    # -- commands and physics -------------------------------------------------------------------
    def send(self, command: JointCommand) -> None:
        """Take ``command`` for the next physics steps (see the module docstring for the law)."""
        if command.num_joints != self.spec.num_joints:
            raise ConfigError(
                f"InprocSimRobot.send: expected {self.spec.num_joints} joints, "
                f"got {command.num_joints}"
            )
        if command is self._command:
            return
        self._command = command
        self._write_actuators()

    def _write_actuators(self) -> None:
        cmd = self._command
        assert cmd is not None
        s = self._strength
        kp = s * self._kp_mult * cmd.kp
        kd = s * self._kd_mult * cmd.kd
        m, act = self.model, self._act
        m.actuator_gainprm[act, 0] = kp
        m.actuator_biasprm[act, 0] = kd * cmd.velocity_rad_s + s * cmd.effort_nm
        m.actuator_biasprm[act, 1] = -kp
        m.actuator_biasprm[act, 2] = -kd
        # the joint's encoder reads q + b: its controller's target is q* − b in true angles
        self.data.ctrl[act] = cmd.position_rad - self._bias

    def advance(self, dt_s: float) -> None:
        """Step the physics by ``dt_s`` (a whole number of physics steps) and the sim clock.

        ``mj_step`` is split as in :class:`MujocoBackend`: every step runs ``mj_step2`` after
        the ``mj_step1`` of the state it starts from, and a final ``mj_step1`` leaves sensors
        and body poses consistent with the new state for :meth:`latest`.
        """
        n = _steps(dt_s, self.physics_dt_s, "InprocSimRobot.advance")
        m, d = self.model, self.data
        for _ in range(n):
            if not self._fresh:
                mujoco.mj_step1(m, d)
            mujoco.mj_step2(m, d)
            self._fresh = False
        mujoco.mj_step1(m, d)
        self._fresh = True
        self.clock.set(max(self.clock.now_s(), self._t0_s + d.time))
        self._state = None
        if self.randomizer is not None:
            pushed = self.randomizer.on_step(n * self.physics_dt_s)
            if pushed.numel():
                self._after_push()

    def push(
        self, lin_vel_w: Sequence[float], ang_vel_w: Sequence[float] = (0.0, 0.0, 0.0)
    ) -> None:
        """Add ``lin_vel_w`` (m/s) and ``ang_vel_w`` (rad/s, world) to the root velocity."""
        lin = torch.tensor([list(lin_vel_w)], dtype=torch.float64)
        ang = torch.tensor([list(ang_vel_w)], dtype=torch.float64)
        self.backend.push([0], lin, ang)  # mj_forward
        self._after_push()

    def _after_push(self) -> None:
        self._fresh = True
        self._state = None


# -- the lockstep run ---------------------------------------------------------------------------
@dataclass
class InprocResult:
    """Per policy step records of :func:`run_inproc` (``K`` steps, ``J`` joints, ``B`` bodies).

    Robot values are measured at the start of the step (what the policy saw); reference values
    are at the clip time the policy used, ``NaN`` outside POLICY.

    Attributes:
        time_s: ``[K]`` sim time. state: FSM state per step (after the step's events).
        clip_time_s: ``[K]`` reference time used (``NaN`` outside POLICY).
        robot_joint_pos, ref_joint_pos: ``[K, J]`` (rad).
        robot_root_pos_w, ref_root_pos_w: ``[K, 3]`` (m). robot_root_quat_w: ``[K, 4]``.
        robot_body_pos_w, ref_body_pos_w: ``[K, B, 3]`` tracked bodies (MuJoCo kinematics
            for the robot), world (m).
        body_pos_root_rel_mm: ``[K]`` mean over bodies of
            ``‖(p_b − p_root) − (p̂_b − p̂_root)‖`` (mm; world axes, as in training's
            ``tracking_errors``).
        joint_pos_err_rad: ``[K]`` mean over joints of ``|q − q̂|``.
        pelvis_height_m: ``[K]``. gravity_z: ``[K]`` projected gravity z from the IMU.
        action: ``[K, J]`` raw policy output (``NaN`` outside POLICY).
        command_pos_rad: ``[K, J]`` the filtered target sent.
        transitions, events, counters: the runtime's logs.
        body_names, joint_names: the ``B`` and ``J`` names.
    """

    time_s: np.ndarray
    state: list[str]
    clip_time_s: np.ndarray
    robot_joint_pos: np.ndarray
    ref_joint_pos: np.ndarray
    robot_root_pos_w: np.ndarray
    ref_root_pos_w: np.ndarray
    robot_root_quat_w: np.ndarray
    robot_body_pos_w: np.ndarray
    ref_body_pos_w: np.ndarray
    body_pos_root_rel_mm: np.ndarray
    joint_pos_err_rad: np.ndarray
    pelvis_height_m: np.ndarray
    gravity_z: np.ndarray
    action: np.ndarray
    command_pos_rad: np.ndarray
    transitions: list[Transition] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    counters: RuntimeCounters = field(default_factory=RuntimeCounters)
    body_names: tuple[str, ...] = ()
    joint_names: tuple[str, ...] = ()

    @property
    def in_policy(self) -> np.ndarray:
        """``[K]`` bool: steps that ran the policy."""
        return ~np.isnan(self.clip_time_s)

    def summary(self) -> dict[str, Any]:
        """Mean/max errors over the POLICY steps, lowest pelvis, worst tilt, counts."""
        mask = self.in_policy
        err = self.body_pos_root_rel_mm[mask]
        jerr = self.joint_pos_err_rad[mask]
        return {
            "steps": len(self.time_s),
            "policy_steps": int(mask.sum()),
            "body_pos_root_rel_mm_mean": float(err.mean()) if err.size else math.nan,
            "body_pos_root_rel_mm_max": float(err.max()) if err.size else math.nan,
            "joint_pos_err_rad_mean": float(jerr.mean()) if jerr.size else math.nan,
            "min_pelvis_height_m": float(self.pelvis_height_m.min()),
            "max_gravity_z": float(self.gravity_z.max()),
            "final_state": self.state[-1] if self.state else "",
            "faults": self.counters.faults,
        }


def run_inproc(
    policy_folder: str | os.PathLike[str],
    duration_s: float,
    *,
    clip: str | None = None,
    physics_dt_s: float | None = None,
    domain_rand: DomainRandConfig | None = None,
    seed: int = 0,
    fsm_config: FsmConfig | None = None,
    safety_config: SafetyConfig | None = None,
    pushes: Sequence[tuple[float, Sequence[float]]] = (),
    auto_start: bool = True,
) -> InprocResult:
    """Run a policy folder on the in-process sim robot for ``duration_s`` of sim time.

    Args:
        policy_folder: the policy.
        duration_s: simulated time (s); rounded to whole policy steps.
        clip: which clip (default: the first).
        physics_dt_s: physics step (default: the policy's training ``physics_dt_s``).
        domain_rand, seed: randomization of the sim robot.
        fsm_config, safety_config: runtime settings (e.g. a shorter ``stand_ramp_s``).
        pushes: ``(time_s, lin_vel_w)`` root velocity kicks.
        auto_start: send the operator's ``start`` events: PASSIVE → DAMPING → STAND, and
            STAND → POLICY as soon as the ramp is done (once).
    """
    _, meta, _ = load_policy(policy_folder)
    spec = get_robot(meta.robot)
    dt_phys = float(meta.physics_dt_s if physics_dt_s is None else physics_dt_s)
    decimation = _steps(meta.control_dt_s, dt_phys, "control_dt_s / physics_dt_s")
    sim = InprocSimRobot(spec, dt_phys, domain_rand=domain_rand, seed=seed)
    operator = QueuedOperatorInput()
    runtime = DeployRuntime(
        policy_folder,
        spec=spec,
        state_source=sim,
        command_sink=sim,
        clock=sim.clock,
        operator=operator,
        safety_config=safety_config,
        fsm_config=fsm_config,
        clip=clip,
    )
    n_steps = max(1, round(duration_s / meta.control_dt_s))
    bodies = tuple(spec.tracked_bodies)
    root_index = bodies.index(spec.root_body)
    j, b = spec.num_joints, len(bodies)
    nan = math.nan
    rec: dict[str, np.ndarray] = {
        "time_s": np.zeros(n_steps),
        "clip_time_s": np.full(n_steps, nan),
        "robot_joint_pos": np.zeros((n_steps, j)),
        "ref_joint_pos": np.full((n_steps, j), nan),
        "robot_root_pos_w": np.zeros((n_steps, 3)),
        "ref_root_pos_w": np.full((n_steps, 3), nan),
        "robot_root_quat_w": np.zeros((n_steps, 4)),
        "robot_body_pos_w": np.zeros((n_steps, b, 3)),
        "ref_body_pos_w": np.full((n_steps, b, 3), nan),
        "body_pos_root_rel_mm": np.full(n_steps, nan),
        "joint_pos_err_rad": np.full(n_steps, nan),
        "pelvis_height_m": np.zeros(n_steps),
        "gravity_z": np.zeros(n_steps),
        "action": np.full((n_steps, j), nan),
        "command_pos_rad": np.zeros((n_steps, j)),
    }
    states: list[str] = []
    kicks = sorted((float(t), tuple(v)) for t, v in pushes)
    started_policy = False
    for k in range(n_steps):
        now = sim.time_s
        while kicks and kicks[0][0] <= now + 1e-9:
            sim.push(kicks.pop(0)[1])
        if auto_start and not runtime.fsm.latched:
            st = runtime.state
            if st in (State.PASSIVE, State.DAMPING):
                operator.push(OperatorEvent.START)
            elif st is State.STAND and runtime.fsm.ramp_done() and not started_policy:
                operator.push(OperatorEvent.START, clip or "")
        measured = sim.latest()
        body_pos = sim.body_pos_w
        root_pos = sim.root_pos_w
        cmd = runtime.policy_step()
        started_policy |= runtime.state is State.POLICY

        rec["time_s"][k] = now
        rec["robot_joint_pos"][k] = sim.data.qpos[sim.robot.joint_qpos_adr]
        rec["robot_root_pos_w"][k] = root_pos
        rec["robot_root_quat_w"][k] = sim.root_quat_w
        rec["robot_body_pos_w"][k] = body_pos
        rec["pelvis_height_m"][k] = root_pos[2]
        rec["gravity_z"][k] = measured.projected_gravity_b()[2]
        rec["command_pos_rad"][k] = cmd.position_rad
        states.append(runtime.state.value)
        t_clip = runtime.last_clip_time_s
        if t_clip is not None:
            ref, _ = runtime.observation.reference(runtime.clip_id, t_clip)
            assert ref.body_pos_w is not None and ref.root_pos_w is not None
            ref_body = ref.body_pos_w[0].double().numpy()
            ref_q = ref.joint_pos[0].double().numpy()
            rec["clip_time_s"][k] = t_clip
            rec["ref_joint_pos"][k] = ref_q
            rec["ref_root_pos_w"][k] = ref.root_pos_w[0].double().numpy()
            rec["ref_body_pos_w"][k] = ref_body
            diff = body_pos - ref_body
            rel = diff - diff[root_index]
            rec["body_pos_root_rel_mm"][k] = 1000.0 * np.linalg.norm(rel, axis=-1).mean()
            rec["joint_pos_err_rad"][k] = np.abs(rec["robot_joint_pos"][k] - ref_q).mean()
            rec["action"][k] = runtime.last_action
        for _ in range(decimation):
            runtime.command_step()
            sim.advance(dt_phys)

    return InprocResult(
        state=states,
        transitions=list(runtime.fsm.log),
        events=list(runtime.events),
        counters=dataclasses.replace(runtime.counters),
        body_names=bodies,
        joint_names=spec.joint_names,
        **rec,
    )


# -- a policy folder without training ---------------------------------------------------------
def write_untrained_policy(
    folder: str | os.PathLike[str],
    motions: Sequence[Motion],
    spec: RobotSpec | None = None,
    *,
    clip_names: Sequence[str] | None = None,
    actor_terms: Sequence[str] = ACTOR_TERMS,
    hidden_dims: tuple[int, ...] = (64, 64),
    zero_output: bool = True,
    control_dt_s: float = 0.02,
    physics_dt_s: float = PHYSICS_DT_S,
    seed: int = 0,
    meta_changes: dict[str, Any] | None = None,
) -> Path:
    """Write a policy folder (``policy.onnx``, ``policy.json``, ``clips/``) around a freshly
    initialized rsl-rl actor, as ``humimic export`` would for a trained one.

    With ``zero_output`` the actor's last layer is zero, so its action is 0 whatever it sees:
    joint targets are the default pose (the robot must stand). ``meta_changes`` replaces
    metadata fields before writing (tests use it to write inconsistent artifacts, e.g. another
    joint order); the embedded and sidecar copies stay equal.
    """
    from humimic.envs.export import _export_onnx, build_actor
    from humimic.envs.train import PpoConfig

    spec = spec if spec is not None else get_robot(motions[0].meta.robot)
    library = MotionLibrary(motions, spec, clip_names=clip_names)
    terms = list(actor_terms)
    if library.num_clips > 1 and "clip_one_hot" not in terms:
        terms.append("clip_one_hot")  # TrackingConfig.clip_conditioning == "auto"
    group = ObservationGroup([(n, OBSERVATION_TERMS[n]) for n in terms])
    sizes = group.resolve(sample_term_input(spec, library))
    clip_files = tuple(f"{i:02d}_{name}.npz" for i, name in enumerate(library.clip_names))
    meta = PolicyMetadata(
        robot=spec.name,
        joint_names=tuple(spec.joint_names),
        default_joint_pos_rad=tuple(spec.default_joint_pos_rad),
        action_scale_rad=tuple(spec.action_scale_rad),
        kp_nm_per_rad=tuple(spec.kp_nm_per_rad),
        kd_nm_s_per_rad=tuple(spec.kd_nm_s_per_rad),
        effort_limit_nm=tuple(spec.effort_limit_nm),
        control_dt_s=float(control_dt_s),
        physics_dt_s=float(physics_dt_s),
        observation_terms=tuple((n, int(s)) for n, s in sizes),
        required_fields=tuple(sorted(group.required_fields)),
        anchor_body=spec.anchor_body,
        root_body=spec.root_body,
        clip_names=tuple(library.clip_names),
        motion_hash=library.motion_hash,
        clip_files=clip_files,
        trained_iterations=0,
        run="untrained (write_untrained_policy)",
    )
    if meta_changes:
        meta = dataclasses.replace(meta, **meta_changes)

    torch.manual_seed(seed)
    actor = build_actor(meta.obs_dim, spec.num_joints, PpoConfig(actor_hidden_dims=hidden_dims))
    if zero_output:
        last = [m for m in actor.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
    actor.eval()

    final = Path(folder)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        _export_onnx(actor, tmp / "policy.onnx", meta)
        (tmp / "policy.json").write_text(meta.to_json())
        (tmp / "clips").mkdir()
        for motion, name in zip(motions, clip_files, strict=True):
            motion.save(tmp / "clips" / name)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
