"""Capsule self-collision geometry: closest points between segments, the checked pairs, and
a checker that turns a Pinocchio ``Data`` into signed surface distances.

A capsule is a segment ``[a, b]`` swept by a sphere of radius ``r``. Two capsules are apart by
``dist = |c1 - c2| - r1 - r2`` where ``c1, c2`` are the closest points of their axes; a
negative ``dist`` is the penetration depth. The IK calls :meth:`CapsuleChecker.check` once per
frame (vectorized over pairs), the metrics call :meth:`CapsuleChecker.clip_depths` over a clip.

Which pairs are checked (:func:`collision_pairs`)
-------------------------------------------------
Capsules are grouped into limbs by name (:data:`LIMB_PARTS`): ``trunk`` = pelvis, torso, head;
``left_leg`` / ``right_leg`` = thigh, shin, sole_in, sole_out of that side; ``left_arm`` /
``right_arm`` = upper_arm, forearm, hand of that side. Checked:

* each arm vs the trunk, **except** upper_arm vs torso: the upper-arm capsule starts at the
  shoulder, next to the torso capsule. Measured on the G1: +39 mm apart in the default pose
  (shoulder roll +0.2 rad), but they overlap as soon as the arm hangs straight or comes in
  (roll ≤ -0.1 rad: -23 mm at -0.29 rad, down to -120 mm at full inward roll), poses that are
  not a collision;
* each arm vs each leg; left arm vs right arm; left leg vs right leg.

Never checked: pairs inside one limb (neighbours overlap at the joints: upper_arm/forearm
-75 mm, thigh/shin -37 mm in the default pose) and trunk vs legs (the thighs start inside the
pelvis capsule at the hip). In the G1 default pose every checked pair (89 of them) is clear; the
closest are pelvis vs forearm (+56 mm) and torso vs forearm (+70 mm), see
``tests/retarget/test_collision.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from humimic.errors import RobotError, unknown_name
from humimic.robots.pinocchio_model import build_pinocchio
from humimic.robots.spec import Capsule, RobotSpec

_EPS = 1e-12

# limb → capsule name parts; a side prefix ``left_`` / ``right_`` makes ``left_leg`` etc.
LIMB_PARTS: dict[str, tuple[str, ...]] = {
    "trunk": ("pelvis", "torso", "head"),
    "leg": ("thigh", "shin", "sole_in", "sole_out"),
    "arm": ("upper_arm", "forearm", "hand"),
}
# (capsule part, capsule part) of an arm and the trunk that touch by construction
_ARM_TRUNK_SKIP = {("upper_arm", "torso")}


def segment_closest_points(
    p1: np.ndarray, q1: np.ndarray, p2: np.ndarray, q2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest points between segments ``[p1, q1]`` and ``[p2, q2]``, batched.

    Minimizes ``|(p1 + s·d1) - (p2 + t·d2)|`` over ``s, t ∈ [0, 1]`` with ``d1 = q1 - p1``,
    ``d2 = q2 - p2``. With ``a = d1·d1``, ``e = d2·d2``, ``b = d1·d2``, ``c = d1·r``,
    ``f = d2·r``, ``r = p1 - p2``: the unconstrained ``s = (b·f - c·e) / (a·e - b²)`` is clamped
    to ``[0, 1]`` (``s = 0`` for parallel segments, where ``a·e - b² = 0``), then
    ``t = (b·s + f) / e``; if ``t`` leaves ``[0, 1]`` it is clamped and ``s`` recomputed for it
    (``s = clamp((t·b - c) / a)``). Point segments (``a`` or ``e`` ≈ 0) are handled.

    Args:
        p1, q1, p2, q2: ``[P, 3]`` (or ``[3]``) segment end points.

    Returns:
        ``(c1 [P, 3], c2 [P, 3], dist [P])``: closest point on segment 1, on segment 2, and
        their distance.
    """
    p1, q1, p2, q2 = (np.asarray(x, dtype=np.float64) for x in (p1, q1, p2, q2))
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a = np.einsum("...i,...i->...", d1, d1)
    e = np.einsum("...i,...i->...", d2, d2)
    b = np.einsum("...i,...i->...", d1, d2)
    c = np.einsum("...i,...i->...", d1, r)
    f = np.einsum("...i,...i->...", d2, r)
    a_ok, e_ok = a > _EPS, e > _EPS
    a_safe, e_safe = np.where(a_ok, a, 1.0), np.where(e_ok, e, 1.0)

    denom = a * e - b * b
    # relative test: sin² of the angle between the segments below 1e-12 → parallel
    general = denom > _EPS * np.maximum(a * e, _EPS)
    s = np.where(general, np.clip((b * f - c * e) / np.where(general, denom, 1.0), 0.0, 1.0), 0.0)
    t = (b * s + f) / e_safe
    s = np.where(t < 0.0, np.clip(-c / a_safe, 0.0, 1.0), s)
    s = np.where(t > 1.0, np.clip((b - c) / a_safe, 0.0, 1.0), s)
    t = np.clip(t, 0.0, 1.0)

    # degenerate cases: segment 1 a point (s = 0), segment 2 a point (t = 0), both points
    s = np.where(~a_ok, 0.0, np.where(~e_ok, np.clip(-c / a_safe, 0.0, 1.0), s))
    t = np.where(~e_ok, 0.0, np.where(~a_ok, np.clip(f / e_safe, 0.0, 1.0), t))

    c1 = p1 + s[..., None] * d1
    c2 = p2 + t[..., None] * d2
    return c1, c2, np.linalg.norm(c1 - c2, axis=-1)


def _limb(capsule: Capsule) -> tuple[str, str]:
    """``(limb, part)`` of a capsule, e.g. ``("left_arm", "hand")``."""
    side, part = "", capsule.name
    for prefix in ("left_", "right_"):
        if part.startswith(prefix):
            side, part = prefix, part[len(prefix) :]
    for limb, parts in LIMB_PARTS.items():
        if part in parts and (limb == "trunk") == (side == ""):
            return side + limb, part
    valid = [p for limb, ps in LIMB_PARTS.items() for p in ps]
    raise RobotError(
        unknown_name(f"capsule part of {capsule.name!r} (with left_/right_ for limbs)", part, valid)
    )


def collision_pairs(spec: RobotSpec) -> list[tuple[int, int]]:
    """Indices ``(i, j)``, ``i < j``, into ``spec.capsules`` of the pairs checked for
    self-collision; the rule is in the module docstring."""
    limbs = [_limb(c) for c in spec.capsules]

    def checked(li: str, pi: str, lj: str, pj: str) -> bool:
        if li == lj:
            return False
        kinds = {li.split("_")[-1], lj.split("_")[-1]}
        if kinds == {"trunk", "leg"}:
            return False
        if kinds == {"trunk", "arm"}:
            arm_part, trunk_part = (pi, pj) if li.endswith("arm") else (pj, pi)
            return (arm_part, trunk_part) not in _ARM_TRUNK_SKIP
        return True  # arm-arm, arm-leg, leg-leg of different sides

    n = len(spec.capsules)
    return [(i, j) for i in range(n) for j in range(i + 1, n) if checked(*limbs[i], *limbs[j])]


@dataclass(frozen=True)
class PairDistances:
    """Signed distances of the checked capsule pairs at one configuration.

    Attributes:
        pair_ids: ``[P, 2]`` indices into ``spec.capsules``.
        dist: ``[P]`` surface distance (m); negative = penetration depth.
        c1_w, c2_w: ``[P, 3]`` closest points on the axes of capsule 1 and 2 (world, m).
        normal_w: ``[P, 3]`` unit vector from capsule 2 toward capsule 1 (d dist / d c1).
        frame_id1, frame_id2: ``[P]`` Pinocchio frame ids of the bodies carrying the capsules.
    """

    pair_ids: np.ndarray
    dist: np.ndarray
    c1_w: np.ndarray
    c2_w: np.ndarray
    normal_w: np.ndarray
    frame_id1: np.ndarray
    frame_id2: np.ndarray


class CapsuleChecker:
    """Self-collision checks of ``spec.capsules`` on the Pinocchio model of ``spec``.

    Capsule bodies are resolved to frame ids once, at construction.
    """

    def __init__(self, spec: RobotSpec, pairs: list[tuple[int, int]] | None = None) -> None:
        self.spec = spec
        self.robot = build_pinocchio(spec)
        self.pairs = np.array(
            collision_pairs(spec) if pairs is None else pairs, dtype=np.int64
        ).reshape(-1, 2)
        self.capsule_frame_ids = np.array(
            [self.robot.frame_id(c.body) for c in spec.capsules], dtype=np.int64
        )
        self._a_b = np.array([c.a_b for c in spec.capsules], dtype=np.float64)  # [C, 3]
        self._b_b = np.array([c.b_b for c in spec.capsules], dtype=np.float64)  # [C, 3]
        self._radius_m = np.array([c.radius_m for c in spec.capsules], dtype=np.float64)
        self._unique_ids, self._slot = np.unique(self.capsule_frame_ids, return_inverse=True)
        self._data = self.robot.model.createData()

    @property
    def pair_names(self) -> list[tuple[str, str]]:
        caps = self.spec.capsules
        return [(caps[i].name, caps[j].name) for i, j in self.pairs]

    def world_segments(self, data: pin.Data) -> tuple[np.ndarray, np.ndarray]:
        """Capsule end points ``(a_w [C, 3], b_w [C, 3])`` from up-to-date ``data.oMf``."""
        rot = np.empty((len(self._unique_ids), 3, 3))
        pos = np.empty((len(self._unique_ids), 3))
        for k, fid in enumerate(self._unique_ids):
            oMf = data.oMf[int(fid)]
            rot[k], pos[k] = oMf.rotation, oMf.translation
        rot, pos = rot[self._slot], pos[self._slot]
        a_w = pos + np.einsum("cij,cj->ci", rot, self._a_b)
        b_w = pos + np.einsum("cij,cj->ci", rot, self._b_b)
        return a_w, b_w

    def check(self, data: pin.Data, subset: np.ndarray | None = None) -> PairDistances:
        """Signed distances of the checked pairs; ``data`` frame placements must be current.

        ``subset`` (indices into :attr:`pairs`) restricts the check to those pairs.
        """
        a_w, b_w = self.world_segments(data)
        pairs = self.pairs if subset is None else self.pairs[subset]
        i, j = pairs[:, 0], pairs[:, 1]
        c1, c2, seg_dist = segment_closest_points(a_w[i], b_w[i], a_w[j], b_w[j])
        diff = c1 - c2
        # axes touching: fall back to the direction between the capsule centres, then +z
        centre = 0.5 * (a_w[i] + b_w[i]) - 0.5 * (a_w[j] + b_w[j])
        centre_n = np.linalg.norm(centre, axis=-1)
        fallback = np.where(
            (centre_n > 1e-9)[:, None],
            centre / np.maximum(centre_n, 1e-9)[:, None],
            np.array([0.0, 0.0, 1.0]),
        )
        touching = seg_dist <= 1e-9
        normal = np.where(touching[:, None], fallback, diff / np.maximum(seg_dist, 1e-9)[:, None])
        return PairDistances(
            pair_ids=pairs,
            dist=seg_dist - self._radius_m[i] - self._radius_m[j],
            c1_w=c1,
            c2_w=c2,
            normal_w=normal,
            frame_id1=self.capsule_frame_ids[i],
            frame_id2=self.capsule_frame_ids[j],
        )

    def clip_depths(
        self, root_pos_w: np.ndarray, root_quat_w: np.ndarray, joint_pos: np.ndarray
    ) -> np.ndarray:
        """Surface distances ``[T, P]`` (m) of the checked pairs over a clip.

        Args:
            root_pos_w: ``[T, 3]``. root_quat_w: ``[T, 4]`` wxyz. joint_pos: ``[T, J]`` rad.
        """
        root_pos_w = np.atleast_2d(root_pos_w)
        root_quat_w = np.atleast_2d(root_quat_w)
        joint_pos = np.atleast_2d(joint_pos)
        model, data = self.robot.model, self._data
        T, U = joint_pos.shape[0], len(self._unique_ids)
        rot = np.empty((T, U, 3, 3))
        pos = np.empty((T, U, 3))
        for t in range(T):  # FK per frame; the geometry below is batched over frames and pairs
            q = self.robot.q_from(root_pos_w[t], root_quat_w[t], joint_pos[t])
            pin.forwardKinematics(model, data, q)
            for k, fid in enumerate(self._unique_ids):
                oMf = pin.updateFramePlacement(model, data, int(fid))
                rot[t, k], pos[t, k] = oMf.rotation, oMf.translation
        rot, pos = rot[:, self._slot], pos[:, self._slot]  # [T, C, ...]
        a_w = pos + np.einsum("tcij,cj->tci", rot, self._a_b)
        b_w = pos + np.einsum("tcij,cj->tci", rot, self._b_b)
        i, j = self.pairs[:, 0], self.pairs[:, 1]
        _, _, seg = segment_closest_points(a_w[:, i], b_w[:, i], a_w[:, j], b_w[:, j])
        return seg - self._radius_m[i] - self._radius_m[j]


__all__ = [
    "LIMB_PARTS",
    "CapsuleChecker",
    "PairDistances",
    "collision_pairs",
    "segment_closest_points",
]
