"""Per-frame inverse kinematics on the floating-base robot with Pinocchio.

Each frame solves, by a few damped Gauss–Newton steps warm-started from the previous frame,

    min_Δ  Σ_i w_i² ‖p_i* − p_i(q ⊕ Δ)‖² + Σ_k w_k² ‖log(R_k* R_k(q ⊕ Δ)ᵀ)‖²
         + w_post² ‖q̄ − q_j‖² + Σ_c w_c² (m − d_c)₊² + λ ‖Δ‖²

with position tasks on points, orientation tasks on frames, a posture prior toward the default
pose, and self-collision rows for capsule pairs closer than the margin ``m``. Jacobians are
Pinocchio's ``LOCAL_WORLD_ALIGNED`` frame Jacobians (linear rows for points, angular rows for
rotations, since ``ω_w = J_ang v``). After every step the joints are projected onto their
position limits and onto ``q_prev ± v_max·dt`` (hard joint-velocity limits at the clip's frame
time), so the output never violates either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pinocchio as pin

from humimic.robots.pinocchio_model import build_pinocchio
from humimic.robots.spec import RobotSpec


class PairChecker(Protocol):
    """What the IK needs from a self-collision checker (see :mod:`humimic.retarget.collision`)."""

    pairs: np.ndarray

    def check(self, data: Any, subset: np.ndarray | None = None) -> Any: ...


@dataclass(frozen=True)
class IkSettings:
    """Solver settings.

    λ = ``damping`` + ``error_damping``·‖e‖² (Levenberg–Marquardt with the error-dependent term
    of Sugihara 2011: steps shrink near singularities, e.g. a stretched knee); each step's
    largest component is capped at ``max_step_rad`` and iterating stops once it falls below
    ``converged_step_rad``; joints move at most
    ``min(velocity limit, max_joint_speed_rad_s)``·dt per frame (14 rad/s keeps |Δq| < 0.3 rad
    at 50 fps); ``margin_m`` is the capsule clearance the collision rows keep.
    """

    posture_weight: float = 0.1
    damping: float = 1e-3
    error_damping: float = 0.5
    max_step_rad: float = 0.3
    converged_step_rad: float = 2e-3
    max_joint_speed_rad_s: float = 14.0
    collision_weight: float = 50.0
    margin_m: float = 0.01


def skew(v: np.ndarray) -> np.ndarray:
    """``[v]×`` such that ``[v]× u = v × u``."""
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


class FrameIK:
    """Solves one frame at a time; frame names are resolved once here.

    Args:
        spec: the robot.
        position_frames: frames with position targets (bodies or extra frames).
        orientation_frames: frames with orientation targets.
        checker: optional self-collision checker; pairs closer than the margin add rows.
    """

    def __init__(
        self,
        spec: RobotSpec,
        position_frames: Sequence[str],
        orientation_frames: Sequence[str],
        settings: IkSettings | None = None,
        checker: PairChecker | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings or IkSettings()
        self.robot = build_pinocchio(spec)
        self.model = self.robot.model
        self.data = self.model.createData()
        self.pos_ids = [self.robot.frame_id(n) for n in position_frames]
        self.rot_ids = [self.robot.frame_id(n) for n in orientation_frames]
        self.checker = checker
        self.nv = self.model.nv
        self.q_idx = self.robot.joint_q_idx
        self.v_idx = self.robot.joint_v_idx
        self.lower = np.array(spec.joint_lower_rad)
        self.upper = np.array(spec.joint_upper_rad)
        self.v_max = np.array(spec.velocity_limit_rad_s)
        self.q_default = np.array(spec.default_joint_pos_rad)
        self._diag = np.arange(self.nv)

    def frame_positions(self, q: np.ndarray) -> np.ndarray:
        """World positions ``[P, 3]`` of the position frames at ``q``."""
        pin.framesForwardKinematics(self.model, self.data, q)
        return np.array([self.data.oMf[f].translation for f in self.pos_ids])

    def solve(
        self,
        q: np.ndarray,
        pos_target_w: np.ndarray,
        pos_weight: np.ndarray,
        rot_target_w: np.ndarray,
        rot_weight: np.ndarray,
        joint_prev: np.ndarray | None,
        dt_s: float,
        iterations: int,
        avoid_collisions: bool = False,
    ) -> np.ndarray:
        """Refine the Pinocchio configuration ``q`` toward the targets; returns the new ``q``.

        Args:
            pos_target_w: ``[P, 3]``; pos_weight: ``[P]`` (0 disables a task).
            rot_target_w: ``[R, 3, 3]``; rot_weight: ``[R]``.
            joint_prev: previous frame's joints (policy order) for the velocity limit, or None.
            avoid_collisions: add rows for capsule pairs closer than the margin (needs a
                checker); the pipeline turns this on only for frames found in collision.
        """
        s = self.settings
        model, data = self.model, self.data
        lo, hi = self.lower, self.upper
        if joint_prev is not None:
            step = np.minimum(self.v_max, s.max_joint_speed_rad_s) * dt_s
            lo = np.maximum(lo, joint_prev - step)
            hi = np.minimum(hi, joint_prev + step)
        pos_on = [(k, fid) for k, fid in enumerate(self.pos_ids) if pos_weight[k] > 0.0]
        rot_on = [(k, fid) for k, fid in enumerate(self.rot_ids) if rot_weight[k] > 0.0]
        n_rows = 3 * (len(pos_on) + len(rot_on))
        J_all = np.empty((n_rows, self.nv))
        e_all = np.empty(n_rows)
        w_rows = np.repeat(
            [pos_weight[k] for k, _ in pos_on] + [rot_weight[k] for k, _ in rot_on], 3
        )
        w_post2 = s.posture_weight**2
        Jc: np.ndarray | None = None
        ec = np.zeros(0)
        dv = np.zeros(self.nv)
        lwa = pin.LOCAL_WORLD_ALIGNED
        for _ in range(iterations):
            pin.computeJointJacobians(model, data, q)
            pin.updateFramePlacements(model, data)
            oMf = data.oMf
            r = 0
            for k, fid in pos_on:
                J_all[r : r + 3] = pin.getFrameJacobian(model, data, fid, lwa)[:3]
                e_all[r : r + 3] = pos_target_w[k] - oMf[fid].translation
                r += 3
            for k, fid in rot_on:
                J_all[r : r + 3] = pin.getFrameJacobian(model, data, fid, lwa)[3:]
                e_all[r : r + 3] = pin.log3(rot_target_w[k] @ oMf[fid].rotation.T)
                r += 3
            J_all *= w_rows[:, None]
            e_all *= w_rows
            H = J_all.T @ J_all
            g = J_all.T @ e_all
            err2 = float(e_all @ e_all)
            if avoid_collisions and self.checker is not None:
                if Jc is None:  # linearize the pair distances once per frame ...
                    rows: list[np.ndarray] = []
                    errs: list[np.ndarray] = []
                    self._collision_rows(rows, errs)
                    Jc = np.vstack(rows) if rows else np.zeros((0, self.nv))
                    ec = np.concatenate(errs) if errs else np.zeros(0)
                else:  # ... and move along that linear model in later steps
                    ec = ec - Jc @ dv
                if len(ec):
                    active = ec > 0.0  # a pair already past the margin stops pushing
                    H += Jc[active].T @ Jc[active]
                    g += Jc[active].T @ ec[active]
            # posture prior on the joints (a diagonal block: added to H and g directly)
            H[self.v_idx, self.v_idx] += w_post2
            g[self.v_idx] += w_post2 * (self.q_default - q[self.q_idx])
            H[self._diag, self._diag] += s.damping + s.error_damping * err2
            dv = np.linalg.solve(H, g)
            biggest = np.abs(dv).max()
            if biggest > s.max_step_rad:
                dv *= s.max_step_rad / biggest
            q_before = q
            q = pin.integrate(model, q, dv)
            q[self.q_idx] = np.clip(q[self.q_idx], lo, hi)
            if Jc is not None:  # the collision model moves by the step actually taken (clipped)
                dv = pin.difference(model, q_before, q)
            if biggest < s.converged_step_rad:
                break
        return q

    def _collision_rows(self, rows: list[np.ndarray], errs: list[np.ndarray]) -> None:
        """Rows ``w·nᵀ(J_p1 − J_p2) Δ = w·(margin − d)`` for pairs closer than the margin."""
        assert self.checker is not None
        s = self.settings
        pairs = self.checker.check(self.data)
        close = np.flatnonzero(pairs.dist < s.margin_m)
        for i in close:
            f1, f2 = int(pairs.frame_id1[i]), int(pairs.frame_id2[i])
            n = pairs.normal_w[i]
            J1 = self._point_jacobian(f1, pairs.c1_w[i])
            J2 = self._point_jacobian(f2, pairs.c2_w[i])
            rows.append((s.collision_weight * n @ (J1 - J2))[None, :])
            errs.append(np.array([s.collision_weight * (s.margin_m - pairs.dist[i])]))

    def _point_jacobian(self, fid: int, p_w: np.ndarray) -> np.ndarray:
        """Linear Jacobian ``[3, nv]`` of a point rigidly attached to frame ``fid``."""
        J = pin.getFrameJacobian(self.model, self.data, fid, pin.LOCAL_WORLD_ALIGNED)
        r = p_w - self.data.oMf[fid].translation
        return J[:3] - skew(r) @ J[3:]
