"""The domain randomizer: draws every term of a :class:`DomainRandConfig` and applies it through
the :class:`~humimic.envs.backends.base.Backend` setters (never the simulator directly).

Three entry points, called by the environment:

* :meth:`DomainRandomizer.on_startup` once, after the backend is built: contact friction, body
  masses, the COM offset, armature, joint damping and joint dry friction, for every env.
* :meth:`DomainRandomizer.on_reset` for the envs being reset: PD gains and motor strength
  (through ``set_pd_gains``), and two values the *environment* applies, since they live outside
  the simulator: the encoder offset :attr:`~DomainRandomizer.joint_pos_bias` and the action
  delay :attr:`~DomainRandomizer.action_delay_steps` (feed it to an
  :class:`~humimic.domain_rand.action_delay.ActionDelay`).
* :meth:`DomainRandomizer.on_step` every policy step: the push timers.

Every sampled value is kept as an attribute (``[N]`` or ``[N, ·]``) so the env can log it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from humimic.envs.backends.base import Backend, EnvIds
from humimic.errors import ConfigError, unknown_name

from .config import DomainRandConfig, Range, sample_box
from .terms import body_mass_scales, countdown, delay_steps, pd_gains

__all__ = ["DomainRandomizer"]


class DomainRandomizer:
    """Draws and applies the randomization terms of ``cfg`` on ``backend``.

    Args:
        backend: the simulated robots.
        cfg: which terms, over which ranges.
        generator: the random stream (all draws come from it, in a fixed order).
        base_body: the body that receives :attr:`DomainRandConfig.base_added_mass_kg`.
        com_body: the body whose centre of mass :attr:`DomainRandConfig.com_offset` shifts.

    Names are resolved once here; an unknown body raises :class:`ConfigError` listing the
    backend's bodies. With ``cfg.enabled`` false or a term ``None``, that term's setter is never
    called and the backend keeps its nominal values; its attribute holds the neutral value
    (scale 1, offset 0, delay 0) or ``None`` where the nominal value is not known here.

    Attributes (``N`` envs, ``J`` joints, ``K = len(mass_body_names)``):
        friction: ``[N]`` sliding friction, or ``None`` when not randomized.
        link_mass_scale: ``[N, K]`` the drawn per-body multipliers (ones when off).
        body_mass_scale: ``[N, K]`` the scales sent to ``set_body_mass_scale``: link scale,
            plus ``base_added_mass_kg / m₀`` in the base body's column.
        base_added_mass_kg: ``[N]`` mass added to the base body (kg).
        com_offset_b_m: ``[N, 3]`` COM offset of ``com_body`` in its frame (m).
        armature_scale: ``[N, J]`` armature multipliers.
        joint_damping_nm_s_per_rad, joint_friction_nm: ``[N, J]`` or ``None``.
        kp_scale, kd_scale, motor_strength: ``[N, J]`` gain multipliers.
        joint_pos_bias: ``[N, J]`` encoder offset (rad): the env observes ``q + bias``.
        action_delay_steps: ``[N]`` int64 action delay (policy steps).
        push_timer_s: ``[N]`` float64 time left until each env's next push (s).
        push_lin_vel_w, push_ang_vel_w: ``[N, 3]`` the latest push of each env (m/s, rad/s).
        push_count: ``[N]`` int64 pushes so far.
    """

    def __init__(
        self,
        backend: Backend,
        cfg: DomainRandConfig,
        generator: torch.Generator,
        base_body: str = "pelvis",
        com_body: str = "torso_link",
    ) -> None:
        self.backend = backend
        self.cfg = cfg
        self.generator = generator
        self.device = backend.device
        n, nj = backend.num_envs, len(backend.joint_names)
        self.num_envs, self.num_joints = n, nj

        # -- names, resolved once ------------------------------------------------------------
        bodies = tuple(backend.all_body_names)
        for arg, name in (("base_body", base_body), ("com_body", com_body)):
            if name not in bodies:
                raise ConfigError(f"DomainRandomizer.{arg}: " + unknown_name("body", name, bodies))
        self.base_body, self.com_body = base_body, com_body
        self.mass_body_names: tuple[str, ...] = bodies
        self._base_index = bodies.index(base_body)
        self._base_nominal_mass_kg = float(backend.nominal_body_mass_kg([base_body])[0])
        self._check_base_mass()

        # -- nominal values the multiplicative terms start from ------------------------------
        self._kp_nominal, self._kd_nominal = (t.to(self.device) for t in backend.nominal_pd_gains)
        self._armature_nominal = backend.nominal_armature.to(self.device)

        # -- sampled values, neutral until drawn ---------------------------------------------
        ones_nj = torch.ones(n, nj, device=self.device)
        self.friction: torch.Tensor | None = None
        self.link_mass_scale = torch.ones(n, len(bodies), device=self.device)
        self.body_mass_scale = torch.ones(n, len(bodies), device=self.device)
        self.base_added_mass_kg = torch.zeros(n, device=self.device)
        self.com_offset_b_m = torch.zeros(n, 3, device=self.device)
        self.armature_scale = ones_nj.clone()
        self.joint_damping_nm_s_per_rad: torch.Tensor | None = None
        self.joint_friction_nm: torch.Tensor | None = None
        self.kp_scale = ones_nj.clone()
        self.kd_scale = ones_nj.clone()
        self.motor_strength = ones_nj.clone()
        self.joint_pos_bias = torch.zeros(n, nj, device=self.device)
        self.action_delay_steps = torch.zeros(n, dtype=torch.long, device=self.device)
        self.push_timer_s = torch.full((n,), float("inf"), dtype=torch.float64, device=self.device)
        self.push_lin_vel_w = torch.zeros(n, 3, device=self.device)
        self.push_ang_vel_w = torch.zeros(n, 3, device=self.device)
        self.push_count = torch.zeros(n, dtype=torch.long, device=self.device)
        if cfg.enabled and cfg.push is not None:
            self.push_timer_s = self._draw(cfg.push.interval_s, n).to(torch.float64)

    # -- helpers ----------------------------------------------------------------------------
    def _draw(self, r: Range, *shape: int) -> torch.Tensor:
        return r.sample(shape, self.generator).to(self.device)

    def _ids(self, env_ids: EnvIds) -> torch.Tensor:
        ids = torch.as_tensor(env_ids, dtype=torch.long).reshape(-1).to(self.device)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_envs):
            raise ConfigError(f"env_ids must be in [0, {self.num_envs}), got {ids.tolist()}")
        return ids

    def _check_base_mass(self) -> None:
        """The lightest base the config can draw must keep a positive mass."""
        added, link = self.cfg.base_added_mass_kg, self.cfg.link_mass_scale
        if not self.cfg.enabled or added is None:
            return
        lowest = (link.low if link is not None else 1.0) * self._base_nominal_mass_kg + added.low
        if lowest <= 0:
            raise ConfigError(
                f"DomainRandConfig.base_added_mass_kg {added} can make {self.base_body!r} "
                f"(nominal {self._base_nominal_mass_kg:.3f} kg) weigh {lowest:.3f} kg <= 0"
            )

    # -- startup ----------------------------------------------------------------------------
    def on_startup(self) -> None:
        """Draw and apply the startup terms for every env."""
        cfg, n, nj, every = self.cfg, self.num_envs, self.num_joints, range(self.num_envs)
        if not cfg.enabled:
            return
        if cfg.friction is not None:
            self.friction = self._draw(cfg.friction, n)
            self.backend.set_friction(every, self.friction)
        self._startup_masses()
        if cfg.com_offset is not None:
            offset = sample_box(cfg.com_offset.axes, n, self.generator).to(self.device)
            self.com_offset_b_m = offset
            self.backend.set_com_offset(every, [self.com_body], offset[:, None, :])
        if cfg.armature_scale is not None:
            self.armature_scale = self._draw(cfg.armature_scale, n, nj)
            self.backend.set_armature(every, self._armature_nominal * self.armature_scale)
        if cfg.joint_damping_nm_s_per_rad is not None:
            self.joint_damping_nm_s_per_rad = self._draw(cfg.joint_damping_nm_s_per_rad, n, nj)
            self.backend.set_joint_damping(every, self.joint_damping_nm_s_per_rad)
        if cfg.joint_friction_nm is not None:
            self.joint_friction_nm = self._draw(cfg.joint_friction_nm, n, nj)
            self.backend.set_joint_friction(every, self.joint_friction_nm)

    def _startup_masses(self) -> None:
        """Link mass scale and base added mass, combined into one (non-cumulative) call."""
        cfg, n = self.cfg, self.num_envs
        if cfg.link_mass_scale is None and cfg.base_added_mass_kg is None:
            return
        if cfg.link_mass_scale is not None:
            self.link_mass_scale = self._draw(cfg.link_mass_scale, n, len(self.mass_body_names))
        if cfg.base_added_mass_kg is not None:
            self.base_added_mass_kg = self._draw(cfg.base_added_mass_kg, n)
        self.body_mass_scale = body_mass_scales(
            self.link_mass_scale,
            self._base_index,
            self.base_added_mass_kg,
            self._base_nominal_mass_kg,
        )
        self.backend.set_body_mass_scale(range(n), self.mass_body_names, self.body_mass_scale)

    # -- reset ------------------------------------------------------------------------------
    def on_reset(self, env_ids: EnvIds) -> None:
        """Draw the reset terms for ``env_ids``; PD gains go to the backend at once."""
        cfg, nj = self.cfg, self.num_joints
        ids = self._ids(env_ids)
        n = int(ids.numel())
        if not cfg.enabled or n == 0:
            return
        gains = (cfg.kp_scale, cfg.kd_scale, cfg.motor_strength)
        for r, attr in zip(gains, ("kp_scale", "kd_scale", "motor_strength"), strict=True):
            if r is not None:
                getattr(self, attr)[ids] = self._draw(r, n, nj)
        if any(r is not None for r in gains):
            kp, kd = pd_gains(
                self._kp_nominal,
                self._kd_nominal,
                self.kp_scale[ids],
                self.kd_scale[ids],
                self.motor_strength[ids],
            )
            self.backend.set_pd_gains(ids, kp, kd)
        if cfg.joint_pos_bias_rad is not None:
            self.joint_pos_bias[ids] = self._draw(cfg.joint_pos_bias_rad, n, nj)
        if cfg.max_action_delay_steps > 0:
            steps = delay_steps(cfg.max_action_delay_steps, n, self.generator)
            self.action_delay_steps[ids] = steps.to(self.device)

    # -- step -------------------------------------------------------------------------------
    def on_step(self, dt_s: float) -> torch.Tensor:
        """Advance the push timers by ``dt_s`` (s) and push the envs whose timer expired.

        Returns:
            ``[k]`` int64 ids of the envs pushed this step (empty when none or off). Each gets
            a velocity change drawn per axis from :class:`PushConfig`, added to its root
            velocity (world frame), and a fresh timer drawn from ``interval_s``.
        """
        push = self.cfg.push
        if not self.cfg.enabled or push is None:
            return torch.zeros(0, dtype=torch.long, device=self.device)
        self.push_timer_s, due = countdown(self.push_timer_s, dt_s)
        ids = torch.nonzero(due).reshape(-1)
        k = int(ids.numel())
        if k == 0:
            return ids
        lin = sample_box(push.lin_vel_w_m_s, k, self.generator).to(self.device)
        ang = sample_box(push.ang_vel_w_rad_s, k, self.generator).to(self.device)
        self.backend.push(ids, lin, ang)
        self.push_lin_vel_w[ids], self.push_ang_vel_w[ids] = lin, ang
        self.push_count[ids] += 1
        self.push_timer_s[ids] = self._draw(push.interval_s, k).to(torch.float64)
        return ids

    # -- logging ----------------------------------------------------------------------------
    def sampled(self) -> dict[str, torch.Tensor]:
        """The values drawn so far, by attribute name (terms never drawn are left out)."""
        names: Sequence[str] = (
            "friction",
            "link_mass_scale",
            "body_mass_scale",
            "base_added_mass_kg",
            "com_offset_b_m",
            "armature_scale",
            "joint_damping_nm_s_per_rad",
            "joint_friction_nm",
            "kp_scale",
            "kd_scale",
            "motor_strength",
            "joint_pos_bias",
            "action_delay_steps",
            "push_count",
        )
        return {name: value for name in names if (value := getattr(self, name)) is not None}
