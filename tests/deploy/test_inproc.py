"""The in-process sim robot and the lockstep sim-to-sim run.

Policies are untrained actors with a zero last layer (action 0: the default pose). Physics
decides whether that stands: at the policy's 10 Hz gains PD alone cannot hold a G1 up
(``robots/g1.py``, ``test_policy_gains_alone_cannot_balance``), at the 30 Hz stand gains it
can. So the "must stand" run uses an artifact that declares the stand gains (the runtime
streams the artifact's gains), and the 10 Hz artifact is the fall-detection run.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from humimic.cli import default_clip_path
from humimic.deploy.commands import JointCommand
from humimic.deploy.fsm import FsmConfig
from humimic.deploy.inproc import InprocSimRobot, run_inproc, write_untrained_policy
from humimic.domain_rand import DomainRandConfig, Range
from humimic.envs.backends.mujoco_backend import MujocoBackend
from humimic.errors import ConfigError
from humimic.retarget.keyframes import load_keyframes
from humimic.rotations import quat_conj, quat_rotate

RAMP = FsmConfig(stand_ramp_s=0.5)


@pytest.fixture(scope="module")
def clip():
    return load_keyframes(default_clip_path())


@pytest.fixture(scope="module")
def stiff_policy(tmp_path_factory, clip, g1):
    kp, kd = g1.pd_gains(g1.stand_natural_freq_hz)
    return write_untrained_policy(
        tmp_path_factory.mktemp("stiff") / "policy",
        [clip],
        meta_changes={"kp_nm_per_rad": kp, "kd_nm_s_per_rad": kd},
    )


@pytest.fixture(scope="module")
def policy(tmp_path_factory, clip):
    return write_untrained_policy(tmp_path_factory.mktemp("policy") / "policy", [clip])


def test_sim_robot_with_policy_gains_is_the_training_plant(g1):
    """Position targets with the policy's kp/kd: the same trajectory as the training backend."""
    backend = MujocoBackend(g1, num_envs=1, decimation=4, num_threads=1)
    sim = InprocSimRobot(g1)
    start = backend.datas[0].qpos  # the backend starts from float32-rounded values
    sim.reset(start[0:3], start[3:7], start[sim.robot.joint_qpos_adr])
    gen = torch.Generator().manual_seed(0)
    q0 = torch.tensor(g1.default_joint_pos_rad)
    for _ in range(25):
        target = q0 + 0.1 * torch.randn(g1.num_joints, generator=gen)
        backend.step(target[None])
        sim.send(JointCommand.pd(target.double().numpy(), g1.kp_nm_per_rad, g1.kd_nm_s_per_rad))
        sim.advance(0.02)
    np.testing.assert_array_equal(sim.data.qpos, backend.datas[0].qpos)
    np.testing.assert_array_equal(sim.data.qvel, backend.datas[0].qvel)
    assert sim.time_s == pytest.approx(0.5, abs=1e-9)
    backend.close()


def test_sim_robot_applies_the_full_pd_law(g1):
    """τ = kp(q* − q) + kd(dq* − dq) + τ_ff, clipped to the effort limit, per joint."""
    sim = InprocSimRobot(g1)
    j = g1.num_joints
    q = sim.latest().joint_pos_rad
    cmd = JointCommand.pd(
        q + 0.01, kp=50.0, kd=2.0, velocity_rad_s=np.full(j, 0.5), effort_nm=np.full(j, 1.0)
    )
    sim.send(cmd)
    sim.advance(sim.physics_dt_s)
    mujoco.mj_forward(sim.model, sim.data)  # actuator forces of the current state
    st = sim.latest()
    expected = 50.0 * (cmd.position_rad - st.joint_pos_rad) + 2.0 * (0.5 - st.joint_vel_rad_s)
    expected = np.clip(expected + 1.0, -np.array(g1.effort_limit_nm), g1.effort_limit_nm)
    np.testing.assert_allclose(sim.data.actuator_force[sim.robot.actuator_ids], expected, atol=1e-9)
    # the effort clip: a 10 rad error on the knee saturates it
    knee = g1.joint_index("left_knee_joint")
    far = cmd.position_rad.copy()
    far[knee] += 10.0
    sim.send(cmd.with_position(far))
    mujoco.mj_forward(sim.model, sim.data)
    force = sim.data.actuator_force[sim.robot.actuator_ids[knee]]
    assert force == pytest.approx(g1.effort_limit_nm[knee])


def test_sim_robot_state_is_stamped_and_read_from_the_imu(g1):
    sim = InprocSimRobot(g1)
    st = sim.latest()
    assert st.stamp_s == 0.0
    np.testing.assert_allclose(st.joint_pos_rad, g1.default_joint_pos_rad)
    np.testing.assert_allclose(st.imu_quat_wxyz, [1.0, 0.0, 0.0, 0.0], atol=1e-12)
    sim.send(JointCommand.damping(g1.num_joints))
    sim.advance(0.02)
    assert sim.latest().stamp_s == pytest.approx(0.02)
    # a push of 1 rad/s about world z shows in the gyro as R(q_imu)ᵀ·(0, 0, 1)
    before = sim.latest()
    sim.push([0.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    after = sim.latest()
    np.testing.assert_allclose(
        after.gyro_b_rad_s - before.gyro_b_rad_s,
        quat_rotate(quat_conj(before.imu_quat_wxyz), [0.0, 0.0, 1.0]),
        atol=1e-9,
    )
    with pytest.raises(ConfigError, match="whole number"):
        sim.advance(0.003)


def test_sim_robot_domain_rand_encoder_offset(g1):
    cfg = DomainRandConfig(push=None, joint_pos_bias_rad=Range(0.02, 0.02))
    sim = InprocSimRobot(g1, domain_rand=cfg, seed=1)
    q_true = sim.data.qpos[sim.robot.joint_qpos_adr]
    np.testing.assert_allclose(sim.latest().joint_pos_rad - q_true, 0.02, atol=1e-7)
    assert sim.randomizer is not None and sim.randomizer.friction is not None
    # the friction draw reached the model the sim robot steps
    assert sim.model.geom_friction[0, 0] == pytest.approx(float(sim.randomizer.friction[0]))


def test_zero_action_policy_goes_through_stand_into_policy_and_stays_up(g1, stiff_policy):
    res = run_inproc(stiff_policy, 6.0, fsm_config=RAMP)
    path = [(t.from_state.value, t.to_state.value) for t in res.transitions]
    assert path == [
        ("passive", "damping"),
        ("damping", "stand"),
        ("stand", "policy"),
        ("policy", "stand"),  # the 4.6 s clip ended
    ]
    t_policy = res.transitions[2].time_s
    assert t_policy == pytest.approx(0.52, abs=1e-9)  # one policy step after the 0.5 s ramp
    assert res.in_policy.sum() == 230 and res.counters.faults == 0
    # upright and at height the whole time, 5 s and more in POLICY and then STAND
    assert res.time_s[-1] - t_policy > 5.0
    assert res.pelvis_height_m.min() > 0.6 and res.gravity_z.max() < -0.9
    np.testing.assert_array_equal(res.action[res.in_policy], 0.0)
    # records: reference at the clip times used, errors finite in POLICY only
    assert np.allclose(res.clip_time_s[res.in_policy], 0.02 * np.arange(230))
    assert np.isfinite(res.body_pos_root_rel_mm[res.in_policy]).all()
    assert np.isnan(res.body_pos_root_rel_mm[~res.in_policy]).all()
    # the wave/squat clip moves the arms: the standing robot is far from it (tens of mm)
    assert 10.0 < res.summary()["body_pos_root_rel_mm_mean"] < 500.0


def test_zero_action_policy_with_policy_gains_falls_and_faults(g1, policy):
    res = run_inproc(policy, 2.5, fsm_config=RAMP)
    assert res.counters.faults == 1 and res.state[-1] == "damping"
    assert "fall" in res.transitions[-1].reason
    assert res.transitions[-2].to_state.value == "policy"


def test_push_moves_the_robot(g1, stiff_policy):
    res = run_inproc(stiff_policy, 1.2, fsm_config=RAMP, pushes=[(0.6, (0.4, 0.0, 0.0))])
    x = res.robot_root_pos_w[:, 0]
    k = int(np.searchsorted(res.time_s, 0.6 - 1e-9))
    v_before = (x[k] - x[k - 1]) / 0.02  # settling forward after the ramp: ~0.06 m/s
    v_after = (x[k + 1] - x[k]) / 0.02
    assert v_after - v_before > 0.3  # a 0.4 m/s kick, a little of it absorbed in 20 ms
    assert x[-1] - x[k] > 0.1
