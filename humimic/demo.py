"""``humimic demo``: the whole chain in one command, everything written into one folder.

1. **Retarget** the embedded keyframed clip (``humimic/data/wave_squat.yaml``, written for
   humimic) or the user's ``--bvh`` onto the G1 and print its quality numbers.
2. **Policy**: the bundled one (``humimic/data/policy``, trained on that clip) or, with
   ``--train``, a new one trained on the retargeted clip (progress bar with the time left).
3. **Deploy** it through the deploy runtime (the code of ``humimic deploy --transport ros2``)
   against ``humimic sim-robot`` in a second process, over ROS 2 DDS on loopback, recording a
   rosbag2 (MCAP).
4. **Evaluate** it in the training simulator with and without domain randomization.
5. **Video** of the policy with its reference drawn as a translucent ghost.
6. **Report** (``report.md``) with the pictures, the numbers and where each file is, then a
   summary on the terminal.

A ``--bvh`` without ``--train`` stops after step 1 (and a video of the clip): the bundled policy
was trained on the embedded clip and cannot imitate another one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from humimic.errors import DeployError, HumimicError
from humimic.io import write_text_atomic
from humimic.motion import Motion
from humimic.robots.kinematics import ForwardKinematics
from humimic.robots.spec import RobotSpec

__all__ = ["ClipQuality", "DemoConfig", "DemoResult", "clip_quality", "run_demo"]


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

    @property
    def ok(self) -> bool:
        """Within the joint limits and not into the floor (≥ −5 mm)."""
        return self.joint_limit_violations == 0 and self.lowest_sole_mm >= -5.0


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


@dataclass(frozen=True)
class DemoConfig:
    """What the demo does.

    Attributes:
        out_dir: the output folder (created).
        bvh: the user's mocap file; ``None``: the embedded clip.
        train: train a policy on the clip instead of using the bundled one.
        train_iterations, train_envs, threads: the training budget (``--train``).
        deploy_s: length of the DDS deploy session (s); ``None``: STAND ramp + clip + 2 s.
        domain_id: DDS domain of the deploy session; ``None``: a random one in 100..199.
        eval_episodes: episodes per evaluation mode.
        video: render the videos. width, height: their size (px).
    """

    out_dir: Path
    bvh: Path | None = None
    train: bool = False
    train_iterations: int = 300
    train_envs: int = 256
    threads: int = max(1, os.cpu_count() or 1)
    deploy_s: float | None = None
    domain_id: int | None = None
    eval_episodes: int = 16
    video: bool = True
    width: int = 640
    height: int = 480

    def __post_init__(self) -> None:
        if self.bvh is not None and not Path(self.bvh).is_file():
            raise HumimicError(f"--bvh {self.bvh}: no such file")
        if self.train_iterations < 1 or self.train_envs < 1 or self.eval_episodes < 1:
            raise HumimicError("train iterations, envs and eval episodes must be ≥ 1")
        if self.video:  # before anything runs, not after minutes of work
            from humimic.render import check_video_args

            check_video_args(Path(self.out_dir) / "policy.mp4", self.width, self.height)
        if self.domain_id is not None and not 0 <= self.domain_id <= 232:
            raise HumimicError(f"--domain {self.domain_id}: expected 0..232")


@dataclass
class DemoResult:
    """What happened: ``ok`` is every stage's verdict; ``files`` maps a name to its path."""

    ok: bool = True
    files: dict[str, Path] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)


STAND_RAMP_S = 2.0
SPEED_TARGET = "fps_input30_ge_1000"  # a retarget target about the machine, not the clip


def run_demo(config: DemoConfig, console: Console | None = None) -> DemoResult:
    """Run the chain (see the module docstring); returns what happened."""
    from humimic.robots import get_robot

    console = console or Console()
    t0 = time.perf_counter()
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = DemoResult()
    robot = get_robot("g1")

    console.rule("[bold]humimic demo")
    motion = _retarget(config, robot, res, console)
    policy = _policy(config, res, console)
    if policy is None:
        if config.video:
            _clip_video(motion, robot, config, res, console)
    else:
        _deploy(policy, config, res, console)
        _evaluate(policy, config, res, console)
        if config.video:
            _policy_video(policy, config, res, console)
    res.wall_s = time.perf_counter() - t0
    _report(config, robot, res)
    _summary(res, console)
    return res


# -- stages -------------------------------------------------------------------------------------
def _retarget(config: DemoConfig, robot: RobotSpec, res: DemoResult, console: Console) -> Motion:
    from humimic.cli import default_clip_path
    from humimic.retarget.batch import RetargetJob, run_job
    from humimic.retarget.metrics import targets_met

    src = Path(config.bvh) if config.bvh is not None else default_clip_path()
    clip_path = Path(config.out_dir) / "clip.npz"
    job = RetargetJob(source=str(src), output=str(clip_path), robot=robot.name)
    with console.status(f"[1/5] retargeting {src.name} onto the {robot.name}"):
        t = time.perf_counter()
        metrics = run_job(job)
        motion = Motion.load(clip_path, robot)
        quality = clip_quality(motion, robot)
    stage: dict[str, Any] = {
        "source": str(src),
        "embedded": config.bvh is None,
        "seconds": time.perf_counter() - t,
        "quality": asdict(quality),
    }
    if metrics is not None:
        stage["retarget_metrics"] = asdict(metrics)
        stage["targets_met"] = targets_met(metrics)
        # the clip's quality decides; the speed target depends on the machine's load
        quality_targets = {k: v for k, v in stage["targets_met"].items() if k != SPEED_TARGET}
        if not all(quality_targets.values()):
            missed = [k for k, ok in quality_targets.items() if not ok]
            res.fail(f"retarget: quality targets missed: {', '.join(missed)}")
    if not quality.ok:
        res.fail("retarget: the clip leaves the joint limits or goes into the floor")
    res.stages["retarget"] = stage
    res.files["clip"] = clip_path
    write_text_atomic(Path(config.out_dir) / "quality.json", json.dumps(stage, indent=2) + "\n")
    res.files["quality"] = Path(config.out_dir) / "quality.json"

    table = Table(title=f"[1/5] {src.name} → {clip_path} ({motion.duration_s:.2f} s)")
    table.add_column("clip quality")
    table.add_column("value", justify="right")
    for k, v in asdict(quality).items():
        table.add_row(k, f"{v:.3f}" if isinstance(v, float) else str(v))
    console.print(table)
    return motion


def _policy(config: DemoConfig, res: DemoResult, console: Console) -> Path | None:
    """The policy folder to deploy, or ``None`` when there is none for this clip."""
    from humimic.cli import default_policy_path
    from humimic.policy import load_policy

    if config.train:
        return _train(config, res, console)
    if config.bvh is not None:
        console.print(
            "[yellow]![/] [2/5] no policy for this clip: the bundled one imitates the embedded "
            "clip. Add --train to train one (the chain then continues)."
        )
        res.stages["policy"] = {"source": "none (add --train)"}
        return None
    folder = default_policy_path()
    _, meta, _ = load_policy(folder)
    from humimic.envs.motion_library import MotionLibrary
    from humimic.robots import get_robot

    spec = get_robot(meta.robot)
    clip = Motion.load(res.files["clip"], spec)
    same = MotionLibrary([clip], spec, clip_names=meta.clip_names).motion_hash == meta.motion_hash
    res.stages["policy"] = {
        "source": "bundled",
        "folder": str(folder),
        "trained_iterations": meta.trained_iterations,
        "clip_matches_policy": same,
    }
    if not same:
        res.fail("policy: the bundled policy was trained on another version of the clip")
    console.print(
        f"[green]✓[/] [2/5] bundled policy {folder} ({meta.trained_iterations} PPO iterations); "
        f"its clip {'is' if same else 'is NOT'} the one just retargeted (motion hash)"
    )
    return folder


def _train(config: DemoConfig, res: DemoResult, console: Console) -> Path:
    import torch

    from humimic.envs.export import export_run
    from humimic.envs.plots import plot_learning_curve
    from humimic.envs.tracking.config import TrackingConfig
    from humimic.envs.train import PpoConfig, Trainer

    run = Path(config.out_dir) / "run"
    if run.exists():
        shutil.rmtree(run)
    torch.set_num_threads(config.threads)
    tracking = TrackingConfig(num_envs=config.train_envs, num_threads=config.threads)
    ppo = PpoConfig(max_iterations=config.train_iterations)
    console.print(
        f"[2/5] training {config.train_iterations} PPO iterations on {config.train_envs} envs "
        "(the bar shows the time left)"
    )
    t = time.perf_counter()
    trainer = Trainer(run, [res.files["clip"]], tracking, ppo)
    try:
        trainer.learn(show_progress=True)
    finally:
        trainer.close()
    res.files["learning_curve"] = plot_learning_curve(
        trainer.files.progress, trainer.files.learning_curve
    )
    exported = export_run(run)
    res.stages["policy"] = {
        "source": "trained",
        "folder": str(exported.folder),
        "trained_iterations": config.train_iterations,
        "seconds": time.perf_counter() - t,
    }
    console.print(f"[green]✓[/] trained and exported {exported.folder}")
    return exported.folder


def _deploy(policy: Path, config: DemoConfig, res: DemoResult, console: Console) -> None:
    from humimic.deploy.session import run_dds_session
    from humimic.policy import load_policy

    _, meta, folder = load_policy(policy)
    duration_s = float(Motion.load(folder / "clips" / meta.clip_files[0]).duration_s)
    session_s = config.deploy_s or STAND_RAMP_S + duration_s + 2.5
    domain = config.domain_id if config.domain_id is not None else random.randint(100, 199)
    out = Path(config.out_dir)
    bag = out / "deploy_bag"
    if bag.exists():
        shutil.rmtree(bag)
    sim_log = out / "sim_robot.log"
    cmd = [
        sys.executable,
        "-m",
        "humimic.deploy.sim_robot",
        "--interface=ros2",
        f"--domain={domain}",
        "--network=lo",
        f"--duration={session_s + 30.0:.0f}",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with open(sim_log, "wb") as log:
        sim = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        with console.status(
            f"[3/5] deploy over ROS 2 DDS (domain {domain}, lo): sim robot pid {sim.pid}, "
            f"runtime here; PASSIVE → DAMPING → STAND → POLICY, {session_s:.0f} s"
        ):
            session = run_dds_session(
                folder,
                "ros2",
                session_s,
                domain_id=domain,
                interface="lo",
                record=bag,
                stand_ramp_s=STAND_RAMP_S,
                first_state_timeout_s=30.0,  # the sim robot's start-up
            )
    except DeployError as exc:
        sim.kill()
        sim.wait()
        res.fail(f"deploy: {exc} (sim robot log: {sim_log})")
        res.stages["deploy"] = {"error": str(exc)}
        console.print(f"[red]✗[/] [3/5] deploy failed: {exc}")
        return
    finally:
        if sim.poll() is None:
            sim.terminate()
            try:
                sim.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                sim.kill()
    c = session.counters
    clip_steps = int(-(-duration_s // meta.control_dt_s))
    faults = [t.reason for t in session.transitions if t.reason.startswith("fault:")]
    stayed_up = session.started_policy and c.inferences >= clip_steps and not faults
    stage = {
        "transport": "ros2 (raw DDS, loopback)",
        "domain_id": domain,
        "session_s": session_s,
        "policy_steps_run": c.inferences,
        "clip_steps": clip_steps,
        "stayed_up": stayed_up,
        "faults": faults,
        "final_state": session.final_state,
        "mean_joint_pos_err_rad": c.mean_joint_pos_err_rad,
        "max_policy_step_ms": c.max_policy_latency_s * 1e3,
        "loop_overruns": session.stats.overruns,
        "transitions": [
            [round(t.time_s - session.transitions[0].time_s, 3), t.to_state.value, t.reason]
            for t in session.transitions
        ],
    }
    res.stages["deploy"] = stage
    res.files["sim_robot_log"] = sim_log
    if session.bag is not None:
        res.files["rosbag"] = session.bag
        stage["bag_messages"] = _bag_counts(session.bag)
    if not stayed_up:
        res.fail(
            f"deploy: the policy did not complete the clip over DDS ({c.inferences} of "
            f"{clip_steps} steps; faults: {faults or 'none'})"
        )
    mark = "[green]✓[/]" if stayed_up else "[red]✗[/]"
    console.print(
        f"{mark} [3/5] deploy over DDS: {c.inferences}/{clip_steps} policy steps, "
        f"joint error {c.mean_joint_pos_err_rad:.3f} rad, final state {session.final_state}, "
        f"faults {len(faults)}; rosbag2 {session.bag}"
    )


def _bag_counts(bag: Path) -> dict[str, int]:
    from rosbags.highlevel import AnyReader

    with AnyReader([bag]) as reader:
        return {c.topic: c.msgcount for c in reader.connections}


def _evaluate(policy: Path, config: DemoConfig, res: DemoResult, console: Console) -> None:
    from humimic.envs.evaluate import evaluate

    with console.status(f"[4/5] evaluating over {config.eval_episodes} episodes × 2 modes"):
        ev = evaluate(policy, config.eval_episodes, config.out_dir, progress=False)
    res.files["eval"] = Path(config.out_dir) / "eval.json"
    res.files["error_plot"] = Path(config.out_dir) / "eval_errors.png"
    stage = {mode: ev.summary[mode] for mode in ("nominal", "domain_rand")}
    res.stages["eval"] = stage
    for mode, s in stage.items():
        console.print(
            f"[green]✓[/] [4/5] {mode:>11}: success {100 * s['success_rate']:.0f} % of "
            f"{s['episodes']}, root-relative body error {s['mean_body_pos_root_rel_mm']:.1f} mm"
        )
    if stage["nominal"]["success_rate"] < 1.0:
        res.fail("eval: the policy falls on the nominal robot")


def _policy_video(policy: Path, config: DemoConfig, res: DemoResult, console: Console) -> None:
    from humimic.envs.evaluate import play

    path = Path(config.out_dir) / "policy.mp4"
    console.print("[5/5] rendering the policy (solid) over its reference (ghost)")
    out, r = play(policy, path, width=config.width, height=config.height)
    res.files["video"] = out
    res.stages["video"] = {"frames": len(r.robot_qpos), "completed": bool(r.success[0])}
    console.print(f"[green]✓[/] [5/5] video {out}: {len(r.robot_qpos)} frames")


def _clip_video(
    motion: Motion, robot: RobotSpec, config: DemoConfig, res: DemoResult, console: Console
) -> None:
    from humimic.render import render_motion

    path, n = render_motion(
        motion, robot, Path(config.out_dir) / "clip.mp4", width=config.width, height=config.height
    )
    res.files["video"] = path
    res.stages["video"] = {"frames": n}
    console.print(f"[green]✓[/] video of the clip {path}: {n} frames")


# -- report -------------------------------------------------------------------------------------
def _report(config: DemoConfig, robot: RobotSpec, res: DemoResult) -> None:
    out = Path(config.out_dir)
    rel = {k: os.path.relpath(p, out) for k, p in res.files.items()}
    st = res.stages
    lines = [
        "# humimic demo report",
        "",
        f"**Result: {'SUCCESS' if res.ok else 'PROBLEMS'}** in {res.wall_s:.0f} s.",
        *(f"- problem: {p}" for p in res.problems),
        "",
        "## What happened",
        "",
    ]
    r = st["retarget"]
    q = r["quality"]
    src = "the embedded keyframed clip" if r["embedded"] else "your mocap"
    lines += [
        f"1. **Retarget**: {src} `{Path(r['source']).name}` became a {robot.name} clip of "
        f"{q['frames']} frames ({q['duration_s']:.2f} s): {q['joint_limit_violations']} "
        f"joint-limit violations, lowest sole {q['lowest_sole_mm']:.1f} mm, fastest joint at "
        f"{100 * q['max_joint_speed_fraction']:.0f} % of its velocity limit.",
    ]
    p = st.get("policy", {})
    if p.get("source") == "bundled":
        lines.append(
            f"2. **Policy**: the bundled one ({p['trained_iterations']} PPO iterations), trained "
            "on this very clip (the motion hashes match)."
            if p["clip_matches_policy"]
            else "2. **Policy**: the bundled one, but its clip differs from this one."
        )
    elif p.get("source") == "trained":
        lines.append(
            f"2. **Policy**: trained here, {p['trained_iterations']} PPO iterations in "
            f"{p['seconds'] / 60:.1f} min (learning curve below)."
        )
    else:
        lines.append("2. **Policy**: none for this clip; run again with `--train`.")
    d = st.get("deploy")
    if d and "error" not in d:
        verdict = (
            "completed the whole clip"
            if d["stayed_up"]
            else f"ran {d['policy_steps_run']} of {d['clip_steps']} steps"
        )
        lines.append(
            f"3. **Deploy**: the runtime drove `humimic sim-robot` (another process) over ROS 2 "
            f"DDS on loopback (domain {d['domain_id']}). The policy {verdict}; mean joint "
            f"tracking error {d['mean_joint_pos_err_rad']:.3f} rad; slowest policy step "
            f"{d['max_policy_step_ms']:.2f} ms; faults: {len(d['faults'])}; final state "
            f"{d['final_state']}."
        )
    elif d:
        lines.append(f"3. **Deploy** failed: {d['error']}")
    e = st.get("eval")
    if e:
        n, dr = e["nominal"], e["domain_rand"]
        lines.append(
            f"4. **Evaluation** in the training simulator ({n['episodes']} episodes each): "
            f"nominal robot {100 * n['success_rate']:.0f} % success, "
            f"{n['mean_body_pos_root_rel_mm']:.1f} mm root-relative body error; with domain "
            f"randomization {100 * dr['success_rate']:.0f} %, "
            f"{dr['mean_body_pos_root_rel_mm']:.1f} mm."
        )
    if "video" in rel:
        lines.append(f"5. **Video**: [{rel['video']}]({rel['video']}).")
    if d and d.get("transitions"):
        lines += ["", "## Deploy state machine", "", "| t (s) | state | why |", "|---|---|---|"]
        lines += [f"| {t:.3f} | {s} | {why} |" for t, s, why in d["transitions"]]
    if d and d.get("bag_messages"):
        lines += ["", "Messages in the rosbag2:", ""]
        lines += [f"- `{k}`: {v}" for k, v in sorted(d["bag_messages"].items())]
    for key, title in (("error_plot", "Tracking error"), ("learning_curve", "Learning curve")):
        if key in rel:
            lines += ["", f"## {title}", "", f"![{title}]({rel[key]})"]
    lines += ["", "## Files", "", "| file | what |", "|---|---|"]
    what = {
        "clip": "the robot clip (humimic Motion .npz)",
        "quality": "clip quality numbers",
        "rosbag": "deploy log: state, commands, status (rosbag2, MCAP)",
        "sim_robot_log": "the sim robot's output",
        "eval": "evaluation numbers",
        "error_plot": "tracking error over the clip",
        "video": "video (policy solid, reference ghost)",
        "learning_curve": "training progress",
    }
    lines += [f"| [`{v}`]({v}) | {what.get(k, k)} |" for k, v in rel.items()]
    res.files["report"] = out / "report.md"
    lines.append("| `report.md` | this report |")
    write_text_atomic(res.files["report"], "\n".join(lines) + "\n")
    write_text_atomic(
        out / "summary.json",
        json.dumps(
            {"ok": res.ok, "problems": res.problems, "wall_s": res.wall_s, "stages": res.stages},
            indent=2,
            default=str,
        )
        + "\n",
    )


def _summary(res: DemoResult, console: Console) -> None:
    st = res.stages
    rows = []
    q = st["retarget"]["quality"]
    rows.append(
        f"clip      {q['duration_s']:.2f} s, {q['joint_limit_violations']} limit violations"
    )
    d = st.get("deploy")
    if d and "error" not in d:
        up = "stayed up" if d["stayed_up"] else "did NOT complete the clip"
        rows.append(f"deploy    over ROS 2 DDS: {up}, {d['mean_joint_pos_err_rad']:.3f} rad")
    e = st.get("eval")
    if e:
        rows.append(
            f"eval      {100 * e['nominal']['success_rate']:.0f} % nominal, "
            f"{100 * e['domain_rand']['success_rate']:.0f} % randomized, "
            f"{e['nominal']['mean_body_pos_root_rel_mm']:.0f} mm"
        )
    rows.append(f"report    {res.files['report']}")
    if "video" in res.files:
        rows.append(f"video     {res.files['video']}")
    rows += [f"[red]problem[/]   {p}" for p in res.problems]
    title = "[bold green]SUCCESS" if res.ok else "[bold red]PROBLEMS"
    console.print(Panel("\n".join(rows), title=f"{title} in {res.wall_s:.0f} s", expand=False))
