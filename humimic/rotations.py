"""Quaternion and rotation helpers (NumPy, batched over leading axes).

Convention inside humimic: unit quaternions stored ``wxyz``, Hamilton product,
active rotations, ``q`` maps body-frame vectors to the parent/world frame.
Pinocchio and Isaac Gym store ``xyzw``; convert at the boundary with
:func:`xyzw_to_wxyz` / :func:`wxyz_to_xyzw` and nowhere else.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

_EPS = 1e-12


def xyzw_to_wxyz(q: ArrayLike) -> FloatArray:
    """Reorder ``[..., 4]`` quaternions from ``xyzw`` to ``wxyz``."""
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., 3:4], q[..., 0:3]], axis=-1)


def wxyz_to_xyzw(q: ArrayLike) -> FloatArray:
    """Reorder ``[..., 4]`` quaternions from ``wxyz`` to ``xyzw``."""
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., 1:4], q[..., 0:1]], axis=-1)


def quat_normalize(q: ArrayLike) -> FloatArray:
    """Unit quaternions ``[..., 4]``; raises ``ValueError`` on a zero quaternion."""
    q = np.asarray(q, dtype=np.float64)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(n < _EPS):
        raise ValueError("cannot normalize a zero quaternion")
    return q / n


def quat_conj(q: ArrayLike) -> FloatArray:
    """Conjugate (= inverse for unit quaternions) of ``[..., 4]`` wxyz quaternions."""
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_mul(a: ArrayLike, b: ArrayLike) -> FloatArray:
    """Hamilton product ``a ⊗ b`` of ``[..., 4]`` wxyz quaternions (broadcasting)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_rotate(q: ArrayLike, v: ArrayLike) -> FloatArray:
    """Rotate vectors ``v [..., 3]`` by unit quaternions ``q [..., 4]``.

    Uses ``v' = v + 2w (u × v) + 2 u × (u × v)`` with ``q = (w, u)``.
    """
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    w = q[..., :1]
    u = q[..., 1:]
    uv = np.cross(u, v)
    return v + 2.0 * w * uv + 2.0 * np.cross(u, uv)


def quat_change_basis(q: ArrayLike, q_basis: ArrayLike) -> FloatArray:
    """Rotations ``q [..., 4]`` re-expressed in another basis: ``q_b ⊗ q ⊗ q_b⁻¹`` (``M R Mᵀ``).

    Used when a whole clip changes axes (Y-up files → humimic's Z-up): the identity stays the
    identity, and body-frame vectors must be mapped by the same rotation.
    """
    return quat_mul(quat_mul(q_basis, q), quat_conj(q_basis))


def quat_to_matrix(q: ArrayLike) -> FloatArray:
    """Rotation matrices ``[..., 3, 3]`` of unit quaternions ``[..., 4]`` (wxyz)."""
    q = quat_normalize(q)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def matrix_to_quat(R: ArrayLike) -> FloatArray:
    """Unit quaternions ``[..., 4]`` (wxyz, ``w >= 0``) of rotation matrices ``[..., 3, 3]``.

    Shepperd's method: pick the largest of ``(trace, R00, R11, R22)`` for stability.
    """
    R = np.asarray(R, dtype=np.float64)
    batch = R.shape[:-2]
    R = R.reshape(-1, 3, 3)
    q = np.empty((R.shape[0], 4))
    tr = np.trace(R, axis1=1, axis2=2)
    diag = np.stack([tr, R[:, 0, 0], R[:, 1, 1], R[:, 2, 2]], axis=1)
    case = np.argmax(diag, axis=1)
    for c in range(4):
        m = case == c
        if not np.any(m):
            continue
        r = R[m]
        if c == 0:
            s = np.sqrt(1.0 + tr[m]) * 2.0
            q[m] = np.stack(
                [
                    0.25 * s,
                    (r[:, 2, 1] - r[:, 1, 2]) / s,
                    (r[:, 0, 2] - r[:, 2, 0]) / s,
                    (r[:, 1, 0] - r[:, 0, 1]) / s,
                ],
                axis=1,
            )
        elif c == 1:
            s = np.sqrt(1.0 + r[:, 0, 0] - r[:, 1, 1] - r[:, 2, 2]) * 2.0
            q[m] = np.stack(
                [
                    (r[:, 2, 1] - r[:, 1, 2]) / s,
                    0.25 * s,
                    (r[:, 0, 1] + r[:, 1, 0]) / s,
                    (r[:, 0, 2] + r[:, 2, 0]) / s,
                ],
                axis=1,
            )
        elif c == 2:
            s = np.sqrt(1.0 + r[:, 1, 1] - r[:, 0, 0] - r[:, 2, 2]) * 2.0
            q[m] = np.stack(
                [
                    (r[:, 0, 2] - r[:, 2, 0]) / s,
                    (r[:, 0, 1] + r[:, 1, 0]) / s,
                    0.25 * s,
                    (r[:, 1, 2] + r[:, 2, 1]) / s,
                ],
                axis=1,
            )
        else:
            s = np.sqrt(1.0 + r[:, 2, 2] - r[:, 0, 0] - r[:, 1, 1]) * 2.0
            q[m] = np.stack(
                [
                    (r[:, 1, 0] - r[:, 0, 1]) / s,
                    (r[:, 0, 2] + r[:, 2, 0]) / s,
                    (r[:, 1, 2] + r[:, 2, 1]) / s,
                    0.25 * s,
                ],
                axis=1,
            )
    q = quat_normalize(q)
    q = np.where(q[:, :1] < 0, -q, q)
    return q.reshape(*batch, 4)


def quat_from_axis_angle(axis: ArrayLike, angle_rad: ArrayLike) -> FloatArray:
    """Quaternion ``[..., 4]`` rotating by ``angle_rad`` about unit ``axis [..., 3]``."""
    axis = np.asarray(axis, dtype=np.float64)
    half = 0.5 * np.asarray(angle_rad, dtype=np.float64)[..., None]
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    return np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1)


def quat_exp(rotvec: ArrayLike) -> FloatArray:
    """Quaternion of a rotation vector ``[..., 3]`` (axis × angle in rad)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(θ/2)/θ → 1/2 - θ²/48 as θ → 0
    k = np.where(angle > 1e-8, np.sin(half) / np.maximum(angle, 1e-300), 0.5 - angle**2 / 48.0)
    return np.concatenate([np.cos(half), k * rotvec], axis=-1)


def quat_log(q: ArrayLike) -> FloatArray:
    """Rotation vector ``[..., 3]`` (angle in ``[0, π]``) of unit quaternions ``[..., 4]``."""
    q = np.asarray(q, dtype=np.float64)
    q = np.where(q[..., :1] < 0, -q, q)  # shortest rotation
    w = np.clip(q[..., :1], -1.0, 1.0)
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, w)
    # θ / sin(θ/2) → 2 + θ²/12 as θ → 0
    k = np.where(s > 1e-8, angle / np.maximum(s, 1e-300), 2.0 + angle**2 / 12.0)
    return k * v


def quat_slerp(q0: ArrayLike, q1: ArrayLike, t: ArrayLike) -> FloatArray:
    """Spherical linear interpolation between ``q0`` and ``q1`` (``[..., 4]``) at ``t [...]``.

    Takes the short way (flips ``q1`` when ``q0·q1 < 0``).
    """
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0.0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    small = sin_theta < 1e-6
    safe = np.where(small, 1.0, sin_theta)
    w0 = np.where(small, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(small, t, np.sin(t * theta) / safe)
    return quat_normalize(w0 * q0 + w1 * q1)


def angular_velocity_w(quat_w: ArrayLike, dt_s: float) -> FloatArray:
    """World-frame angular velocity ``[T, ..., 3]`` (rad/s) of a sampled rotation ``[T, ..., 4]``.

    Finite differences on SO(3): ``ω_t = log(q_{t+1} ⊗ q_{t-1}⁻¹) / (2 dt)`` inside,
    one-sided ``log(q_{t+1} ⊗ q_t⁻¹) / dt`` at the ends. Exact for a constant
    angular velocity.
    """
    q = np.asarray(quat_w, dtype=np.float64)
    if q.shape[0] < 2:
        return np.zeros(q.shape[:-1] + (3,))
    out = np.empty(q.shape[:-1] + (3,))
    out[1:-1] = quat_log(quat_mul(q[2:], quat_conj(q[:-2]))) / (2.0 * dt_s)
    out[0] = quat_log(quat_mul(q[1], quat_conj(q[0]))) / dt_s
    out[-1] = quat_log(quat_mul(q[-1], quat_conj(q[-2]))) / dt_s
    return out


def linear_velocity(pos: ArrayLike, dt_s: float) -> FloatArray:
    """Time derivative ``[T, ...]`` of ``pos [T, ...]``: central differences, one-sided at ends."""
    pos = np.asarray(pos, dtype=np.float64)
    if pos.shape[0] < 2:
        return np.zeros_like(pos)
    return np.gradient(pos, dt_s, axis=0)


def yaw_quat(q: ArrayLike) -> FloatArray:
    """The heading-only part (rotation about world Z) of wxyz quaternions ``[..., 4]``."""
    q = np.asarray(q, dtype=np.float64)
    w, x, y, z = np.moveaxis(q, -1, 0)
    yaw = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    zeros = np.zeros_like(yaw)
    return np.stack([np.cos(0.5 * yaw), zeros, zeros, np.sin(0.5 * yaw)], axis=-1)
