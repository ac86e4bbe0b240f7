"""Termination terms of the tracking task: small functions ``(TermInput, ...) -> bool [N]``.

Thresholds default to BeyondMimic's (mjlab ``tasks/tracking``): anchor height 0.25 m, anchor
orientation 0.8 (difference of the projected-gravity z components, no unit), end-effector
height 0.25 m. ``time_out`` and ``clip_end`` are truncations (bootstrap the value), the others
are failures.
"""

from __future__ import annotations

import torch

from humimic.errors import ConfigError

from .math import projected_gravity
from .rewards import _nonfoot_contact
from .state import TermInput, anchor_pos_w, anchor_quat_w, needs, require

__all__ = [
    "anchor_height_error",
    "anchor_orientation_error",
    "clip_end",
    "end_effector_height_error",
    "nonfoot_ground_contact",
    "time_out",
]


@needs("robot.body_pos_w", "ref.body_pos_w")
def anchor_height_error(inp: TermInput, threshold_m: float = 0.25) -> torch.Tensor:
    """``[N]`` ``|ẑ_a − z_a| > threshold_m``: the anchor is too far above/below the reference."""
    z = anchor_pos_w(inp, "robot", "anchor_height_error")[:, 2]
    z_ref = anchor_pos_w(inp, "ref", "anchor_height_error")[:, 2]
    return (z_ref - z).abs() > threshold_m


@needs("robot.body_quat_w", "ref.body_quat_w")
def anchor_orientation_error(inp: TermInput, threshold: float = 0.8) -> torch.Tensor:
    """``[N]`` ``|ĝ_z − g_z| > threshold`` with ``g`` the gravity direction in the anchor frame.

    Only tilt counts (heading is free): upright ``g_z = −1``, lying on the side ``g_z = 0``.
    """
    g = projected_gravity(anchor_quat_w(inp, "robot", "anchor_orientation_error"))
    g_ref = projected_gravity(anchor_quat_w(inp, "ref", "anchor_orientation_error"))
    return (g_ref[:, 2] - g[:, 2]).abs() > threshold


@needs("robot.body_pos_w", "ref.body_pos_w", "ee_indices")
def end_effector_height_error(inp: TermInput, threshold_m: float = 0.25) -> torch.Tensor:
    """``[N]`` any end effector with ``|ẑ_e − z_e| > threshold_m`` (world heights)."""
    if not inp.ee_indices:
        raise ConfigError("end_effector_height_error needs TermInput.ee_indices (got none)")
    idx = list(inp.ee_indices)
    z = require(inp, "robot.body_pos_w", "end_effector_height_error")[:, idx, 2]
    z_ref = require(inp, "ref.body_pos_w", "end_effector_height_error")[:, idx, 2]
    return torch.any((z_ref - z).abs() > threshold_m, dim=-1)


@needs("episode_time_s")
def time_out(inp: TermInput, max_episode_length_s: float = 10.0) -> torch.Tensor:
    """``[N]`` ``episode_time_s >= max_episode_length_s`` (truncation)."""
    t = require(inp, "episode_time_s", "time_out")
    return t >= max_episode_length_s


@needs("motion_time_s", "motion_length_s")
def clip_end(inp: TermInput) -> torch.Tensor:
    """``[N]`` the reference reached the end of its clip: ``motion_time_s >= motion_length_s``."""
    t = require(inp, "motion_time_s", "clip_end")
    length = require(inp, "motion_length_s", "clip_end")
    return t >= length


@needs("contact_force_w", "foot_indices")
def nonfoot_ground_contact(inp: TermInput, threshold_n: float = 1.0) -> torch.Tensor:
    """``[N]`` any non-foot tracked body with contact force ``‖f‖ > threshold_n`` (N)."""
    return torch.any(_nonfoot_contact(inp, threshold_n, "nonfoot_ground_contact"), dim=-1)
