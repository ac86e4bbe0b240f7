"""Retargeting quality numbers, measured on the OUTPUT motion with the robot's own kinematics.

Nothing here reads the IK's internals: key-body errors come from forward kinematics of the
output joint angles, contacts and skating from the sole corners, self-collision from the
capsules (:mod:`humimic.retarget.collision`). ``targets_met`` states the targets of issue 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from humimic.errors import ConfigError, RetargetError
from humimic.motion import Motion
from humimic.retarget.collision import CapsuleChecker
from humimic.robots.kinematics import ForwardKinematics
from humimic.robots.spec import RobotSpec

JOINT_LIMIT_TOL_RAD = 1e-6
JUMP_FPS = 50.0
JUMP_THRESHOLD_RAD = 0.3
BELOW_FLOOR_M = -0.005
FLOATING_M = 0.02
SLIP_M = 0.01
PENETRATION_M = 0.001


@dataclass(frozen=True)
class RetargetMetrics:
    """Quality of one retargeted clip (all plain floats/ints: ``json.dumps(asdict(m))`` works).

    Attributes:
        frames, duration_s: clip length.
        keybody_err_mean_mm, keybody_err_p95_mm, keybody_err_max_mm: distance between the robot
            frames' FK positions and the calibrated human keypoints, over frames × keypoints.
        joint_limit_violations: frame × joint entries outside the limits by > 1e-6 rad.
        joint_limit_worst_excess_rad: largest excess beyond a limit (0 if none).
        joint_vel_p99_rad_s: 99th percentile of |q̇| (forward differences) over frames × joints.
        joint_vel_limit_violations: entries with |q̇| above the joint's velocity limit.
        joint_jumps: consecutive-frame steps |Δq| > 0.3 rad at 50 fps.
        max_joint_step_rad: largest |Δq| at 50 fps.
        lowest_sole_mm: lowest sole corner over the clip (negative = below the floor).
        frames_below_5mm_pct: frames whose lowest sole corner is below -5 mm.
        stance_floating_pct: stance frame × foot entries whose foot's lowest corner is > 20 mm up.
        skate_speed_mean_cm_s: mean horizontal speed of the sole centre inside stance segments.
        skate_slip_pct: stance entries whose sole centre moved > 1 cm (horizontally) from where
            its stance segment began.
        self_collision_pct: frames where a checked capsule pair penetrates by > 1 mm.
        self_collision_max_depth_mm: deepest penetration (0 if none).
        fps_input30: frames of 30-fps input retargeted per second (``duration·30 / elapsed``).
        elapsed_s: wall time the retargeting took.
    """

    frames: int
    duration_s: float
    keybody_err_mean_mm: float
    keybody_err_p95_mm: float
    keybody_err_max_mm: float
    joint_limit_violations: int
    joint_limit_worst_excess_rad: float
    joint_vel_p99_rad_s: float
    joint_vel_limit_violations: int
    joint_jumps: int
    max_joint_step_rad: float
    lowest_sole_mm: float
    frames_below_5mm_pct: float
    stance_floating_pct: float
    skate_speed_mean_cm_s: float
    skate_slip_pct: float
    self_collision_pct: float
    self_collision_max_depth_mm: float
    fps_input30: float
    elapsed_s: float


def _pct(mask: np.ndarray, over: np.ndarray | None = None) -> float:
    """Percentage of True in ``mask`` (restricted to ``over`` if given); 0 for an empty set."""
    if over is not None:
        mask = mask[over]
    return float(100.0 * mask.mean()) if mask.size else 0.0


def _stance_segments(stance: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` frame ranges of the True runs of a ``[T]`` bool array."""
    padded = np.concatenate([[False], stance.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def _skating(centre_xy: np.ndarray, stance: np.ndarray, dt_s: float) -> tuple[float, float]:
    """``(mean speed m/s, slip %)`` of sole centres ``[T, F, 2]`` over stance ``[T, F]``."""
    speeds: list[np.ndarray] = []
    slipped = 0
    entries = 0
    for f in range(stance.shape[1]):
        for start, stop in _stance_segments(stance[:, f]):
            seg = centre_xy[start:stop, f]
            speeds.append(np.linalg.norm(np.diff(seg, axis=0), axis=-1) / dt_s)
            slipped += int(np.count_nonzero(np.linalg.norm(seg - seg[0], axis=-1) > SLIP_M))
            entries += stop - start
    all_speeds = np.concatenate(speeds) if speeds else np.zeros(0)
    mean_speed = float(all_speeds.mean()) if all_speeds.size else 0.0
    return mean_speed, (100.0 * slipped / entries if entries else 0.0)


def compute_metrics(
    motion: Motion,
    spec: RobotSpec,
    targets_w: np.ndarray,
    target_names: tuple[str, ...] | list[str],
    stance: np.ndarray,
    elapsed_s: float,
    source_duration_s: float,
) -> RetargetMetrics:
    """Measure a retargeted clip.

    Args:
        motion: the output clip (``T`` frames, joints in ``spec`` policy order).
        spec: the robot.
        targets_w: ``[T, K, 3]`` calibrated (scaled) human keypoints at the clip's frame times.
        target_names: ``K`` robot bodies or extra frames matching the keypoints.
        stance: ``[T, F]`` bool, the source's foot contacts (``spec.feet`` order).
        elapsed_s: wall time the retargeting took (s, > 0).
        source_duration_s: duration of the source clip (s).

    Raises:
        RetargetError: on shapes that do not match the clip.
        ConfigError: if ``elapsed_s`` is not positive.
    """
    T, J = motion.joint_pos.shape
    targets_w = np.asarray(targets_w, dtype=np.float64)
    stance = np.asarray(stance, dtype=bool)
    if targets_w.shape != (T, len(target_names), 3):
        raise RetargetError(
            f"targets_w: expected shape {(T, len(target_names), 3)} [T, K, 3] for {T} frames "
            f"and {len(target_names)} target names, got {targets_w.shape}"
        )
    if stance.shape != (T, len(spec.feet)):
        raise RetargetError(
            f"stance: expected shape {(T, len(spec.feet))} [T, F], got {stance.shape}"
        )
    if J != spec.num_joints:
        raise RetargetError(f"motion has {J} joints, robot {spec.name} has {spec.num_joints}")
    if not elapsed_s > 0:
        raise ConfigError(f"elapsed_s: expected a positive wall time, got {elapsed_s}")
    root_pos, root_quat, q = motion.root_pos_w, motion.root_quat_w, motion.joint_pos

    # key bodies
    fk = ForwardKinematics(spec, target_names)
    body_pos, _ = fk(root_pos, root_quat, q)
    err_mm = 1000.0 * np.linalg.norm(body_pos - targets_w, axis=-1)  # [T, K]
    err = err_mm.reshape(-1) if err_mm.size else np.zeros(1)

    # joint limits
    lower, upper = np.array(spec.joint_lower_rad), np.array(spec.joint_upper_rad)
    excess = np.maximum(lower - q, q - upper)  # [T, J], > 0 outside
    # velocities (forward differences at the clip rate)
    qdot = np.abs(np.diff(q, axis=0)) * motion.fps  # [T-1, J]
    vel_limit = np.array(spec.velocity_limit_rad_s)
    # jumps at 50 fps
    at50 = motion if motion.fps == JUMP_FPS else motion.resample(JUMP_FPS)
    steps = np.abs(np.diff(at50.joint_pos, axis=0))

    # soles
    corners = fk.sole_corners_w(root_pos, root_quat, q)  # [T, F, 4, 3]
    lowest = corners[..., 2].min(axis=-1)  # [T, F]
    centre_xy = corners.mean(axis=2)[..., :2]  # [T, F, 2]
    skate_m_s, slip_pct = _skating(centre_xy, stance, motion.dt_s)

    # self-collision
    depths = CapsuleChecker(spec).clip_depths(root_pos, root_quat, q)  # [T, P]
    min_depth = depths.min(axis=1) if depths.shape[1] else np.full(T, np.inf)

    return RetargetMetrics(
        frames=int(T),
        duration_s=float(motion.duration_s),
        keybody_err_mean_mm=float(err.mean()),
        keybody_err_p95_mm=float(np.percentile(err, 95)),
        keybody_err_max_mm=float(err.max()),
        joint_limit_violations=int(np.count_nonzero(excess > JOINT_LIMIT_TOL_RAD)),
        joint_limit_worst_excess_rad=float(max(excess.max(), 0.0)),
        joint_vel_p99_rad_s=float(np.percentile(qdot, 99)) if qdot.size else 0.0,
        joint_vel_limit_violations=int(np.count_nonzero(qdot > vel_limit)),
        joint_jumps=int(np.count_nonzero(steps > JUMP_THRESHOLD_RAD)),
        max_joint_step_rad=float(steps.max()) if steps.size else 0.0,
        lowest_sole_mm=float(1000.0 * lowest.min()),
        frames_below_5mm_pct=_pct(lowest.min(axis=1) < BELOW_FLOOR_M),
        stance_floating_pct=_pct(lowest > FLOATING_M, over=stance),
        skate_speed_mean_cm_s=100.0 * skate_m_s,
        skate_slip_pct=slip_pct,
        self_collision_pct=_pct(min_depth < -PENETRATION_M),
        self_collision_max_depth_mm=float(1000.0 * max(-float(min_depth.min()), 0.0)),
        fps_input30=float(source_duration_s * 30.0 / elapsed_s),
        elapsed_s=float(elapsed_s),
    )


def targets_met(m: RetargetMetrics) -> dict[str, bool]:
    """The targets of issue 3, each True when met."""
    return {
        "joint_limits": m.joint_limit_violations == 0,
        "self_collision": m.self_collision_pct == 0.0,
        "lowest_sole_ge_-5mm": m.lowest_sole_mm >= -5.0,
        "skate_le_2cm_s": m.skate_speed_mean_cm_s <= 2.0,
        "no_jumps_gt_0.3rad": m.joint_jumps == 0,
        "keybody_mean_le_50mm": m.keybody_err_mean_mm <= 50.0,
        "fps_input30_ge_1000": m.fps_input30 >= 1000.0,
    }


# column header → (field, format)
_COLUMNS: dict[str, tuple[str, str]] = {
    "frames": ("frames", "d"),
    "kb mean mm": ("keybody_err_mean_mm", ".1f"),
    "kb p95 mm": ("keybody_err_p95_mm", ".1f"),
    "lim viol": ("joint_limit_violations", "d"),
    "jumps": ("joint_jumps", "d"),
    "vel p99": ("joint_vel_p99_rad_s", ".2f"),
    "sole min mm": ("lowest_sole_mm", ".1f"),
    "below %": ("frames_below_5mm_pct", ".1f"),
    "float %": ("stance_floating_pct", ".1f"),
    "skate cm/s": ("skate_speed_mean_cm_s", ".2f"),
    "slip %": ("skate_slip_pct", ".1f"),
    "coll %": ("self_collision_pct", ".1f"),
    "coll mm": ("self_collision_max_depth_mm", ".1f"),
    "fps@30": ("fps_input30", ".0f"),
    "targets": ("", ""),
}


def format_table(rows: dict[str, RetargetMetrics]) -> str:
    """A plain-text table, one row per clip (key columns; ``targets`` = met/total)."""
    header = ["clip", *_COLUMNS]
    body = []
    for clip, m in rows.items():
        met = targets_met(m)
        cells = [clip]
        for _, (name, fmt) in _COLUMNS.items():
            if name:
                cells.append(format(getattr(m, name), fmt))
            else:
                cells.append(f"{sum(met.values())}/{len(met)}")
        body.append(cells)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(r) for r in body)])


__all__ = ["RetargetMetrics", "compute_metrics", "format_table", "targets_met"]
