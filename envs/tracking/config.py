"""Configuration of the tracking task: which terms, their weights, resets and episodes.

Terms are chosen by name from :data:`~humimic.envs.tracking.observations.OBSERVATION_TERMS`
and :data:`~humimic.envs.tracking.rewards.REWARD_TERMS` and resolved once, when the env is
built. Defaults follow BeyondMimic (Liao et al. 2025; mjlab ``tasks/tracking``): the six
body-relative kernels and three regularizers, its termination thresholds and its
reference-state-initialization noise. Variants are config deltas
(``dataclasses.replace``), never copied envs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from humimic.domain_rand import DomainRandConfig
from humimic.errors import ConfigError, unknown_name

from .observations import OBSERVATION_TERMS
from .rewards import REWARD_TERMS

__all__ = [
    "ACTOR_TERMS",
    "CRITIC_TERMS",
    "DEFAULT_REWARDS",
    "HeadingGoal",
    "RsiNoise",
    "TrackingConfig",
]

ACTOR_TERMS: tuple[str, ...] = (
    "ref_joint_pos",
    "ref_joint_vel",
    "ref_anchor_ori_b",
    "base_ang_vel_b",
    "projected_gravity_b",
    "joint_pos_rel",
    "joint_vel",
    "last_action",
)
"""What a real G1 can feed: no base linear velocity, no global position (BeyondMimic's
"without state estimation" variant). ``ref_anchor_ori_b`` needs the torso orientation, which
deploy gets from the pelvis IMU and the waist joints by forward kinematics."""

CRITIC_TERMS: tuple[str, ...] = (
    "ref_joint_pos",
    "ref_joint_vel",
    "ref_anchor_pos_b",
    "ref_anchor_ori_b",
    "body_pos_b",
    "body_ori_b",
    "base_lin_vel_b",
    "base_ang_vel_b",
    "joint_pos_rel",
    "joint_vel",
    "last_action",
)
"""Privileged critic (asymmetric actor-critic): adds the anchor offset, body poses relative to
the anchor and the base linear velocity, which only the simulator knows."""

DEFAULT_REWARDS: tuple[tuple[str, float], ...] = (
    ("anchor_pos_error_exp", 0.5),
    ("anchor_ori_error_exp", 0.5),
    ("body_pos_error_exp", 1.0),
    ("body_ori_error_exp", 1.0),
    ("body_lin_vel_error_exp", 1.0),
    ("body_ang_vel_error_exp", 1.0),
    ("action_rate_l2", -0.1),
    ("joint_limit_proximity", -10.0),
    ("undesired_contacts", -0.1),
)
"""BeyondMimic's weights. DeepMimic's ``r_I`` is ``pose_reward 0.65, velocity_reward 0.1,
end_effector_reward 0.15, com_reward 0.1``."""


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(
            f"TrackingConfig.{name}: expected a value in [{low}, {high}], got {value}"
        )


@dataclass(frozen=True)
class RsiNoise:
    """Noise added to the reference state at reset (uniform half-widths; BeyondMimic's).

    Attributes:
        root_pos_xy_m: root x/y (m). root_pos_z_m: root height (m).
        root_roll_pitch_rad: root roll and pitch (rad). root_yaw_rad: root yaw (rad).
        root_lin_vel_mps: root linear velocity, each axis (m/s).
        root_ang_vel_radps: root angular velocity, each axis (rad/s).
        joint_pos_rad: joint positions (rad; clamped into the joint limits afterwards).
    """

    root_pos_xy_m: float = 0.05
    root_pos_z_m: float = 0.01
    root_roll_pitch_rad: float = 0.1
    root_yaw_rad: float = 0.2
    root_lin_vel_mps: float = 0.5
    root_ang_vel_radps: float = 0.52
    joint_pos_rad: float = 0.1

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (math.isfinite(value) and value >= 0.0):
                raise ConfigError(f"RsiNoise.{name}: expected a half-width >= 0, got {value}")

    @staticmethod
    def off() -> RsiNoise:
        """Start exactly on the reference (evaluation)."""
        return RsiNoise(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class HeadingGoal:
    """DeepMimic's heading task (``r = w_I r_I + w_G r_G``): move along a target direction at a
    target speed while imitating. Drawn per env at each reset.

    The direction is the reference root's horizontal velocity direction at the episode's start
    (the way the clip goes; +x of the reference heading when the clip stands still), turned by
    a uniform angle in ``±heading_noise_rad``; the speed is uniform in
    ``[speed_low_mps, speed_high_mps]``. Select ``heading_velocity_reward`` with weight
    ``w_G`` (DeepMimic: 0.3, imitation terms scaled to ``w_I = 0.7``) and, so the policy sees
    the goal, the observation term ``target_heading_b`` in both groups.

    Attributes:
        speed_low_mps, speed_high_mps: target speed range (m/s).
        heading_noise_rad: half-width of the turn applied to the clip's direction (rad).
    """

    speed_low_mps: float = 0.5
    speed_high_mps: float = 1.5
    heading_noise_rad: float = 0.5

    def __post_init__(self) -> None:
        lo, hi = self.speed_low_mps, self.speed_high_mps
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi):
            raise ConfigError(
                f"HeadingGoal: expected 0 <= speed_low_mps <= speed_high_mps, got {lo}, {hi}"
            )
        if not (math.isfinite(self.heading_noise_rad) and 0.0 <= self.heading_noise_rad):
            raise ConfigError(
                f"HeadingGoal.heading_noise_rad: expected >= 0, got {self.heading_noise_rad}"
            )


@dataclass(frozen=True)
class TrackingConfig:
    """The tracking task (see the module docstring for the defaults' sources).

    Attributes:
        num_envs: parallel envs.
        decimation: physics steps per policy step (200 Hz physics / 4 = 50 Hz policy).
        num_threads: physics worker threads.
        episode_length_s: time-out (s); an episode also ends at the end of its clip.
        actor_terms, critic_terms: observation term names, in concatenation order.
        rewards: ``(term name, weight)`` pairs; costs take negative weights.
        anchor_height_threshold_m: terminate when the torso height is off by more (m).
        anchor_orientation_threshold: terminate when the torso tilt (projected-gravity z)
            differs by more (no unit, 0..2).
        ee_height_threshold_m: terminate when a hand or foot height is off by more (m).
        ee_bodies: end effectors for the height termination and the DeepMimic term.
        terminate_on_nonfoot_contact: DeepMimic's early termination on any non-foot contact.
        rsi: reference state initialization noise.
        adaptive_sampling: start episodes where the policy fails (BeyondMimic bins).
        adaptive_bin_s, adaptive_alpha, adaptive_uniform_mix: the sampler's parameters.
        start_at_clip_begin: every episode starts at t = 0 (evaluation).
        clip_conditioning: append a clip one-hot to both observation groups ("auto": only
            with more than one clip).
        soft_joint_limit_fraction: the soft limits for ``joint_limit_proximity`` are this
            central fraction of the URDF range (legged_gym: 0.9).
        domain_rand: randomization terms.
        heading_goal: the optional task objective (``None``: pure imitation); see
            :class:`HeadingGoal`.
        seed: torch seed for resets, randomization and noise.
    """

    num_envs: int = 256
    decimation: int = 4
    num_threads: int = 2
    episode_length_s: float = 10.0
    actor_terms: tuple[str, ...] = ACTOR_TERMS
    critic_terms: tuple[str, ...] = CRITIC_TERMS
    rewards: tuple[tuple[str, float], ...] = DEFAULT_REWARDS
    anchor_height_threshold_m: float = 0.25
    anchor_orientation_threshold: float = 0.8
    ee_height_threshold_m: float = 0.25
    ee_bodies: tuple[str, ...] = (
        "left_ankle_roll_link",
        "right_ankle_roll_link",
        "left_wrist_yaw_link",
        "right_wrist_yaw_link",
    )
    terminate_on_nonfoot_contact: bool = False
    rsi: RsiNoise = field(default_factory=RsiNoise)
    adaptive_sampling: bool = True
    adaptive_bin_s: float = 1.0
    adaptive_alpha: float = 0.1
    adaptive_uniform_mix: float = 0.1
    start_at_clip_begin: bool = False
    clip_conditioning: str = "auto"
    soft_joint_limit_fraction: float = 0.9
    domain_rand: DomainRandConfig = field(default_factory=DomainRandConfig)
    heading_goal: HeadingGoal | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("num_envs", "decimation", "num_threads"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(
                    f"TrackingConfig.{name}: expected >= 1, got {getattr(self, name)}"
                )
        _check_range("episode_length_s", self.episode_length_s, 1e-3, 1e6)
        _check_range("anchor_height_threshold_m", self.anchor_height_threshold_m, 0.0, 10.0)
        _check_range("anchor_orientation_threshold", self.anchor_orientation_threshold, 0.0, 2.0)
        _check_range("ee_height_threshold_m", self.ee_height_threshold_m, 0.0, 10.0)
        _check_range("adaptive_bin_s", self.adaptive_bin_s, 1e-3, 1e6)
        _check_range("adaptive_alpha", self.adaptive_alpha, 1e-6, 1.0)
        _check_range("adaptive_uniform_mix", self.adaptive_uniform_mix, 0.0, 1.0)
        _check_range("soft_joint_limit_fraction", self.soft_joint_limit_fraction, 0.0, 1.0)
        for group in ("actor_terms", "critic_terms"):
            names = getattr(self, group)
            if not names:
                raise ConfigError(f"TrackingConfig.{group}: expected at least one term")
            for name in names:
                if name not in OBSERVATION_TERMS:
                    raise ConfigError(
                        unknown_name(
                            f"TrackingConfig.{group}: observation term", name, OBSERVATION_TERMS
                        )
                    )
        if not self.rewards:
            raise ConfigError("TrackingConfig.rewards: expected at least one (term, weight) pair")
        for name, weight in self.rewards:
            if name not in REWARD_TERMS:
                raise ConfigError(
                    unknown_name("TrackingConfig.rewards: reward term", name, REWARD_TERMS)
                )
            if not math.isfinite(weight):
                raise ConfigError(f"TrackingConfig.rewards: weight of {name!r} is {weight}")
        uses_goal = any(n == "heading_velocity_reward" for n, _ in self.rewards) or any(
            "target_heading_b" in g for g in (self.actor_terms, self.critic_terms)
        )
        if uses_goal and self.heading_goal is None:
            raise ConfigError(
                "TrackingConfig: heading_velocity_reward / target_heading_b need a task goal; "
                "set heading_goal=HeadingGoal(...)"
            )
        if self.clip_conditioning not in ("auto", "on", "off"):
            raise ConfigError(
                f"TrackingConfig.clip_conditioning: expected 'auto', 'on' or 'off', "
                f"got {self.clip_conditioning!r}"
            )

    def with_heading_goal(self, goal: HeadingGoal, w_task: float = 0.3) -> TrackingConfig:
        """This config plus the task objective, DeepMimic style: positive (imitation) weights
        scaled by ``w_I = 1 − w_task``, ``heading_velocity_reward`` with ``w_task``, and the goal
        observed by actor and critic (``target_heading_b``)."""
        if not 0.0 < w_task < 1.0:
            raise ConfigError(f"with_heading_goal: w_task must be in (0, 1), got {w_task}")
        w_i = 1.0 - w_task
        rewards = tuple((n, w_i * w if w > 0 else w) for n, w in self.rewards)
        return replace(
            self,
            actor_terms=(*self.actor_terms, "target_heading_b"),
            critic_terms=(*self.critic_terms, "target_heading_b"),
            rewards=(*rewards, ("heading_velocity_reward", w_task)),
            heading_goal=goal,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (saved with every run)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackingConfig:
        """Inverse of :meth:`to_dict` (validates everything again)."""
        data = dict(data)
        for key in ("actor_terms", "critic_terms", "ee_bodies"):
            if key in data:
                data[key] = tuple(data[key])
        if "rewards" in data:
            data["rewards"] = tuple((str(n), float(w)) for n, w in data["rewards"])
        if "rsi" in data and isinstance(data["rsi"], dict):
            data["rsi"] = RsiNoise(**data["rsi"])
        if isinstance(data.get("heading_goal"), dict):
            data["heading_goal"] = HeadingGoal(**data["heading_goal"])
        if "domain_rand" in data and isinstance(data["domain_rand"], dict):
            data["domain_rand"] = DomainRandConfig.from_dict(data["domain_rand"])
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(f"TrackingConfig: unknown fields {extra}; known: {sorted(known)}")
        return cls(**data)
