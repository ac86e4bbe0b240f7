"""``humimic retarget``: one file or a whole folder, with reports, CSV export and video.

A file is dispatched on its type: BVH and DeepMimic ``.txt`` go through the retargeter; a robot
``.csv`` (Unitree LAFAN1 layout) and a keyframe ``.yaml`` become a Motion directly. Outputs are
written atomically; in a batch a failing clip is reported with its reason and the others go on.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from humimic.errors import HumimicError, RetargetError
from humimic.io import write_text_atomic
from humimic.retarget.metrics import RetargetMetrics, compute_metrics, format_table, targets_met
from humimic.robots import get_robot

logger = logging.getLogger(__name__)

HUMAN_SUFFIXES = (".bvh", ".txt")
ROBOT_SUFFIXES = (".csv", ".yaml", ".yml")


@dataclass(frozen=True)
class RetargetJob:
    """What to do with one input file (all paths; ``None`` skips that output)."""

    source: str
    output: str
    robot: str = "g1"
    fps: float = 50.0
    report: str | None = None
    csv: str | None = None
    video: str | None = None
    preset: str | None = None
    mapping: str | None = None
    m_per_unit: float | None = None
    character: str | None = None
    csv_fps: float = 30.0


def run_job(job: RetargetJob) -> RetargetMetrics | None:
    """Retarget (or convert) one file; returns the metrics for human sources."""
    from humimic.retarget.pipeline import RetargetConfig, retarget

    spec = get_robot(job.robot)
    suffix = Path(job.source).suffix.lower()
    if not Path(job.source).is_file():
        raise RetargetError(f"{job.source}: no such file")
    metrics: RetargetMetrics | None = None
    if suffix in HUMAN_SUFFIXES:
        from humimic.retarget.human import load_human

        human = load_human(
            job.source,
            preset=job.preset,
            mapping_file=job.mapping,
            m_per_unit=job.m_per_unit,
            character=job.character,
        )
        result = retarget(human, spec, RetargetConfig(fps=job.fps))
        motion = result.motion
        metrics = compute_metrics(
            motion,
            spec,
            result.targets_w,
            result.target_names,
            result.stance,
            result.elapsed_s,
            result.source_duration_s,
        )
        if job.video:
            from humimic.retarget.video import render_retarget_video

            render_retarget_video(result, spec, job.video, progress=False)
    elif suffix == ".csv":
        from humimic.retarget.robot_csv import read_robot_csv

        motion = read_robot_csv(job.source, spec, fps=job.csv_fps)
        if job.fps != motion.fps:
            motion = motion.resample(job.fps)
    elif suffix in (".yaml", ".yml"):
        from humimic.retarget.keyframes import load_keyframes

        motion = load_keyframes(job.source, spec)
        if job.fps != motion.fps:
            motion = motion.resample(job.fps)
    else:
        raise RetargetError(
            f"{job.source}: unsupported input {suffix!r}; expected one of "
            f"{', '.join(HUMAN_SUFFIXES + ROBOT_SUFFIXES)}"
        )
    motion.save(job.output)
    if job.csv:
        from humimic.retarget.robot_csv import write_robot_csv

        write_robot_csv(motion.resample(job.csv_fps), job.csv)
    if job.video and metrics is None:
        from humimic.render import render_motion

        render_motion(motion, spec, job.video, progress=False)
    if job.report and metrics is not None:
        report = {
            "source": job.source,
            "output": job.output,
            "metrics": asdict(metrics),
            "targets_met": targets_met(metrics),
        }
        write_text_atomic(job.report, json.dumps(report, indent=2) + "\n")
    return metrics


def _safe_run(job: RetargetJob) -> tuple[str, RetargetMetrics | None, str | None]:
    try:
        return job.source, run_job(job), None
    except HumimicError as exc:
        return job.source, None, str(exc)


def batch_jobs(in_dir: Path, out_dir: Path, template: RetargetJob) -> list[RetargetJob]:
    """One job per supported file in ``in_dir`` (sorted), outputs named after the inputs."""
    files = sorted(
        p
        for p in in_dir.iterdir()
        if p.suffix.lower() in HUMAN_SUFFIXES + ROBOT_SUFFIXES
        and not p.name.startswith(".")
        and p.name != "humanoid3d.txt"
    )
    if not files:
        raise RetargetError(
            f"{in_dir}: no mocap files ({', '.join(HUMAN_SUFFIXES + ROBOT_SUFFIXES)})"
        )
    jobs = []
    for p in files:
        stem = out_dir / p.stem
        jobs.append(
            RetargetJob(
                source=str(p),
                output=f"{stem}.npz",
                robot=template.robot,
                fps=template.fps,
                report=f"{stem}.json",
                csv=f"{stem}.csv" if template.csv else None,
                video=f"{stem}.mp4" if template.video else None,
                preset=template.preset,
                mapping=template.mapping,
                m_per_unit=template.m_per_unit,
                character=template.character,
                csv_fps=template.csv_fps,
            )
        )
    return jobs


def run_batch(
    jobs: list[RetargetJob], workers: int
) -> tuple[dict[str, RetargetMetrics], dict[str, str]]:
    """Run jobs on ``workers`` processes with a progress bar; failures are collected, not raised."""
    done: dict[str, RetargetMetrics] = {}
    failed: dict[str, str] = {}
    bar = tqdm(total=len(jobs), desc="retarget", unit="clip")
    if workers <= 1:
        results = (_safe_run(j) for j in jobs)
        for source, metrics, error in results:
            _collect(source, metrics, error, done, failed)
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_safe_run, j) for j in jobs]
            for fut in as_completed(futures):
                _collect(*fut.result(), done, failed)
                bar.update()
    bar.close()
    return done, failed


def _collect(
    source: str,
    metrics: RetargetMetrics | None,
    error: str | None,
    done: dict[str, RetargetMetrics],
    failed: dict[str, str],
) -> None:
    name = os.path.basename(source)
    if error is not None:
        failed[name] = error
    elif metrics is not None:
        done[name] = metrics


def summary(done: dict[str, RetargetMetrics], failed: dict[str, str]) -> str:
    lines = [format_table(dict(sorted(done.items())))] if done else []
    for name, reason in sorted(failed.items()):
        lines.append(f"FAILED {name}: {reason}")
    return "\n".join(lines)
