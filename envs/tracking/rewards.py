r"""Reward terms of the tracking task: small functions ``(TermInput, ...) -> [N]``.

Three families, all pure functions of :class:`~humimic.envs.tracking.state.TermInput`:

**DeepMimic** (Peng et al. 2018, eq. 5-9): exponential kernels with the paper's scales,
combined as ``r_I = 0.65 r_p + 0.1 r_v + 0.15 r_e + 0.1 r_c`` (:func:`deepmimic_terms`)::

    r_p = exp(−2   Σ_j (q̂_j − q_j)²)          pose_reward (1-DoF joints: q̂ ⊖ q = q̂ − q)
    r_v = exp(−0.1 Σ_j (q̇̂_j − q̇_j)²)         velocity_reward
    r_e = exp(−40  Σ_e ‖p̂_e − p_e‖²)          end_effector_reward
    r_c = exp(−10  ‖p̂_c − p_c‖²)              com_reward (anchor body as COM proxy)

and a task goal ``r_G`` (:func:`heading_velocity_reward`), mixed as ``r = w_I r_I + w_G r_G``
with the paper's ``w_I = 0.7, w_G = 0.3`` (:func:`imitation_task_reward`).

**BeyondMimic** (Liao et al. 2025; mjlab ``tasks/tracking/mdp/rewards.py``):
``exp(−err / σ²)`` with ``err`` a *squared* error (summed over xyz, averaged over bodies) and
the defaults ``σ``: anchor pos 0.3 m, anchor ori 0.4 rad, body pos 0.3 m, body ori 0.4 rad,
body lin vel 1.0 m/s, body ang vel 3.14 rad/s; weights 0.5, 0.5, 1, 1, 1, 1
(:func:`beyondmimic_terms`). Body position/orientation errors are *relative*: the reference
bodies are moved so that the reference anchor sits on the robot anchor in x, y and yaw
(height and tilt kept from the reference), so they score the pose, not the drift.

**Regularizers** return a non-negative cost; give them a negative weight
(BeyondMimic: ``action_rate_l2`` −0.1, ``joint_limit_proximity`` −10, ``undesired_contacts``
−0.1 with a 1 N threshold).

Perfect tracking gives every imitation term exactly 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from humimic.errors import ConfigError

from .math import quat_apply, quat_apply_inverse, quat_conj, quat_error_angle, quat_mul, yaw_quat
from .state import TermInput, anchor_pos_w, anchor_quat_w, needs, require

__all__ = [
    "REWARD_TERMS",
    "RewardFn",
    "RewardTerm",
    "action_rate_l2",
    "anchor_ori_error_exp",
    "anchor_pos_error_exp",
    "beyondmimic_terms",
    "body_ang_vel_error_exp",
    "body_lin_vel_error_exp",
    "body_ori_error_exp",
    "body_pos_error_exp",
    "com_reward",
    "compute_rewards",
    "deepmimic_terms",
    "end_effector_reward",
    "heading_velocity_reward",
    "imitation_task_reward",
    "joint_limit_proximity",
    "pose_reward",
    "ref_body_pose_relative_w",
    "undesired_contacts",
    "velocity_reward",
]

RewardFn = Callable[[TermInput], torch.Tensor]


# -- DeepMimic imitation terms -----------------------------------------------------------


@needs("robot.joint_pos", "ref.joint_pos")
def pose_reward(inp: TermInput, scale: float = 2.0) -> torch.Tensor:
    """``[N]`` ``exp(−scale Σ_j (q̂_j − q_j)²)``; DeepMimic ``scale = 2``."""
    err = torch.sum(torch.square(inp.ref.joint_pos - inp.robot.joint_pos), dim=-1)
    return torch.exp(-scale * err)


@needs("robot.joint_vel", "ref.joint_vel")
def velocity_reward(inp: TermInput, scale: float = 0.1) -> torch.Tensor:
    """``[N]`` ``exp(−scale Σ_j (q̇̂_j − q̇_j)²)``; DeepMimic ``scale = 0.1``."""
    err = torch.sum(torch.square(inp.ref.joint_vel - inp.robot.joint_vel), dim=-1)
    return torch.exp(-scale * err)


def _ee_pos_heading(inp: TermInput, which: str, term: str) -> torch.Tensor:
    """``[N, E, 3]`` end effectors as DeepMimic measures them: horizontal offset from the
    anchor in the anchor's heading (yaw) frame, and height above the ground (z = 0)."""
    pos = require(inp, f"{which}.body_pos_w", term)[:, list(inp.ee_indices)]
    p_a = anchor_pos_w(inp, which, term)
    q_yaw = yaw_quat(anchor_quat_w(inp, which, term))
    rel = pos - p_a[:, None, :]
    rel = torch.cat([rel[..., :2], pos[..., 2:]], dim=-1)
    return quat_apply_inverse(q_yaw[:, None, :], rel)


@needs("robot.body_pos_w", "robot.body_quat_w", "ref.body_pos_w", "ref.body_quat_w", "ee_indices")
def end_effector_reward(inp: TermInput, scale: float = 40.0) -> torch.Tensor:
    """``[N]`` ``exp(−scale Σ_e ‖p̂_e − p_e‖²)``; DeepMimic ``scale = 40``.

    ``p_e``: each end effector's horizontal offset from the anchor, in the anchor's heading
    frame, with its height above ground as z (as in DeepMimic's code), so a pure global
    drift or heading error of the whole body is not counted here.
    """
    if not inp.ee_indices:
        raise ConfigError("end_effector_reward needs TermInput.ee_indices (got none)")
    p = _ee_pos_heading(inp, "robot", "end_effector_reward")
    p_ref = _ee_pos_heading(inp, "ref", "end_effector_reward")
    err = torch.sum(torch.square(p_ref - p), dim=(-1, -2))
    return torch.exp(-scale * err)


@needs("robot.body_pos_w", "ref.body_pos_w")
def com_reward(inp: TermInput, scale: float = 10.0) -> torch.Tensor:
    """``[N]`` ``exp(−scale ‖p̂_c − p_c‖²)``; DeepMimic ``scale = 10``.

    COM proxy: the anchor body (torso) world position. The whole-body COM would need link
    masses the state record does not carry; the anchor sits close to it on a humanoid and
    moves with it.
    """
    p = anchor_pos_w(inp, "robot", "com_reward")
    p_ref = anchor_pos_w(inp, "ref", "com_reward")
    return torch.exp(-scale * torch.sum(torch.square(p_ref - p), dim=-1))


@needs("robot.root_lin_vel_w", "target_heading_w", "target_speed")
def heading_velocity_reward(
    inp: TermInput, scale: float = 2.5, penalize_overspeed: bool = False
) -> torch.Tensor:
    """``[N]`` DeepMimic's heading task: ``exp(−scale · max(0, v* − v·d*)²)``, ``scale = 2.5``.

    ``v``: the root's horizontal linear velocity (COM-velocity proxy); ``d*``: the unit
    target heading (``target_heading_w``, horizontal); ``v*``: ``target_speed``. The paper
    clips at zero (going faster than ``v*`` is not penalized); ``penalize_overspeed=True``
    scores ``exp(−scale (v* − v·d*)²)`` instead.
    """
    v = require(inp, "robot.root_lin_vel_w", "heading_velocity_reward")
    d = require(inp, "target_heading_w", "heading_velocity_reward")
    v_star = require(inp, "target_speed", "heading_velocity_reward")
    err = v_star - torch.sum(v[..., :2] * d[..., :2], dim=-1)
    if not penalize_overspeed:
        err = err.clamp(min=0.0)
    return torch.exp(-scale * torch.square(err))


def imitation_task_reward(
    r_imitation: torch.Tensor,
    r_task: torch.Tensor,
    w_imitation: float = 0.7,
    w_task: float = 0.3,
) -> torch.Tensor:
    """``[N]`` ``r = w_I r_I + w_G r_G``; DeepMimic ``w_I = 0.7, w_G = 0.3``."""
    return w_imitation * r_imitation + w_task * r_task


# -- BeyondMimic body-relative terms -----------------------------------------------------


def ref_body_pose_relative_w(inp: TermInput, term: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference bodies ``([N, B, 3], [N, B, 4])`` re-anchored on the robot (BeyondMimic).

    ``Δq = yaw(q_a ⊗ q̂_a⁻¹)``, ``Δp = (p_a.x, p_a.y, p̂_a.z)``;
    ``p̂_b' = Δp + Δq (p̂_b − p̂_a)``, ``q̂_b' = Δq ⊗ q̂_b``.
    """
    p_a = anchor_pos_w(inp, "robot", term)
    q_a = anchor_quat_w(inp, "robot", term)
    p_ref_a = anchor_pos_w(inp, "ref", term)
    q_ref_a = anchor_quat_w(inp, "ref", term)
    p_ref = require(inp, "ref.body_pos_w", term)
    q_ref = require(inp, "ref.body_quat_w", term)
    dq = yaw_quat(quat_mul(q_a, quat_conj(q_ref_a)))
    dp = torch.cat([p_a[:, :2], p_ref_a[:, 2:]], dim=-1)
    pos = dp[:, None, :] + quat_apply(dq[:, None, :], p_ref - p_ref_a[:, None, :])
    quat = quat_mul(dq[:, None, :].expand_as(q_ref), q_ref)
    return pos, quat


def _select(x: torch.Tensor, body_indices: Sequence[int] | None) -> torch.Tensor:
    return x if body_indices is None else x[:, list(body_indices)]


@needs("robot.body_pos_w", "ref.body_pos_w")
def anchor_pos_error_exp(inp: TermInput, std: float = 0.3) -> torch.Tensor:
    """``[N]`` ``exp(−‖p̂_a − p_a‖² / σ²)``, world anchor positions; BeyondMimic ``σ = 0.3`` m."""
    p = anchor_pos_w(inp, "robot", "anchor_pos_error_exp")
    p_ref = anchor_pos_w(inp, "ref", "anchor_pos_error_exp")
    return torch.exp(-torch.sum(torch.square(p_ref - p), dim=-1) / std**2)


@needs("robot.body_quat_w", "ref.body_quat_w")
def anchor_ori_error_exp(inp: TermInput, std: float = 0.4) -> torch.Tensor:
    """``[N]`` ``exp(−θ² / σ²)``, ``θ`` = angle of ``q_a⁻¹ ⊗ q̂_a``; BeyondMimic ``σ = 0.4`` rad."""
    q = anchor_quat_w(inp, "robot", "anchor_ori_error_exp")
    q_ref = anchor_quat_w(inp, "ref", "anchor_ori_error_exp")
    return torch.exp(-torch.square(quat_error_angle(q, q_ref)) / std**2)


_BODY_POSE = ("robot.body_pos_w", "robot.body_quat_w", "ref.body_pos_w", "ref.body_quat_w")


@needs(*_BODY_POSE)
def body_pos_error_exp(
    inp: TermInput, std: float = 0.3, body_indices: Sequence[int] | None = None
) -> torch.Tensor:
    """``[N]`` ``exp(−mean_b ‖p̂_b' − p_b‖² / σ²)``, reference re-anchored on the robot
    (:func:`ref_body_pose_relative_w`); BeyondMimic ``σ = 0.3`` m."""
    p_ref, _ = ref_body_pose_relative_w(inp, "body_pos_error_exp")
    p = require(inp, "robot.body_pos_w", "body_pos_error_exp")
    err = torch.sum(torch.square(_select(p_ref, body_indices) - _select(p, body_indices)), -1)
    return torch.exp(-err.mean(-1) / std**2)


@needs(*_BODY_POSE)
def body_ori_error_exp(
    inp: TermInput, std: float = 0.4, body_indices: Sequence[int] | None = None
) -> torch.Tensor:
    """``[N]`` ``exp(−mean_b θ_b² / σ²)``, ``θ_b`` the angle between robot body and re-anchored
    reference body; BeyondMimic ``σ = 0.4`` rad."""
    _, q_ref = ref_body_pose_relative_w(inp, "body_ori_error_exp")
    q = require(inp, "robot.body_quat_w", "body_ori_error_exp")
    angle = quat_error_angle(_select(q, body_indices), _select(q_ref, body_indices))
    return torch.exp(-torch.square(angle).mean(-1) / std**2)


@needs("robot.body_lin_vel_w", "ref.body_lin_vel_w")
def body_lin_vel_error_exp(
    inp: TermInput, std: float = 1.0, body_indices: Sequence[int] | None = None
) -> torch.Tensor:
    """``[N]`` ``exp(−mean_b ‖v̂_b − v_b‖² / σ²)``, world frame; BeyondMimic ``σ = 1.0`` m/s."""
    v = require(inp, "robot.body_lin_vel_w", "body_lin_vel_error_exp")
    v_ref = require(inp, "ref.body_lin_vel_w", "body_lin_vel_error_exp")
    err = torch.sum(torch.square(_select(v_ref, body_indices) - _select(v, body_indices)), -1)
    return torch.exp(-err.mean(-1) / std**2)


@needs("robot.body_ang_vel_w", "ref.body_ang_vel_w")
def body_ang_vel_error_exp(
    inp: TermInput, std: float = 3.14, body_indices: Sequence[int] | None = None
) -> torch.Tensor:
    """``[N]`` ``exp(−mean_b ‖ω̂_b − ω_b‖² / σ²)``, world frame; BeyondMimic ``σ = 3.14`` rad/s."""
    w = require(inp, "robot.body_ang_vel_w", "body_ang_vel_error_exp")
    w_ref = require(inp, "ref.body_ang_vel_w", "body_ang_vel_error_exp")
    err = torch.sum(torch.square(_select(w_ref, body_indices) - _select(w, body_indices)), -1)
    return torch.exp(-err.mean(-1) / std**2)


# -- regularizers (costs: use a negative weight) ---------------------------------------


@needs("last_action", "prev_action")
def action_rate_l2(inp: TermInput) -> torch.Tensor:
    """``[N]`` ``Σ_j (a_j − a_prev_j)²``: ``last_action`` (the action just applied, at reward
    time) against ``prev_action`` (the one before it)."""
    prev = require(inp, "prev_action", "action_rate_l2")
    return torch.sum(torch.square(inp.last_action - prev), dim=-1)


@needs("robot.joint_pos", "soft_joint_pos_limits")
def joint_limit_proximity(inp: TermInput) -> torch.Tensor:
    """``[N]`` how far past the soft limits the joints are: ``Σ_j max(0, l_j − q_j, q_j − u_j)``
    (rad), zero inside ``[l, u]``."""
    lim = require(inp, "soft_joint_pos_limits", "joint_limit_proximity")
    q = inp.robot.joint_pos
    below = (lim[:, 0] - q).clamp(min=0.0)
    above = (q - lim[:, 1]).clamp(min=0.0)
    return torch.sum(below + above, dim=-1)


def _nonfoot_contact(inp: TermInput, threshold_n: float, term: str) -> torch.Tensor:
    """``[N, K]`` bool: non-foot body with ``‖f‖ > threshold_n``."""
    force = require(inp, "contact_force_w", term)
    mask = torch.ones(force.shape[1], dtype=torch.bool, device=force.device)
    mask[list(inp.foot_indices)] = False
    return (torch.linalg.norm(force, dim=-1) > threshold_n) & mask


@needs("contact_force_w", "foot_indices")
def undesired_contacts(inp: TermInput, threshold_n: float = 1.0) -> torch.Tensor:
    """``[N]`` number of non-foot bodies with contact force ``‖f‖ > threshold_n`` (N).

    Reads ``contact_force_w [N, K, 3]`` (the ``K = B`` tracked bodies, body order); the
    ``foot_indices`` are excluded.
    """
    return (
        _nonfoot_contact(inp, threshold_n, "undesired_contacts").sum(-1).to(inp.last_action.dtype)
    )


# -- combining -------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardTerm:
    """One weighted reward term.

    Attributes:
        name: unique name, used as the logging key.
        fn: ``(TermInput) -> [N]`` (bind parameters with ``functools.partial``).
        weight: multiplier in the total (negative for costs).
    """

    name: str
    fn: RewardFn
    weight: float


def compute_rewards(
    terms: Sequence[RewardTerm], inp: TermInput
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``(total [N], {name: value [N]})``: ``total = Σ weight · value``.

    The dict holds the unweighted values (each kernel term in ``[0, 1]``), for logging.
    """
    names = [t.name for t in terms]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"reward term names must be unique; repeated: {dup}")
    total = torch.zeros(
        inp.num_envs, dtype=inp.robot.joint_pos.dtype, device=inp.robot.joint_pos.device
    )
    per_term: dict[str, torch.Tensor] = {}
    for t in terms:
        value = t.fn(inp)
        if value.shape != (inp.num_envs,):
            raise ConfigError(
                f"reward term {t.name!r} must return [N={inp.num_envs}], got {tuple(value.shape)}"
            )
        per_term[t.name] = value
        total = total + t.weight * value
    return total, per_term


def deepmimic_terms() -> list[RewardTerm]:
    """DeepMimic's imitation reward ``r_I``: weights 0.65 / 0.1 / 0.15 / 0.1 (sum 1)."""
    return [
        RewardTerm("pose", pose_reward, 0.65),
        RewardTerm("velocity", velocity_reward, 0.1),
        RewardTerm("end_effector", end_effector_reward, 0.15),
        RewardTerm("com", com_reward, 0.1),
    ]


def beyondmimic_terms() -> list[RewardTerm]:
    """BeyondMimic's tracking reward: six kernel terms and three regularizers."""
    return [
        RewardTerm("anchor_pos", anchor_pos_error_exp, 0.5),
        RewardTerm("anchor_ori", anchor_ori_error_exp, 0.5),
        RewardTerm("body_pos", body_pos_error_exp, 1.0),
        RewardTerm("body_ori", body_ori_error_exp, 1.0),
        RewardTerm("body_lin_vel", body_lin_vel_error_exp, 1.0),
        RewardTerm("body_ang_vel", body_ang_vel_error_exp, 1.0),
        RewardTerm("action_rate", action_rate_l2, -0.1),
        RewardTerm("joint_limit", joint_limit_proximity, -10.0),
        RewardTerm("undesired_contacts", undesired_contacts, -0.1),
    ]


REWARD_TERMS: dict[str, RewardFn] = {
    fn.__name__: fn
    for fn in (
        pose_reward,
        velocity_reward,
        end_effector_reward,
        com_reward,
        anchor_pos_error_exp,
        anchor_ori_error_exp,
        body_pos_error_exp,
        body_ori_error_exp,
        body_lin_vel_error_exp,
        body_ang_vel_error_exp,
        action_rate_l2,
        joint_limit_proximity,
        undesired_contacts,
        heading_velocity_reward,
    )
}
"""Every reward term by function name, with its default parameters (configs pick by name)."""
