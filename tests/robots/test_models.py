"""Pinocchio and MuJoCo agree; the MuJoCo model matches the spec and stands."""

import mujoco
import numpy as np
import pinocchio as pin
import pytest

from humimic.robots.mujoco_model import IMU_SITE, PHYSICS_DT_S, build_mujoco
from humimic.robots.pinocchio_model import build_pinocchio
from humimic.rotations import matrix_to_quat


@pytest.fixture(scope="module")
def mj(g1):
    return build_mujoco(g1, include_visual=False)


def test_pinocchio_and_mujoco_forward_kinematics_agree(g1, mj):
    rng = np.random.default_rng(0)
    prob = build_pinocchio(g1)
    pdata = prob.model.createData()
    mdata = mujoco.MjData(mj.model)
    lower, upper = np.array(g1.joint_lower_rad), np.array(g1.joint_upper_rad)
    frames = [*g1.tracked_bodies, *(f.name for f in g1.extra_frames)]
    worst_pos, worst_ang = 0.0, 0.0
    for _ in range(100):
        root_pos = rng.uniform(-1, 1, 3)
        root_quat = rng.normal(size=4)
        root_quat /= np.linalg.norm(root_quat)
        q = rng.uniform(lower, upper)
        mj.set_state(mdata, root_pos, root_quat, q)
        pin.framesForwardKinematics(prob.model, pdata, prob.q_from(root_pos, root_quat, q))
        for name in frames:
            oMf = pdata.oMf[prob.frame_id(name)]
            bid = mj.body_id(name)
            worst_pos = max(worst_pos, np.abs(oMf.translation - mdata.xpos[bid]).max())
            dot = abs(np.dot(matrix_to_quat(oMf.rotation), mdata.xquat[bid]))
            worst_ang = max(worst_ang, 2 * np.arccos(min(dot, 1.0)))
    assert worst_pos < 1e-6
    assert worst_ang < 1e-6


def test_mujoco_model_matches_spec(g1, mj):
    m = mj.model
    assert m.opt.timestep == PHYSICS_DT_S == 0.005
    assert m.nu == g1.num_joints
    assert m.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE
    np.testing.assert_allclose(m.dof_armature[mj.joint_dof_adr], g1.armature_kg_m2)
    np.testing.assert_allclose(m.actuator_gainprm[mj.actuator_ids, 0], g1.kp_nm_per_rad)
    np.testing.assert_allclose(m.actuator_biasprm[mj.actuator_ids, 1], -np.array(g1.kp_nm_per_rad))
    np.testing.assert_allclose(
        m.actuator_biasprm[mj.actuator_ids, 2], -np.array(g1.kd_nm_s_per_rad)
    )
    np.testing.assert_allclose(m.actuator_forcerange[mj.actuator_ids, 1], g1.effort_limit_nm)
    for i, name in enumerate(g1.joint_names):
        jid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)
        np.testing.assert_allclose(m.jnt_range[jid], [g1.joint_lower_rad[i], g1.joint_upper_rad[i]])
    assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, IMU_SITE) >= 0
    assert m.site_bodyid[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, IMU_SITE)] == mj.body_id(
        g1.imu_body
    )
    # collision is primitives only: no mesh geom collides
    colliding = (m.geom_contype != 0) | (m.geom_conaffinity != 0)
    assert not np.any(m.geom_type[colliding] == mujoco.mjtGeom.mjGEOM_MESH)


def test_visual_model_keeps_meshes(g1):
    full = build_mujoco(g1, include_visual=True).model
    assert full.nmesh > 20
    assert np.all(full.geom_contype[full.geom_type == mujoco.mjtGeom.mjGEOM_MESH] == 0)


def _stand(g1, mj, natural_freq_hz, seconds):
    m, d = mj.model, mujoco.MjData(mj.model)
    kp, kd = g1.pd_gains(natural_freq_hz)
    mj.set_pd_gains(np.array(kp), np.array(kd))
    q0 = np.array(g1.default_joint_pos_rad)
    mj.set_state(d, np.array([0, 0, g1.default_root_height_m]), np.array([1.0, 0, 0, 0]), q0)
    d.ctrl[mj.actuator_ids] = q0
    heights, touching = [], set()
    for _ in range(int(seconds / m.opt.timestep)):
        mujoco.mj_step(m, d)
        heights.append(d.qpos[2])
        for c in d.contact[: d.ncon]:
            for gid in (c.geom1, c.geom2):
                if gid != mj.ground_geom_id:
                    touching.add(m.body(m.geom_bodyid[gid]).name)
    mj.set_pd_gains(np.array(g1.kp_nm_per_rad), np.array(g1.kd_nm_s_per_rad))
    return np.array(heights), touching


def test_stands_for_5_s_with_stand_gains(g1, mj):
    heights, touching = _stand(g1, mj, g1.stand_natural_freq_hz, 5.0)
    assert np.abs(heights - g1.default_root_height_m).max() < 0.02
    assert touching == {f.body for f in g1.feet}


def test_policy_gains_alone_cannot_balance(g1, mj):
    # Physics check of the decision in robots/g1.py: at 10 Hz the ankles (2 × 28.5 N·m/rad) are
    # softer than gravity's toppling stiffness m·g·h ≈ 219 N·m/rad, so PD alone falls.
    heights, _ = _stand(g1, mj, g1.natural_freq_hz, 3.0)
    assert heights.min() < 0.4
