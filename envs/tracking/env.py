"""The tracking environment: a Backend, a MotionLibrary and the task terms, stepped in batch.

One policy step, for all ``N`` envs at once::

    action a ──► delay (0..k steps) ──► q* = q_default + s ⊙ a − b_enc ──► backend.step (PD at
    physics rate, `decimation` steps) ──► pushes ──► reference at t + dt ──► TermInput ──►
    rewards, terminations ──► reset finished envs (RSI) ──► observations (+ noise)

``b_enc`` is the randomized encoder offset: the policy sees ``q + b_enc`` and its targets are
shifted by the same amount, as with a miscalibrated joint (rewards, terminations and the critic
use the true joints). Everything robot-specific comes
from the :class:`~humimic.robots.spec.RobotSpec`; bodies and terms are resolved by name once,
here. The class does not know rsl-rl; :mod:`humimic.envs.vecenv` adapts it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from humimic.domain_rand import ActionDelay, DomainRandomizer, ObservationNoise
from humimic.envs.backends.base import Backend
from humimic.envs.motion_library import AdaptiveSampler, MotionLibrary, MotionState
from humimic.errors import ConfigError, unknown_name
from humimic.robots.spec import RobotSpec

from . import terminations
from .config import TrackingConfig
from .math import quat_apply, quat_mul, yaw_quat
from .observations import OBSERVATION_TERMS, ObservationGroup
from .rewards import REWARD_TERMS, RewardTerm, compute_rewards
from .state import RobotFrame, TermInput, reference_frame

__all__ = ["StepResult", "TrackingEnv", "tracking_errors"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    """What :meth:`TrackingEnv.step` returns.

    Attributes:
        obs: ``{"actor": [N, D_a], "critic": [N, D_c]}``.
        reward: ``[N]`` weighted total for the step.
        terminated: ``[N]`` bool, the episode failed (fell, drifted).
        truncated: ``[N]`` bool, time-out or end of clip (not a failure; bootstrap).
        reward_terms: ``{name: [N]}`` unweighted term values for the step.
        errors: ``{name: [N]}`` tracking errors before the resets (see :func:`tracking_errors`).
        episode_length: ``[N]`` steps of the episode that just ended (0 where not done).
    """

    obs: dict[str, torch.Tensor]
    reward: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    reward_terms: dict[str, torch.Tensor]
    errors: dict[str, torch.Tensor]
    episode_length: torch.Tensor

    @property
    def done(self) -> torch.Tensor:
        """``[N]`` bool: ``terminated | truncated``."""
        return self.terminated | self.truncated


def tracking_errors(robot: RobotFrame, ref: RobotFrame, root_index: int) -> dict[str, torch.Tensor]:
    """``{name: [N]}`` tracking errors of ``robot`` against ``ref`` (both with body fields).

    * ``body_pos_global_mm``: mean over bodies of ``‖p_b − p̂_b‖`` (mm).
    * ``body_pos_root_rel_mm``: the same after subtracting each side's root position
      (``(p_b − p_r) − (p̂_b − p̂_r)``, world axes; MPJPE as PHC/BeyondMimic report it).
    * ``joint_pos_rad``: mean over joints of ``|q_j − q̂_j|``.
    * ``joint_vel_radps``: mean over joints of ``|q̇_j − q̇̂_j|``.
    * ``body_lin_vel_mps``: mean over bodies of ``‖v_b − v̂_b‖``.
    """
    assert robot.body_pos_w is not None and ref.body_pos_w is not None
    assert robot.body_lin_vel_w is not None and ref.body_lin_vel_w is not None
    diff = robot.body_pos_w - ref.body_pos_w
    rel = diff - diff[:, root_index : root_index + 1]
    return {
        "body_pos_global_mm": 1000.0 * diff.norm(dim=-1).mean(-1),
        "body_pos_root_rel_mm": 1000.0 * rel.norm(dim=-1).mean(-1),
        "joint_pos_rad": (robot.joint_pos - ref.joint_pos).abs().mean(-1),
        "joint_vel_radps": (robot.joint_vel - ref.joint_vel).abs().mean(-1),
        "body_lin_vel_mps": (robot.body_lin_vel_w - ref.body_lin_vel_w).norm(dim=-1).mean(-1),
    }


def _index_of(names: tuple[str, ...], name: str, what: str) -> int:
    if name not in names:
        raise ConfigError(unknown_name(what, name, names))
    return names.index(name)


class TrackingEnv:
    """``N`` G1s imitating the clips of a :class:`MotionLibrary` on a :class:`Backend`.

    Args:
        spec: the robot.
        library: reference clips (their joint/body names must be the spec's).
        cfg: the task.
        backend: the simulator batch (``cfg.num_envs`` envs, ``cfg.decimation``).
    """

    def __init__(
        self, spec: RobotSpec, library: MotionLibrary, cfg: TrackingConfig, backend: Backend
    ) -> None:
        if backend.num_envs != cfg.num_envs or backend.decimation != cfg.decimation:
            raise ConfigError(
                f"backend has num_envs={backend.num_envs}, decimation={backend.decimation}; "
                f"config asks num_envs={cfg.num_envs}, decimation={cfg.decimation}"
            )
        if tuple(library.joint_names) != tuple(spec.joint_names):
            raise ConfigError(
                f"motion library joints {list(library.joint_names)} are not the robot's "
                f"{list(spec.joint_names)}"
            )
        if tuple(library.body_names) != tuple(backend.body_names):
            raise ConfigError(
                f"motion library bodies {list(library.body_names)} differ from the backend's "
                f"tracked bodies {list(backend.body_names)}"
            )
        self.spec, self.library, self.cfg, self.backend = spec, library, cfg, backend
        n, j = cfg.num_envs, spec.num_joints
        self.num_envs, self.num_actions = n, j
        self.device = backend.device
        self.step_dt_s = backend.step_dt_s
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed)

        bodies = tuple(backend.body_names)
        self.anchor_index = _index_of(bodies, spec.anchor_body, "anchor body")
        self.root_index = _index_of(bodies, spec.root_body, "root body")
        self.ee_indices = tuple(_index_of(bodies, b, "end-effector body") for b in cfg.ee_bodies)
        self.foot_indices = tuple(_index_of(bodies, f.body, "foot body") for f in spec.feet)

        f32 = {"dtype": torch.float32, "device": self.device}
        self.default_joint_pos = torch.tensor(spec.default_joint_pos_rad, **f32)
        self.action_scale = torch.tensor(spec.action_scale_rad, **f32)
        lower = torch.tensor(spec.joint_lower_rad, **f32)
        upper = torch.tensor(spec.joint_upper_rad, **f32)
        mid, half = (lower + upper) / 2, (upper - lower) / 2
        frac = cfg.soft_joint_limit_fraction
        self.joint_limits = torch.stack([lower, upper], -1)
        self.soft_joint_limits = torch.stack([mid - frac * half, mid + frac * half], -1)
        self.max_episode_length = max(1, round(cfg.episode_length_s / self.step_dt_s))

        conditioning = cfg.clip_conditioning == "on" or (
            cfg.clip_conditioning == "auto" and library.num_clips > 1
        )
        self.clip_conditioned = conditioning
        extra = ("clip_one_hot",) if conditioning else ()
        self.actor_terms = tuple(cfg.actor_terms) + extra
        self.critic_terms = tuple(cfg.critic_terms) + extra
        self.actor_obs = ObservationGroup([(t, OBSERVATION_TERMS[t]) for t in self.actor_terms])
        self.critic_obs = ObservationGroup([(t, OBSERVATION_TERMS[t]) for t in self.critic_terms])
        self.reward_terms = [RewardTerm(name, REWARD_TERMS[name], w) for name, w in cfg.rewards]
        self.terminations: dict[str, Callable[[TermInput], torch.Tensor]] = {
            "anchor_height": functools.partial(
                terminations.anchor_height_error, threshold_m=cfg.anchor_height_threshold_m
            ),
            "anchor_orientation": functools.partial(
                terminations.anchor_orientation_error,
                threshold=cfg.anchor_orientation_threshold,
            ),
            "ee_height": functools.partial(
                terminations.end_effector_height_error, threshold_m=cfg.ee_height_threshold_m
            ),
        }
        if cfg.terminate_on_nonfoot_contact:
            self.terminations["nonfoot_contact"] = terminations.nonfoot_ground_contact
        self._needs_contacts = cfg.terminate_on_nonfoot_contact or any(
            name == "undesired_contacts" for name, _ in cfg.rewards
        )

        dr = cfg.domain_rand
        self.randomizer = DomainRandomizer(backend, dr, self.generator)
        self.action_delay = ActionDelay(n, j, dr.max_action_delay_steps)
        self.sampler = (
            AdaptiveSampler(
                library, cfg.adaptive_bin_s, cfg.adaptive_alpha, cfg.adaptive_uniform_mix
            )
            if cfg.adaptive_sampling
            else None
        )

        # per-env episode state
        self.clip_ids = torch.zeros(n, dtype=torch.long, device=self.device)
        self.motion_time_s = torch.zeros(n, **f32)
        self.start_time_s = torch.zeros(n, **f32)
        # the task goal (HeadingGoal), drawn at each reset; None without one
        self.target_heading_w: torch.Tensor | None = None
        self.target_speed: torch.Tensor | None = None
        if cfg.heading_goal is not None:
            self.target_heading_w = torch.zeros(n, 3, **f32)
            self.target_heading_w[:, 0] = 1.0
            self.target_speed = torch.zeros(n, **f32)
        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=self.device)
        self.last_action = torch.zeros(n, j, **f32)
        self.prev_action = torch.zeros(n, j, **f32)

        self.randomizer.on_startup()
        self.reset_envs(torch.arange(n, device=self.device))
        inp = self._term_input()
        self.actor_obs.resolve(inp)
        self.critic_obs.resolve(inp)
        noise = dr.obs_noise_half_widths()
        for name in noise:
            if name not in OBSERVATION_TERMS:
                raise ConfigError(
                    unknown_name("obs_noise: observation term", name, OBSERVATION_TERMS)
                )
        present = {n for n, _ in self.actor_obs.term_sizes}
        self.obs_noise = ObservationNoise(
            self.actor_obs.term_sizes,
            {n: h for n, h in noise.items() if n in present},
            self.generator,
        )
        self._obs = self._observations(inp)
        log.info("actor observations\n%s", self.actor_obs.table())
        log.info("critic observations\n%s", self.critic_obs.table())

    # -- reading state ------------------------------------------------------------------------
    def _robot_frame(self) -> RobotFrame:
        b = self.backend
        return RobotFrame(
            root_quat_w=b.root_quat_w,
            root_ang_vel_w=b.root_ang_vel_w,
            joint_pos=b.joint_pos,
            joint_vel=b.joint_vel,
            root_pos_w=b.root_pos_w,
            root_lin_vel_w=b.root_lin_vel_w,
            body_pos_w=b.body_pos_w,
            body_quat_w=b.body_quat_w,
            body_lin_vel_w=b.body_lin_vel_w,
            body_ang_vel_w=b.body_ang_vel_w,
        )

    def _ref_frame(self) -> tuple[RobotFrame, MotionState]:
        m = self.library.sample(self.clip_ids, self.motion_time_s)
        frame = reference_frame(m)
        return frame, m

    def _term_input(self) -> TermInput:
        ref, _ = self._ref_frame()
        contacts = (
            self.backend.contact_force_w(self.backend.body_names) if self._needs_contacts else None
        )
        return TermInput(
            robot=self._robot_frame(),
            ref=ref,
            last_action=self.last_action,
            prev_action=self.prev_action,
            default_joint_pos=self.default_joint_pos,
            anchor_index=self.anchor_index,
            ee_indices=self.ee_indices,
            foot_indices=self.foot_indices,
            soft_joint_pos_limits=self.soft_joint_limits,
            contact_force_w=contacts,
            episode_time_s=self.episode_length_buf.to(torch.float32) * self.step_dt_s,
            motion_time_s=self.motion_time_s,
            motion_length_s=self.library.duration_s[self.clip_ids],
            clip_one_hot=(
                self.library.clip_one_hot(self.clip_ids) if self.clip_conditioned else None
            ),
            target_heading_w=self.target_heading_w,
            target_speed=self.target_speed,
        )

    def _observations(self, inp: TermInput) -> dict[str, torch.Tensor]:
        # the policy sees the encoders (true joints + offset); rewards and the critic the truth
        robot = inp.robot
        measured = dataclasses.replace(
            robot, joint_pos=robot.joint_pos + self.randomizer.joint_pos_bias
        )
        actor = self.actor_obs(dataclasses.replace(inp, robot=measured))
        return {"actor": self.obs_noise(actor), "critic": self.critic_obs(inp)}

    @property
    def observations(self) -> dict[str, torch.Tensor]:
        """The latest ``{"actor", "critic"}`` observations."""
        return self._obs

    # -- resets ---------------------------------------------------------------------------
    def _draw_starts(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cfg.start_at_clip_begin:
            clips, _ = self.library.sample_start(k, self.generator)
            return clips, torch.zeros(k, device=self.device)
        if self.sampler is not None:
            return self.sampler.sample(k, self.generator)
        return self.library.sample_start(k, self.generator, weight_by_duration=True)

    def _uniform(self, shape: tuple[int, ...], half_width: float) -> torch.Tensor:
        u = torch.rand(shape, generator=self.generator, device=self.device)
        return (2.0 * u - 1.0) * half_width

    def reset_envs(
        self,
        env_ids: torch.Tensor,
        clip_ids: torch.Tensor | None = None,
        times_s: torch.Tensor | None = None,
    ) -> None:
        """Reference state initialization for ``env_ids``: draw (clip, time) (or take
        ``clip_ids``/``times_s``), write the reference state plus
        :class:`~humimic.envs.tracking.config.RsiNoise` into the backend."""
        k = int(env_ids.numel())
        if k == 0:
            return
        clips, t = self._draw_starts(k)
        if clip_ids is not None:
            clips = clip_ids.to(self.device, torch.long)
        if times_s is not None:
            t = times_s.to(self.device, torch.float32)
        self.clip_ids[env_ids] = clips
        self.motion_time_s[env_ids] = t
        self.start_time_s[env_ids] = t
        self.episode_length_buf[env_ids] = 0
        self.last_action[env_ids] = 0.0
        self.prev_action[env_ids] = 0.0
        self.action_delay.reset(env_ids)
        self.randomizer.on_reset(env_ids)

        ref = self.library.sample(clips, t)
        noise = self.cfg.rsi
        pos = ref.root_pos_w.clone()
        pos[:, :2] += self._uniform((k, 2), noise.root_pos_xy_m)
        pos[:, 2] += self._uniform((k,), noise.root_pos_z_m)
        rpy = torch.cat(
            [
                self._uniform((k, 2), noise.root_roll_pitch_rad),
                self._uniform((k, 1), noise.root_yaw_rad),
            ],
            -1,
        )
        quat = quat_mul(_quat_from_rpy(rpy), ref.root_quat_w)
        lin = ref.root_lin_vel_w + self._uniform((k, 3), noise.root_lin_vel_mps)
        ang = ref.root_ang_vel_w + self._uniform((k, 3), noise.root_ang_vel_radps)
        q = ref.joint_pos + self._uniform(tuple(ref.joint_pos.shape), noise.joint_pos_rad)
        q = torch.clamp(q, self.joint_limits[:, 0], self.joint_limits[:, 1])
        self.backend.reset(env_ids, pos, quat, lin, ang, q, ref.joint_vel)
        self._draw_goal(env_ids, ref.root_lin_vel_w, ref.root_quat_w)

    def _draw_goal(
        self, env_ids: torch.Tensor, ref_lin_vel_w: torch.Tensor, ref_quat_w: torch.Tensor
    ) -> None:
        """The :class:`HeadingGoal` of the new episodes (see its docstring)."""
        goal = self.cfg.heading_goal
        if goal is None or self.target_heading_w is None or self.target_speed is None:
            return
        k = int(env_ids.numel())
        v = ref_lin_vel_w[:, :2]
        forward = quat_apply(yaw_quat(ref_quat_w), torch.tensor([1.0, 0.0, 0.0]).expand(k, 3))
        moving = torch.linalg.vector_norm(v, dim=-1, keepdim=True) > 0.1
        base = torch.where(moving, v, forward[:, :2])
        angle = torch.atan2(base[:, 1], base[:, 0]) + self._uniform((k,), goal.heading_noise_rad)
        heading = torch.zeros(k, 3, device=self.device)
        heading[:, 0], heading[:, 1] = torch.cos(angle), torch.sin(angle)
        self.target_heading_w[env_ids] = heading
        u = torch.rand(k, generator=self.generator, device=self.device)
        speed = goal.speed_low_mps + u * (goal.speed_high_mps - goal.speed_low_mps)
        self.target_speed[env_ids] = speed

    # -- stepping -------------------------------------------------------------------------
    def step(self, action: torch.Tensor) -> StepResult:
        """Apply ``action [N, J]`` (unscaled policy output) for one policy step."""
        action = action.to(self.device, torch.float32)
        self.prev_action = self.last_action
        self.last_action = action.clone()
        applied = self.action_delay.push(action, self.randomizer.action_delay_steps)
        target = (
            self.default_joint_pos + self.action_scale * applied - self.randomizer.joint_pos_bias
        )
        self.backend.step(target)
        self.episode_length_buf += 1
        self.motion_time_s = self.motion_time_s + self.step_dt_s
        self.randomizer.on_step(self.step_dt_s)

        inp = self._term_input()
        reward, terms = compute_rewards(self.reward_terms, inp)
        failed = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        for fn in self.terminations.values():
            failed |= fn(inp)
        truncated = terminations.clip_end(inp) | (
            self.episode_length_buf >= self.max_episode_length
        )
        truncated &= ~failed
        errors = tracking_errors(inp.robot, inp.ref, self.root_index)

        done = failed | truncated
        episode_length = torch.where(done, self.episode_length_buf, 0)
        done_ids = done.nonzero().flatten()
        if done_ids.numel():
            if self.sampler is not None:
                self.sampler.update(
                    self.clip_ids[done_ids], self.start_time_s[done_ids], failed[done_ids]
                )
            self.reset_envs(done_ids)
            inp = self._term_input()
        self._obs = self._observations(inp)
        return StepResult(self._obs, reward * 1.0, failed, truncated, terms, errors, episode_length)

    def refresh_observations(self) -> dict[str, torch.Tensor]:
        """Recompute the observations from the current state (after a manual reset)."""
        self._obs = self._observations(self._term_input())
        return self._obs

    def close(self) -> None:
        """Release the backend's threads."""
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()

    def describe(self) -> dict[str, Any]:
        """What an exported policy must carry about this env (terms, sizes, timing)."""
        return {
            "actor_terms": self.actor_obs.term_sizes,
            "critic_terms": self.critic_obs.term_sizes,
            "control_dt_s": self.step_dt_s,
            "clip_conditioned": self.clip_conditioned,
        }


def _quat_from_rpy(rpy: torch.Tensor) -> torch.Tensor:
    """``[N, 4]`` wxyz of ``R = Rz(yaw) Ry(pitch) Rx(roll)`` from ``rpy [N, 3]`` (rad)."""
    half = 0.5 * rpy
    cr, sr = torch.cos(half[:, 0]), torch.sin(half[:, 0])
    cp, sp = torch.cos(half[:, 1]), torch.sin(half[:, 1])
    cy, sy = torch.cos(half[:, 2]), torch.sin(half[:, 2])
    return torch.stack(
        [
            cr * cp * cy + sr * sp * sy,
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
        ],
        -1,
    )
