"""Domain randomization config: frozen dataclasses that check themselves.

Every term is ``None`` (off) or a range; :attr:`DomainRandConfig.enabled` switches all of them
off at once. Units are in the field names and comments. Where a default range comes from:

* **BeyondMimic**: its MuJoCo port ``mujocolab/mjlab``
  ``src/mjlab/tasks/tracking/tracking_env_cfg.py`` (``EventCfg``, ``ObservationCfg``), and the
  Isaac Lab original ``whole_body_tracking`` ``tasks/tracking/tracking_env_cfg.py`` (read in
  public forks of ``HybridRobotics/whole_body_tracking``).
* **unitree_rl_gym**: ``legged_gym/envs/g1/g1_config.py`` (``G1RoughCfg.domain_rand``) and
  ``legged_gym/envs/base/legged_robot_config.py`` (``noise_scales``).
* **HumanoidVerse / ASAP**: ``humanoidverse/config/domain_rand/domain_rand_base.yaml`` (read
  in public forks of LeCAR-Lab's repositories; the upstream file itself was not checked).
* **walk-these-ways**: ``go1_gym/envs/base/legged_robot_config.py`` (``domain_rand``).
* **unitree_mujoco**: Unitree's G1 MJCF ``unitree_robots/g1/g1_29dof.xml`` (joint defaults).
* **"our choice"**: a value we picked; the reason, and the nearest published value, are given
  beside it.

Restitution is *not* randomized, although BeyondMimic draws it in ``(0, 0.5)``: MuJoCo has no
restitution coefficient. Its contacts are soft constraints (``solref`` = time constant and
damping ratio, ``solimp`` = impedance); a bounce comes from an under-damped ``solref``, whose
effect also depends on mass, time step and penetration, so there is no honest mapping from a
PhysX restitution value, and with the default critically damped contacts feet do not bounce.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import torch

from humimic.errors import ConfigError

__all__ = [
    "DEFAULT_OBS_NOISE",
    "ComOffsetRange",
    "DomainRandConfig",
    "PushConfig",
    "Range",
]


@dataclass(frozen=True)
class Range:
    """A closed interval ``[low, high]`` sampled uniformly; ``low == high`` is a constant."""

    low: float
    high: float

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ConfigError(f"Range.{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"Range.{name} must be finite, got {value}")
            object.__setattr__(self, name, float(value))
        if self.low > self.high:
            raise ConfigError(f"Range: low {self.low} > high {self.high}")

    def sample(self, shape: int | tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """``float32`` tensor of ``shape`` drawn from ``U(low, high)`` on ``generator.device``."""
        size = (shape,) if isinstance(shape, int) else shape
        u = torch.rand(size, generator=generator, device=generator.device)
        return self.low + (self.high - self.low) * u

    def __str__(self) -> str:
        return f"({self.low}, {self.high})"


def sample_box(ranges: tuple[Range, ...], n: int, generator: torch.Generator) -> torch.Tensor:
    """``[n, len(ranges)]``: column ``k`` drawn from ``U(ranges[k])``."""
    low = torch.tensor([r.low for r in ranges], device=generator.device)
    high = torch.tensor([r.high for r in ranges], device=generator.device)
    u = torch.rand((n, len(ranges)), generator=generator, device=generator.device)
    return low + (high - low) * u


@dataclass(frozen=True)
class ComOffsetRange:
    """Offset of a body's centre of mass along each axis of the body frame (m).

    Defaults: BeyondMimic ``base_com`` on ``torso_link``: x ``(-0.025, 0.025)``,
    y ``(-0.05, 0.05)``, z ``(-0.05, 0.05)``.
    """

    x_m: Range = field(default_factory=lambda: Range(-0.025, 0.025))
    y_m: Range = field(default_factory=lambda: Range(-0.05, 0.05))
    z_m: Range = field(default_factory=lambda: Range(-0.05, 0.05))

    @property
    def axes(self) -> tuple[Range, Range, Range]:
        return (self.x_m, self.y_m, self.z_m)


@dataclass(frozen=True)
class PushConfig:
    """Random pushes: a velocity change added to the root, world frame, every few seconds.

    Each env has its own countdown, drawn from :attr:`interval_s` and redrawn after each push.
    Defaults: BeyondMimic ``push_robot`` (``interval_range_s=(1.0, 3.0)``, ``VELOCITY_RANGE``).
    """

    interval_s: Range = field(default_factory=lambda: Range(1.0, 3.0))
    """Time between two pushes of one env (s)."""
    x_m_s: Range = field(default_factory=lambda: Range(-0.5, 0.5))
    y_m_s: Range = field(default_factory=lambda: Range(-0.5, 0.5))
    z_m_s: Range = field(default_factory=lambda: Range(-0.2, 0.2))
    roll_rad_s: Range = field(default_factory=lambda: Range(-0.52, 0.52))
    pitch_rad_s: Range = field(default_factory=lambda: Range(-0.52, 0.52))
    yaw_rad_s: Range = field(default_factory=lambda: Range(-0.78, 0.78))

    def __post_init__(self) -> None:
        if self.interval_s.low <= 0:
            raise ConfigError(f"PushConfig.interval_s must be > 0 s, got {self.interval_s}")

    @property
    def lin_vel_w_m_s(self) -> tuple[Range, Range, Range]:
        """Ranges of the added linear velocity, world x, y, z (m/s)."""
        return (self.x_m_s, self.y_m_s, self.z_m_s)

    @property
    def ang_vel_w_rad_s(self) -> tuple[Range, Range, Range]:
        """Ranges of the added angular velocity about world x, y, z (rad/s)."""
        return (self.roll_rad_s, self.pitch_rad_s, self.yaw_rad_s)


DEFAULT_OBS_NOISE: tuple[tuple[str, float], ...] = (
    ("base_ang_vel_b", 0.2),  # BeyondMimic base_ang_vel; unitree_rl_gym noise_scales.ang_vel
    ("projected_gravity_b", 0.05),  # unitree_rl_gym noise_scales.gravity
    ("joint_pos_rel", 0.01),  # BeyondMimic joint_pos; unitree_rl_gym noise_scales.dof_pos
    ("joint_vel", 0.5),  # BeyondMimic joint_vel
    ("ref_anchor_pos_b", 0.25),  # BeyondMimic motion_ref_pos_b (mjlab)
    ("ref_anchor_ori_b", 0.05),  # BeyondMimic motion_ref_ori_b
)
"""Uniform observation noise half-widths, in each term's own units (rad/s, 1, rad, m, ...)."""


# Terms whose Range is a multiplicative scale of a nominal value: must stay > 0.
_SCALE_FIELDS = ("link_mass_scale", "kp_scale", "kd_scale", "motor_strength", "armature_scale")
# Terms whose Range is an absolute physical value that MuJoCo requires >= 0.
_NON_NEGATIVE_FIELDS = ("friction", "joint_damping_nm_s_per_rad", "joint_friction_nm")


@dataclass(frozen=True)
class DomainRandConfig:
    """Which randomization terms run and over which ranges. ``None`` turns a term off.

    When (per env): *startup* terms are drawn once by ``DomainRandomizer.on_startup``;
    *reset* terms at every episode reset (``on_reset``); pushes on a timer (``on_step``).
    """

    enabled: bool = True
    """Master switch: ``False`` applies nothing and the backend keeps its nominal values."""

    # -- startup: contact and inertia ------------------------------------------------------
    friction: Range | None = field(default_factory=lambda: Range(0.3, 1.6))
    """Sliding friction coefficient (1), one value per env for every geom (MuJoCo combines a
    contact's two geoms with ``max``, so the floor takes the same value). BeyondMimic
    ``static_friction_range`` ``(0.3, 1.6)``; MuJoCo has a single sliding coefficient, so we
    take the static range (the dynamic one, ``(0.3, 1.2)``, has no MuJoCo counterpart)."""

    link_mass_scale: Range | None = field(default_factory=lambda: Range(0.9, 1.1))
    """Mass (and rotational inertia) multiplier (1), per env per body, every body. Our choice:
    ±10 %, narrower than HumanoidVerse/ASAP ``link_mass_range`` ``(0.8, 1.2)``, since Unitree's
    link masses come from CAD and are weighed."""

    base_added_mass_kg: Range | None = field(default_factory=lambda: Range(-1.0, 3.0))
    """Mass added to the base body (kg), per env: a payload or a lighter battery.
    unitree_rl_gym G1 ``added_mass_range`` ``[-1, 3]``. Applied as a scale of the nominal base
    mass, combined with :attr:`link_mass_scale`: ``m = s_link · m₀ + Δm``."""

    com_offset: ComOffsetRange | None = field(default_factory=ComOffsetRange)
    """Centre-of-mass shift of the COM body (``torso_link``) in its own frame (m). BeyondMimic
    ``base_com``."""

    # -- startup: joints -------------------------------------------------------------------
    armature_scale: Range | None = field(default_factory=lambda: Range(0.9, 1.1))
    """Reflected rotor inertia multiplier (1), per env per joint. Our choice: ±10 % covers the
    spread of the gearbox-stage inertias behind ``RobotSpec.armature_kg_m2``."""

    joint_damping_nm_s_per_rad: Range | None = field(default_factory=lambda: Range(0.0, 0.1))
    """Passive viscous joint damping, absolute (N·m·s/rad), per env per joint. Our choice:
    brackets unitree_mujoco's G1 ``damping="0.05"`` with 2× headroom, and stays ≤ 11 % of the
    smallest policy ``kd`` (≈ 0.9 N·m·s/rad on the arms) so it cannot swamp the PD loop."""

    joint_friction_nm: Range | None = field(default_factory=lambda: Range(0.0, 0.3))
    """Dry (Coulomb) joint friction, MuJoCo ``dof_frictionloss`` (N·m), per env per joint. Our
    choice: brackets unitree_mujoco's G1 ``frictionloss`` 0.2 N·m (0.1 on the wrists); 0.3 N·m
    is 6 % of the smallest effort limit (5 N·m, wrist pitch/yaw)."""

    # -- reset: actuation and sensing ------------------------------------------------------
    kp_scale: Range | None = field(default_factory=lambda: Range(0.9, 1.1))
    """PD stiffness multiplier (1), per env per joint at each reset. Our choice: ±10 %,
    narrower than HumanoidVerse/ASAP ``kp_range`` ``(0.75, 1.25)``."""

    kd_scale: Range | None = field(default_factory=lambda: Range(0.9, 1.1))
    """PD damping multiplier (1), per env per joint at each reset. Our choice, as ``kp_scale``
    (HumanoidVerse/ASAP ``kd_range`` ``(0.75, 1.25)``)."""

    motor_strength: Range | None = field(default_factory=lambda: Range(0.9, 1.1))
    """Motor strength ``s`` (1), per env per joint at each reset: the PD torque becomes
    ``τ = s·(kp·e − kd·q̇)``, i.e. ``kp`` and ``kd`` are both multiplied by ``s`` (on top of
    ``kp_scale``/``kd_scale``). The effort limit is not scaled. Walk-these-ways
    (``go1_gym/envs/base/legged_robot_config.py``) ``motor_strength_range = [0.9, 1.1]``."""

    joint_pos_bias_rad: Range | None = field(default_factory=lambda: Range(-0.01, 0.01))
    """Encoder offset ``b`` (rad), per env per joint at each reset: the robot measures
    ``q + b``. Equivalent to shifting the default pose by ``−b`` (what BeyondMimic's
    ``add_joint_default_pos`` does, range ``(-0.01, 0.01)``, at startup)."""

    max_action_delay_steps: int = 0
    """Largest action delay (policy steps); each env draws ``U{0, …, max}`` at each reset.
    0 = off; 1 = 20 ms at 50 Hz. Our choice to default off (HumanoidVerse/ASAP use
    ``ctrl_delay_step_range`` ``[0, 2]`` at their control rate)."""

    # -- interval ---------------------------------------------------------------------------
    push: PushConfig | None = field(default_factory=PushConfig)
    """Random root velocity pushes; see :class:`PushConfig`."""

    # -- observations -----------------------------------------------------------------------
    obs_noise: tuple[tuple[str, float], ...] | None = DEFAULT_OBS_NOISE
    """``(observation term name, half-width)`` pairs: the term gets ``U(−h, h)`` noise on each
    of its entries, in the term's units. Terms not listed get none. See
    :data:`DEFAULT_OBS_NOISE` for the sources."""

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"DomainRandConfig.enabled must be a bool, got {self.enabled!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SCALE_FIELDS + _NON_NEGATIVE_FIELDS + ("base_added_mass_kg",):
                if value is not None and not isinstance(value, Range):
                    raise ConfigError(
                        f"DomainRandConfig.{f.name} must be a Range or None, got {value!r}"
                    )
        for name in _SCALE_FIELDS:
            r = getattr(self, name)
            if r is not None and r.low <= 0:
                raise ConfigError(f"DomainRandConfig.{name} is a scale and must be > 0, got {r}")
        for name in _NON_NEGATIVE_FIELDS:
            r = getattr(self, name)
            if r is not None and r.low < 0:
                raise ConfigError(f"DomainRandConfig.{name} must be >= 0, got {r}")
        if self.com_offset is not None and not isinstance(self.com_offset, ComOffsetRange):
            raise ConfigError(
                f"DomainRandConfig.com_offset must be a ComOffsetRange or None, "
                f"got {self.com_offset!r}"
            )
        if self.push is not None and not isinstance(self.push, PushConfig):
            raise ConfigError(
                f"DomainRandConfig.push must be a PushConfig or None, got {self.push!r}"
            )
        steps = self.max_action_delay_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ConfigError(
                f"DomainRandConfig.max_action_delay_steps must be an int >= 0, got {steps!r}"
            )
        if self.obs_noise is not None:
            object.__setattr__(self, "obs_noise", _check_obs_noise(self.obs_noise))

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> DomainRandConfig:
        """Inverse of ``dataclasses.asdict`` (what a run's ``config.json`` holds); validates."""
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(f"DomainRandConfig: unknown fields {extra}; known: {sorted(known)}")
        out: dict[str, object] = {}
        for name, value in data.items():
            if value is None or name in ("enabled", "max_action_delay_steps"):
                out[name] = value
            elif name == "com_offset":
                out[name] = ComOffsetRange(
                    **{k: _range(v, f"{name}.{k}") for k, v in _obj(value, name).items()}
                )
            elif name == "push":
                out[name] = PushConfig(
                    **{k: _range(v, f"{name}.{k}") for k, v in _obj(value, name).items()}
                )
            elif name == "obs_noise":
                out[name] = tuple((str(n), h) for n, h in value)  # type: ignore[attr-defined]
            else:
                out[name] = _range(value, name)
        try:
            return cls(**out)  # type: ignore[arg-type]
        except TypeError as exc:
            raise ConfigError(f"DomainRandConfig: {exc}") from None

    def obs_noise_half_widths(self) -> dict[str, float]:
        """``{term name: half-width}`` of the noise to add; empty when off or disabled."""
        if not self.enabled or self.obs_noise is None:
            return {}
        return dict(self.obs_noise)


def _check_obs_noise(
    pairs: tuple[tuple[str, float], ...] | Mapping[str, float],
) -> tuple[tuple[str, float], ...]:
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    seen: set[str] = set()
    out = []
    for item in items:
        if not (isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str)):
            raise ConfigError(
                f"DomainRandConfig.obs_noise entries must be (term name, half-width), got {item!r}"
            )
        name, h = item
        if name in seen:
            raise ConfigError(f"DomainRandConfig.obs_noise: term {name!r} listed twice")
        seen.add(name)
        if isinstance(h, bool) or not isinstance(h, int | float) or not math.isfinite(h) or h < 0:
            raise ConfigError(
                f"DomainRandConfig.obs_noise[{name!r}]: half-width must be finite and >= 0, "
                f"got {h!r}"
            )
        out.append((name, float(h)))
    return tuple(out)


def _obj(value: object, name: str) -> dict[str, object]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"DomainRandConfig.{name}: expected an object, got {value!r}")
    return dict(value)


def _range(value: object, name: str) -> Range:
    """A :class:`Range` from ``{"low": a, "high": b}`` or ``[a, b]``."""
    if isinstance(value, Mapping) and set(value) == {"low", "high"}:
        return Range(value["low"], value["high"])  # type: ignore[arg-type]
    if isinstance(value, list | tuple) and len(value) == 2:
        return Range(value[0], value[1])
    raise ConfigError(
        f"DomainRandConfig.{name}: expected {{low, high}} or [low, high], got {value!r}"
    )
