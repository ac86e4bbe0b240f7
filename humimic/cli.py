"""``humimic``: one command-line entry point with subcommands.

Errors a user can cause print as one line (``error: ...``) and exit with status 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

from humimic import __version__
from humimic.errors import HumimicError

log = logging.getLogger("humimic")

DEFAULT_CLIP = "wave_squat.yaml"


def default_clip_path() -> Path:
    """The embedded default keyframed clip (written for humimic)."""
    return Path(str(resources.files("humimic") / "data" / DEFAULT_CLIP))


def default_policy_path() -> Path:
    """The bundled policy for the embedded clip (``humimic export`` folder)."""
    return Path(str(resources.files("humimic") / "data" / "policy"))


# --- subcommands -----------------------------------------------------------------------------
def cmd_robot(args: argparse.Namespace) -> None:
    """Print a robot's joint table: limits, motor, armature, kp/kd, action scale."""
    from rich.console import Console
    from rich.table import Table

    from humimic.robots import get_robot

    robot = get_robot(args.name)
    table = Table(
        title=f"{robot.name}: {robot.num_joints} joints in policy order "
        f"(PD at {robot.natural_freq_hz:g} Hz, ζ = {robot.damping_ratio:g})"
    )
    for col in (
        "#",
        "joint",
        "motor",
        "lower rad",
        "upper rad",
        "vel rad/s",
        "effort N·m",
        "armature kg·m²",
        "kp N·m/rad",
        "kd N·m·s/rad",
        "action scale rad",
        "default rad",
    ):
        table.add_column(col, justify="left" if col in ("joint", "motor") else "right")
    for i, (j, a, kp, kd, s) in enumerate(
        zip(
            robot.joints,
            robot.armature_kg_m2,
            robot.kp_nm_per_rad,
            robot.kd_nm_s_per_rad,
            robot.action_scale_rad,
            strict=True,
        )
    ):
        table.add_row(
            str(i),
            j.name,
            j.motor.name,
            f"{j.lower_rad:.4f}",
            f"{j.upper_rad:.4f}",
            f"{j.velocity_limit_rad_s:g}",
            f"{j.effort_limit_nm:g}",
            f"{a:.6f}",
            f"{kp:.2f}",
            f"{kd:.3f}",
            f"{s:.4f}",
            f"{j.default_pos_rad:.3f}",
        )
    console = Console(width=200)
    console.print(table)
    console.print(
        f"root {robot.root_body} · anchor {robot.anchor_body} · IMU {robot.imu_body} · "
        f"feet {', '.join(f.body for f in robot.feet)} · standing root height "
        f"{robot.default_root_height_m} m"
    )
    console.print(f"tracked bodies: {', '.join(robot.tracked_bodies)}")


def cmd_keyframes(args: argparse.Namespace) -> None:
    """Build a Motion clip from a keyframe YAML."""
    from humimic.retarget.keyframes import load_keyframes

    motion = load_keyframes(args.file)
    motion.save(args.output)
    print(
        f"wrote {args.output}: {motion.num_frames} frames at {motion.fps:g} fps "
        f"({motion.duration_s:.2f} s)"
    )


def cmd_retarget(args: argparse.Namespace) -> None:
    """Retarget mocap onto a robot: BVH (any skeleton), DeepMimic .txt, robot CSV or keyframe
    YAML → Motion clip (.npz), with quality metrics. A folder runs every file in it."""
    from humimic.retarget.batch import RetargetJob, batch_jobs, run_batch, run_job, summary

    src = Path(args.input)
    template = RetargetJob(
        source=str(src),
        output=args.output,
        robot=args.robot,
        fps=args.fps,
        report=args.report,
        csv=args.csv,
        video=args.video,
        preset=args.preset,
        mapping=args.mapping,
        m_per_unit=args.unit_scale,
        character=args.character,
    )
    if src.is_dir():
        jobs = batch_jobs(src, Path(args.output), template)
        done, failed = run_batch(jobs, args.workers)
        print(summary(done, failed))
        print(f"{len(done)} retargeted, {len(failed)} failed; outputs in {args.output}/")
        if failed:
            raise HumimicError(f"{len(failed)} of {len(jobs)} clips failed (see above)")
        return
    metrics = run_job(template)
    if metrics is not None:
        print(summary({src.name: metrics}, {}))
    print(
        f"wrote {args.output}" + "".join(f", {p}" for p in (args.report, args.csv, args.video) if p)
    )


def cmd_render(args: argparse.Namespace) -> None:
    """Render a Motion clip to a video (offscreen, kinematic playback)."""
    from humimic.motion import Motion
    from humimic.render import render_motion
    from humimic.robots import get_robot

    motion = Motion.load(args.motion)
    robot = get_robot(motion.meta.robot)
    out, n = render_motion(
        motion, robot, args.output, width=args.width, height=args.height, video_fps=args.fps
    )
    print(f"wrote {out}: {n} frames, {args.width}x{args.height} at {args.fps:g} fps")


def cmd_demo(args: argparse.Namespace) -> None:
    """Run the whole chain and write everything into one folder (report.md says what happened):
    retarget the embedded keyframed clip (or --bvh FILE) onto the G1; take the bundled policy
    (or train one with --train); deploy it through the safe runtime against `humimic sim-robot`
    (a second process) over ROS 2 DDS on loopback, recording a rosbag2; evaluate it with and
    without domain randomization; render it over its reference ghost. Exits 1 when a stage
    failed its check."""
    from humimic.demo import DemoConfig, run_demo

    config = DemoConfig(
        out_dir=Path(args.output),
        bvh=Path(args.bvh) if args.bvh else None,
        train=args.train,
        train_iterations=args.train_iterations,
        threads=max(1, args.threads),
        domain_id=args.domain,
        eval_episodes=args.episodes,
        video=not args.no_video,
    )
    if not run_demo(config).ok:
        raise SystemExit(1)


def cmd_train(args: argparse.Namespace) -> None:
    """Train a policy that imitates motion clips (rsl-rl PPO in MuJoCo, domain randomization).

    Writes a run folder: config.json, checkpoints/ (atomic), progress.csv, tb/ (TensorBoard:
    reward terms, tracking errors, losses) and learning_curve.png. --resume continues a
    killed run from its last checkpoint with its saved config.
    """
    from dataclasses import replace

    import torch

    from humimic.domain_rand import DomainRandConfig
    from humimic.envs.plots import plot_learning_curve
    from humimic.envs.tracking.config import TrackingConfig
    from humimic.envs.train import PpoConfig, Trainer

    torch.set_num_threads(max(1, args.threads))
    ppo = PpoConfig(max_iterations=args.max_iterations, save_interval=args.save_interval)
    if args.resume:
        trainer = Trainer(args.run, ppo=ppo, resume=True)
    else:
        if not args.motion:
            raise HumimicError("--motion: give at least one clip (.npz) to imitate")
        tracking = TrackingConfig(
            num_envs=args.num_envs, num_threads=max(1, args.threads), seed=args.seed
        )
        if args.no_domain_rand:
            tracking = replace(tracking, domain_rand=DomainRandConfig(enabled=False))
        if args.heading_goal is not None:
            from humimic.envs.tracking.config import HeadingGoal

            low, high = args.heading_goal
            tracking = tracking.with_heading_goal(HeadingGoal(low, high))
        trainer = Trainer(args.run, args.motion, tracking, ppo, robot=args.robot)
    print(trainer.env.actor_obs.table())
    try:
        trainer.learn(show_progress=not args.quiet)
    finally:
        trainer.close()
    curve = plot_learning_curve(trainer.files.progress, trainer.files.learning_curve)
    print(f"run: {trainer.files.root} (iteration {trainer.iteration}); learning curve: {curve}")


def cmd_export(args: argparse.Namespace) -> None:
    """Export a run's policy: ONNX + metadata (embedded and policy.json) + its clips.

    Checks that onnxruntime and torch give the same actions before writing.
    """
    from humimic.envs.export import export_run

    res = export_run(args.run, args.output, args.checkpoint)
    print(
        f"wrote {res.folder} (iteration {res.metadata.trained_iterations}, "
        f"{res.metadata.obs_dim} observations → {res.metadata.num_actions} actions, "
        f"onnxruntime vs torch max |Δa| = {res.max_abs_diff:.1e})"
    )


def _policy_folder(path: str) -> Path:
    """A policy folder from a policy folder, its policy.onnx, or a run (exported if needed)."""
    p = Path(path)
    if (p / "config.json").is_file():
        from humimic.envs.export import export_run

        if not (p / "policy" / "policy.onnx").is_file():
            export_run(p)
        return p / "policy"
    return p


def cmd_eval(args: argparse.Namespace) -> None:
    """Evaluate a policy over K episodes from the start of its clip(s), with and without
    domain randomization: success rate, body position errors (mm), joint errors, plot."""
    from humimic.envs.evaluate import evaluate

    modes = ("domain_rand", "nominal") if not args.nominal_only else ("nominal",)
    res = evaluate(_policy_folder(args.policy), args.episodes, args.output, modes, seed=args.seed)
    for mode in modes:
        s = res.summary[mode]
        print(
            f"{mode:>11}: success {100 * s['success_rate']:.1f} % of {s['episodes']}, "
            f"root-relative body error {s['mean_body_pos_root_rel_mm']:.1f} mm, "
            f"global {s['mean_body_pos_global_mm']:.1f} mm, "
            f"joint {s['mean_joint_pos_rad']:.3f} rad"
        )


def cmd_play(args: argparse.Namespace) -> None:
    """Render the policy in MuJoCo with its reference drawn as a translucent ghost."""
    from humimic.envs.evaluate import play

    out, r = play(
        _policy_folder(args.policy),
        args.output,
        clip=args.clip,
        domain_rand=args.domain_rand,
        width=args.width,
        height=args.height,
    )
    state = "completed the clip" if bool(r.success[0]) else f"fell after {r.length_s[0]:.2f} s"
    print(f"wrote {out}: the policy {state}")


def cmd_deploy(args: argparse.Namespace) -> None:
    """Run a policy through the safe deploy runtime (state machine, watchdog, limits, fall
    detection): PASSIVE → DAMPING → STAND (ramp) → POLICY, then the clip, then STAND.
    --transport inproc runs it on the in-process MuJoCo sim robot in lockstep; ros2 and unitree
    talk DDS to `humimic sim-robot` or a robot (start it first, same domain and interface)."""
    folder = _policy_folder(args.policy)
    if args.transport in ("ros2", "unitree"):
        from humimic.deploy.keyboard import HELP
        from humimic.deploy.session import run_dds_session

        if args.manual:
            print(f"manual start: {HELP}")

        res = run_dds_session(
            folder,
            args.transport,
            args.duration,
            domain_id=args.domain,
            interface=args.interface,
            record=args.record,
            clip=args.clip or "",
            auto_start=not args.manual,
            keyboard=sys.stdin if args.manual else None,
            realtime_priority=args.rt_priority,
        )
        st, c = res.stats, res.counters
        print(
            f"final state {res.final_state} (policy ran: {res.started_policy}); "
            f"{c.inferences} inferences, joint tracking error {c.mean_joint_pos_err_rad:.3f} rad "
            f"mean; faults {c.faults}; loop overruns {st.overruns}, policy step "
            f"{c.max_policy_latency_s * 1e3:.2f} ms max"
        )
        for tr in res.transitions:
            move = f"{tr.from_state.value:>7} → {tr.to_state.value:<7}"
            print(f"  {tr.time_s:10.3f} s  {move} {tr.reason}")
        if res.bag is not None:
            print(f"recorded {res.bag}")
        return
    from humimic.deploy.inproc import run_inproc

    res_inproc = run_inproc(folder, args.duration, clip=args.clip)
    s = res_inproc.summary()
    print(
        f"{s['policy_steps']} policy steps, final state {s['final_state']}, faults {s['faults']}; "
        f"root-relative body error {s['body_pos_root_rel_mm_mean']:.1f} mm mean, "
        f"lowest pelvis {s['min_pelvis_height_m']:.2f} m"
    )


def cmd_sim_robot(args: argparse.Namespace) -> None:
    """A MuJoCo G1 that plays the hardware: applies the latest joint command with PD at
    physics rate and publishes its state over ROS 2 DDS or Unitree's LowCmd/LowState."""
    from humimic.deploy import sim_robot

    sim_robot.main(args)


def cmd_record(args: argparse.Namespace) -> None:
    """Record the ROS 2 topics of a deploy session from DDS into a rosbag2 (MCAP) file."""
    from humimic.deploy import recording

    recording.main(args)


# --- parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="humimic",
        description="Human motion capture → robot motion → imitation policy → ROS 2 deployment.",
    )
    parser.add_argument("--version", action="version", version=f"humimic {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str, func: Callable[[argparse.Namespace], None], help_: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=func.__doc__)
        p.set_defaults(func=func)
        return p

    p = add("demo", cmd_demo, "run the whole chain on the embedded default clip")
    p.add_argument(
        "-o", "--output", default="humimic_demo", help="output folder (default: %(default)s)"
    )
    p.add_argument("--no-video", action="store_true", help="skip rendering the video")
    p.add_argument("--bvh", help="your own mocap (BVH) instead of the embedded clip")
    p.add_argument(
        "--train",
        action="store_true",
        help="train a policy on the clip first (progress bar with the time left) instead of "
        "using the bundled one",
    )
    p.add_argument(
        "--train-iterations",
        type=int,
        default=300,
        help="PPO iterations with --train (default: %(default)s, about 15 min on 2 cores)",
    )
    p.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="CPU threads for training"
    )
    p.add_argument("--domain", type=int, help="DDS domain of the deploy step (default: random)")
    p.add_argument(
        "--episodes", type=int, default=16, help="episodes per evaluation mode (default: 16)"
    )

    p = add("robot", cmd_robot, "print a robot's joints, limits and gains")
    p.add_argument("name", nargs="?", default="g1", help="registered robot (default: %(default)s)")

    p = add("keyframes", cmd_keyframes, "build a motion clip from a keyframe YAML")
    p.add_argument("file", help=f"keyframe YAML (example: {default_clip_path()})")
    p.add_argument("-o", "--output", required=True, help="output clip (.npz)")

    p = add("retarget", cmd_retarget, "retarget mocap (BVH, DeepMimic, CSV, YAML) onto a robot")
    p.add_argument("input", help="mocap file, or a folder of them for a batch")
    p.add_argument(
        "-o", "--output", required=True, help="output clip (.npz), or output folder for a batch"
    )
    p.add_argument("--robot", default="g1", help="registered robot (default: %(default)s)")
    p.add_argument(
        "--fps", type=float, default=50.0, help="output frame rate (default: %(default)s)"
    )
    p.add_argument("--report", help="write the quality metrics as JSON here")
    p.add_argument("--csv", help="also export the clip in Unitree's LAFAN1 CSV layout (30 fps)")
    p.add_argument("--video", help="render the robot over the scaled human skeleton (.mp4)")
    p.add_argument("--preset", help="skeleton naming preset (cmu, lafan1, mixamo, deepmimic, none)")
    p.add_argument("--mapping", help="YAML file mapping canonical joints to the skeleton's")
    p.add_argument(
        "--unit-scale",
        type=float,
        help="metres per file unit (default: detected from the skeleton's height)",
    )
    p.add_argument("--character", help="DeepMimic character file (default: humanoid3d.txt beside)")
    p.add_argument(
        "--workers",
        type=int,
        default=max(1, (os.cpu_count() or 1)),
        help="processes for a folder (default: %(default)s)",
    )

    p = add("render", cmd_render, "render a motion clip to a video")
    p.add_argument("motion", help="motion clip (.npz)")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4)")
    p.add_argument(
        "--width", type=int, default=640, help="pixels, multiple of 16 (default: %(default)s)"
    )
    p.add_argument(
        "--height", type=int, default=480, help="pixels, multiple of 16 (default: %(default)s)"
    )
    p.add_argument(
        "--fps", type=float, default=30.0, help="video frame rate (default: %(default)s)"
    )

    p = add("train", cmd_train, "train an imitation policy on motion clips (PPO, MuJoCo)")
    p.add_argument("run", help="run folder to create (or to continue with --resume)")
    p.add_argument("--motion", nargs="+", help="clip(s) to imitate (.npz from humimic retarget)")
    p.add_argument("--robot", default="g1", help="registered robot (default: %(default)s)")
    p.add_argument("--num-envs", type=int, default=256, help="parallel envs (default: %(default)s)")
    p.add_argument(
        "--max-iterations", type=int, default=1000, help="PPO iterations (default: %(default)s)"
    )
    p.add_argument(
        "--save-interval", type=int, default=50, help="checkpoint period (default: %(default)s)"
    )
    p.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="CPU threads (default: all)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--no-domain-rand", action="store_true", help="train on the nominal robot")
    p.add_argument(
        "--heading-goal",
        nargs=2,
        type=float,
        metavar=("LOW_MPS", "HIGH_MPS"),
        help="add DeepMimic's task objective: move along a target heading (the clip's "
        "direction ± 0.5 rad) at a speed drawn in [LOW, HIGH] m/s; r = 0.7 r_imitation + "
        "0.3 r_heading, the goal is observed",
    )
    p.add_argument("--resume", action="store_true", help="continue the run's last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("export", cmd_export, "export a run's policy as ONNX + metadata")
    p.add_argument("run", help="run folder")
    p.add_argument("-o", "--output", help="policy folder (default: RUN/policy)")
    p.add_argument("--checkpoint", help="checkpoint file (default: the run's latest)")

    p = add("eval", cmd_eval, "evaluate a policy: success rate and tracking errors")
    p.add_argument("policy", help="run folder, policy folder or policy.onnx")
    p.add_argument(
        "--episodes", type=int, default=32, help="episodes per mode (default: %(default)s)"
    )
    p.add_argument("-o", "--output", help="where eval.json and eval_errors.png go")
    p.add_argument("--nominal-only", action="store_true", help="skip the randomized evaluation")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")

    p = add("play", cmd_play, "video of a policy tracking its reference (ghost)")
    p.add_argument("policy", help="run folder, policy folder or policy.onnx")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4)")
    p.add_argument("--clip", type=int, default=0, help="clip index (default: %(default)s)")
    p.add_argument("--domain-rand", action="store_true", help="randomized robot and pushes")
    p.add_argument("--width", type=int, default=640, help="pixels (default: %(default)s)")
    p.add_argument("--height", type=int, default=480, help="pixels (default: %(default)s)")

    p = add("deploy", cmd_deploy, "run a policy through the safe deploy runtime")
    p.add_argument("policy", help="policy folder (humimic export), policy.onnx or run folder")
    p.add_argument(
        "--transport",
        default="inproc",
        choices=("inproc", "ros2", "unitree"),
        help="inproc: in-process MuJoCo sim robot in lockstep; ros2: ROS 2 topics over DDS; "
        "unitree: LowCmd/LowState (default: %(default)s)",
    )
    p.add_argument("--domain", type=int, help="DDS domain (default: 0 for ros2, 1 for unitree)")
    p.add_argument(
        "--interface", default="lo", help="network interface for DDS (default: %(default)s)"
    )
    p.add_argument("--record", help="record the session to this rosbag2 (MCAP) folder")
    p.add_argument(
        "--manual",
        action="store_true",
        help="ros2/unitree: no automatic start; the operator types s(tart), x (stop), d(amp), "
        "e(stop), r(eset) + Enter (ros2 also takes /humimic/operator). Use this on a real robot",
    )
    p.add_argument(
        "--rt-priority",
        type=int,
        metavar="1-99",
        help="ros2/unitree: run the control loop under SCHED_FIFO at this priority (needs root "
        "or CAP_SYS_NICE; without it the loop's period jitter follows the OS scheduler)",
    )
    p.add_argument("--clip", help="clip name (default: the policy's first)")
    p.add_argument(
        "--duration", type=float, default=10.0, help="run time in s (default: %(default)s)"
    )

    from humimic.deploy import recording, sim_robot

    p = add("sim-robot", cmd_sim_robot, "MuJoCo G1 speaking ROS 2 DDS or Unitree DDS")
    sim_robot.add_arguments(p)
    p = add("record", cmd_record, "record deploy topics from DDS into a rosbag2 file")
    recording.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except HumimicError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
