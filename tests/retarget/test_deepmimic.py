"""Tests of the DeepMimic reader (humimic.retarget.deepmimic): the real character and motions in
../shared/data/deepmimic, hand-computed forward kinematics, axes, and error messages."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from shared_paths import SHARED_DATA

from humimic.errors import RetargetError
from humimic.retarget.deepmimic import (
    DeepMimicClip,
    read_deepmimic,
    read_deepmimic_character,
    to_z_up_pos,
    to_z_up_quat,
)
from humimic.rotations import quat_rotate

DEEPMIMIC = SHARED_DATA / "deepmimic"
# Missing data is a failure ("DeepMimic ... file not found: <path>"), not a skip.
CHARACTER = DEEPMIMIC / "humanoid3d.txt"
WALK = DEEPMIMIC / "humanoid3d_walk.txt"
RUN = DEEPMIMIC / "humanoid3d_run.txt"
BACKFLIP = DEEPMIMIC / "humanoid3d_backflip.txt"

HUMANOID_JOINTS = (
    "root chest neck right_hip right_knee right_ankle right_shoulder right_elbow right_wrist "
    "left_hip left_knee left_ankle left_shoulder left_elbow left_wrist"
).split()
# Attach offsets from humanoid3d.txt (metres, Y up).
RIGHT_HIP_ATTACH = np.array([0.0, 0.0, 0.084887])
KNEE_ATTACH = np.array([0.0, -0.421546, 0.0])
ANKLE_ATTACH = np.array([0.0, -0.40987, 0.0])


def read(path: Path) -> DeepMimicClip:
    return read_deepmimic(path, CHARACTER)


# ------------------------------------------------------------------------------------------
# The character
# ------------------------------------------------------------------------------------------


def test_character_joints_types_and_value_count() -> None:
    sk = read_deepmimic_character(CHARACTER)
    assert sk.joint_names == tuple(HUMANOID_JOINTS)
    assert sk.parents.tolist() == [-1, 0, 1, 0, 3, 4, 1, 6, 7, 0, 9, 10, 1, 12, 13]
    types = dict(zip(sk.joint_names, sk.joint_types, strict=True))
    assert types["root"] == "none"
    assert [n for n, t in types.items() if t == "revolute"] == [
        "right_knee", "right_elbow", "left_knee", "left_elbow"
    ]  # fmt: skip
    assert [n for n, t in types.items() if t == "fixed"] == ["right_wrist", "left_wrist"]
    # dt 1 + root 7 + 8 spherical × 4 + 4 revolute × 1 + 2 fixed × 0 = 1 + 7 + 32 + 4 = 44
    assert sk.num_values == 44
    labels = sk.value_labels
    assert len(labels) == 44
    assert labels[:8] == ("dt", *(f"root.{p}" for p in "pos_x pos_y pos_z rot_w rot_x".split()),
                          "root.rot_y", "root.rot_z")  # fmt: skip
    assert labels[16:20] == ("right_hip.w", "right_hip.x", "right_hip.y", "right_hip.z")
    assert labels[20] == "right_knee.angle"
    np.testing.assert_array_equal(sk.offsets[sk.joint_index("right_hip")], RIGHT_HIP_ATTACH)
    np.testing.assert_array_equal(sk.offsets[sk.joint_index("right_knee")], KNEE_ATTACH)
    with pytest.raises(RetargetError, match="unknown DeepMimic joint 'knee'; valid: chest"):
        sk.joint_index("knee")


# ------------------------------------------------------------------------------------------
# The real motions (facts from ../shared/data/README.md, section 2)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "frames", "dt", "duration"),
    [(WALK, 39, 0.033332, 1.267), (RUN, 25, 0.033332, 0.800), (BACKFLIP, 29, 0.0625, 1.750)],
    ids=["walk", "run", "backflip"],
)
def test_real_motions_parse(path: Path, frames: int, dt: float, duration: float) -> None:
    clip = read(path)
    assert clip.num_frames == frames
    assert clip.values.shape == (frames, 44)
    assert clip.local_rot.shape == (frames, 15, 4) and clip.local_pos.shape == (frames, 15, 3)
    assert clip.loop == "wrap"
    np.testing.assert_allclose(clip.dt_s[:-1], dt)
    assert clip.dt_s[-1] == 0.0
    assert clip.times_s[0] == 0.0 and clip.times_s[1] == pytest.approx(dt)
    assert clip.duration_s == pytest.approx(duration, abs=1e-3)
    assert clip.fps == pytest.approx(1.0 / dt)
    np.testing.assert_allclose(np.linalg.norm(clip.local_rot, axis=-1), 1.0, atol=1e-12)
    pos, quat = clip.global_transforms_z_up()
    assert np.isfinite(pos).all() and np.isfinite(quat).all()


def test_walk_goes_forward_along_plus_x_at_pelvis_height() -> None:
    clip = read(WALK)
    pos, _ = clip.global_transforms_z_up()
    pelvis = pos[:, 0]
    travel = pelvis[-1] - pelvis[0]
    # README: +1.239 m along file X → humimic +X (forward); no sideways or vertical drift.
    assert travel[0] == pytest.approx(1.239, abs=1e-3)
    assert abs(travel[1]) < 1e-6 and abs(travel[2]) < 1e-6
    # README: pelvis height 0.8466–0.8741 m, now along +Z.
    assert pelvis[:, 2].min() == pytest.approx(0.8466, abs=1e-4)
    assert pelvis[:, 2].max() == pytest.approx(0.8741, abs=1e-4)
    # Handedness: facing +X, the left hip is on the +Y side of the right hip in every frame,
    # and the head is above the pelvis.
    sk = clip.skeleton
    left, right = sk.joint_index("left_hip"), sk.joint_index("right_hip")
    assert np.all(pos[:, left, 1] - pos[:, right, 1] > 0.15)
    assert np.all(pos[:, sk.joint_index("neck"), 2] > pelvis[:, 2] + 0.4)


def test_run_and_backflip_travel() -> None:
    run, _ = read(RUN).global_transforms_z_up()
    flip, _ = read(BACKFLIP).global_transforms_z_up()
    assert run[-1, 0, 0] - run[0, 0, 0] == pytest.approx(2.845, abs=1e-3)
    # The backflip moves backwards (README: −1.079 m along X) and its pelvis spans 0.6243–1.1806 m.
    assert flip[-1, 0, 0] - flip[0, 0, 0] == pytest.approx(-1.079, abs=1e-3)
    assert flip[:, 0, 2].min() == pytest.approx(0.6243, abs=1e-4)
    assert flip[:, 0, 2].max() == pytest.approx(1.1806, abs=1e-4)


def test_backflip_quaternions_normalised_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="humimic.retarget.deepmimic"):
        clip = read(BACKFLIP)
    # The raw file is not normalised: left_shoulder at frame 18 is off by 0.118 (README).
    col = clip.skeleton.value_labels.index("left_shoulder.w")
    raw_norm = np.linalg.norm(clip.values[18, col : col + 4])
    assert abs(raw_norm - 1.0) == pytest.approx(0.118, abs=1e-3)
    np.testing.assert_allclose(np.linalg.norm(clip.local_rot, axis=-1), 1.0, atol=1e-12)
    _, quat = clip.global_transforms_z_up()
    np.testing.assert_allclose(np.linalg.norm(quat, axis=-1), 1.0, atol=1e-12)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "left_shoulder, frame 18" in warnings[0].getMessage()
    # Walk quaternions are unit within 1e-5: no warning.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="humimic.retarget.deepmimic"):
        read(WALK)
    assert not caplog.records


# ------------------------------------------------------------------------------------------
# Hand-computed kinematics on synthetic frames
# ------------------------------------------------------------------------------------------

IDENTITY = [1.0, 0.0, 0.0, 0.0]


def frame(
    root_pos: tuple[float, float, float] = (1.0, 0.9, 2.0),
    root_rot: list[float] = IDENTITY,
    right_knee: float = 0.0,
    dt: float = 0.05,
) -> list[float]:
    """A humanoid3d frame: identity everywhere except the given values."""
    return [
        dt, *root_pos, *root_rot,
        *IDENTITY, *IDENTITY,  # chest, neck
        *IDENTITY, right_knee, *IDENTITY, *IDENTITY, 0.0,  # right hip, knee, ankle, shoulder, elbow
        *IDENTITY, 0.0, *IDENTITY, *IDENTITY, 0.0,  # left hip, knee, ankle, shoulder, elbow
    ]  # fmt: skip


def write_motion(tmp_path: Path, frames: list[list[float]], name: str = "m.txt") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"Loop": "none", "Frames": frames}))
    return path


def test_identity_pose_fk_by_hand(tmp_path: Path) -> None:
    clip = read(write_motion(tmp_path, [frame(), frame(dt=0.0)]))
    assert clip.times_s.tolist() == [0.0, 0.05]
    sk = clip.skeleton
    knee, ankle = sk.joint_index("right_knee"), sk.joint_index("right_ankle")
    pos_y_up, _ = clip.global_transforms()
    pos, quat = clip.global_transforms_z_up()
    # Y up: knee = pelvis + Attach(right_hip) + Attach(right_knee)
    #            = (1, 0.9, 2) + (0, 0, 0.084887) + (0, -0.421546, 0) = (1, 0.478454, 2.084887).
    np.testing.assert_allclose(pos_y_up[0, knee], [1.0, 0.478454, 2.084887], atol=1e-12)
    # Z up, (x, y, z) → (x, -z, y): knee = (1, -2.084887, 0.478454): the right side (-Y) and
    # 0.9 - 0.421546 = 0.478454 m high.
    np.testing.assert_allclose(pos[0, knee], [1.0, -2.084887, 0.478454], atol=1e-12)
    # ankle = knee + Attach(right_ankle) = (1, -2.084887, 0.478454 - 0.40987 = 0.068584).
    np.testing.assert_allclose(pos[0, ankle], [1.0, -2.084887, 0.068584], atol=1e-12)
    np.testing.assert_allclose(quat[0], np.tile(IDENTITY, (15, 1)), atol=1e-12)


def test_revolute_knee_about_local_z_by_hand(tmp_path: Path) -> None:
    # Knee flexed by θ = -π/2 about its local Z (DeepMimic knee limits are [-3.14, 0]).
    # Rz(-90°) maps (0, -L, 0) to (-L, 0, 0): the shank points backwards (file -X).
    clip = read(write_motion(tmp_path, [frame(right_knee=-math.pi / 2, dt=0.0)]))
    sk = clip.skeleton
    knee, ankle = sk.joint_index("right_knee"), sk.joint_index("right_ankle")
    np.testing.assert_allclose(
        clip.local_rot[0, knee], [math.cos(-math.pi / 4), 0, 0, math.sin(-math.pi / 4)]
    )
    pos, _ = clip.global_transforms_z_up()
    # Z up: ankle = knee + (-0.40987, 0, 0): behind the knee, at the knee's height.
    np.testing.assert_allclose(pos[0, ankle] - pos[0, knee], [-0.40987, 0.0, 0.0], atol=1e-12)


def test_root_yaw_turns_the_character_left(tmp_path: Path) -> None:
    # Root rotated +90° about file Y (up): w = cos 45°, y = sin 45°. File +X (forward) → file -Z,
    # which is humimic +Y (left): a left turn, i.e. +90° yaw about humimic Z.
    s = math.sqrt(0.5)
    clip = read(write_motion(tmp_path, [frame(root_rot=[s, 0.0, s, 0.0], dt=0.0)]))
    _, quat = clip.global_transforms_z_up()
    np.testing.assert_allclose(quat[0, 0], [s, 0.0, 0.0, s], atol=1e-12)
    np.testing.assert_allclose(quat_rotate(quat[0, 0], [1.0, 0.0, 0.0]), [0, 1, 0], atol=1e-12)


def test_z_up_conversion_is_a_change_of_basis() -> None:
    # Axis images: file X → X, file Y (up) → Z, file Z (the character's right) → -Y.
    np.testing.assert_array_equal(to_z_up_pos(np.eye(3)), [[1, 0, 0], [0, 0, 1], [0, -1, 0]])
    rng = np.random.default_rng(0)
    q = rng.normal(size=(20, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    v = rng.normal(size=(20, 3))
    # M (R v) = (M R Mᵀ)(M v)
    np.testing.assert_allclose(
        to_z_up_pos(quat_rotate(q, v)), quat_rotate(to_z_up_quat(q), to_z_up_pos(v)), atol=1e-12
    )


# ------------------------------------------------------------------------------------------
# Malformed input: RetargetError naming the file, the frame and the field
# ------------------------------------------------------------------------------------------


def _frames_with(f: int, c: int, value: object) -> list[list[object]]:
    frames: list[list[object]] = [list(frame()) for _ in range(3)]
    frames[-1][0] = 0.0
    frames[f][c] = value
    return frames


BROKEN_MOTIONS: dict[str, tuple[str, list[str]]] = {
    # name: (file text, substrings the message must contain besides the file name)
    "too_few_values": (
        json.dumps({"Frames": [frame(), frame()[:-1]]}),
        ["frame 1", "expected 44 values", "dt 1 + root 7 + chest 4", "got 43"],
    ),
    "too_many_values": (
        json.dumps({"Frames": [[*frame(), 0.0]]}),
        ["frame 0", "expected 44 values", "got 45"],
    ),
    "nan": (
        json.dumps({"Frames": _frames_with(2, 9, math.nan)}),
        ["frame 2", "'chest.x'", "value 10 of 44", "nan", "finite"],
    ),
    "infinity": (
        json.dumps({"Frames": _frames_with(1, 20, math.inf)}),
        ["frame 1", "'right_knee.angle'", "inf"],
    ),
    "string_value": (
        json.dumps({"Frames": _frames_with(0, 2, "0.9")}),
        ["frame 0", "'root.pos_y'", "'0.9'", "expected a finite number"],
    ),
    "not_json": ('{"Loop": "wrap",\n"Frames": [[0.03, 1, 2,]\n', ["line 2", "not valid JSON"]),
    "missing_frames": (json.dumps({"Loop": "wrap"}), ["'Frames'", "missing"]),
    "empty_frames": (json.dumps({"Frames": []}), ["'Frames'", "non-empty"]),
    "negative_dt": (json.dumps({"Frames": _frames_with(0, 0, -0.1)}), ["frame 0", "'dt'", "-0.1"]),
    "zero_dt_inside": (json.dumps({"Frames": _frames_with(1, 0, 0.0)}), ["frame 1", "'dt'"]),
}
# The neck quaternion (values 13–16) all zero at frame 1.
_zero_q = _frames_with(1, 12, 0.0)
_zero_q[1][12:16] = [0.0, 0.0, 0.0, 0.0]
BROKEN_MOTIONS["zero_quaternion"] = (
    json.dumps({"Frames": _zero_q}),
    ["frame 1", "'neck'", "values 13–16", "zero norm"],
)


@pytest.mark.parametrize("case", sorted(BROKEN_MOTIONS))
def test_broken_motion_message_names_file_and_frame(case: str, tmp_path: Path) -> None:
    text, expected = BROKEN_MOTIONS[case]
    path = tmp_path / f"{case}.txt"
    path.write_text(text)
    with pytest.raises(RetargetError) as info:
        read(path)
    message = str(info.value)
    assert "\n" not in message
    for part in [f"{case}.txt", *expected]:
        assert part in message, f"{part!r} not in {message!r}"


def _character_with(edit: dict[str, object], joint: int) -> str:
    data = json.loads(CHARACTER.read_text())
    data["Skeleton"]["Joints"][joint].update(edit)
    return json.dumps(data)


BROKEN_CHARACTERS: dict[str, tuple[str, list[str]]] = {
    "unknown_type": (
        _character_with({"Type": "ball"}, 4),
        ["joint 4 ('right_knee')", "'Type'", "unknown joint type 'ball'", "revolute"],
    ),
    "parent_after_child": (
        _character_with({"Parent": 7}, 4),
        ["joint 4 ('right_knee')", "'Parent'", "got 7"],
    ),
    "nan_attach": (_character_with({"AttachY": None}, 2), ["joint 2 ('neck')", "'AttachY'"]),
    "attach_theta": (
        _character_with({"AttachThetaZ": 0.5}, 3),
        ["joint 3 ('right_hip')", "'AttachThetaZ'"],
    ),
    "no_joints": (json.dumps({"Skeleton": {}}), ["'Skeleton.Joints'"]),
    "character_not_json": ("Skeleton: Joints", ["line 1", "not valid JSON"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CHARACTERS))
def test_broken_character_message_names_file_and_joint(case: str, tmp_path: Path) -> None:
    text, expected = BROKEN_CHARACTERS[case]
    path = tmp_path / f"{case}.txt"
    path.write_text(text)
    with pytest.raises(RetargetError) as info:
        read_deepmimic(WALK, path)
    message = str(info.value)
    for part in [f"{case}.txt", *expected]:
        assert part in message, f"{part!r} not in {message!r}"


def test_value_count_follows_the_character(tmp_path: Path) -> None:
    # A right knee made spherical takes 4 values instead of 1: a frame needs 47, and the real
    # 44-value walk is rejected with the derived count.
    path = tmp_path / "spherical_knee.txt"
    path.write_text(_character_with({"Type": "spherical"}, 4))
    assert read_deepmimic_character(path).num_values == 47
    with pytest.raises(RetargetError, match=r"humanoid3d_walk\.txt: frame 0: expected 47 values"):
        read_deepmimic(WALK, path)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(RetargetError, match="motion file not found.*nope.txt"):
        read_deepmimic(tmp_path / "nope.txt", CHARACTER)
    with pytest.raises(RetargetError, match="character file not found.*nope.txt"):
        read_deepmimic(WALK, tmp_path / "nope.txt")
