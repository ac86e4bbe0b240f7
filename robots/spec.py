"""What a robot is, as data: the :class:`RobotSpec` every other package reads.

A robot module (``robots/g1.py``) fills one ``RobotSpec``; builders turn it into a
Pinocchio model (:mod:`humimic.robots.pinocchio_model`) and a MuJoCo model
(:mod:`humimic.robots.mujoco_model`). No task, retarget or deploy code knows a
robot other than through this record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from humimic.errors import ConfigError, RobotError, unknown_name

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class MotorClass:
    """An actuator model: a motor behind a two-stage planetary gearbox.

    Attributes:
        name: Unitree's part name, e.g. ``"7520-14"``.
        rotor_inertias_kg_m2: inertia of the rotor and of the two planet stages.
        gear_ratios: ratio of each stage (first is 1: the rotor itself).
        parallel: number of motors driving one joint through a linkage
            (G1 ankles and waist roll/pitch: 2).
    """

    name: str
    rotor_inertias_kg_m2: tuple[float, float, float]
    gear_ratios: tuple[float, float, float]
    parallel: int = 1

    def __post_init__(self) -> None:
        if self.gear_ratios[0] != 1.0:
            raise ConfigError(
                f"motor {self.name}: gear_ratios[0] must be 1, got {self.gear_ratios}"
            )
        if self.parallel < 1:
            raise ConfigError(f"motor {self.name}: parallel must be >= 1, got {self.parallel}")

    @property
    def armature_kg_m2(self) -> float:
        """Reflected inertia at the joint output.

        Each stage's inertia is reflected through the gears after it:
        ``J = I0·(g1·g2)² + I1·g2² + I2``, times ``parallel`` motors.
        """
        i0, i1, i2 = self.rotor_inertias_kg_m2
        _, g1, g2 = self.gear_ratios
        return self.parallel * (i0 * (g1 * g2) ** 2 + i1 * g2**2 + i2)


@dataclass(frozen=True)
class JointSpec:
    """One actuated joint, in policy order.

    Attributes:
        name: joint name in the URDF.
        motor: the actuator driving it.
        lower_rad, upper_rad: position limits.
        velocity_limit_rad_s: velocity limit.
        effort_limit_nm: torque limit.
        default_pos_rad: standing pose.
    """

    name: str
    motor: MotorClass
    lower_rad: float
    upper_rad: float
    velocity_limit_rad_s: float
    effort_limit_nm: float
    default_pos_rad: float = 0.0

    def __post_init__(self) -> None:
        if not self.lower_rad < self.upper_rad:
            raise ConfigError(
                f"joint {self.name}: lower {self.lower_rad} >= upper {self.upper_rad}"
            )
        if not self.lower_rad <= self.default_pos_rad <= self.upper_rad:
            raise ConfigError(
                f"joint {self.name}: default_pos_rad {self.default_pos_rad} outside "
                f"[{self.lower_rad}, {self.upper_rad}]"
            )
        if self.velocity_limit_rad_s <= 0 or self.effort_limit_nm <= 0:
            raise ConfigError(f"joint {self.name}: velocity and effort limits must be > 0")


@dataclass(frozen=True)
class ExtraFrame:
    """A frame rigidly attached to a body, added to both models (e.g. the head centre)."""

    name: str
    parent_body: str
    pos_b: Vec3


@dataclass(frozen=True)
class Capsule:
    """A collision capsule from ``a_b`` to ``b_b`` (body frame, m) with ``radius_m``."""

    name: str
    body: str
    a_b: Vec3
    b_b: Vec3
    radius_m: float

    @property
    def length_m(self) -> float:
        return math.dist(self.a_b, self.b_b)


@dataclass(frozen=True)
class Foot:
    """A foot: its body and the rectangle of its sole in that body's frame.

    The sole is the plane ``z = sole_z_b`` bounded by ``x_range_b`` × ``y_range_b``.
    """

    name: str
    body: str
    x_range_b: tuple[float, float]
    y_range_b: tuple[float, float]
    sole_z_b: float

    def sole_corners_b(self) -> tuple[Vec3, Vec3, Vec3, Vec3]:
        """The four sole corners (heel-right, heel-left, toe-right, toe-left) in the body frame."""
        (x0, x1), (y0, y1), z = self.x_range_b, self.y_range_b, self.sole_z_b
        return ((x0, y0, z), (x0, y1, z), (x1, y0, z), (x1, y1, z))


@dataclass(frozen=True)
class UrdfSource:
    """Where the robot's URDF lives: an installed distribution and a path in its share folder."""

    distribution: str
    path_suffix: str


@dataclass(frozen=True, eq=False)  # identity hash: a spec is a singleton, usable as a cache key
class RobotSpec:
    """Everything robot-specific. See ``robots/g1.py`` for a filled example.

    Attributes:
        name: registry name (``"g1"``).
        urdf: where the URDF is installed.
        joints: actuated joints in policy order (also the motor order on hardware).
        root_body: the floating base body.
        anchor_body: the body observations and rewards are expressed relative to.
        imu_body: the body carrying the IMU used by deploy.
        tracked_bodies: bodies (or extra frames) a Motion clip stores and imitation tracks.
        extra_frames: frames added to both models.
        feet: the feet, with sole geometry.
        capsules: simple collision primitives used in simulation and for self-collision checks.
        human_map: canonical human joint → robot body/frame, for retargeting.
        natural_freq_hz, damping_ratio: the PD design point of the policy (see :attr:`kp`).
        stand_natural_freq_hz: the stiffer design point used to hold a pose without a policy
            (deploy's STAND state, the standing test); see :meth:`pd_gains`.
        action_scale_effort_fraction: action scale = fraction × effort / kp.
        default_root_height_m: pelvis height when standing in the default pose.
    """

    name: str
    urdf: UrdfSource
    joints: tuple[JointSpec, ...]
    root_body: str
    anchor_body: str
    imu_body: str
    tracked_bodies: tuple[str, ...]
    extra_frames: tuple[ExtraFrame, ...]
    feet: tuple[Foot, ...]
    capsules: tuple[Capsule, ...]
    human_map: dict[str, str]
    natural_freq_hz: float
    damping_ratio: float
    stand_natural_freq_hz: float
    action_scale_effort_fraction: float
    default_root_height_m: float
    _joint_index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [j.name for j in self.joints]
        if len(set(names)) != len(names):
            raise ConfigError(f"robot {self.name}: duplicate joint names")
        if self.natural_freq_hz <= 0 or self.damping_ratio <= 0 or self.stand_natural_freq_hz <= 0:
            raise ConfigError(
                f"robot {self.name}: natural frequencies and damping_ratio must be > 0"
            )
        frames = {f.name for f in self.extra_frames}
        for foot in self.feet:
            if foot.body not in self.tracked_bodies and foot.body not in frames:
                raise ConfigError(f"robot {self.name}: foot body {foot.body} is not tracked")
        object.__setattr__(self, "_joint_index", {n: i for i, n in enumerate(names)})

    # -- joints ---------------------------------------------------------------------------
    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def joint_index(self, name: str) -> int:
        """Policy-order index of joint ``name``; the error lists the valid names."""
        try:
            return self._joint_index[name]
        except KeyError:
            raise RobotError(unknown_name(f"{self.name} joint", name, self.joint_names)) from None

    # -- derived gains, in policy order -------------------------------------------------
    @property
    def armature_kg_m2(self) -> tuple[float, ...]:
        return tuple(j.motor.armature_kg_m2 for j in self.joints)

    def pd_gains(self, natural_freq_hz: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(kp, kd)`` per joint for a design natural frequency, with ``ζ = damping_ratio``.

        ``kp = J·ω²`` and ``kd = 2ζ·J·ω`` with ``ω = 2π·natural_freq_hz``: each joint, seen as
        its reflected inertia ``J`` on a spring and damper, oscillates at that frequency.
        """
        omega = 2.0 * math.pi * natural_freq_hz
        kp = tuple(a * omega**2 for a in self.armature_kg_m2)
        kd = tuple(2.0 * self.damping_ratio * a * omega for a in self.armature_kg_m2)
        return kp, kd

    @property
    def kp_nm_per_rad(self) -> tuple[float, ...]:
        """Policy stiffness (``pd_gains(natural_freq_hz)``)."""
        return self.pd_gains(self.natural_freq_hz)[0]

    @property
    def kd_nm_s_per_rad(self) -> tuple[float, ...]:
        """Policy damping (``pd_gains(natural_freq_hz)``)."""
        return self.pd_gains(self.natural_freq_hz)[1]

    @property
    def action_scale_rad(self) -> tuple[float, ...]:
        """Joint target offset per unit action: ``fraction · effort_limit / kp`` (rad)."""
        return tuple(
            self.action_scale_effort_fraction * j.effort_limit_nm / kp
            for j, kp in zip(self.joints, self.kp_nm_per_rad, strict=True)
        )

    @property
    def default_joint_pos_rad(self) -> tuple[float, ...]:
        return tuple(j.default_pos_rad for j in self.joints)

    @property
    def joint_lower_rad(self) -> tuple[float, ...]:
        return tuple(j.lower_rad for j in self.joints)

    @property
    def joint_upper_rad(self) -> tuple[float, ...]:
        return tuple(j.upper_rad for j in self.joints)

    @property
    def velocity_limit_rad_s(self) -> tuple[float, ...]:
        return tuple(j.velocity_limit_rad_s for j in self.joints)

    @property
    def effort_limit_nm(self) -> tuple[float, ...]:
        return tuple(j.effort_limit_nm for j in self.joints)

    def foot(self, name: str) -> Foot:
        for f in self.feet:
            if f.name == name:
                return f
        raise RobotError(unknown_name(f"{self.name} foot", name, [f.name for f in self.feet]))
