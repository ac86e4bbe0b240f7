"""The deploy observation: the training env's actor observation, built from a robot's sensors.

Deploy never re-implements an observation term. :class:`DeployObservation` fills the same
:class:`~humimic.envs.tracking.state.TermInput` record the training env fills and calls the
same :class:`~humimic.envs.tracking.observations.ObservationGroup` over
:data:`~humimic.envs.tracking.observations.OBSERVATION_TERMS`, chosen by the names the policy
artifact lists. What differs is only where the numbers come from:

* ``robot.joint_pos``, ``robot.joint_vel``: the joint encoders (:class:`RobotState`).
* ``robot.root_quat_w``, ``robot.root_ang_vel_w``: the IMU, moved from the IMU frame to the root
  (pelvis) frame with the fixed placement of ``spec.imu_body`` on the root joint, read from the
  Pinocchio model. With ``q_j_imu`` the IMU frame and ``q_j_root`` the root body frame in the
  root joint's frame (both constant, identity on the G1)::

      q_w_j    = q_w_imu ⊗ q_j_imu⁻¹          (the root joint's pose: Pinocchio's free flyer)
      q_w_root = q_w_j ⊗ q_j_root             (RobotFrame.root_quat_w)
      ω_w      = R(q_w_imu) · ω_imu           (a rigid body has one angular velocity;
                                               RobotFrame.root_ang_vel_w is in the world frame)

* ``robot.body_quat_w`` ``[1, B, 4]``: Pinocchio forward kinematics of ``(q_w_j, joints)`` for
  every tracked body (``ref_anchor_ori_b`` reads the anchor's, the torso). The root position
  does not change orientations, so it is set to 0.
* ``robot.root_pos_w``, ``robot.root_lin_vel_w``, ``robot.body_pos_w`` and the body velocities
  stay ``None``: a robot without a state estimator does not know them. A policy whose terms
  read them is refused at construction, with the list of missing fields.
* ``ref``: the :class:`~humimic.envs.motion_library.MotionLibrary` built from the policy
  folder's clips (its hash must equal the artifact's), sampled with the library's own
  interpolation. Times ``k · control_dt_s`` are sampled once per clip, in one batch, at
  construction, and then only indexed (the runtime's clip clock only takes those values).
* ``last_action``: the previous raw policy output (0 on entering POLICY, as after a reset in
  training); ``motion_time_s``/``motion_length_s`` and ``clip_one_hot`` for the phase and
  multi-clip terms.

Speed: all robot-side tensors are preallocated ``float32`` ``[1, ...]`` buffers filled through
their NumPy views, so a call costs the terms themselves plus one Pinocchio pass (tens of µs).
The :class:`TermInput` a call builds shares those buffers: it is valid until the next call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pinocchio as pin
import torch

from humimic.deploy.commands import FloatArray, RobotState
from humimic.envs.motion_library import MotionLibrary, MotionState
from humimic.envs.tracking.observations import OBSERVATION_TERMS, ObservationGroup
from humimic.envs.tracking.state import RobotFrame, TermInput, missing_fields, reference_frame
from humimic.errors import ConfigError, DeployError, unknown_name
from humimic.policy import PolicyMetadata
from humimic.robots.pinocchio_model import PinocchioRobot, build_pinocchio
from humimic.robots.spec import RobotSpec
from humimic.rotations import matrix_to_quat, quat_conj, quat_mul

__all__ = [
    "ROBOT_FIELDS_FILLED",
    "DeployObservation",
    "ImuMount",
    "reference_frame",
    "sample_term_input",
]

ROBOT_FIELDS_FILLED: tuple[str, ...] = (
    "joint_pos",
    "joint_vel",
    "root_quat_w",
    "root_ang_vel_w",
    "body_quat_w",
)
"""The :class:`RobotFrame` fields deploy fills from encoders, the IMU and forward kinematics."""

_STEP_TIME_TOL_S = 1e-9  # a time within this of k · control_dt_s uses the precomputed row k


def sample_term_input(
    spec: RobotSpec, library: MotionLibrary, robot: RobotFrame | None = None
) -> TermInput:
    """A one-env :class:`TermInput` at the start of clip 0, to resolve term sizes.

    ``robot`` defaults to the reference itself (every field set): what an exporter needs to
    size terms without a simulator. Deploy passes its own robot frame, so missing fields show.
    """
    clip = torch.zeros(1, dtype=torch.long, device=library.device)
    t = torch.zeros(1, dtype=torch.float32, device=library.device)
    ref = reference_frame(library.sample(clip, t))
    j = spec.num_joints
    return TermInput(
        robot=ref if robot is None else robot,
        ref=ref,
        last_action=torch.zeros(1, j),
        default_joint_pos=torch.tensor(spec.default_joint_pos_rad, dtype=torch.float32),
        anchor_index=_body_index(library.body_names, spec.anchor_body, "anchor body"),
        motion_time_s=t,
        motion_length_s=library.duration_s[clip],
        clip_one_hot=library.clip_one_hot(clip),
    )


def _body_index(names: Sequence[str], name: str, what: str) -> int:
    if name not in names:
        raise DeployError(unknown_name(what, name, names))
    return list(names).index(name)


def _rotate(q_wxyz: FloatArray, v: FloatArray) -> tuple[float, float, float]:
    """``R(q)·v`` for one unit quaternion and one vector, in scalar arithmetic
    (``v + w·t + u × t`` with ``t = 2·u × v``); :func:`humimic.rotations.quat_rotate` computes
    the same for batches, but ``np.cross`` costs ~40 µs on three numbers."""
    w, x, y, z = (float(c) for c in q_wxyz)
    vx, vy, vz = (float(c) for c in v)
    tx, ty, tz = 2.0 * (y * vz - z * vy), 2.0 * (z * vx - x * vz), 2.0 * (x * vy - y * vx)
    return (
        vx + w * tx + (y * tz - z * ty),
        vy + w * ty + (z * tx - x * tz),
        vz + w * tz + (x * ty - y * tx),
    )


def _is_identity(q_wxyz: FloatArray) -> bool:
    return bool(abs(abs(q_wxyz[0]) - 1.0) < 1e-12)


@dataclass(frozen=True)
class ImuMount:
    """Where the IMU sits on the root joint (constant; from the Pinocchio model).

    Attributes:
        q_joint_imu: ``[4]`` wxyz, the IMU frame in the root joint's frame.
        q_joint_root: ``[4]`` wxyz, the root body frame in the root joint's frame.
    """

    q_joint_imu: FloatArray
    q_joint_root: FloatArray

    @classmethod
    def from_model(cls, robot: PinocchioRobot) -> ImuMount:
        """Read the placements of ``spec.imu_body`` and ``spec.root_body``.

        Raises:
            DeployError: the IMU is not rigidly attached to the root joint (its orientation
                would then depend on joint angles).
        """
        spec, model = robot.spec, robot.model
        imu = model.frames[robot.frame_id(spec.imu_body)]
        root = model.frames[robot.frame_id(spec.root_body)]
        if imu.parentJoint != root.parentJoint or model.names[root.parentJoint] != "root_joint":
            raise DeployError(
                f"IMU body {spec.imu_body!r} is on joint {model.names[imu.parentJoint]!r}, "
                f"not rigidly on the root body {spec.root_body!r} (joint "
                f"{model.names[root.parentJoint]!r}); deploy needs the IMU on the root"
            )
        return cls(
            q_joint_imu=matrix_to_quat(imu.placement.rotation),
            q_joint_root=matrix_to_quat(root.placement.rotation),
        )

    def root_pose(self, imu_quat_w: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(q_w_joint, q_w_root)`` wxyz from the IMU orientation (normalized here)."""
        q = imu_quat_w / np.linalg.norm(imu_quat_w)
        q_w_joint = q
        if not _is_identity(self.q_joint_imu):
            q_w_joint = quat_mul(q, quat_conj(self.q_joint_imu))
        if _is_identity(self.q_joint_root):
            return q_w_joint, q_w_joint
        return q_w_joint, quat_mul(q_w_joint, self.q_joint_root)


class _ClipTable:
    """The reference of one clip at ``k · dt`` for ``k = 0..K`` (``K·dt`` ≥ the clip's end)."""

    def __init__(self, library: MotionLibrary, clip_id: int, dt_s: float) -> None:
        self.duration_s = float(library.duration_s[clip_id])
        n = int(math.floor(self.duration_s / dt_s + 1e-6)) + 2
        self.dt_s = dt_s
        times = torch.tensor([k * dt_s for k in range(n)], dtype=torch.float64)
        clips = torch.full((n,), clip_id, dtype=torch.long)
        m = library.sample(clips, times)
        self.frames = [
            reference_frame(
                MotionState(
                    **{
                        name: getattr(m, name)[k : k + 1]
                        for name in MotionState.__dataclass_fields__
                    }
                )
            )
            for k in range(n)
        ]
        self.motion_time_s = [torch.tensor([k * dt_s], dtype=torch.float32) for k in range(n)]
        self.motion_length_s = library.duration_s[clip_id : clip_id + 1].clone()
        self.one_hot = library.clip_one_hot(clips[:1])

    def row(self, t_s: float) -> int | None:
        """``k`` when ``t_s`` is ``k · dt`` (within 1 ns) and in the table, else ``None``."""
        k = round(t_s / self.dt_s)
        if 0 <= k < len(self.frames) and abs(k * self.dt_s - t_s) <= _STEP_TIME_TOL_S:
            return k
        return None


class DeployObservation:
    """The actor observation of a policy, from a :class:`RobotState` (see module docstring).

    Args:
        meta: the policy's metadata (term names and sizes, joints, default pose, clips, hash).
        spec: the robot (IMU body, tracked bodies, anchor).
        library: the reference clips, built from the policy folder's ``clips/``.

    Raises:
        DeployError: unknown term; clips whose hash is not the artifact's; terms that read
            fields this runtime cannot fill (listed); a derived term size that differs from
            the artifact's (the term is named).
    """

    def __init__(self, meta: PolicyMetadata, spec: RobotSpec, library: MotionLibrary) -> None:
        self.meta, self.spec, self.library = meta, spec, library
        names = [name for name, _ in meta.observation_terms]
        for name in names:
            if name not in OBSERVATION_TERMS:
                raise DeployError(
                    "policy metadata: " + unknown_name("observation term", name, OBSERVATION_TERMS)
                )
        if library.motion_hash != meta.motion_hash:
            raise DeployError(
                f"reference clips do not match the policy: motion hash {library.motion_hash[:12]}"
                f"… vs the artifact's {meta.motion_hash[:12]}… (clips edited or replaced?)"
            )
        if tuple(library.joint_names) != tuple(meta.joint_names):
            raise DeployError("reference clips: joint names differ from the policy's")
        if tuple(library.body_names) != tuple(spec.tracked_bodies):
            raise DeployError(
                f"reference clips: bodies {list(library.body_names)} are not the robot's "
                f"tracked bodies {list(spec.tracked_bodies)}"
            )
        self.group = ObservationGroup([(name, OBSERVATION_TERMS[name]) for name in names])
        self.control_dt_s = float(meta.control_dt_s)
        self.anchor_index = _body_index(library.body_names, spec.anchor_body, "anchor body")

        # -- kinematics, resolved once ---------------------------------------------------------
        self._pin = build_pinocchio(spec)
        self._pin_data = self._pin.model.createData()
        self._frame_ids = [self._pin.frame_id(name) for name in spec.tracked_bodies]
        self.imu = ImuMount.from_model(self._pin)
        self._q_pin = self._pin.q_from(
            np.zeros(3), np.array([1.0, 0.0, 0.0, 0.0]), np.asarray(spec.default_joint_pos_rad)
        )
        self._quat_cols = np.array([6, 3, 4, 5])  # SE3ToXYZQUAT's xyzw → wxyz

        # -- preallocated [1, ...] float32 buffers and their NumPy views -------------------------
        j, b = spec.num_joints, len(spec.tracked_bodies)
        self._joint_pos = torch.zeros(1, j)
        self._joint_vel = torch.zeros(1, j)
        self._root_quat = torch.zeros(1, 4)
        self._root_ang_vel = torch.zeros(1, 3)
        self._body_quat = torch.zeros(1, b, 4)
        self._last_action = torch.zeros(1, j)
        self._default_pos = torch.tensor(meta.default_joint_pos_rad, dtype=torch.float32)
        self._np = {
            "joint_pos": self._joint_pos.numpy()[0],
            "joint_vel": self._joint_vel.numpy()[0],
            "root_quat": self._root_quat.numpy()[0],
            "root_ang_vel": self._root_ang_vel.numpy()[0],
            "body_quat": self._body_quat.numpy()[0],
            "last_action": self._last_action.numpy()[0],
        }
        self._robot = RobotFrame(
            root_quat_w=self._root_quat,
            root_ang_vel_w=self._root_ang_vel,
            joint_pos=self._joint_pos,
            joint_vel=self._joint_vel,
            body_quat_w=self._body_quat,
        )
        # every clip's reference at k · dt, built now: never inside a control period
        self._tables = [_ClipTable(library, c, self.control_dt_s) for c in range(library.num_clips)]

        # -- what the terms need vs what we fill; sizes vs the artifact's -----------------------
        upright = RobotState(
            joint_pos_rad=np.asarray(meta.default_joint_pos_rad),
            joint_vel_rad_s=np.zeros(j),
            imu_quat_wxyz=np.array([1.0, 0.0, 0.0, 0.0]),
            gyro_b_rad_s=np.zeros(3),
            stamp_s=0.0,
        )
        sample = sample_term_input(spec, library, robot=self.robot_frame(upright))
        needed = set(meta.required_fields) | set(self.group.required_fields)
        missing = missing_fields(needed, sample)
        if missing:
            raise DeployError(
                f"policy needs state a robot does not measure: {', '.join(missing)} "
                f"(deploy fills robot.{', robot.'.join(ROBOT_FIELDS_FILLED)}; terms "
                f"{', '.join(names)})"
            )
        try:
            sizes = self.group.resolve(sample)
        except ConfigError as exc:
            raise DeployError(f"observation terms cannot be evaluated: {exc}") from None
        for (name, got), (meta_name, expected) in zip(sizes, meta.observation_terms, strict=True):
            assert name == meta_name
            if got != expected:
                raise DeployError(
                    f"observation term {name!r}: this runtime derives size {got}, the policy "
                    f"artifact says {expected} (robot or clips differ from training)"
                )

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """``D``: the observation size."""
        return self.group.dim

    def table(self) -> str:
        """The printable table of terms, sizes and slices."""
        return self.group.table()

    def clip_duration_s(self, clip_id: int) -> float:
        """Time of clip ``clip_id``'s last frame (s)."""
        return self._table(clip_id).duration_s

    # -- the pieces ------------------------------------------------------------------------------
    def robot_frame(self, state: RobotState) -> RobotFrame:
        """The measured :class:`RobotFrame` ``[1, ...]`` of ``state`` (shares this object's
        buffers: valid until the next call)."""
        bufs = self._np
        q_w_joint, q_w_root = self.imu.root_pose(state.imu_quat_wxyz)
        bufs["joint_pos"][:] = state.joint_pos_rad
        bufs["joint_vel"][:] = state.joint_vel_rad_s
        bufs["root_quat"][:] = q_w_root
        bufs["root_ang_vel"][:] = _rotate(q_w_joint, self._imu_gyro_in_joint(state))
        bufs["body_quat"][:] = self._body_quats(q_w_joint, state.joint_pos_rad)
        return self._robot

    def _imu_gyro_in_joint(self, state: RobotState) -> FloatArray:
        if _is_identity(self.imu.q_joint_imu):
            return state.gyro_b_rad_s
        return np.array(_rotate(self.imu.q_joint_imu, state.gyro_b_rad_s))

    def _body_quats(self, q_w_joint: FloatArray, joint_pos_rad: FloatArray) -> FloatArray:
        """``[B, 4]`` wxyz world orientations of the tracked bodies (Pinocchio FK)."""
        q = self._q_pin
        q[3:6] = q_w_joint[1:4]
        q[6] = q_w_joint[0]
        q[self._pin.joint_q_idx] = joint_pos_rad
        model, data = self._pin.model, self._pin_data
        pin.framesForwardKinematics(model, data, q)
        oMf, to_xyzquat, cols = data.oMf, pin.SE3ToXYZQUAT, self._quat_cols
        return np.array([to_xyzquat(oMf[f])[cols] for f in self._frame_ids])

    def _table(self, clip_id: int) -> _ClipTable:
        if not 0 <= clip_id < len(self._tables):
            raise DeployError(
                f"clip id {clip_id} outside [0, {self.library.num_clips}); clips: "
                f"{', '.join(self.library.clip_names)}"
            )
        return self._tables[clip_id]

    def reference(self, clip_id: int, t_s: float) -> tuple[RobotFrame, torch.Tensor]:
        """``(ref frame [1, ...], motion_time_s [1])`` of clip ``clip_id`` at ``t_s``.

        Times ``k · control_dt_s`` come from the per-clip table; others are sampled.
        """
        table = self._table(clip_id)
        k = table.row(t_s)
        if k is not None:
            return table.frames[k], table.motion_time_s[k]
        t = torch.tensor([t_s], dtype=torch.float32)
        clip = torch.tensor([clip_id], dtype=torch.long)
        return reference_frame(self.library.sample(clip, t)), t

    def term_input(
        self,
        state: RobotState,
        clip_id: int,
        t_s: float,
        last_action: FloatArray | None = None,
    ) -> TermInput:
        """The :class:`TermInput` of one policy step (valid until the next call).

        Args:
            state: the measured robot.
            clip_id: which clip; ``t_s``: time in it (s).
            last_action: ``[J]`` previous raw policy output (``None``: zeros).
        """
        table = self._table(clip_id)
        ref, motion_time = self.reference(clip_id, t_s)
        if last_action is None:
            self._np["last_action"][:] = 0.0
        else:
            self._np["last_action"][:] = last_action
        return TermInput(
            robot=self.robot_frame(state),
            ref=ref,
            last_action=self._last_action,
            default_joint_pos=self._default_pos,
            anchor_index=self.anchor_index,
            motion_time_s=motion_time,
            motion_length_s=table.motion_length_s,
            clip_one_hot=table.one_hot,
        )

    def __call__(
        self,
        state: RobotState,
        clip_id: int,
        t_s: float,
        last_action: FloatArray | None = None,
    ) -> np.ndarray:
        """``[1, D]`` float32 actor observation (a new array), ready for onnxruntime."""
        with torch.inference_mode():
            obs = self.group(self.term_input(state, clip_id, t_s, last_action))
        return obs.numpy()
