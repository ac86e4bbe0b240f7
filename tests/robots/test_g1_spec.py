"""The G1 table matches its sources: the URDF (read here independently) and the gain formula."""

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from humimic.errors import RobotError
from humimic.robots import get_robot
from humimic.robots.assets import urdf_path


def _urdf_joints(spec):
    root = ET.parse(urdf_path(spec.urdf)).getroot()
    out = {}
    for j in root.iter("joint"):
        if j.get("type") == "revolute":
            lim = j.find("limit")
            out[j.get("name")] = tuple(
                float(lim.get(k)) for k in ("lower", "upper", "velocity", "effort")
            )
    return out


def test_joint_order_and_limits_equal_the_urdf(g1):
    urdf = _urdf_joints(g1)
    # policy order = URDF order = the G1's motor slots 0..28
    assert list(g1.joint_names) == list(urdf)
    assert g1.num_joints == 29
    for j in g1.joints:
        lower, upper, vel, effort = urdf[j.name]
        assert (j.lower_rad, j.upper_rad, j.velocity_limit_rad_s, j.effort_limit_nm) == (
            lower,
            upper,
            vel,
            effort,
        ), j.name


def test_gains_follow_armature_formula_hand_computed(g1):
    # left_knee_joint, motor 7520-22: J = 0.489e-4·(4.5·5)² + 0.109e-4·5² + 0.738e-4
    #   = 0.0247556 + 0.0002725 + 0.0000738 = 0.0251019 kg·m²
    # ω = 2π·10 = 62.8319 rad/s → kp = J·ω² = 0.0251019 · 3947.84 = 99.098 N·m/rad
    #   kd = 2·ζ·J·ω = 2·2·0.0251019·62.8319 = 6.3088 N·m·s/rad
    k = g1.joint_index("left_knee_joint")
    assert g1.armature_kg_m2[k] == pytest.approx(0.0251019, rel=1e-5)
    assert g1.kp_nm_per_rad[k] == pytest.approx(99.098, rel=1e-4)
    assert g1.kd_nm_s_per_rad[k] == pytest.approx(6.3088, rel=1e-4)
    # action scale = 0.25 · 139 / 99.098 = 0.35066 rad
    assert g1.action_scale_rad[k] == pytest.approx(0.35066, rel=1e-4)

    # left_ankle_pitch_joint, two 5020 motors: one 5020 has
    #   J = 0.139e-4·(3.5556·4.5)² + 0.017e-4·4.5² + 0.169e-4 = 0.0035584 + 0.0000344 + 0.0000169
    #     = 0.0036097, so two give 0.0072195 kg·m²; kp = 0.0072195 · 3947.84 = 28.501 N·m/rad
    a = g1.joint_index("left_ankle_pitch_joint")
    assert g1.armature_kg_m2[a] == pytest.approx(0.0072195, rel=1e-4)
    assert g1.kp_nm_per_rad[a] == pytest.approx(28.501, rel=1e-4)
    assert g1.kd_nm_s_per_rad[a] == pytest.approx(4 * 0.0072195 * 2 * math.pi * 10, rel=1e-4)


def test_every_joint_uses_its_motor_class_formula(g1):
    omega = 2 * math.pi * g1.natural_freq_hz
    for j, kp, kd in zip(g1.joints, g1.kp_nm_per_rad, g1.kd_nm_s_per_rad, strict=True):
        assert kp == pytest.approx(j.motor.armature_kg_m2 * omega**2)
        assert kd == pytest.approx(2 * g1.damping_ratio * j.motor.armature_kg_m2 * omega)
    motors = {j.name: j.motor.name for j in g1.joints}
    assert motors["left_hip_pitch_joint"] == "7520-14"
    assert motors["right_knee_joint"] == "7520-22"
    assert motors["waist_roll_joint"] == "2x5020"
    assert motors["left_wrist_yaw_joint"] == "4010"


def test_default_pose_within_limits_and_soles_on_the_ground(g1):
    from humimic.robots.kinematics import ForwardKinematics

    q = np.array(g1.default_joint_pos_rad)
    assert np.all(q >= g1.joint_lower_rad) and np.all(q <= g1.joint_upper_rad)
    corners = ForwardKinematics(g1, ()).sole_corners_w(
        np.array([0, 0, g1.default_root_height_m]), np.array([1.0, 0, 0, 0]), q
    )
    assert corners[..., 2].min() == pytest.approx(0.0, abs=1e-3)
    assert corners[..., 2].max() < 0.003  # both soles flat


def test_lookups_list_valid_names(g1):
    with pytest.raises(RobotError, match="unknown g1 joint 'knee'.*left_knee_joint"):
        g1.joint_index("knee")
    with pytest.raises(RobotError, match="unknown robot 'h1'; valid: g1"):
        get_robot("h1")


def test_human_map_targets_exist_in_both_models(g1):
    from humimic.robots.pinocchio_model import build_pinocchio

    pin_robot = build_pinocchio(g1)
    canonical = {
        "pelvis",
        "spine",
        "chest",
        "neck",
        "head",
        "left_hip",
        "left_knee",
        "left_ankle",
        "left_toe",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
    }
    assert canonical <= set(g1.human_map)
    for frame in g1.human_map.values():
        pin_robot.frame_id(frame)  # raises if missing
