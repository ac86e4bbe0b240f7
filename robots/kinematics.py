"""Batched forward kinematics of named frames with Pinocchio."""

from __future__ import annotations

import numpy as np
import pinocchio as pin

from humimic.robots.pinocchio_model import build_pinocchio
from humimic.robots.spec import RobotSpec
from humimic.rotations import matrix_to_quat


class ForwardKinematics:
    """World poses of named frames (bodies or extra frames) over a trajectory.

    Frame names are resolved to Pinocchio ids once, at construction.
    """

    def __init__(self, spec: RobotSpec, frame_names: tuple[str, ...] | list[str]) -> None:
        self.spec = spec
        self.robot = build_pinocchio(spec)
        self.frame_names = tuple(frame_names)
        self.frame_ids = [self.robot.frame_id(n) for n in self.frame_names]
        self._foot_ids = [self.robot.frame_id(f.body) for f in spec.feet]
        self._corners_b = np.array([f.sole_corners_b() for f in spec.feet])  # [F, 4, 3]
        self._data = self.robot.model.createData()

    def _frames(self, q: np.ndarray, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        model, data = self.robot.model, self._data
        pin.forwardKinematics(model, data, q)
        pos = np.empty((len(ids), 3))
        rot = np.empty((len(ids), 3, 3))
        for k, fid in enumerate(ids):
            oMf = pin.updateFramePlacement(model, data, fid)
            pos[k] = oMf.translation
            rot[k] = oMf.rotation
        return pos, rot

    def __call__(
        self, root_pos_w: np.ndarray, root_quat_w: np.ndarray, joint_pos: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Positions ``[T, N, 3]`` (m) and quaternions ``[T, N, 4]`` (wxyz) of the frames.

        Args:
            root_pos_w: ``[T, 3]``. root_quat_w: ``[T, 4]`` wxyz. joint_pos: ``[T, J]``.
        """
        root_pos_w = np.atleast_2d(root_pos_w)
        root_quat_w = np.atleast_2d(root_quat_w)
        joint_pos = np.atleast_2d(joint_pos)
        T = joint_pos.shape[0]
        pos = np.empty((T, len(self.frame_ids), 3))
        rot = np.empty((T, len(self.frame_ids), 3, 3))
        for t in range(T):
            q = self.robot.q_from(root_pos_w[t], root_quat_w[t], joint_pos[t])
            pos[t], rot[t] = self._frames(q, self.frame_ids)
        return pos, matrix_to_quat(rot)

    def sole_corners_w(
        self, root_pos_w: np.ndarray, root_quat_w: np.ndarray, joint_pos: np.ndarray
    ) -> np.ndarray:
        """World positions ``[T, F, 4, 3]`` of every foot's four sole corners."""
        root_pos_w = np.atleast_2d(root_pos_w)
        root_quat_w = np.atleast_2d(root_quat_w)
        joint_pos = np.atleast_2d(joint_pos)
        T = joint_pos.shape[0]
        out = np.empty((T, *self._corners_b.shape))
        for t in range(T):
            q = self.robot.q_from(root_pos_w[t], root_quat_w[t], joint_pos[t])
            pos, rot = self._frames(q, self._foot_ids)
            out[t] = pos[:, None, :] + np.einsum("fij,fkj->fki", rot, self._corners_b)
        return out
