"""The MotionLibrary: many reference clips on one device, sampled in batches by (clip, time).

All frames of all clips are stacked into flat ``float32`` tensors (``[F_total, ...]``, clips
one after another); per-clip ``offsets``, ``num_frames``, ``fps`` and ``duration_s`` locate a
clip inside them. :meth:`MotionLibrary.sample` returns the reference of ``N`` envs at once:

* the time of each env is clamped to its clip's ``[0, duration_s]``;
* with ``u = t · fps``, ``i0 = ⌊u⌋``, ``i1 = min(i0 + 1, T − 1)``, ``a = u − i0``:
  positions, velocities and joint values are ``(1 − a) x[i0] + a x[i1]``, quaternions
  ``slerp(q[i0], q[i1], a)`` (the short way), foot contacts come from the nearest frame;
* ``u`` within ``1e-4`` of an integer is snapped to it, so times ``k / fps`` (even rounded to
  ``float32``) return frame ``k`` exactly.

Reference state initialization (RSI) draws start states with :meth:`MotionLibrary.sample_start`
(uniform) or :class:`AdaptiveSampler` (more starts where the policy fails, BeyondMimic-style).
Multi-clip policies see the clip through :meth:`MotionLibrary.clip_one_hot`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from humimic.envs.tracking.math import quat_slerp
from humimic.errors import ConfigError, MotionError
from humimic.motion import Motion

# Motion array fields stacked by the library, in hash order.
_LINEAR_FIELDS = (
    "joint_pos",
    "joint_vel",
    "root_pos_w",
    "root_lin_vel_w",
    "root_ang_vel_w",
    "body_pos_w",
    "body_lin_vel_w",
    "body_ang_vel_w",
)
_QUAT_FIELDS = ("root_quat_w", "body_quat_w")
_HASH_FIELDS = (*_LINEAR_FIELDS, *_QUAT_FIELDS, "foot_contact")

_SNAP_FRAMES = 1e-4  # |u − round(u)| below this (in frames) counts as an exact frame time


@dataclass(frozen=True)
class MotionState:
    """The reference of ``N`` envs at their times; fields as in :class:`~humimic.motion.Motion`.

    Float tensors are ``float32`` on the library's device; quaternions wxyz.
    """

    joint_pos: torch.Tensor  # [N, J] rad
    joint_vel: torch.Tensor  # [N, J] rad/s
    root_pos_w: torch.Tensor  # [N, 3] m
    root_quat_w: torch.Tensor  # [N, 4] wxyz
    root_lin_vel_w: torch.Tensor  # [N, 3] m/s
    root_ang_vel_w: torch.Tensor  # [N, 3] rad/s
    body_pos_w: torch.Tensor  # [N, B, 3] m
    body_quat_w: torch.Tensor  # [N, B, 4] wxyz
    body_lin_vel_w: torch.Tensor  # [N, B, 3] m/s
    body_ang_vel_w: torch.Tensor  # [N, B, 3] rad/s
    foot_contact: torch.Tensor  # [N, F] bool (nearest frame)


def _default_clip_name(motion: Motion, index: int) -> str:
    stem = Path(motion.meta.source).stem if motion.meta.source else ""
    return stem or f"clip_{index}"


class MotionLibrary:
    """Clips of one robot, stacked on ``device`` for batched sampling (see module docstring).

    Args:
        motions: the clips (at least one); clip id ``c`` is ``motions[c]``.
        robot_spec: the :class:`~humimic.robots.spec.RobotSpec` every clip must match.
        device: where the tensors live.
        clip_names: one unique name per clip; default: the stem of each clip's source file
            (``clip_<c>`` without one), suffixed ``#<c>`` where two would collide.

    Raises:
        MotionError: a clip does not match the robot, or its ``joint_names`` /
            ``body_names`` / ``foot_names`` differ from clip 0's (the message names the field).
        ConfigError: no clips, or bad ``clip_names``.
    """

    def __init__(
        self,
        motions: Sequence[Motion],
        robot_spec: Any,
        device: str | torch.device = "cpu",
        clip_names: Sequence[str] | None = None,
    ) -> None:
        motions = list(motions)
        if not motions:
            raise ConfigError("field 'motions': expected at least one clip, got none")
        if clip_names is None:
            names = [_default_clip_name(m, i) for i, m in enumerate(motions)]
            names = [n if names.count(n) == 1 else f"{n}#{i}" for i, n in enumerate(names)]
        else:
            names = [str(n) for n in clip_names]
            if len(names) != len(motions) or len(set(names)) != len(names):
                raise ConfigError(
                    f"field 'clip_names': expected {len(motions)} unique names, got {names}"
                )
        first = motions[0]
        for c, motion in enumerate(motions):
            where = f"clip {c} ({names[c]!r})"
            motion.check_robot(robot_spec, where)
            for name_field in ("joint_names", "body_names", "foot_names"):
                got, expected = getattr(motion, name_field), getattr(first, name_field)
                if tuple(got) != tuple(expected):
                    raise MotionError(
                        f"{where}: field {name_field!r}: expected the same names as clip 0 "
                        f"({names[0]!r}): {list(expected)}, got {list(got)}"
                    )

        self.device = torch.device(device)
        self.robot_name: str = robot_spec.name
        self.clip_names: tuple[str, ...] = tuple(names)
        self.joint_names: tuple[str, ...] = tuple(first.joint_names)
        self.body_names: tuple[str, ...] = tuple(first.body_names)
        self.foot_names: tuple[str, ...] = tuple(first.foot_names)

        lengths = [m.num_frames for m in motions]
        #: ``[C]`` long: index of each clip's first frame in the flat tensors.
        self.offsets = torch.tensor(np.cumsum([0, *lengths[:-1]]), device=self.device)
        #: ``[C]`` long: frames per clip.
        self.num_frames = torch.tensor(lengths, dtype=torch.long, device=self.device)
        #: ``[C]`` float64: frame rate per clip (Hz); float64 so ``t · fps`` stays exact.
        self.fps = torch.tensor([m.fps for m in motions], dtype=torch.float64, device=self.device)
        #: ``[C]`` float32: time of each clip's last frame (s).
        self.duration_s = torch.tensor(
            [m.duration_s for m in motions], dtype=torch.float32, device=self.device
        )
        self._data: dict[str, torch.Tensor] = {}
        for name in (*_LINEAR_FIELDS, *_QUAT_FIELDS):
            stacked = np.concatenate([getattr(m, name) for m in motions], axis=0)
            self._data[name] = torch.as_tensor(stacked, dtype=torch.float32, device=self.device)
        contact = np.concatenate([m.foot_contact for m in motions], axis=0)
        self._data["foot_contact"] = torch.as_tensor(contact, dtype=torch.bool, device=self.device)
        self.motion_hash: str = self._hash(motions)

    # -- sizes --------------------------------------------------------------------------------
    @property
    def num_clips(self) -> int:
        """Number of clips ``C``."""
        return len(self.clip_names)

    @property
    def total_frames(self) -> int:
        """Frames of all clips together (rows of the flat tensors)."""
        return int(self._data["joint_pos"].shape[0])

    def clip_id(self, name: str) -> int:
        """Index of the clip called ``name``; a failed lookup lists the clips."""
        if name not in self.clip_names:
            raise ConfigError(f"unknown clip {name!r}; valid: {', '.join(self.clip_names)}")
        return self.clip_names.index(name)

    def _hash(self, motions: Sequence[Motion]) -> str:
        """sha256 over robot, names, clip names, fps and every array (float64/uint8 bytes)."""
        h = hashlib.sha256()

        def feed(label: str, payload: bytes) -> None:
            h.update(f"{label}:{len(payload)}:".encode())
            h.update(payload)

        feed("robot", self.robot_name.encode())
        for name_field in ("joint_names", "body_names", "foot_names"):
            feed(name_field, "\n".join(getattr(self, name_field)).encode())
        for clip_name, m in zip(self.clip_names, motions, strict=True):
            feed("clip", clip_name.encode())
            feed("fps", np.float64(m.fps).tobytes())
            for name in _HASH_FIELDS:
                arr = getattr(m, name)
                arr = arr.astype(np.uint8) if name == "foot_contact" else arr.astype("<f8")
                feed(f"{name}{arr.shape}", np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    # -- sampling -----------------------------------------------------------------------------
    def clamp_time(self, clip_ids: torch.Tensor, t_s: torch.Tensor) -> torch.Tensor:
        """``[N]`` times clamped to each clip's ``[0, duration_s]`` (s)."""
        t = t_s.to(self.device, torch.float32)
        return torch.minimum(t.clamp(min=0.0), self.duration_s[clip_ids])

    def sample(self, clip_ids: torch.Tensor, t_s: torch.Tensor) -> MotionState:
        """The reference of clip ``clip_ids [N]`` (long) at time ``t_s [N]`` (s) per env.

        Times are clamped to each clip's ``[0, duration_s]``; interpolation as in the module
        docstring.
        """
        clip_ids = clip_ids.to(self.device, torch.long)
        t = t_s.to(self.device, torch.float64)
        if clip_ids.shape != t.shape or clip_ids.ndim != 1:
            raise ConfigError(
                f"sample: expected clip_ids and t_s of the same shape [N], got "
                f"{tuple(clip_ids.shape)} and {tuple(t.shape)}"
            )
        last = (self.num_frames[clip_ids] - 1).to(torch.float64)
        u = torch.minimum((t * self.fps[clip_ids]).clamp(min=0.0), last)
        u_round = torch.round(u)
        u = torch.where((u - u_round).abs() < _SNAP_FRAMES, u_round, u)
        i0_local = torch.floor(u)
        a = (u - i0_local).to(torch.float32)  # [N] in [0, 1)
        i0_local = i0_local.long()
        i1_local = torch.minimum(i0_local + 1, self.num_frames[clip_ids] - 1)
        base = self.offsets[clip_ids]
        i0, i1 = base + i0_local, base + i1_local

        def lerp(x: torch.Tensor) -> torch.Tensor:
            w = a.reshape(-1, *([1] * (x.ndim - 1)))
            return (1.0 - w) * x[i0] + w * x[i1]

        def slerp(q: torch.Tensor) -> torch.Tensor:
            w = a.reshape(-1, *([1] * (q.ndim - 2))).expand(q[i0].shape[:-1])
            return quat_slerp(q[i0], q[i1], w)

        values: dict[str, torch.Tensor] = {n: lerp(self._data[n]) for n in _LINEAR_FIELDS}
        values.update({n: slerp(self._data[n]) for n in _QUAT_FIELDS})
        nearest = torch.where(a < 0.5, i0, i1)
        values["foot_contact"] = self._data["foot_contact"][nearest]
        return MotionState(**{f.name: values[f.name] for f in fields(MotionState)})

    def sample_start(
        self,
        n: int,
        generator: torch.Generator | None = None,
        weight_by_duration: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference state initialization: ``n`` start points ``(clip_ids [n] long, t_s [n])``.

        Clips are drawn uniformly (``P(c) = 1 / C``), or with ``weight_by_duration``
        proportionally to their durations (``P(c) = D_c / Σ D``, i.e. uniform over all the
        motion time); the time is uniform in ``[0, D_c]``. ``generator`` must live on the
        library's device.
        """
        if weight_by_duration and float(self.duration_s.sum()) > 0.0:
            weights = self.duration_s.to(torch.float64)
        else:
            weights = torch.ones(self.num_clips, dtype=torch.float64, device=self.device)
        clip_ids = torch.multinomial(weights, n, replacement=True, generator=generator)
        r = torch.rand(n, generator=generator, device=self.device)
        return clip_ids, r * self.duration_s[clip_ids]

    def clip_one_hot(self, clip_ids: torch.Tensor) -> torch.Tensor:
        """``[N, C]`` float32 one-hot encoding of ``clip_ids [N]`` (clip conditioning)."""
        ids = clip_ids.to(self.device, torch.long)
        return torch.nn.functional.one_hot(ids, self.num_clips).to(torch.float32)


class AdaptiveSampler:
    """Start states drawn where the policy fails most (BeyondMimic-style adaptive sampling).

    Each clip ``c`` of duration ``D_c`` is cut into ``K_c = max(1, ⌈D_c / bin_s⌉)`` bins
    ``[k · bin_s, min((k + 1) · bin_s, D_c)]`` (the last one may be shorter); all bins of all
    clips form one list of ``K = Σ K_c`` bins. Each bin ``b`` keeps a failure rate ``r_b``
    (initially 0). :meth:`update` takes the episodes that just ended, groups them by the bin
    of their start time, and for every bin with ``n_b > 0`` episodes, ``f_b`` of them failed::

        r_b ← (1 − α) r_b + α f_b / n_b          (bins without episodes keep r_b)

    :meth:`sample` picks a bin with probability::

        p_b = (1 − m) (r_b + ε) / Σ_j (r_j + ε)  +  m / K

    (``m = uniform_mix``: every bin keeps at least ``m / K``, so no part of a clip is ever
    forgotten), then a time uniform inside the bin. With all rates equal this is uniform over
    bins, so clips are weighted by their number of bins (≈ by duration).

    Args:
        library: the clips.
        bin_s: bin width (s), > 0.
        alpha: EMA rate in (0, 1].
        uniform_mix: ``m`` in [0, 1].
        epsilon: ``ε`` > 0, keeps bins with zero failures in the draw even when ``m = 0``.
    """

    def __init__(
        self,
        library: MotionLibrary,
        bin_s: float = 1.0,
        alpha: float = 0.1,
        uniform_mix: float = 0.1,
        epsilon: float = 1e-3,
    ) -> None:
        if not (math.isfinite(bin_s) and bin_s > 0.0):
            raise ConfigError(f"field 'bin_s': expected a positive bin width (s), got {bin_s}")
        if not 0.0 < alpha <= 1.0:
            raise ConfigError(f"field 'alpha': expected 0 < alpha <= 1, got {alpha}")
        if not 0.0 <= uniform_mix <= 1.0:
            raise ConfigError(f"field 'uniform_mix': expected 0 <= m <= 1, got {uniform_mix}")
        if not (math.isfinite(epsilon) and epsilon > 0.0):
            raise ConfigError(f"field 'epsilon': expected a positive value, got {epsilon}")
        self.library = library
        self.bin_s = float(bin_s)
        self.alpha = float(alpha)
        self.uniform_mix = float(uniform_mix)
        self.epsilon = float(epsilon)
        device = library.device
        durations = library.duration_s.tolist()
        counts = [max(1, math.ceil(d / self.bin_s - 1e-6)) for d in durations]
        #: ``[C]`` long: bins per clip. ``[C]`` long: index of each clip's first bin.
        self.bins_per_clip = torch.tensor(counts, dtype=torch.long, device=device)
        self.bin_offsets = torch.tensor(np.cumsum([0, *counts[:-1]]), device=device)
        clip_of_bin = [c for c, k in enumerate(counts) for _ in range(k)]
        start = [k * self.bin_s for k_c in counts for k in range(k_c)]
        end = [
            min((k + 1) * self.bin_s, d)
            for k_c, d in zip(counts, durations, strict=True)
            for k in range(k_c)
        ]
        #: ``[K]`` per bin: clip id, start time (s), length (s), failure rate.
        self.bin_clip = torch.tensor(clip_of_bin, dtype=torch.long, device=device)
        self.bin_start_s = torch.tensor(start, dtype=torch.float32, device=device)
        self.bin_len_s = (
            torch.tensor(end, dtype=torch.float32, device=device) - self.bin_start_s
        ).clamp(min=0.0)
        self.failure_rate = torch.zeros(len(clip_of_bin), dtype=torch.float32, device=device)

    @property
    def num_bins(self) -> int:
        """Total number of bins ``K``."""
        return int(self.bin_clip.shape[0])

    def bin_index(self, clip_ids: torch.Tensor, t_s: torch.Tensor) -> torch.Tensor:
        """``[N]`` long: the global bin of each (clip, time); times clamped into the clip."""
        clip_ids = clip_ids.to(self.library.device, torch.long)
        t = self.library.clamp_time(clip_ids, t_s)
        local = torch.floor(t / self.bin_s).long()
        local = torch.minimum(local, self.bins_per_clip[clip_ids] - 1)
        return self.bin_offsets[clip_ids] + local

    def update(self, clip_ids: torch.Tensor, t_start_s: torch.Tensor, failed: torch.Tensor) -> None:
        """Fold in ended episodes: clip ``[N]``, start time ``[N]`` (s), ``failed [N]`` bool."""
        bins = self.bin_index(clip_ids, t_start_s)
        fails = failed.to(self.library.device, torch.float32)
        n = torch.bincount(bins, minlength=self.num_bins).to(torch.float32)
        f = torch.bincount(bins, weights=fails, minlength=self.num_bins).to(torch.float32)
        seen = n > 0
        batch_rate = f / n.clamp(min=1.0)
        ema = (1.0 - self.alpha) * self.failure_rate + self.alpha * batch_rate
        self.failure_rate = torch.where(seen, ema, self.failure_rate)

    def probabilities(self) -> torch.Tensor:
        """``[K]`` probability of drawing each bin (see class docstring)."""
        score = self.failure_rate.to(torch.float64) + self.epsilon
        p = (1.0 - self.uniform_mix) * score / score.sum() + self.uniform_mix / self.num_bins
        return p

    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` start points ``(clip_ids [n] long, t_s [n] s)``: a bin by :meth:`probabilities`,
        then a time uniform inside it."""
        bins = torch.multinomial(self.probabilities(), n, replacement=True, generator=generator)
        r = torch.rand(n, generator=generator, device=self.library.device)
        return self.bin_clip[bins], self.bin_start_s[bins] + r * self.bin_len_s[bins]


__all__ = ["AdaptiveSampler", "MotionLibrary", "MotionState"]
