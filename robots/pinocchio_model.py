"""The robot in Pinocchio: free-flyer root, tracked frames, and the mesh collision model (coal)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from humimic.errors import RobotError, unknown_name
from humimic.robots.assets import package_root, urdf_path
from humimic.robots.spec import RobotSpec


@dataclass(frozen=True)
class PinocchioRobot:
    """A Pinocchio model with name lookups resolved once.

    Configuration layout (Pinocchio's): ``q = [root_pos_w (3), root_quat_w xyzw (4), joints]``.
    ``joint_q_idx[i]`` is the ``q`` index of the i-th joint in *policy* order, so policy-order
    joint vectors are scattered with ``q[7 + ...]`` never by hand.
    """

    spec: RobotSpec
    model: pin.Model
    collision_model: pin.GeometryModel
    joint_q_idx: np.ndarray  # [J] int, policy order → index into q
    joint_v_idx: np.ndarray  # [J] int, policy order → index into v

    def frame_id(self, name: str) -> int:
        """Pinocchio frame id of a body or extra frame; the error lists valid names."""
        if not self.model.existFrame(name):
            raise RobotError(unknown_name("frame", name, [f.name for f in self.model.frames]))
        return self.model.getFrameId(name)

    def q_from(
        self, root_pos_w: np.ndarray, root_quat_w: np.ndarray, joint_pos: np.ndarray
    ) -> np.ndarray:
        """Pinocchio ``q`` from a root pose (quat **wxyz**) and policy-order joint positions."""
        q = np.zeros(self.model.nq)
        q[0:3] = root_pos_w
        q[3:6] = root_quat_w[1:4]
        q[6] = root_quat_w[0]
        q[self.joint_q_idx] = joint_pos
        return q


@functools.cache
def build_pinocchio(spec: RobotSpec) -> PinocchioRobot:
    """Build (once per process) the Pinocchio model of ``spec`` with a free-flyer root.

    Extra frames of the spec are added as operational frames on their parent body.
    """
    urdf = str(urdf_path(spec.urdf))
    model, collision_model = pin.buildModelsFromUrdf(
        urdf,
        package_dirs=[str(package_root(spec.urdf))],
        root_joint=pin.JointModelFreeFlyer(),
        geometry_types=[pin.GeometryType.COLLISION],
    )
    for frame in spec.extra_frames:
        if not model.existFrame(frame.parent_body):
            raise RobotError(
                unknown_name("body", frame.parent_body, [f.name for f in model.frames])
            )
        parent = model.frames[model.getFrameId(frame.parent_body)]
        placement = parent.placement * pin.SE3(np.eye(3), np.asarray(frame.pos_b, dtype=float))
        model.addFrame(
            pin.Frame(
                frame.name,
                parent.parentJoint,
                model.getFrameId(frame.parent_body),
                placement,
                pin.FrameType.OP_FRAME,
            )
        )
    q_idx, v_idx = [], []
    for name in spec.joint_names:
        if not model.existJointName(name):
            raise RobotError(unknown_name("URDF joint", name, list(model.names)))
        jid = model.getJointId(name)
        q_idx.append(model.joints[jid].idx_q)
        v_idx.append(model.joints[jid].idx_v)
    if model.nq != 7 + spec.num_joints:
        raise RobotError(
            f"{urdf}: model has nq={model.nq}, expected 7 + {spec.num_joints} (robot {spec.name})"
        )
    return PinocchioRobot(spec, model, collision_model, np.array(q_idx), np.array(v_idx))
