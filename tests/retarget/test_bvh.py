"""Tests of the BVH reader (humimic.retarget.bvh): hand-computed kinematics, channel orders,
the real CMU clips in ../shared/data/mocap, error messages, and a fuzz test."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_paths import SHARED_DATA

from humimic.errors import RetargetError
from humimic.retarget.bvh import (
    BvhClip,
    detect_unit_scale,
    has_tpose_first_frame,
    parse_bvh,
    parse_bvh_text,
    rest_height_units,
    strip_tpose_frame,
    to_z_up,
    to_z_up_pos,
    to_z_up_quat,
)
from humimic.rotations import quat_rotate, quat_to_matrix

MOCAP = SHARED_DATA / "mocap"
# Missing data is a failure (parse_bvh raises "BVH file not found: <path>"), not a skip.
CMU_FILES = [
    MOCAP / f"cmu_{name}.bvh"
    for name in ("08_09_walk", "09_04_run", "16_49_run_veer_right", "75_10_jump", "115_06_pickup")
]
CMU_UNIT_M = 0.0254 / 0.45
WALK = MOCAP / "cmu_08_09_walk.bvh"
VEER_RIGHT = MOCAP / "cmu_16_49_run_veer_right.bvh"


# Test-local rotation matrices (independent of humimic.rotations): active, right-handed.
def rot(axis: str, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return {
        "X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


def euler_to_matrix(order: str, angles_deg: tuple[float, ...]) -> np.ndarray:
    """``R = R_order[0](a0) · R_order[1](a1) · R_order[2](a2)`` (the BVH convention)."""
    out = np.eye(3)
    for axis, a in zip(order, angles_deg, strict=True):
        out = out @ rot(axis, a)
    return out


def matrix_to_euler(order: str, R: np.ndarray) -> tuple[float, float, float]:
    """Angles (deg) with ``euler_to_matrix(order, angles) == R``, for a Tait-Bryan ``order``.

    For ``R = R_i(a) R_j(b) R_k(c)`` with sign ``s = +1`` when ``ijk`` is cyclic (XYZ, YZX,
    ZXY) and ``-1`` otherwise: ``b = asin(s R[i,k])``, ``a = atan2(-s R[j,k], R[k,k])``,
    ``c = atan2(-s R[i,j], R[i,i])``.
    """
    i, j, k = ("XYZ".index(ax) for ax in order)
    s = 1.0 if (j - i) % 3 == 1 else -1.0
    b = math.asin(max(-1.0, min(1.0, s * R[i, k])))
    a = math.atan2(-s * R[j, k], R[k, k])
    c = math.atan2(-s * R[i, j], R[i, i])
    return math.degrees(a), math.degrees(b), math.degrees(c)


# A small valid file; line numbers are used by the error tests below.
SMALL = """\
HIERARCHY
ROOT Hips
{
\tOFFSET 0 0 0
\tCHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
\tJOINT Chest
\t{
\t\tOFFSET 0 2 0
\t\tCHANNELS 3 Zrotation Xrotation Yrotation
\t\tEnd Site
\t\t{
\t\t\tOFFSET 0 1 0
\t\t}
\t}
}
MOTION
Frames: 3
Frame Time: 0.0083333
0 0 0 0 0 0 0 0 0
1 2 3 10 20 30 40 50 60
1 2 3 11 21 31 41 51 61
"""


def small_lines() -> list[str]:
    return SMALL.splitlines()


def bvh_text(hierarchy: str, frames: list[list[float]], frame_time: str = "0.01") -> str:
    rows = "\n".join(" ".join(f"{v:.10g}" for v in row) for row in frames)
    return f"{hierarchy}\nMOTION\nFrames: {len(frames)}\nFrame Time: {frame_time}\n{rows}\n"


# ------------------------------------------------------------------------------------------
# Hand-computed forward kinematics and channel conventions
# ------------------------------------------------------------------------------------------

CHAIN = """\
HIERARCHY
ROOT Root
{
  OFFSET 5 5 5
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT A
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    JOINT B
    {
      OFFSET 0 2 0
      CHANNELS 0
      End Site
      {
        OFFSET 0 0 3
      }
    }
  }
}"""


def test_chain_fk_hand_computed() -> None:
    clip = parse_bvh_text(
        bvh_text(CHAIN, [[0] * 9, [10, 20, 30, 90, 0, 0, 0, 0, 90]]), source="chain.bvh"
    )
    assert clip.skeleton.joint_names == ("Root", "A", "B")
    assert clip.skeleton.parents.tolist() == [-1, 0, 1]
    assert clip.skeleton.num_channels == 9
    assert clip.skeleton.channels[2] == ()
    pos, quat = clip.global_transforms()
    ends = clip.end_site_positions()
    assert pos.shape == (2, 3, 3) and quat.shape == (2, 3, 4) and ends.shape == (2, 1, 3)

    # Frame 0, all channels 0: the root position channels REPLACE its OFFSET (5, 5, 5), so
    # Root = (0,0,0), A = (1,0,0), B = A + (0,2,0) = (1,2,0), end site = B + (0,0,3) = (1,2,3).
    np.testing.assert_allclose(pos[0], [[0, 0, 0], [1, 0, 0], [1, 2, 0]], atol=1e-12)
    np.testing.assert_allclose(ends[0, 0], [1, 2, 3], atol=1e-12)
    np.testing.assert_allclose(quat[0], np.tile([1.0, 0, 0, 0], (3, 1)), atol=1e-12)

    # Frame 1: Root at (10,20,30) with Rz(90°): (x,y,z) → (-y,x,z).
    #   A = root + Rz90·(1,0,0) = (10,20,30) + (0,1,0) = (10,21,30).
    #   A's own rotation is Rx(90°): (x,y,z) → (x,-z,y); its global rotation is Rz90·Rx90.
    #   B = A + Rz90·Rx90·(0,2,0) = A + Rz90·(0,0,2) = A + (0,0,2) = (10,21,32).
    #   B has no channels, so its rotation is A's; end = B + Rz90·Rx90·(0,0,3)
    #   = B + Rz90·(0,-3,0) = B + (3,0,0) = (13,21,32).
    np.testing.assert_allclose(pos[1], [[10, 20, 30], [10, 21, 30], [10, 21, 32]], atol=1e-12)
    np.testing.assert_allclose(ends[1, 0], [13, 21, 32], atol=1e-12)
    h = math.sqrt(0.5)
    # Rz(90°) = (cos 45°, 0, 0, sin 45°) in wxyz.
    np.testing.assert_allclose(clip.local_rot[1, 0], [h, 0, 0, h], atol=1e-12)
    # Rz90·Rx90 = (h,0,0,h)⊗(h,h,0,0) = (0.5, 0.5, 0.5, 0.5).
    np.testing.assert_allclose(quat[1, 1], [0.5, 0.5, 0.5, 0.5], atol=1e-12)
    np.testing.assert_allclose(quat[1, 2], quat[1, 1], atol=1e-12)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        # R = Rz90·Rx90: Rx90·(0,1,0) = (0,0,1), then Rz90·(0,0,1) = (0,0,1).
        ("Zrotation Xrotation", (0, 0, 1)),
        # R = Rx90·Rz90: Rz90·(0,1,0) = (-1,0,0), then Rx90·(-1,0,0) = (-1,0,0).
        ("Xrotation Zrotation", (-1, 0, 0)),
    ],
)
def test_rotation_channels_compose_in_listed_order(order: str, expected: tuple) -> None:
    text = bvh_text(
        f"HIERARCHY\nROOT R\n{{\nOFFSET 0 0 0\nCHANNELS 2 {order}\n"
        "JOINT C\n{\nOFFSET 0 1 0\nEnd Site\n{\nOFFSET 0 0 0\n}\n}\n}",
        [[90, 90]],
    )
    pos, _ = parse_bvh_text(text).global_transforms()
    np.testing.assert_allclose(pos[0, 1], expected, atol=1e-12)


ORDERS = ["".join(p) for p in itertools.permutations("XYZ")]


@pytest.mark.parametrize("order", ORDERS)
def test_euler_helpers_round_trip(order: str) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        angles = (rng.uniform(-180, 180), rng.uniform(-85, 85), rng.uniform(-180, 180))
        R = euler_to_matrix(order, angles)
        np.testing.assert_allclose(euler_to_matrix(order, matrix_to_euler(order, R)), R, atol=1e-9)


def _random_rotations(n: int, seed: int) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return quat_to_matrix(q / np.linalg.norm(q, axis=-1, keepdims=True))


def _pose_text(root_order: str, child_order: str, R_root: np.ndarray, R_child: np.ndarray) -> str:
    """Two joints with the given channel orders; angles solved so that they encode the
    rotations ``R_root[t]`` / ``R_child[t]``."""
    hierarchy = (
        "HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n"
        "  CHANNELS 6 Xposition Yposition Zposition "
        f"{' '.join(a + 'rotation' for a in root_order)}\n"
        "  JOINT Knee\n  {\n    OFFSET 0.3 -4 0.2\n"
        f"    CHANNELS 3 {' '.join(a + 'rotation' for a in child_order)}\n"
        "    End Site\n    {\n      OFFSET 0.1 -4 1\n    }\n  }\n}"
    )
    frames = [
        [
            1.0 * t,
            17.0,
            -3.0 * t,
            *matrix_to_euler(root_order, Rr),
            *matrix_to_euler(child_order, Rc),
        ]
        for t, (Rr, Rc) in enumerate(zip(R_root, R_child, strict=True))
    ]
    return bvh_text(hierarchy, frames)


@pytest.mark.parametrize("order", ORDERS)
def test_every_channel_order_gives_the_encoded_rotation(order: str) -> None:
    R_root, R_child = _random_rotations(8, seed=1), _random_rotations(8, seed=2)
    clip = parse_bvh_text(_pose_text(order, order[::-1], R_root, R_child))
    # The parsed local rotation is the rotation the angles were solved from.
    np.testing.assert_allclose(quat_to_matrix(clip.local_rot[:, 0]), R_root, atol=1e-9)
    np.testing.assert_allclose(quat_to_matrix(clip.local_rot[:, 1]), R_child, atol=1e-9)


def test_zyx_and_xyz_files_of_the_same_pose_agree() -> None:
    R_root, R_child = _random_rotations(6, seed=3), _random_rotations(6, seed=4)
    zyx = parse_bvh_text(_pose_text("ZYX", "ZYX", R_root, R_child))
    xyz = parse_bvh_text(_pose_text("XYZ", "YXZ", R_root, R_child))
    assert zyx.skeleton.channels[0][3:] == ("Zrotation", "Yrotation", "Xrotation")
    assert xyz.skeleton.channels[0][3:] == ("Xrotation", "Yrotation", "Zrotation")
    # The raw angles differ, the rotations (up to quaternion sign) and positions do not.
    assert not np.allclose(zyx.channels, xyz.channels, atol=1e-3)
    sign = np.sign(np.sum(zyx.local_rot * xyz.local_rot, axis=-1, keepdims=True))
    np.testing.assert_allclose(zyx.local_rot, sign * xyz.local_rot, atol=1e-9)
    (pos_a, quat_a), (pos_b, quat_b) = zyx.global_transforms(), xyz.global_transforms()
    np.testing.assert_allclose(pos_a, pos_b, atol=1e-9)
    np.testing.assert_allclose(quat_to_matrix(quat_a), quat_to_matrix(quat_b), atol=1e-9)
    np.testing.assert_allclose(zyx.end_site_positions(), xyz.end_site_positions(), atol=1e-9)


def test_position_channels_on_a_non_root_joint() -> None:
    hierarchy = """\
HIERARCHY
ROOT Root
{
  OFFSET 0 0 0
  CHANNELS 3 Zrotation Yrotation Xrotation
  JOINT Slider
  {
    OFFSET 7 8 9
    CHANNELS 6 Zposition Xposition Yposition Yrotation Xrotation Zrotation
    JOINT OnlyY
    {
      OFFSET 1 2 3
      CHANNELS 1 Yposition
      End Site
      {
        OFFSET 0 0 0
      }
    }
  }
}"""
    clip = parse_bvh_text(bvh_text(hierarchy, [[90, 0, 0, 30, 10, 20, 0, 0, 0, 5]]))
    # Slider's position channels are listed Z, X, Y: values 30, 10, 20 → local (10, 20, 30),
    # replacing its OFFSET (7, 8, 9). OnlyY keeps x, z of its OFFSET (1, _, 3), y = 5.
    np.testing.assert_allclose(clip.local_pos[0, 1], [10, 20, 30])
    np.testing.assert_allclose(clip.local_pos[0, 2], [1, 5, 3])
    pos, _ = clip.global_transforms()
    # Root rotation Rz(90°): (x,y,z) → (-y,x,z). Slider = Rz90·(10,20,30) = (-20,10,30).
    # OnlyY = Slider + Rz90·(1,5,3) = (-20,10,30) + (-5,1,3) = (-25,11,33).
    np.testing.assert_allclose(pos[0, 1], [-20, 10, 30], atol=1e-12)
    np.testing.assert_allclose(pos[0, 2], [-25, 11, 33], atol=1e-12)


def test_clip_arrays_are_read_only() -> None:
    clip = parse_bvh_text(SMALL)
    with pytest.raises(ValueError):
        clip.channels[0, 0] = 1.0
    with pytest.raises(ValueError):
        clip.local_rot[0, 0, 0] = 1.0


# ------------------------------------------------------------------------------------------
# Axes and units
# ------------------------------------------------------------------------------------------


def test_z_up_mapping_is_a_proper_rotation_with_documented_axes() -> None:
    M = to_z_up_pos(np.eye(3)).T  # column k = image of file axis k
    assert np.linalg.det(M) == pytest.approx(1.0)
    np.testing.assert_allclose(to_z_up_pos([0, 0, 1]), [1, 0, 0])  # file forward +Z → +X
    np.testing.assert_allclose(to_z_up_pos([1, 0, 0]), [0, 1, 0])  # file left +X → +Y
    np.testing.assert_allclose(to_z_up_pos([0, 1, 0]), [0, 0, 1])  # file up +Y → +Z


def test_z_up_quat_is_the_same_change_of_basis() -> None:
    rng = np.random.default_rng(5)
    q = rng.normal(size=(10, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    v = rng.normal(size=(10, 3))
    # M (R v) == (M R Mᵀ) (M v)
    np.testing.assert_allclose(
        to_z_up_pos(quat_rotate(q, v)), quat_rotate(to_z_up_quat(q), to_z_up_pos(v)), atol=1e-12
    )
    np.testing.assert_allclose(to_z_up_quat([1.0, 0, 0, 0]), [1.0, 0, 0, 0], atol=1e-12)
    # A yaw about file Y (up) becomes a yaw about Z.
    h = math.sqrt(0.5)
    np.testing.assert_allclose(to_z_up_quat([h, 0, h, 0]), [h, 0, 0, h], atol=1e-12)


def _height_skeleton(height: float) -> str:
    """A stick figure ``height`` units tall: head end site at +0.45 h, toe at -0.55 h."""
    hierarchy = (
        "HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 3 Zrotation Yrotation Xrotation\n"
        f"JOINT Head\n{{\nOFFSET 0 {0.3 * height} 0\nCHANNELS 3 Zrotation Yrotation Xrotation\n"
        f"End Site\n{{\nOFFSET 0 {0.15 * height} 0\n}}\n}}\n"
        f"JOINT Foot\n{{\nOFFSET 0 {-0.5 * height} 0\nCHANNELS 3 Zrotation Yrotation Xrotation\n"
        f"End Site\n{{\nOFFSET 0 {-0.05 * height} {0.1 * height}\n}}\n}}\n}}"
    )
    return bvh_text(hierarchy, [[0] * 9])


@pytest.mark.parametrize(
    ("height_units", "m_per_unit"),
    [
        (1.75, 1.0),  # metres
        (175.0, 0.01),  # centimetres
        (1750.0, 0.001),  # millimetres
        (69.0, 0.0254),  # inches (1.75 m)
        (31.0, CMU_UNIT_M),  # CMU units (1.75 m)
        (25.0, CMU_UNIT_M),  # a CMU rest pose is ≈ 24–26 units (1.36–1.47 m)
    ],
)
def test_detect_unit_scale(height_units: float, m_per_unit: float) -> None:
    clip = parse_bvh_text(_height_skeleton(height_units))
    assert rest_height_units(clip.skeleton) == pytest.approx(height_units)
    assert detect_unit_scale(clip) == pytest.approx(m_per_unit)
    assert detect_unit_scale(clip.skeleton) == pytest.approx(m_per_unit)
    assert detect_unit_scale(clip, m_per_unit=0.5) == 0.5  # an explicit unit wins


@pytest.mark.parametrize("height_units", [0.0, 1.0e5])
def test_detect_unit_scale_refuses_an_implausible_skeleton(height_units: float) -> None:
    clip = parse_bvh_text(_height_skeleton(height_units), source="odd.bvh")
    with pytest.raises(RetargetError, match=r"odd\.bvh.*m_per_unit"):
        detect_unit_scale(clip)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_detect_unit_scale_rejects_bad_override(bad: float) -> None:
    with pytest.raises(RetargetError, match="m_per_unit"):
        detect_unit_scale(parse_bvh_text(SMALL), m_per_unit=bad)


# ------------------------------------------------------------------------------------------
# The real CMU clips (facts from ../shared/data/README.md)
# ------------------------------------------------------------------------------------------

CMU_JOINTS = (
    "Hips LHipJoint LeftUpLeg LeftLeg LeftFoot LeftToeBase RHipJoint RightUpLeg RightLeg "
    "RightFoot RightToeBase LowerBack Spine Spine1 Neck Neck1 Head LeftShoulder LeftArm "
    "LeftForeArm LeftHand LeftFingerBase LeftHandIndex1 LThumb RightShoulder RightArm "
    "RightForeArm RightHand RightFingerBase RightHandIndex1 RThumb"
).split()


def test_cmu_walk_structure_units_and_height() -> None:
    clip = parse_bvh(WALK)
    sk = clip.skeleton
    assert sk.joint_names == tuple(CMU_JOINTS)
    assert (sk.num_joints, sk.num_channels, clip.num_frames) == (31, 96, 294)
    assert clip.channels.shape == (294, 96)
    assert clip.local_rot.shape == (294, 31, 4) and clip.local_pos.shape == (294, 31, 3)
    assert len(sk.end_sites) == 7
    assert sk.channels[0] == (
        "Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation"
    )  # fmt: skip
    assert all(c == ("Zrotation", "Yrotation", "Xrotation") for c in sk.channels[1:])
    assert clip.frame_time_s == pytest.approx(1 / 120, rel=1e-4)
    # Thigh (LeftLeg OFFSET) 6.79 units, shin (LeftFoot OFFSET) 7.16 units.
    assert np.linalg.norm(sk.offsets[sk.joint_index("LeftLeg")]) == pytest.approx(6.79, abs=0.01)
    assert np.linalg.norm(sk.offsets[sk.joint_index("LeftFoot")]) == pytest.approx(7.16, abs=0.01)

    m_per_unit = detect_unit_scale(clip)
    assert m_per_unit == pytest.approx(CMU_UNIT_M)

    # Frame-0 T-pose: head End Site 25.3–27.3 units (1.43–1.54 m) above the toe End Sites
    # over the five files (README, rounded); 08_09 is the shortest at 25.25 units = 1.425 m.
    ends = clip.end_site_positions()[0]
    parents = [sk.joint_names[p] for p in sk.end_site_parents]
    head = ends[parents.index("Head"), 1]
    toes = min(ends[parents.index("LeftToeBase"), 1], ends[parents.index("RightToeBase"), 1])
    assert 25.2 <= head - toes <= 27.4
    assert 1.42 <= (head - toes) * m_per_unit <= 1.55


def test_cmu_walk_fk_matches_per_frame_matrices() -> None:
    """Vectorized FK vs a naive per-frame loop with the test's own Euler matrices."""
    clip = parse_bvh(WALK)
    sk = clip.skeleton
    pos, quat = clip.global_transforms()
    for t in (0, 1, 150, 293):
        R_w: list[np.ndarray] = []
        p_w: list[np.ndarray] = []
        for j, p in enumerate(sk.parents):
            v = clip.channels[t, sk.channel_column(j, 0) :][: len(sk.channels[j])]
            rot_vals = v[-3:]  # every CMU joint ends with Zrotation Yrotation Xrotation
            R = euler_to_matrix("ZYX", tuple(rot_vals))
            t_local = v[:3] if j == 0 else sk.offsets[j]
            R_w.append(R if p < 0 else R_w[p] @ R)
            p_w.append(t_local if p < 0 else p_w[p] + R_w[p] @ t_local)
        np.testing.assert_allclose(pos[t], np.array(p_w), atol=1e-9)
        np.testing.assert_allclose(quat_to_matrix(quat[t]), np.array(R_w), atol=1e-9)


def test_cmu_walk_goes_forward_along_plus_x_in_z_up() -> None:
    clip = strip_tpose_frame(parse_bvh(WALK))
    m = detect_unit_scale(clip)
    pos, quat = clip.global_transforms()
    pos_w, quat_w = to_z_up(pos * m, quat)
    assert quat_w.shape == quat.shape
    hips = pos_w[:, 0]
    travel = hips[-1] - hips[0]
    # README: 75.1 units ≈ 4.24 m straight along file +Z → humimic +X.
    assert travel[0] == pytest.approx(75.1 * CMU_UNIT_M, abs=0.1)
    assert abs(travel[1]) < 0.15 and abs(travel[2]) < 0.15
    # Root height 0.855–0.955 m is now along +Z.
    assert 0.85 <= hips[:, 2].min() and hips[:, 2].max() <= 0.96
    # Handedness: the left hip is on the +Y (left) side of the right hip when facing +X.
    sk = clip.skeleton
    left, right = sk.joint_index("LeftUpLeg"), sk.joint_index("RightUpLeg")
    assert np.all(pos_w[:, left, 1] > pos_w[:, right, 1])


def test_cmu_run_veer_right_turns_toward_minus_y() -> None:
    clip = strip_tpose_frame(parse_bvh(VEER_RIGHT))
    hips = to_z_up_pos(clip.global_transforms()[0][:, 0])
    # README: file X falls from +14.6 to -13.0 (the runner's right) while Z rises → humimic Y
    # (left) falls while X (forward) rises.
    np.testing.assert_allclose(hips[0, :2], [-33.9, 14.6], atol=0.1)
    np.testing.assert_allclose(hips[-1, :2], [33.5, -13.0], atol=0.1)


@pytest.mark.parametrize("path", CMU_FILES, ids=lambda p: p.stem)
def test_every_cmu_file_parses_and_has_a_tpose_frame_0(path: Path) -> None:
    clip = parse_bvh(path)
    assert clip.skeleton.joint_names == tuple(CMU_JOINTS)
    assert clip.skeleton.num_channels == 96
    assert np.isfinite(clip.local_rot).all()
    np.testing.assert_allclose(np.linalg.norm(clip.local_rot, axis=-1), 1.0, atol=1e-12)
    assert detect_unit_scale(clip) == pytest.approx(CMU_UNIT_M)
    assert has_tpose_first_frame(clip)
    stripped = strip_tpose_frame(clip)
    assert stripped.num_frames == clip.num_frames - 1
    np.testing.assert_array_equal(stripped.channels, clip.channels[1:])
    # Frames 1, 2, 3 are all captured motion: no T-pose left to find.
    assert not has_tpose_first_frame(stripped)
    # The synthetic 2010 T-pose values (README): UpLeg Z ±21°.
    labels = clip.skeleton.channel_labels
    assert clip.channels[0, labels.index("LeftUpLeg.Zrotation")] == -21
    assert clip.channels[0, labels.index("RightUpLeg.Zrotation")] == 21


def test_strip_tpose_frame_flags() -> None:
    clip = parse_bvh_text(SMALL)  # frame 0 differs from frame 1 in the root position
    assert not has_tpose_first_frame(clip)
    assert strip_tpose_frame(clip).num_frames == 3
    assert strip_tpose_frame(clip, skip_first_frame=True).num_frames == 2
    assert strip_tpose_frame(clip, skip_first_frame=False).num_frames == 3
    one = clip.slice_frames(0, 1)
    with pytest.raises(RetargetError, match="empty"):
        strip_tpose_frame(one, skip_first_frame=True)


def test_tpose_detected_on_a_synthetic_clip() -> None:
    # Frame 0: same root position as frame 1, joints far away; frames 1→2 move by 0.5°.
    lines = small_lines()
    lines[18:] = [
        "1 2 3 0 0 0 0 0 0",
        "1 2 3 40 -30 20 50 60 -20",
        "1.1 2 3 40.5 -30 20 50 60.5 -20",
    ]
    assert has_tpose_first_frame(parse_bvh_text("\n".join(lines)))
    lines[18] = "1.5 2 3 0 0 0 0 0 0"  # root moved: not an added T-pose
    assert not has_tpose_first_frame(parse_bvh_text("\n".join(lines)))


# ------------------------------------------------------------------------------------------
# Malformed input: RetargetError naming the file and the line or frame
# ------------------------------------------------------------------------------------------


def _edit(line_no: int, new: str | None) -> str:
    """SMALL with 1-based line ``line_no`` replaced (``None``: deleted)."""
    lines = small_lines()
    if new is None:
        del lines[line_no - 1]
    else:
        lines[line_no - 1] = new
    return "\n".join(lines) + "\n"


BROKEN = {
    # name: (text, substrings the message must contain besides the file name)
    "truncated_hierarchy": ("\n".join(small_lines()[:9]), ["line 9", "end of file"]),
    "truncated_no_motion": ("\n".join(small_lines()[:15]), ["line 15", "MOTION"]),
    "truncated_in_frame": (
        SMALL[: SMALL.rindex("41")],
        ["frame 2 (line 21)", "expected 9", "got 6"],
    ),
    "missing_close_brace": (_edit(14, None), ["line 15", "'Hips'", "'}'", "got MOTION"]),
    "extra_close_brace": (_edit(15, "}\n}"), ["line 16", "'}'", "MOTION"]),
    "unknown_channel": (
        _edit(9, "CHANNELS 3 Zrotation Wrotation Yrotation"),
        ["line 9", "'Chest'", "Wrotation", "Xrotation"],
    ),
    "bad_channel_count": (_edit(9, "CHANNELS three Zrotation"), ["line 9", "channel count"]),
    "bad_offset": (_edit(8, "OFFSET 0 two 0"), ["line 8", "OFFSET", "'Chest'", "'two'"]),
    "nan_offset": (_edit(8, "OFFSET 0 nan 0"), ["line 8", "finite"]),
    "frames_more_than_lines": (_edit(17, "Frames: 4"), ["line 17", "Frames: 4", "3 frame lines"]),
    "frames_fewer_than_lines": (_edit(17, "Frames: 2"), ["line 17", "Frames: 2", "3 frame lines"]),
    "too_few_values": (
        _edit(20, "1 2 3 10 20 30 40 50"),
        ["frame 1 (line 20)", "expected 9", "got 8"],
    ),
    "too_many_values": (_edit(19, "0 " * 10), ["frame 0 (line 19)", "expected 9", "got 10"]),
    "nan_value": (
        _edit(21, "1 2 3 11 nan 31 41 51 61"),
        ["frame 2 (line 21)", "Hips.Yrotation", "nan"],
    ),
    "inf_value": (_edit(20, "1 2 3 10 20 30 40 50 -inf"), ["frame 1 (line 20)", "Chest.Yrotation"]),
    "not_a_number": (
        _edit(20, "1 2 x 10 20 30 40 50 60"),
        ["frame 1 (line 20)", "Hips.Zposition", "'x'"],
    ),
    "zero_frames": (
        "\n".join([*small_lines()[:16], "Frames: 0", "Frame Time: 0.01"]),
        ["line 17", "Frames: 0"],
    ),
    "frame_time_zero": (_edit(18, "Frame Time: 0"), ["line 18", "Frame Time", "> 0"]),
    "frame_time_negative": (_edit(18, "Frame Time: -0.01"), ["line 18", "Frame Time"]),
    "frame_time_missing": (_edit(18, None), ["line 18", "Frame Time:"]),
    "no_frames_header": (_edit(17, "Frame: 3"), ["line 17", "Frames:"]),
    "duplicate_joint": (_edit(6, "JOINT Hips"), ["line 6", "duplicate", "'Hips'"]),
    "not_bvh": ("hello world\n", ["line 1", "HIERARCHY"]),
    "empty": ("", ["line 1", "HIERARCHY"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_file_message_names_file_and_place(case: str, tmp_path: Path) -> None:
    text, expected = BROKEN[case]
    path = tmp_path / f"{case}.bvh"
    path.write_text(text)
    with pytest.raises(RetargetError) as info:
        parse_bvh(path)
    message = str(info.value)
    assert "\n" not in message
    for part in [f"{case}.bvh", *expected]:
        assert part in message, f"{part!r} not in {message!r}"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "missing_clip.bvh"
    with pytest.raises(RetargetError, match="not found.*missing_clip.bvh"):
        parse_bvh(path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(RetargetError, match="cannot read"):
        parse_bvh(tmp_path)


def test_real_file_truncated_mid_line_and_at_a_line_end(tmp_path: Path) -> None:
    text = WALK.read_text()
    # 187 header lines; frame k is on line 188 + k, so the last frame (293) is on line 481.
    cut = tmp_path / "walk_cut.bvh"
    cut.write_text(text[:-100])
    with pytest.raises(RetargetError, match=r"walk_cut\.bvh: frame 293 \(line 481\).*expected 96"):
        parse_bvh(cut)
    short = tmp_path / "walk_short.bvh"
    short.write_text("\n".join(text.splitlines()[:-10]) + "\n")
    with pytest.raises(RetargetError, match=r"walk_short\.bvh: line 186: 'Frames: 294'.*284"):
        parse_bvh(short)


def test_crlf_and_bom_are_accepted() -> None:
    clip = parse_bvh_text("\ufeff" + SMALL.replace("\n", "\r\n"))
    assert clip.num_frames == 3 and clip.skeleton.num_channels == 9


# ------------------------------------------------------------------------------------------
# Fuzz: broken text raises RetargetError, never anything else
# ------------------------------------------------------------------------------------------

VOCAB = [
    "{", "}", "ROOT", "JOINT", "End", "Site", "OFFSET", "CHANNELS", "MOTION", "HIERARCHY",
    "Frames:", "Frame Time:", "Xrotation", "Yposition", "Qrotation", "0", "-1", "3", "6", "99",
    "1e400", "nan", "inf", "-0", "1_0", "0x10", "", " ", "\n", "\t", "\r", "²", "٣",
]  # fmt: skip


@st.composite
def broken_bvh(draw: st.DrawFn) -> str:
    lines = SMALL.splitlines()
    kind = draw(st.sampled_from(["truncate", "tokens", "lines", "chars", "garbage"]))
    if kind == "truncate":
        return SMALL[: draw(st.integers(0, len(SMALL)))]
    if kind == "garbage":
        return draw(st.text(max_size=300))
    if kind == "lines":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(lines) - 1))
            op = draw(st.sampled_from(["delete", "duplicate", "swap", "replace"]))
            if op == "delete" and len(lines) > 1:
                del lines[i]
            elif op == "duplicate":
                lines.insert(i, lines[i])
            elif op == "swap":
                k = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[k] = lines[k], lines[i]
            else:
                lines[i] = draw(st.text(max_size=40))
        return "\n".join(lines)
    if kind == "tokens":
        tokens = [line.split() for line in lines]
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(tokens) - 1))
            if not tokens[i]:
                continue
            k = draw(st.integers(0, len(tokens[i]) - 1))
            tokens[i][k] = draw(st.one_of(st.sampled_from(VOCAB), st.text(max_size=8)))
        return "\n".join(" ".join(t) for t in tokens)
    text = list(SMALL)  # chars: delete or insert single characters
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(text) - 1))
        if draw(st.booleans()):
            del text[i]
        else:
            text.insert(i, draw(st.characters()))
    return "".join(text)


@settings(max_examples=200, deadline=None)
@given(text=broken_bvh())
def test_fuzz_only_retarget_error(text: str) -> None:
    try:
        clip = parse_bvh_text(text, source="fuzz.bvh")
    except RetargetError as e:
        assert "fuzz.bvh" in str(e)
        return
    assert isinstance(clip, BvhClip)
    T, J = clip.num_frames, clip.skeleton.num_joints
    assert T >= 1 and clip.frame_time_s > 0
    assert clip.channels.shape == (T, clip.skeleton.num_channels)
    assert np.isfinite(clip.channels).all() and np.isfinite(clip.local_rot).all()
    with np.errstate(all="ignore"):  # a mutated OFFSET may be huge; FK must still run
        pos, quat = clip.global_transforms()
    assert pos.shape == (T, J, 3) and quat.shape == (T, J, 4)
