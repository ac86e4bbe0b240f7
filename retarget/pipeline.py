"""The retargeting pipeline: human keypoints → robot-proportioned targets → stance → IK → Motion.

See :mod:`humimic.retarget.targets` (calibration), :mod:`humimic.retarget.contacts` (stance),
:mod:`humimic.retarget.ik` (the solver). In stance a foot is locked where it touched down, flat,
at the floor; after lift-off it blends back to the free target over ``release_blend_s``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pinocchio as pin

from humimic.errors import ConfigError
from humimic.motion import Motion
from humimic.retarget.collision import CapsuleChecker
from humimic.retarget.contacts import StanceConfig, detect_stance, segments
from humimic.retarget.human import HumanMotion
from humimic.retarget.ik import FrameIK, IkSettings
from humimic.retarget.targets import SIDES, Targets, build_targets, rot_y, rot_z
from humimic.robots.kinematics import ForwardKinematics
from humimic.robots.pinocchio_model import build_pinocchio
from humimic.robots.spec import RobotSpec
from humimic.rotations import xyzw_to_wxyz

logger = logging.getLogger(__name__)

REPAIR_TAIL = 2  # frames after a collision frame that are re-solved too (velocity continuity)
REPAIR_ROUNDS = 3


@dataclass(frozen=True)
class TaskWeights:
    """IK weights (residual multipliers; a residual of 1 cm at weight 10 costs like 10 cm at 1)."""

    pelvis_pos: float = 3.0
    pelvis_rot: float = 1.0
    torso_rot: float = 1.0
    knee: float = 1.0
    ankle_swing: float = 3.0
    ankle_stance: float = 20.0
    foot_rot_swing: float = 0.3
    foot_rot_stance: float = 5.0
    elbow: float = 1.0
    wrist: float = 2.0
    head: float = 0.5


@dataclass(frozen=True)
class RetargetConfig:
    """Retargeting settings; defaults work for every clip we test (nothing per clip)."""

    fps: float = 50.0
    iterations: int = 3
    repair_iterations: int = 5
    first_frame_iterations: int = 30
    release_blend_s: float = 0.12
    self_collision: bool = True
    stance: StanceConfig = field(default_factory=StanceConfig)
    ik: IkSettings = field(default_factory=IkSettings)
    weights: TaskWeights = field(default_factory=TaskWeights)

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ConfigError(f"RetargetConfig.fps: expected > 0, got {self.fps}")
        for name in ("iterations", "first_frame_iterations", "repair_iterations"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"RetargetConfig.{name}: expected >= 1, got {getattr(self, name)}"
                )


@dataclass(frozen=True)
class RetargetResult:
    """The clip plus what quality is measured against.

    ``targets_w [T, K, 3]`` are the calibrated keypoints for the robot frames ``target_names``;
    ``stance [T, F]`` the source foot contacts; ``elapsed_s`` the wall time of the whole
    retarget after parsing (calibration, stance, IK, ground, FK of the clip).
    """

    motion: Motion
    target_names: tuple[str, ...]
    targets_w: np.ndarray
    stance: np.ndarray
    elapsed_s: float
    source_duration_s: float
    scale: float


def _median3(x: np.ndarray) -> np.ndarray:
    """Median over 3 neighbouring frames: removes single-frame spikes (CMU toe channels)."""
    if x.shape[0] < 3:
        return x
    out = x.copy()
    out[1:-1] = np.median(np.stack([x[:-2], x[1:-1], x[2:]]), axis=0)
    return out


def _apply_stance(
    targets: Targets, stance: np.ndarray, spec: RobotSpec, fps: float, blend_s: float
):
    """Foot targets ``pos [T, F, 3]``, ``rot [T, F, 3, 3]`` with stance locks and release blends."""
    hm = spec.human_map
    T = stance.shape[0]
    F = len(spec.feet)
    pos = np.stack([targets.pos_w[hm[f"{s}_ankle"]] for s in SIDES], axis=1).copy()
    yaw = targets.foot_yaw.copy()
    pitch = targets.foot_pitch.copy()
    ankle_h = -spec.feet[0].sole_z_b
    n_blend = max(1, int(round(blend_s * fps)))
    for f in range(F):
        for start, stop in segments(stance[:, f]):
            lock_xy = pos[start, f, :2].copy()
            lock_yaw = yaw[start, f]
            pos[start:stop, f, :2] = lock_xy
            pos[start:stop, f, 2] = ankle_h
            yaw[start:stop, f] = lock_yaw
            pitch[start:stop, f] = 0.0
            # blend back to the free target after lift-off
            for k in range(n_blend):
                t = stop + k
                if t >= T or stance[t, f]:
                    break
                a = (k + 1) / (n_blend + 1)
                pos[t, f, :2] = (1 - a) * lock_xy + a * pos[t, f, :2]
                pos[t, f, 2] = (1 - a) * ankle_h + a * pos[t, f, 2]
                d_yaw = (yaw[t, f] - lock_yaw + np.pi) % (2 * np.pi) - np.pi
                yaw[t, f] = lock_yaw + a * d_yaw
                pitch[t, f] = a * pitch[t, f]
    rot = rot_z(yaw) @ rot_y(pitch)  # [T, F, 3, 3]
    # keep swing soles above the floor: raise the ankle target so the lowest corner is at z >= 0
    corners_b = np.array([f.sole_corners_b() for f in spec.feet])  # [F, 4, 3]
    lowest = pos[..., 2] + np.einsum("tfij,fkj->tfki", rot, corners_b)[..., 2].min(-1)
    pos[..., 2] += np.maximum(0.0, -lowest)
    return pos, rot


def _repair_collisions(
    ik: FrameIK,
    checker: CapsuleChecker,
    qs: np.ndarray,
    pos_t: np.ndarray,
    rot_t: np.ndarray,
    weights: Callable[[int], tuple[np.ndarray, np.ndarray]],
    fps: float,
    cfg: RetargetConfig,
) -> None:
    """Re-solve, with collision rows, the frames whose capsules come closer than the margin.

    The first pass runs without collision rows (most frames have none); here every such frame
    and the ``REPAIR_TAIL`` frames after it are solved again in order, each from its first-pass
    configuration and velocity-limited against the (repaired) frame before it.
    """
    n = qs.shape[0]
    frames = np.arange(n)
    for _ in range(REPAIR_ROUNDS):
        dist = checker.clip_depths(
            qs[frames, :3], xyzw_to_wxyz(qs[frames, 3:7]), qs[frames][:, ik.q_idx]
        )
        hit = frames[dist.min(axis=1) < 0.0]
        if len(hit) == 0:
            return
        todo = sorted({t for h in hit for t in range(h, min(n, h + REPAIR_TAIL + 1))})
        for t in todo:
            pw, rw = weights(t)
            prev = qs[t - 1, ik.q_idx] if t > 0 else None
            qs[t] = ik.solve(
                qs[t].copy(),
                pos_t[t],
                pw,
                rot_t[t],
                rw,
                prev,
                1.0 / fps,
                cfg.repair_iterations,
                avoid_collisions=True,
            )
        frames = np.array(todo)
    logger.info("self-collision repair: %d frames still closer than the margin", len(frames))


def retarget(
    human: HumanMotion, spec: RobotSpec, config: RetargetConfig | None = None
) -> RetargetResult:
    """Retarget ``human`` onto ``spec`` (see the module docstring)."""
    cfg = config or RetargetConfig()
    w = cfg.weights
    build_pinocchio(spec)  # loading the URDF is a one-time cost per process, not retargeting
    t_start = time.perf_counter()
    hm = spec.human_map
    fps = cfg.fps
    n = int(np.floor(human.duration_s * fps + 1e-9)) + 1
    smoothed = HumanMotion(
        human.source, human.fps, human.names, _median3(human.pos_w), human.rest_pos_w, human.mapping
    )
    kp = smoothed.sample(np.arange(n) / fps)
    targets = build_targets(smoothed, kp, fps, spec)
    stance = detect_stance(targets.foot_height_h, targets.foot_speed_h, fps, cfg.stance)
    foot_pos, foot_rot = _apply_stance(targets, stance, spec, fps, cfg.release_blend_s)

    # position tasks: robot frame → weight (the ankles' weight depends on stance, set per frame)
    pos_tasks = {
        spec.root_body: w.pelvis_pos,
        hm["left_knee"]: w.knee,
        hm["right_knee"]: w.knee,
        hm["left_ankle"]: 0.0,
        hm["right_ankle"]: 0.0,
        hm["left_elbow"]: w.elbow,
        hm["left_wrist"]: w.wrist,
        hm["right_elbow"]: w.elbow,
        hm["right_wrist"]: w.wrist,
        hm["head"]: w.head,
    }
    pos_names = list(pos_tasks)
    ankle_slots = [pos_names.index(hm[f"{s}_ankle"]) for s in SIDES]  # same order as the feet
    rot_names = [spec.root_body, spec.anchor_body, *(f.body for f in spec.feet)]
    base_pos_w = np.array(list(pos_tasks.values()))
    pos_t = np.stack([targets.pos_w[nm] for nm in pos_names], axis=1)  # [T, P, 3]
    pos_t[:, ankle_slots] = foot_pos
    rot_t = np.stack([targets.rot_w[spec.root_body], targets.rot_w[spec.anchor_body]], axis=1)
    rot_t = np.concatenate([rot_t, foot_rot], axis=1)  # [T, R, 3, 3]

    checker = CapsuleChecker(spec) if cfg.self_collision else None
    ik = FrameIK(spec, pos_names, rot_names, cfg.ik, checker)
    q = np.zeros(ik.model.nq)
    q[:3] = pos_t[0, 0]
    q[3:7] = pin.Quaternion(rot_t[0, 0]).coeffs()
    q[ik.q_idx] = spec.default_joint_pos_rad
    qs = np.empty((n, ik.model.nq))
    joint_prev = None

    def weights(t: int) -> tuple[np.ndarray, np.ndarray]:
        pw = base_pos_w.copy()
        pw[ankle_slots] = np.where(stance[t], w.ankle_stance, w.ankle_swing)
        feet = np.where(stance[t], w.foot_rot_stance, w.foot_rot_swing)
        return pw, np.array([w.pelvis_rot, w.torso_rot, *feet])

    for t in range(n):
        pw, rw = weights(t)
        iters = cfg.first_frame_iterations if t == 0 else cfg.iterations
        if t > 0:  # feed-forward: move the root with its target before iterating
            q[:3] += pos_t[t, 0] - pos_t[t - 1, 0]
            R_prev = pin.Quaternion(q[6], *q[3:6]).toRotationMatrix()
            R_new = rot_t[t, 0] @ rot_t[t - 1, 0].T @ R_prev
            q[3:7] = pin.Quaternion(R_new).coeffs()
        q = ik.solve(q, pos_t[t], pw, rot_t[t], rw, joint_prev, 1.0 / fps, iters)
        qs[t] = q
        joint_prev = q[ik.q_idx].copy()

    if checker is not None:
        _repair_collisions(ik, checker, qs, pos_t, rot_t, weights, fps, cfg)

    root_pos = qs[:, :3].copy()
    root_quat = xyzw_to_wxyz(qs[:, 3:7])
    joint_pos = qs[:, ik.q_idx]
    # the floor: lift any frame whose lowest sole corner went below z = 0
    corners = ForwardKinematics(spec, ()).sole_corners_w(root_pos, root_quat, joint_pos)
    root_pos[:, 2] += np.maximum(0.0, -corners[..., 2].reshape(n, -1).min(axis=1))
    settings: dict[str, Any] = {
        "retarget": asdict(cfg),
        "scale": targets.scale,
        "preset": human.mapping.preset,
    }
    motion = Motion.from_kinematics(
        spec,
        fps,
        root_pos,
        root_quat,
        joint_pos,
        source=human.source,
        settings=settings,
        foot_contact=stance,
    )
    elapsed = time.perf_counter() - t_start
    target_names = tuple(pos_names)
    targets_w = pos_t.copy()
    return RetargetResult(
        motion, target_names, targets_w, stance, elapsed, human.duration_s, targets.scale
    )
