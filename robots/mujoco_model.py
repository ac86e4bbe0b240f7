"""The robot in MuJoCo, built from the same URDF through ``MjSpec``.

What the builder adds to the URDF: a free joint on the root body, a ground plane,
joint armature, position actuators that close the PD loop at physics rate
(``τ = kp·(q* − q) − kd·q̇``, clipped to the effort limit), simple capsules for
contact (the URDF's mesh collisions are dropped so simulation is fast), the
spec's extra frames as massless bodies, and an IMU site with gyro/accelerometer
sensors. Visual meshes are kept (group 2) for rendering.

Contact filtering: robot capsules have ``contype=2, conaffinity=0`` and the ground
``contype=1, conaffinity=2``, so the robot touches the ground but not itself
(``self_collision=True`` turns robot–robot contacts on).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from humimic.errors import RobotError, unknown_name
from humimic.robots.assets import resolve_package_uri, urdf_path
from humimic.robots.spec import RobotSpec

PHYSICS_DT_S = 0.005  # 200 Hz
FOOT_FRICTION = 1.0
GROUND_GEOM = "ground"
IMU_SITE = "imu"

_ROBOT_CONTYPE, _ROBOT_CONAFFINITY = 2, 0
_GROUND_CONTYPE, _GROUND_CONAFFINITY = 1, 2
_VISUAL_GROUP, _COLLISION_GROUP = 2, 3


@dataclass(frozen=True)
class MujocoRobot:
    """A compiled MuJoCo model with names resolved once into index arrays (policy order).

    Attributes:
        joint_qpos_adr: ``[J]`` qpos address of each policy-order joint.
        joint_dof_adr: ``[J]`` qvel address of each policy-order joint.
        actuator_ids: ``[J]`` actuator of each policy-order joint.
        tracked_body_ids: ``[B]`` body ids of ``spec.tracked_bodies``.
        foot_geom_ids: ``{foot name: geom ids of its capsules}``.
    """

    spec: RobotSpec
    model: mujoco.MjModel
    joint_qpos_adr: np.ndarray
    joint_dof_adr: np.ndarray
    actuator_ids: np.ndarray
    tracked_body_ids: np.ndarray
    foot_geom_ids: dict[str, np.ndarray]
    root_body_id: int
    ground_geom_id: int

    def body_id(self, name: str) -> int:
        bid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
        if bid < 0:
            names = [self.model.body(i).name for i in range(self.model.nbody)]
            raise RobotError(unknown_name("MuJoCo body", name, names))
        return bid

    def set_state(
        self,
        data: mujoco.MjData,
        root_pos_w: np.ndarray,
        root_quat_w: np.ndarray,
        joint_pos: np.ndarray,
        root_lin_vel_w: np.ndarray | None = None,
        root_ang_vel_w: np.ndarray | None = None,
        joint_vel: np.ndarray | None = None,
    ) -> None:
        """Write a full state (root quat **wxyz**, velocities in the world frame) into ``data``.

        MuJoCo's free joint takes linear velocity in the world frame and angular velocity in
        the body frame; the conversion happens here, once.
        """
        data.qpos[0:3] = root_pos_w
        data.qpos[3:7] = root_quat_w
        data.qpos[self.joint_qpos_adr] = joint_pos
        data.qvel[:] = 0.0
        if root_lin_vel_w is not None:
            data.qvel[0:3] = root_lin_vel_w
        if root_ang_vel_w is not None:
            rot = np.empty(9)
            mujoco.mju_quat2Mat(rot, np.asarray(root_quat_w, dtype=np.float64))
            data.qvel[3:6] = rot.reshape(3, 3).T @ root_ang_vel_w
        if joint_vel is not None:
            data.qvel[self.joint_dof_adr] = joint_vel
        mujoco.mj_forward(self.model, data)

    def set_pd_gains(self, kp_nm_per_rad: np.ndarray, kd_nm_s_per_rad: np.ndarray) -> None:
        """Set per-joint PD gains of the position actuators (policy order)."""
        ids = self.actuator_ids
        self.model.actuator_gainprm[ids, 0] = kp_nm_per_rad
        self.model.actuator_biasprm[ids, 1] = -np.asarray(kp_nm_per_rad)
        self.model.actuator_biasprm[ids, 2] = -np.asarray(kd_nm_s_per_rad)


def _urdf_text(spec: RobotSpec) -> str:
    text = urdf_path(spec.urdf).read_text(encoding="utf-8")
    compiler = (
        '<mujoco><compiler discardvisual="false" fusestatic="false" balanceinertia="true"/>'
        "</mujoco>"
    )
    start = text.index("<robot")
    end = text.index(">", start) + 1
    return text[:end] + compiler + text[end:]


def build_mjspec(
    spec: RobotSpec,
    *,
    include_visual: bool = True,
    self_collision: bool = False,
    physics_dt_s: float = PHYSICS_DT_S,
) -> mujoco.MjSpec:
    """The editable ``MjSpec`` of the robot on a ground plane (see module docstring)."""
    ms = mujoco.MjSpec.from_string(_urdf_text(spec))
    ms.modelname = spec.name
    ms.option.timestep = physics_dt_s
    ms.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    ms.option.cone = mujoco.mjtCone.mjCONE_PYRAMIDAL
    ms.visual.global_.offwidth = 1920
    ms.visual.global_.offheight = 1080
    ms.visual.headlight.ambient = [0.4, 0.4, 0.4]
    ms.visual.headlight.diffuse = [0.5, 0.5, 0.5]

    # Drop the URDF's mesh collisions; keep (or drop) its visual meshes.
    for geom in list(ms.geoms):
        is_visual = geom.contype == 0 and geom.conaffinity == 0
        if is_visual and include_visual:
            geom.group = _VISUAL_GROUP
        else:
            ms.delete(geom)
    used_meshes = {g.meshname for g in ms.geoms}
    for mesh in list(ms.meshes):
        if mesh.name not in used_meshes:
            ms.delete(mesh)
        else:
            mesh.file = str(resolve_package_uri(mesh.file, spec.urdf))

    root = ms.body(spec.root_body)
    if root is None:
        raise RobotError(f"robot {spec.name}: root body {spec.root_body!r} not in the URDF")
    root.add_freejoint(name="root")

    for frame in spec.extra_frames:
        parent = ms.body(frame.parent_body)
        if parent is None:
            raise RobotError(unknown_name("body", frame.parent_body, [b.name for b in ms.bodies]))
        parent.add_body(name=frame.name, pos=list(frame.pos_b))

    robot_contype = _ROBOT_CONTYPE
    robot_conaffinity = _ROBOT_CONTYPE if self_collision else _ROBOT_CONAFFINITY
    foot_bodies = {f.body for f in spec.feet}
    for cap in spec.capsules:
        body = ms.body(cap.body)
        if body is None:
            raise RobotError(unknown_name("body", cap.body, [b.name for b in ms.bodies]))
        body.add_geom(
            name=cap.name,
            type=mujoco.mjtGeom.mjGEOM_CAPSULE,
            fromto=[*cap.a_b, *cap.b_b],
            size=[cap.radius_m, 0, 0],
            contype=robot_contype,
            conaffinity=robot_conaffinity,
            condim=3 if cap.body in foot_bodies else 1,
            friction=[FOOT_FRICTION, 0.005, 0.0001],
            group=_COLLISION_GROUP,
            rgba=[0.8, 0.3, 0.3, 0.5],
            density=0.0,
        )

    for joint, armature, kp, kd in zip(
        spec.joints, spec.armature_kg_m2, spec.kp_nm_per_rad, spec.kd_nm_s_per_rad, strict=True
    ):
        mj_joint = ms.joint(joint.name)
        if mj_joint is None:
            raise RobotError(unknown_name("URDF joint", joint.name, [j.name for j in ms.joints]))
        mj_joint.armature = armature
        act = ms.add_actuator(name=joint.name, target=joint.name)
        act.trntype = mujoco.mjtTrn.mjTRN_JOINT
        act.set_to_position(kp=kp, kv=kd)
        act.forcelimited = True
        act.forcerange = [-joint.effort_limit_nm, joint.effort_limit_nm]
        act.ctrllimited = False

    imu_body = ms.body(spec.imu_body)
    if imu_body is None:
        raise RobotError(unknown_name("body", spec.imu_body, [b.name for b in ms.bodies]))
    imu_body.add_site(name=IMU_SITE, size=[0.01, 0.01, 0.01])
    ms.add_sensor(
        name="imu_quat",
        type=mujoco.mjtSensor.mjSENS_FRAMEQUAT,
        objtype=mujoco.mjtObj.mjOBJ_SITE,
        objname=IMU_SITE,
    )
    ms.add_sensor(
        name="imu_gyro",
        type=mujoco.mjtSensor.mjSENS_GYRO,
        objtype=mujoco.mjtObj.mjOBJ_SITE,
        objname=IMU_SITE,
    )
    ms.add_sensor(
        name="imu_acc",
        type=mujoco.mjtSensor.mjSENS_ACCELEROMETER,
        objtype=mujoco.mjtObj.mjOBJ_SITE,
        objname=IMU_SITE,
    )

    _add_scene(ms)
    return ms


def _add_scene(ms: mujoco.MjSpec) -> None:
    """Ground plane (checker texture), light and sky, for simulation and rendering."""
    ms.add_texture(
        name="grid",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        width=512,
        height=512,
        rgb1=[0.55, 0.6, 0.65],
        rgb2=[0.7, 0.75, 0.8],
    )
    ms.add_texture(
        name="sky",
        type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        width=256,
        height=256,
        rgb1=[0.6, 0.75, 0.9],
        rgb2=[0.1, 0.15, 0.2],
    )
    mat = ms.add_material(name="grid", texrepeat=[1, 1], texuniform=True, reflectance=0.0)
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "grid"
    ms.worldbody.add_geom(
        name=GROUND_GEOM,
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[0, 0, 0.05],
        material="grid",
        contype=_GROUND_CONTYPE,
        conaffinity=_GROUND_CONAFFINITY,
        friction=[FOOT_FRICTION, 0.005, 0.0001],
        condim=3,
    )
    ms.worldbody.add_light(
        name="sun",
        pos=[0, 0, 4],
        dir=[0, 0.2, -1],
        type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
        diffuse=[0.7, 0.7, 0.7],
        specular=[0.2, 0.2, 0.2],
        castshadow=True,
    )


def build_mujoco(
    spec: RobotSpec,
    *,
    include_visual: bool = True,
    self_collision: bool = False,
    physics_dt_s: float = PHYSICS_DT_S,
) -> MujocoRobot:
    """Compile the robot and resolve every name it needs into index arrays."""
    ms = build_mjspec(
        spec,
        include_visual=include_visual,
        self_collision=self_collision,
        physics_dt_s=physics_dt_s,
    )
    model = ms.compile()

    def jid(name: str) -> int:
        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)

    qpos_adr = np.array([model.jnt_qposadr[jid(n)] for n in spec.joint_names])
    dof_adr = np.array([model.jnt_dofadr[jid(n)] for n in spec.joint_names])
    act_ids = np.array(
        [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in spec.joint_names]
    )
    body_ids = []
    for name in spec.tracked_bodies:
        bid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
        if bid < 0:
            raise RobotError(
                unknown_name("tracked body", name, [model.body(i).name for i in range(model.nbody)])
            )
        body_ids.append(bid)
    foot_geoms = {
        f.name: np.array(
            [
                mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, c.name)
                for c in spec.capsules
                if c.body == f.body
            ]
        )
        for f in spec.feet
    }
    return MujocoRobot(
        spec=spec,
        model=model,
        joint_qpos_adr=qpos_adr,
        joint_dof_adr=dof_adr,
        actuator_ids=act_ids,
        tracked_body_ids=np.array(body_ids),
        foot_geom_ids=foot_geoms,
        root_body_id=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, spec.root_body),
        ground_geom_id=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, GROUND_GEOM),
    )
