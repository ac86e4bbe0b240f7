"""Human motion as canonical keypoints: any supported mocap file → :class:`HumanMotion`.

Whatever the source (BVH of any skeleton, DeepMimic), retargeting sees the same thing: the
world positions of the canonical joints (:data:`~humimic.retarget.skeleton_map.CANONICAL_JOINTS`
that the skeleton has) in humimic's frame (Z up, X forward, metres), at uniform times, plus the
same keypoints in the skeleton's rest pose.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from humimic.errors import RetargetError
from humimic.retarget import bvh, deepmimic
from humimic.retarget.skeleton_map import CANONICAL_JOINTS, SkeletonMapping, resolve_mapping

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HumanMotion:
    """Canonical keypoints over time.

    Attributes:
        source: the file name (for messages and metadata).
        fps: uniform frame rate (Hz).
        names: canonical joint names present, in canonical order.
        pos_w: ``[T, K, 3]`` world positions (m), Z up.
        rest_pos_w: ``[K, 3]`` the same keypoints in the skeleton's rest pose (offsets only),
            root at the origin; used for calibration.
        mapping: how the source joints were mapped.
    """

    source: str
    fps: float
    names: tuple[str, ...]
    pos_w: np.ndarray
    rest_pos_w: np.ndarray
    mapping: SkeletonMapping

    @property
    def num_frames(self) -> int:
        return int(self.pos_w.shape[0])

    @property
    def duration_s(self) -> float:
        return (self.num_frames - 1) / self.fps

    def index(self, name: str) -> int:
        return self.names.index(name)

    def has(self, name: str) -> bool:
        return name in self.names

    def sample(self, t_s: np.ndarray) -> np.ndarray:
        """Keypoints ``[N, K, 3]`` at times ``t_s`` (linear interpolation, clipped)."""
        u = np.clip(np.asarray(t_s) * self.fps, 0, self.num_frames - 1)
        i0 = np.floor(u).astype(int)
        i1 = np.minimum(i0 + 1, self.num_frames - 1)
        a = (u - i0)[:, None, None]
        return (1 - a) * self.pos_w[i0] + a * self.pos_w[i1]


def _select(mapping: SkeletonMapping, pos: np.ndarray, rest: np.ndarray) -> tuple:
    names = tuple(n for n in CANONICAL_JOINTS if n in mapping.indices)
    idx = [mapping.indices[n] for n in names]
    return names, pos[:, idx], rest[idx]


def load_bvh_human(
    path: str | os.PathLike[str],
    *,
    preset: str | None = None,
    mapping_file: str | os.PathLike[str] | None = None,
    m_per_unit: float | None = None,
    skip_first_frame: bool | None = None,
) -> HumanMotion:
    """Read a BVH (any skeleton, units, channel order) into canonical keypoints.

    Units are detected from the rest-pose height unless ``m_per_unit`` is given; a CMU-style
    added T-pose frame 0 is dropped (auto-detected unless ``skip_first_frame`` says).
    """
    clip = bvh.parse_bvh(path)
    scale = bvh.detect_unit_scale(clip, m_per_unit)
    mapping = resolve_mapping(
        clip.skeleton.joint_names, clip.skeleton.parents, preset, mapping_file, source=str(path)
    )
    clip = bvh.strip_tpose_frame(clip, skip_first_frame)
    if clip.num_frames < 2:
        raise RetargetError(f"{path}: expected at least 2 frames of motion, got {clip.num_frames}")
    pos, _ = clip.global_transforms()
    rest_joints, _ = clip.skeleton.rest_positions()
    pos_w = bvh.to_z_up_pos(pos) * scale
    rest_w = bvh.to_z_up_pos(rest_joints) * scale
    names, pos_w, rest_w = _select(mapping, pos_w, rest_w)
    return HumanMotion(str(path), clip.fps, names, pos_w, rest_w - rest_w[0], mapping)


def load_deepmimic_human(
    path: str | os.PathLike[str],
    character: str | os.PathLike[str] | None = None,
    *,
    mapping_file: str | os.PathLike[str] | None = None,
) -> HumanMotion:
    """Read a DeepMimic motion (metres, Y up) on its character into canonical keypoints.

    ``character`` defaults to ``humanoid3d.txt`` in the motion's folder. Frames are resampled to
    the clip's mean frame rate (DeepMimic's ``dt`` is uniform in practice).
    """
    path = Path(path)
    character = Path(character) if character else path.parent / "humanoid3d.txt"
    if not character.is_file():
        raise RetargetError(
            f"{path}: DeepMimic motion needs its character file; {character} not found "
            "(pass --character FILE)"
        )
    clip = deepmimic.read_deepmimic(path, character)
    if clip.num_frames < 2:
        raise RetargetError(f"{path}: expected at least 2 frames of motion, got {clip.num_frames}")
    sk = clip.skeleton
    mapping = resolve_mapping(sk.joint_names, sk.parents, None, mapping_file, source=str(path))
    pos, _ = clip.global_transforms_z_up()
    times = clip.times_s
    fps = clip.fps
    n = int(np.floor(clip.duration_s * fps + 1e-6)) + 1
    t = np.arange(n) / fps
    flat = pos.reshape(pos.shape[0], -1)
    pos = np.stack([np.interp(t, times, flat[:, k]) for k in range(flat.shape[1])], 1)
    pos = pos.reshape(n, -1, 3)
    rest = np.zeros((sk.num_joints, 3))
    for j in range(sk.num_joints):  # parents come first
        p = sk.parents[j]
        rest[j] = deepmimic.to_z_up_pos(sk.offsets[j]) + (rest[p] if p >= 0 else 0.0)
    names, pos, rest = _select(mapping, pos, rest)
    return HumanMotion(str(path), fps, names, pos, rest - rest[0], mapping)


def load_human(
    path: str | os.PathLike[str],
    *,
    preset: str | None = None,
    mapping_file: str | os.PathLike[str] | None = None,
    m_per_unit: float | None = None,
    character: str | os.PathLike[str] | None = None,
) -> HumanMotion:
    """Dispatch on the file type: ``.bvh`` or a DeepMimic motion ``.txt``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".bvh":
        return load_bvh_human(path, preset=preset, mapping_file=mapping_file, m_per_unit=m_per_unit)
    if suffix in (".txt", ".json"):
        return load_deepmimic_human(path, character, mapping_file=mapping_file)
    raise RetargetError(
        f"{path}: unsupported mocap format {suffix!r}; expected .bvh or a DeepMimic .txt "
        "(robot .csv and keyframe .yaml go straight to a Motion)"
    )
