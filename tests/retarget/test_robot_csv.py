"""Tests of the robot CSV reader/writer (humimic.retarget.robot_csv): round trip, the xyzw order,
and line-numbered errors on bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from humimic.errors import RetargetError
from humimic.motion import Motion
from humimic.retarget.robot_csv import read_robot_csv, write_robot_csv
from humimic.robots import get_robot
from humimic.robots.spec import RobotSpec
from humimic.rotations import quat_from_axis_angle

G1 = get_robot("g1")
FPS = 30.0


def known_motion(robot: RobotSpec, num_frames: int = 12) -> Motion:
    """Root at constant velocity (0.5, -0.1, 0) m/s with a slow yaw; joints
    ``mid + 0.4·half_range·sin(2π·0.7·t + j)`` (inside the limits)."""
    t = np.arange(num_frames) / FPS
    root_pos = np.array([0.1, 0.2, 0.75]) + t[:, None] * np.array([0.5, -0.1, 0.0])
    root_quat = quat_from_axis_angle(np.tile([0.0, 0.0, 1.0], (num_frames, 1)), 0.3 * t + 0.2)
    lower, upper = np.array(robot.joint_lower_rad), np.array(robot.joint_upper_rad)
    mid, half = 0.5 * (lower + upper), 0.5 * (upper - lower)
    phase = np.arange(robot.num_joints)
    joint_pos = mid + 0.4 * half * np.sin(2 * math.pi * 0.7 * t[:, None] + phase)
    return Motion.from_kinematics(robot, FPS, root_pos, root_quat, joint_pos, source="known")


def row(root: str = "0,0,0.75", quat: str = "0,0,0,1", joints: list[float] | None = None) -> str:
    joints = list(G1.default_joint_pos_rad) if joints is None else joints
    return f"{root},{quat}," + ",".join(repr(v) for v in joints)


def test_round_trip_within_1e_9(tmp_path: Path) -> None:
    motion = known_motion(G1)
    path = write_robot_csv(motion, tmp_path / "out" / "walk.csv")
    lines = path.read_text().splitlines()
    assert len(lines) == motion.num_frames
    assert all(len(line.split(",")) == 7 + 29 for line in lines)
    back = read_robot_csv(path, G1, fps=FPS)
    assert back.num_frames == motion.num_frames and back.fps == FPS
    assert back.joint_names == G1.joint_names
    for name in ("root_pos_w", "root_quat_w", "joint_pos", "body_pos_w", "joint_vel"):
        np.testing.assert_allclose(getattr(back, name), getattr(motion, name), atol=1e-9)
    # repr() is the shortest text that reads back as the same float: the joints come back exact.
    np.testing.assert_array_equal(back.joint_pos, motion.joint_pos)


def test_quaternion_column_order_is_xyzw(tmp_path: Path) -> None:
    # A 90° yaw: (x, y, z, w) = (0, 0, sin 45°, cos 45°) = (0, 0, 0.7071, 0.7071) in the file,
    # wxyz (0.7071, 0, 0, 0.7071) inside humimic.
    path = tmp_path / "yaw.csv"
    path.write_text(row(quat="0,0,0.7071,0.7071") + "\n")
    motion = read_robot_csv(path, G1)
    np.testing.assert_allclose(motion.root_quat_w[0], [0.7071, 0, 0, 0.7071], atol=1e-4)
    assert motion.fps == 30.0  # the Unitree default
    # Writing puts w last again.
    out = write_robot_csv(motion, tmp_path / "yaw_out.csv")
    x, y, z, w = (float(v) for v in out.read_text().split(",")[3:7])
    assert (x, y) == (0.0, 0.0)
    assert z == pytest.approx(math.sqrt(0.5)) and w == pytest.approx(math.sqrt(0.5))


def test_blank_lines_are_skipped_and_numbering_kept(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text(row() + "\n\n" + row() + "\n" + row(root="0,0") + "\n")
    with pytest.raises(RetargetError, match=r"gaps\.csv: line 4: expected 36 values"):
        read_robot_csv(path, G1)


def _joints_with(index: int, value: float) -> list[float]:
    joints = list(G1.default_joint_pos_rad)
    joints[index] = value
    return joints


KNEE = G1.joint_index("left_knee_joint")  # limits [-0.087267, 2.8798]
BROKEN: dict[str, tuple[str, list[str]]] = {
    # name: (file text, substrings the message must contain besides the file name)
    "too_few": (
        row() + "\n" + ",".join(row().split(",")[:-1]) + "\n",
        [
            "line 2: expected 36 values (3 root position + 4 root quaternion xyzw + 29 joints)",
            "got 35",
        ],
    ),
    "too_many": (row() + ",0.0\n", ["line 1", "expected 36 values", "got 37"]),
    "nan": (row() + "\n" + row(root="0,nan,0.75") + "\n", ["line 2", "column 2 (root y)", "nan"]),
    "inf_joint": (
        row(joints=_joints_with(KNEE, math.inf)) + "\n",
        ["line 1", "left_knee_joint", "'inf'"],
    ),
    "not_a_number": (row(root="0,zero,0.75") + "\n", ["line 1", "root y", "'zero'"]),
    "header": ("x,y,z,qx,qy,qz,qw," + ",".join(G1.joint_names) + "\n", ["line 1", "'x'"]),
    "non_unit_quat": (
        row() + "\n" + row() + "\n" + row(quat="0,0,0.5,0.5") + "\n",
        ["line 3", "root quaternion", "xyzw", "0.707107", "unit"],
    ),
    "zero_quat": (row(quat="0,0,0,0") + "\n", ["line 1", "norm 0"]),
    "joint_over_limit": (
        row() + "\n" + row(joints=_joints_with(KNEE, 2.8798 + 0.02)) + "\n",
        ["line 2", "left_knee_joint", "2.8998", "[-0.087267, 2.8798]"],
    ),
    "joint_under_limit": (
        row(joints=_joints_with(KNEE, -0.2)) + "\n",
        ["line 1", "left_knee_joint", "-0.2"],
    ),
    "empty": ("", ["empty file", "36 values"]),
    "only_blank_lines": ("\n\n  \n", ["empty file"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_csv_message_names_file_and_line(case: str, tmp_path: Path) -> None:
    text, expected = BROKEN[case]
    path = tmp_path / f"{case}.csv"
    path.write_text(text)
    with pytest.raises(RetargetError) as info:
        read_robot_csv(path, G1)
    message = str(info.value)
    assert "\n" not in message
    for part in [f"{case}.csv", *expected]:
        assert part in message, f"{part!r} not in {message!r}"


def test_joint_just_inside_the_tolerance_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "edge.csv"
    path.write_text(row(joints=_joints_with(KNEE, 2.8798 + 0.009)) + "\n")
    assert read_robot_csv(path, G1).joint_pos[0, KNEE] == pytest.approx(2.8888)


def test_bad_fps_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text(row() + "\n")
    with pytest.raises(RetargetError, match=r"ok\.csv: fps"):
        read_robot_csv(path, G1, fps=0.0)
    with pytest.raises(RetargetError, match="not found.*missing.csv"):
        read_robot_csv(tmp_path / "missing.csv", G1)


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    motion = known_motion(G1, num_frames=3)
    target = tmp_path / "clip.csv"
    target.write_text("old content\n")

    def broken_write(self: Path, text: str, *args: object, **kwargs: object) -> int:
        with open(self, "w") as fh:
            fh.write(text[: len(text) // 2])  # half a file, then the disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr(Path, "write_text", broken_write)
    with pytest.raises(OSError, match="No space"):
        write_robot_csv(motion, target)
    monkeypatch.undo()
    assert target.read_text() == "old content\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.csv"]  # no temporary left
    with pytest.raises(OSError):
        monkeypatch.setattr(Path, "write_text", broken_write)
        write_robot_csv(motion, tmp_path / "new.csv")
    monkeypatch.undo()
    assert not (tmp_path / "new.csv").exists()
