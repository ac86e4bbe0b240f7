"""``humimic demo``: the chain on embedded defaults, everything written into one folder.

Today: keyframed default clip → Motion (Pinocchio FK) → quality numbers → video → report.
Retargeting, training and deployment join as they land.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from humimic.io import write_text_atomic
from humimic.motion import Motion
from humimic.robots.kinematics import ForwardKinematics
from humimic.robots.spec import RobotSpec


@dataclass(frozen=True)
class ClipQuality:
    """Physical sanity of a robot clip, computed from the robot spec and Pinocchio FK."""

    frames: int
    duration_s: float
    joint_limit_violations: int  # frame × joint entries outside [lower, upper]
    worst_limit_excess_rad: float
    max_joint_speed_fraction: float  # max |q̇| / velocity limit over all joints and frames
    max_joint_step_rad: float  # max |Δq| between consecutive frames
    lowest_sole_mm: float  # lowest sole corner over the clip
    stance_fraction: float  # frames with at least one foot in contact


def clip_quality(motion: Motion, robot: RobotSpec) -> ClipQuality:
    lower, upper = np.array(robot.joint_lower_rad), np.array(robot.joint_upper_rad)
    excess = np.maximum(motion.joint_pos - upper, lower - motion.joint_pos)
    corners = ForwardKinematics(robot, ()).sole_corners_w(
        motion.root_pos_w, motion.root_quat_w, motion.joint_pos
    )
    steps = np.abs(np.diff(motion.joint_pos, axis=0)) if motion.num_frames > 1 else np.zeros(1)
    return ClipQuality(
        frames=motion.num_frames,
        duration_s=motion.duration_s,
        joint_limit_violations=int(np.sum(excess > 0)),
        worst_limit_excess_rad=float(max(excess.max(), 0.0)),
        max_joint_speed_fraction=float(
            (np.abs(motion.joint_vel) / np.array(robot.velocity_limit_rad_s)).max()
        ),
        max_joint_step_rad=float(steps.max()),
        lowest_sole_mm=float(corners[..., 2].min() * 1000.0),
        stance_fraction=float(motion.foot_contact.any(axis=1).mean()),
    )


def run_demo(out_dir: Path, *, video: bool = True) -> dict[str, str]:
    from humimic.cli import default_clip_path
    from humimic.retarget.keyframes import load_keyframes
    from humimic.robots import get_robot

    console = Console()
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    console.rule("[bold]humimic demo")
    src = default_clip_path()
    with console.status("keyframes → robot motion clip (Pinocchio FK)"):
        motion = load_keyframes(src)
        robot = get_robot(motion.meta.robot)
        files["clip"] = str(motion.save(out_dir / "clip.npz"))
    console.print(
        f"[green]✓[/] clip {files['clip']}: {motion.num_frames} frames at "
        f"{motion.fps:g} fps ({motion.duration_s:.2f} s) from {src.name}"
    )

    quality = clip_quality(motion, robot)
    table = Table(title="clip quality")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in asdict(quality).items():
        table.add_row(k, f"{v:.3f}" if isinstance(v, float) else str(v))
    console.print(table)
    files["quality"] = str(out_dir / "quality.json")
    write_text_atomic(files["quality"], json.dumps(asdict(quality), indent=2))

    if video:
        from humimic.render import render_motion

        path, n = render_motion(motion, robot, out_dir / "clip.mp4")
        files["video"] = str(path)
        console.print(f"[green]✓[/] video {path}: {n} frames")

    wall_s = time.perf_counter() - t0
    report = [
        "# humimic demo report",
        "",
        f"Robot: **{robot.name}** ({robot.num_joints} joints). Source: `{src.name}` (embedded).",
        "",
        "| file | what |",
        "|---|---|",
        *(f"| `{Path(p).name}` | {k} |" for k, p in files.items()),
        "",
        "## Clip quality",
        "",
        *(f"- {k}: {v}" for k, v in asdict(quality).items()),
        "",
        f"Wall time: {wall_s:.1f} s.",
    ]
    files["report"] = str(out_dir / "report.md")
    write_text_atomic(files["report"], "\n".join(report) + "\n")
    ok = quality.joint_limit_violations == 0 and quality.lowest_sole_mm > -5.0
    console.rule("[bold green]done" if ok else "[bold red]done with problems")
    console.print(
        f"{'OK' if ok else 'PROBLEMS'} in {wall_s:.1f} s · outputs in {out_dir}/ · "
        f"report {files['report']}"
    )
    return files
