"""Pictures of a training run: the learning curve from ``progress.csv``."""

from __future__ import annotations

import math
from pathlib import Path

from humimic.envs.train import read_progress
from humimic.io import atomic_path

__all__ = ["plot_learning_curve"]

_PANELS = (
    ("mean_episode_return", "mean episode return"),
    ("mean_episode_length_s", "mean episode length (s)"),
    ("Error/body_pos_root_rel_mm", "root-relative body error (mm)"),
    ("Episode/failure_rate", "failure rate of ended episodes"),
)


def plot_learning_curve(progress_csv: Path, out_png: Path) -> Path:
    """Four panels against wall-clock minutes: return, episode length, body error, failures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_progress(progress_csv)
    minutes, acc = [], 0.0
    for r in rows:
        acc += r.get("collect_s", 0.0) + r.get("update_s", 0.0)
        minutes.append(acc / 60.0)
    fig, axes = plt.subplots(1, len(_PANELS), figsize=(4 * len(_PANELS), 3.4))
    for ax, (key, label) in zip(axes, _PANELS, strict=True):
        pts = [
            (m, r[key])
            for m, r in zip(minutes, rows, strict=True)
            if math.isfinite(r.get(key, math.nan))
        ]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("training wall-clock (min)")
        ax.grid(alpha=0.3)
    last = rows[-1] if rows else {}
    fig.suptitle(
        f"{int(last.get('iteration', 0))} iterations, {int(last.get('env_steps', 0)):,} env steps",
        fontsize=11,
    )
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out_png
