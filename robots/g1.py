"""Unitree G1, 29 DoF (rev 1.0), from ``example-robot-data``'s ``g1_29dof_rev_1_0.urdf``.

Sources and decisions:

* **Joint order** is the URDF's depth-first order, which is also the order of the
  G1's motor slots on ``rt/lowcmd`` (0–5 left leg, 6–11 right leg, 12–14 waist,
  15–21 left arm, 22–28 right arm), so the policy order is the hardware order.
* **Limits** (position, velocity, effort) are the URDF's, digit for digit; a test
  reads the URDF and compares. Unitree's motor datasheets give higher peak torques
  for the ankles and waist roll/pitch (two 5020 motors through a linkage: 2 × 25 N·m
  = 50 N·m, which mjlab uses). We keep the URDF's 35 N·m: it is what Unitree
  publishes for the *joint*, it is conservative for deploy, and the torque clamp in
  the safety supervisor uses the same number the policy was trained with.
* **Armature** is the reflected inertia of each motor class (rotor and planet-stage
  inertias and gear ratios from Unitree's motor specs, as collected by mjlab's
  ``g1_constants.py``). For the linkage joints two 5020 motors add up.
* **Gains** follow the "armature-based" PD design used by BeyondMimic/mjlab:
  ``kp = J·ω²``, ``kd = 2ζ·J·ω`` with ω = 2π·10 Hz and ζ = 2 (overdamped, so the
  joint does not ring at the policy rate). Action scale = 0.25 · effort / kp.
* **Standing without a policy** (deploy's STAND state, the standing test) uses the same
  formula at ``STAND_NATURAL_FREQ_HZ``; see the arithmetic beside it.
* **Default pose** is the knees-bent stance used by BeyondMimic/mjlab's G1 tracking.
"""

from __future__ import annotations

from humimic.robots.spec import (
    Capsule,
    ExtraFrame,
    Foot,
    JointSpec,
    MotorClass,
    RobotSpec,
    UrdfSource,
)

# --- motor classes (rotor + two planetary stages; Unitree specs) ---------------------------
M5020 = MotorClass(
    "5020", (0.139e-4, 0.017e-4, 0.169e-4), (1.0, 1.0 + 46.0 / 18.0, 1.0 + 56.0 / 16.0)
)
M5020_X2 = MotorClass(
    "2x5020",
    (0.139e-4, 0.017e-4, 0.169e-4),
    (1.0, 1.0 + 46.0 / 18.0, 1.0 + 56.0 / 16.0),
    parallel=2,
)
M7520_14 = MotorClass("7520-14", (0.489e-4, 0.098e-4, 0.533e-4), (1.0, 4.5, 1.0 + 48.0 / 22.0))
M7520_22 = MotorClass("7520-22", (0.489e-4, 0.109e-4, 0.738e-4), (1.0, 4.5, 5.0))
M4010 = MotorClass("4010", (0.068e-4, 0.0, 0.0), (1.0, 5.0, 5.0))

NATURAL_FREQ_HZ = 10.0  # PD natural frequency of the policy (BeyondMimic / mjlab G1)
DAMPING_RATIO = 2.0  # overdamped
# Holding a pose by PD alone needs the ankles to beat gravity's toppling stiffness
# m·g·h ≈ 33.3 kg · 9.81 · 0.67 m ≈ 219 N·m/rad; at 10 Hz the two ankles give 2 × 28.5 = 57, so
# the policy must balance actively (as on the real robot). At 30 Hz they give 2 × 256 = 513.
STAND_NATURAL_FREQ_HZ = 30.0
ACTION_SCALE_EFFORT_FRACTION = 0.25

# --- joints in policy (= URDF = motor-slot) order --------------------------------------------
#        name                        motor     lower         upper         vel   effort default
_JOINT_TABLE: tuple[tuple[str, MotorClass, float, float, float, float, float], ...] = (
    ("left_hip_pitch_joint", M7520_14, -2.5307, 2.8798, 32.0, 88.0, -0.312),
    ("left_hip_roll_joint", M7520_22, -0.5236, 2.9671, 20.0, 139.0, 0.0),
    ("left_hip_yaw_joint", M7520_14, -2.7576, 2.7576, 32.0, 88.0, 0.0),
    ("left_knee_joint", M7520_22, -0.087267, 2.8798, 20.0, 139.0, 0.669),
    ("left_ankle_pitch_joint", M5020_X2, -0.87267, 0.5236, 30.0, 35.0, -0.363),
    ("left_ankle_roll_joint", M5020_X2, -0.2618, 0.2618, 30.0, 35.0, 0.0),
    ("right_hip_pitch_joint", M7520_14, -2.5307, 2.8798, 32.0, 88.0, -0.312),
    ("right_hip_roll_joint", M7520_22, -2.9671, 0.5236, 20.0, 139.0, 0.0),
    ("right_hip_yaw_joint", M7520_14, -2.7576, 2.7576, 32.0, 88.0, 0.0),
    ("right_knee_joint", M7520_22, -0.087267, 2.8798, 20.0, 139.0, 0.669),
    ("right_ankle_pitch_joint", M5020_X2, -0.87267, 0.5236, 30.0, 35.0, -0.363),
    ("right_ankle_roll_joint", M5020_X2, -0.2618, 0.2618, 30.0, 35.0, 0.0),
    ("waist_yaw_joint", M7520_14, -2.618, 2.618, 32.0, 88.0, 0.0),
    ("waist_roll_joint", M5020_X2, -0.52, 0.52, 30.0, 35.0, 0.0),
    ("waist_pitch_joint", M5020_X2, -0.52, 0.52, 30.0, 35.0, 0.0),
    ("left_shoulder_pitch_joint", M5020, -3.0892, 2.6704, 37.0, 25.0, 0.2),
    ("left_shoulder_roll_joint", M5020, -1.5882, 2.2515, 37.0, 25.0, 0.2),
    ("left_shoulder_yaw_joint", M5020, -2.618, 2.618, 37.0, 25.0, 0.0),
    ("left_elbow_joint", M5020, -1.0472, 2.0944, 37.0, 25.0, 0.6),
    ("left_wrist_roll_joint", M5020, -1.972222054, 1.972222054, 37.0, 25.0, 0.0),
    ("left_wrist_pitch_joint", M4010, -1.614429558, 1.614429558, 22.0, 5.0, 0.0),
    ("left_wrist_yaw_joint", M4010, -1.614429558, 1.614429558, 22.0, 5.0, 0.0),
    ("right_shoulder_pitch_joint", M5020, -3.0892, 2.6704, 37.0, 25.0, 0.2),
    ("right_shoulder_roll_joint", M5020, -2.2515, 1.5882, 37.0, 25.0, -0.2),
    ("right_shoulder_yaw_joint", M5020, -2.618, 2.618, 37.0, 25.0, 0.0),
    ("right_elbow_joint", M5020, -1.0472, 2.0944, 37.0, 25.0, 0.6),
    ("right_wrist_roll_joint", M5020, -1.972222054, 1.972222054, 37.0, 25.0, 0.0),
    ("right_wrist_pitch_joint", M4010, -1.614429558, 1.614429558, 22.0, 5.0, 0.0),
    ("right_wrist_yaw_joint", M4010, -1.614429558, 1.614429558, 22.0, 5.0, 0.0),
)

JOINTS = tuple(JointSpec(n, m, lo, hi, v, e, d) for n, m, lo, hi, v, e, d in _JOINT_TABLE)

# --- frames and bodies -------------------------------------------------------------------------
# head_link's origin sits at the waist (the head mesh is offset inside it), so the head centre is
# an extra frame; the toes likewise (front edge of the sole).
EXTRA_FRAMES = (
    ExtraFrame("head", "head_link", (0.01, 0.0, 0.45)),
    ExtraFrame("neck", "torso_link", (0.0, 0.0, 0.33)),
    ExtraFrame("left_toe", "left_ankle_roll_link", (0.12, 0.0, -0.035)),
    ExtraFrame("right_toe", "right_ankle_roll_link", (0.12, 0.0, -0.035)),
)

TRACKED_BODIES = (
    "pelvis",
    "left_hip_roll_link",
    "left_knee_link",
    "left_ankle_roll_link",
    "right_hip_roll_link",
    "right_knee_link",
    "right_ankle_roll_link",
    "torso_link",
    "left_shoulder_roll_link",
    "left_elbow_link",
    "left_wrist_yaw_link",
    "right_shoulder_roll_link",
    "right_elbow_link",
    "right_wrist_yaw_link",
    "head",
)

# Sole: the URDF's four contact spheres (r = 5 mm) sit at x ∈ {-0.05, 0.12}, y ≈ ±0.025..0.03,
# z = -0.03 in the ankle-roll frame, so the sole plane is z = -0.035.
FEET = (
    Foot("left_foot", "left_ankle_roll_link", (-0.05, 0.12), (-0.03, 0.03), -0.035),
    Foot("right_foot", "right_ankle_roll_link", (-0.05, 0.12), (-0.03, 0.03), -0.035),
)


def _mirror(c: Capsule) -> Capsule:
    """The right-side twin of a left-side capsule (y ↦ -y, left_ ↦ right_)."""
    flip = lambda p: (p[0], -p[1], p[2])  # noqa: E731
    return Capsule(
        c.name.replace("left_", "right_"),
        c.body.replace("left_", "right_"),
        flip(c.a_b),
        flip(c.b_b),
        c.radius_m,
    )


_LEFT_CAPSULES = (
    Capsule("left_thigh", "left_hip_yaw_link", (0.0, 0.0, 0.0), (-0.07, 0.002, -0.16), 0.06),
    Capsule("left_shin", "left_knee_link", (0.0, 0.0, -0.05), (0.0, 0.0, -0.25), 0.045),
    # two capsules per sole: bottoms at z = -0.025 - 0.01 = -0.035 (the sole plane),
    # x extent -0.04 - 0.01 .. 0.11 + 0.01 = -0.05 .. 0.12
    Capsule(
        "left_sole_in", "left_ankle_roll_link", (-0.04, -0.02, -0.025), (0.11, -0.02, -0.025), 0.01
    ),
    Capsule(
        "left_sole_out", "left_ankle_roll_link", (-0.04, 0.02, -0.025), (0.11, 0.02, -0.025), 0.01
    ),
    Capsule(
        "left_upper_arm", "left_shoulder_yaw_link", (0.0, 0.0, 0.04), (0.0158, 0.0, -0.08), 0.04
    ),
    Capsule("left_forearm", "left_elbow_link", (0.0, 0.0, 0.0), (0.1, 0.0, -0.01), 0.035),
    Capsule("left_hand", "left_rubber_hand", (0.0, 0.0, 0.0), (0.06, 0.0, 0.0), 0.035),
)

CAPSULES = (
    # sized from the visual meshes' bounding boxes (pelvis: x ±0.05, y ±0.068, z -0.15..0)
    Capsule("pelvis", "pelvis", (0.0, -0.015, -0.075), (0.0, 0.015, -0.075), 0.058),
    Capsule("torso", "torso_link", (0.0, 0.0, 0.08), (0.0, 0.0, 0.25), 0.08),
    Capsule("head", "head_link", (0.01, 0.0, 0.42), (0.01, 0.0, 0.48), 0.07),
    *_LEFT_CAPSULES,
    *(_mirror(c) for c in _LEFT_CAPSULES),
)

# canonical human joint → robot body or extra frame
HUMAN_MAP = {
    "pelvis": "pelvis",
    "spine": "waist_yaw_link",
    "chest": "torso_link",
    "neck": "neck",
    "head": "head",
    "left_hip": "left_hip_roll_link",
    "left_knee": "left_knee_link",
    "left_ankle": "left_ankle_roll_link",
    "left_toe": "left_toe",
    "right_hip": "right_hip_roll_link",
    "right_knee": "right_knee_link",
    "right_ankle": "right_ankle_roll_link",
    "right_toe": "right_toe",
    "left_shoulder": "left_shoulder_roll_link",
    "left_elbow": "left_elbow_link",
    "left_wrist": "left_wrist_yaw_link",
    "right_shoulder": "right_shoulder_roll_link",
    "right_elbow": "right_elbow_link",
    "right_wrist": "right_wrist_yaw_link",
}

G1 = RobotSpec(
    name="g1",
    urdf=UrdfSource("example-robot-data", "robots/g1_description/urdf/g1_29dof_rev_1_0.urdf"),
    joints=JOINTS,
    root_body="pelvis",
    anchor_body="torso_link",
    imu_body="imu_in_pelvis",
    tracked_bodies=TRACKED_BODIES,
    extra_frames=EXTRA_FRAMES,
    feet=FEET,
    capsules=CAPSULES,
    human_map=HUMAN_MAP,
    natural_freq_hz=NATURAL_FREQ_HZ,
    damping_ratio=DAMPING_RATIO,
    stand_natural_freq_hz=STAND_NATURAL_FREQ_HZ,
    action_scale_effort_fraction=ACTION_SCALE_EFFORT_FRACTION,
    default_root_height_m=0.757,  # lowest sole corner at z = 0 (tested)
)
