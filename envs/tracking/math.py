"""Batched torch quaternion helpers for the tracking task (wxyz, Hamilton, active).

The torch twin of :mod:`humimic.rotations` (NumPy): same conventions, tested against it.
``q`` maps body-frame vectors to the parent/world frame. Every function broadcasts over
leading axes (``[..., 4]`` quaternions, ``[..., 3]`` vectors) and keeps dtype and device.
"""

from __future__ import annotations

import torch

__all__ = [
    "GRAVITY_DIR_W",
    "projected_gravity",
    "quat_apply",
    "quat_apply_inverse",
    "quat_conj",
    "quat_error_angle",
    "quat_mul",
    "quat_to_matrix",
    "quat_to_rot6d",
    "yaw_quat",
]

GRAVITY_DIR_W = (0.0, 0.0, -1.0)
"""Unit direction of gravity in the world frame (Z up)."""


def quat_conj(q: torch.Tensor) -> torch.Tensor:
    """Conjugate (= inverse for unit quaternions) of ``[..., 4]`` wxyz quaternions."""
    return torch.cat([q[..., :1], -q[..., 1:]], dim=-1)


def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``a ⊗ b`` of ``[..., 4]`` wxyz quaternions (broadcasting)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def quat_apply(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors ``v [..., 3]`` by unit quaternions ``q [..., 4]``: ``R(q) v``.

    ``v' = v + 2w (u × v) + 2 u × (u × v)`` with ``q = (w, u)``.
    """
    w = q[..., :1]
    u = q[..., 1:]
    u, v = torch.broadcast_tensors(u, v)
    uv = torch.linalg.cross(u, v, dim=-1)
    return v + 2.0 * w * uv + 2.0 * torch.linalg.cross(u, uv, dim=-1)


def quat_apply_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate ``v [..., 3]`` by the inverse of ``q [..., 4]``: ``R(q)ᵀ v`` (world → body)."""
    return quat_apply(quat_conj(q), v)


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``[..., 3, 3]`` of unit wxyz quaternions ``[..., 4]``."""
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        dim=-2,
    )


def quat_to_rot6d(q: torch.Tensor) -> torch.Tensor:
    """Continuous 6-D representation ``[..., 6]``: the first two columns of ``R(q)``.

    Row-major flattening of ``R[:, :2]``: ``(R00, R01, R10, R11, R20, R21)`` (as BeyondMimic
    / mjlab's ``motion_anchor_ori_b``). Identity → ``(1, 0, 0, 1, 0, 0)``.
    """
    m = quat_to_matrix(q)[..., :2]
    return m.reshape(*m.shape[:-2], 6)


def quat_error_angle(q_a: torch.Tensor, q_b: torch.Tensor) -> torch.Tensor:
    """Angle ``[...]`` (rad, in ``[0, π]``) of the relative rotation ``q_a⁻¹ ⊗ q_b``.

    ``2·atan2(‖v‖, |w|)``: the shortest rotation, so ``q`` and ``−q`` give the same angle.
    """
    d = quat_mul(quat_conj(q_a), q_b)
    return 2.0 * torch.atan2(torch.linalg.norm(d[..., 1:], dim=-1), d[..., 0].abs())


def yaw_quat(q: torch.Tensor) -> torch.Tensor:
    """The heading-only part (rotation about world Z) of wxyz quaternions ``[..., 4]``."""
    w, x, y, z = q.unbind(-1)
    yaw = torch.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    zeros = torch.zeros_like(yaw)
    return torch.stack([torch.cos(0.5 * yaw), zeros, zeros, torch.sin(0.5 * yaw)], dim=-1)


def projected_gravity(q: torch.Tensor) -> torch.Tensor:
    """Unit gravity direction ``[..., 3]`` in the body frame of ``q [..., 4]``: ``R(q)ᵀ (0,0,−1)``.

    Upright → ``(0, 0, −1)``; pitched 90° nose-down (``+90°`` about body ``y``) → ``(1, 0, 0)``.
    """
    g = torch.tensor(GRAVITY_DIR_W, dtype=q.dtype, device=q.device)
    return quat_apply_inverse(q, g.expand(*q.shape[:-1], 3))


def quat_slerp(q0: torch.Tensor, q1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical linear interpolation of wxyz quaternions ``q0, q1 [..., 4]`` at ``t [...]``.

    ``slerp(q0, q1, t) = sin((1 − t) θ) / sin θ · q0 + sin(t θ) / sin θ · q1`` with
    ``cos θ = |q0 · q1|`` (``q1`` is negated when ``q0 · q1 < 0``: the short way); normalized
    linear interpolation when ``sin θ < 1e-6``. ``t = 0`` returns ``q0`` and ``t = 1`` returns
    ``q1`` (sign as given) bit for bit.
    """
    t = t.unsqueeze(-1).to(q0.dtype)
    dot = (q0 * q1).sum(dim=-1, keepdim=True)
    q1_short = torch.where(dot < 0.0, -q1, q1)
    theta = torch.acos(dot.abs().clamp(max=1.0))
    sin_theta = torch.sin(theta)
    small = sin_theta < 1e-6
    safe = torch.where(small, torch.ones_like(sin_theta), sin_theta)
    w0 = torch.where(small, 1.0 - t, torch.sin((1.0 - t) * theta) / safe)
    w1 = torch.where(small, t, torch.sin(t * theta) / safe)
    out = w0 * q0 + w1 * q1_short
    out = out / out.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    out = torch.where(t == 0.0, q0, out)
    return torch.where(t == 1.0, q1, out)
