"""DomainRandomizer on the MuJoCo backend: each term changes exactly the MuJoCo quantity it names,
within its range, and nothing else; disabled terms leave the nominal model.

Values are read back from ``backend.models[i]`` and compared with the nominal model
``backend.robot.model`` (the backend never writes to it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch

from humimic.domain_rand import (
    ComOffsetRange,
    DomainRandConfig,
    DomainRandomizer,
    PushConfig,
    Range,
)
from humimic.envs.backends.mujoco_backend import MujocoBackend
from humimic.errors import ConfigError

N = 4
WATCHED = (
    "geom_friction",
    "body_mass",
    "body_inertia",
    "body_ipos",
    "actuator_gainprm",
    "actuator_biasprm",
    "dof_armature",
    "dof_damping",
    "dof_frictionloss",
)
ALL_OFF: dict[str, Any] = {
    "friction": None,
    "link_mass_scale": None,
    "base_added_mass_kg": None,
    "com_offset": None,
    "armature_scale": None,
    "joint_damping_nm_s_per_rad": None,
    "joint_friction_nm": None,
    "kp_scale": None,
    "kd_scale": None,
    "motor_strength": None,
    "joint_pos_bias_rad": None,
    "max_action_delay_steps": 0,
    "push": None,
    "obs_noise": None,
}


def only(**terms: Any) -> DomainRandConfig:
    """A config with every term off except ``terms``."""
    return DomainRandConfig(**{**ALL_OFF, **terms})


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def make(g1: Any) -> Iterator[Callable[[], MujocoBackend]]:
    made: list[MujocoBackend] = []

    def build() -> MujocoBackend:
        backend = MujocoBackend(g1, N, decimation=4, num_threads=1)
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make: Callable[[], MujocoBackend]) -> MujocoBackend:
    return make()


def changed(backend: MujocoBackend) -> set[str]:
    """Names of the watched model arrays that differ from nominal in any env."""
    nominal = backend.robot.model
    return {
        name
        for name in WATCHED
        for m in backend.models
        if not np.array_equal(getattr(m, name), getattr(nominal, name))
    }


def body_id(backend: MujocoBackend, name: str) -> int:
    return int(backend.robot.model.body(name).id)


def np_(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


def assert_within(values: torch.Tensor, r: Range) -> None:
    assert float(values.min()) >= r.low - 1e-6 and float(values.max()) <= r.high + 1e-6


# -- startup terms -----------------------------------------------------------------------


def test_friction_sets_the_sliding_coefficient_of_every_geom(backend: MujocoBackend) -> None:
    rand = DomainRandomizer(backend, only(friction=Range(0.3, 1.6)), gen())
    rand.on_startup()
    nominal = backend.robot.model.geom_friction
    assert rand.friction is not None and rand.friction.shape == (N,)
    assert_within(rand.friction, Range(0.3, 1.6))
    assert len(set(rand.friction.tolist())) == N  # one draw per env
    for i, m in enumerate(backend.models):
        np.testing.assert_allclose(m.geom_friction[:, 0], float(rand.friction[i]), rtol=1e-6)
        np.testing.assert_array_equal(m.geom_friction[:, 1:], nominal[:, 1:])  # torsional, rolling
    assert changed(backend) == {"geom_friction"}


def test_link_mass_scale_scales_mass_and_inertia_of_every_body(backend: MujocoBackend) -> None:
    rand = DomainRandomizer(backend, only(link_mass_scale=Range(0.9, 1.1)), gen())
    rand.on_startup()
    nominal = backend.robot.model
    ids = [body_id(backend, b) for b in rand.mass_body_names]
    assert {backend.robot.model.body(i).name for i in ids} >= {"pelvis", "torso_link"}
    assert rand.link_mass_scale.shape == (N, len(ids))
    assert_within(rand.link_mass_scale, Range(0.9, 1.1))
    for i, m in enumerate(backend.models):
        scale = np_(rand.link_mass_scale[i])
        mass, inertia = nominal.body_mass.copy(), nominal.body_inertia.copy()
        mass[ids] *= scale
        inertia[ids] *= scale[:, None]
        np.testing.assert_allclose(m.body_mass, mass, rtol=1e-6)
        np.testing.assert_allclose(m.body_inertia, inertia, rtol=1e-6)
    assert changed(backend) == {"body_mass", "body_inertia"}


def test_base_added_mass_adds_kilograms_to_the_pelvis_only(backend: MujocoBackend) -> None:
    rand = DomainRandomizer(backend, only(base_added_mass_kg=Range(-1.0, 3.0)), gen())
    rand.on_startup()
    pelvis = body_id(backend, "pelvis")
    nominal = backend.robot.model
    m0 = nominal.body_mass[pelvis]
    assert m0 == pytest.approx(3.813)  # G1 pelvis, from the URDF
    assert_within(rand.base_added_mass_kg, Range(-1.0, 3.0))
    for i, m in enumerate(backend.models):
        added = float(rand.base_added_mass_kg[i])
        assert m.body_mass[pelvis] == pytest.approx(3.813 + added, rel=1e-6)
        # the rest of the robot keeps its nominal masses
        others = np.arange(nominal.nbody) != pelvis
        np.testing.assert_array_equal(m.body_mass[others], nominal.body_mass[others])
        np.testing.assert_allclose(
            m.body_inertia[pelvis], nominal.body_inertia[pelvis] * (m0 + added) / m0, rtol=1e-6
        )
    assert changed(backend) == {"body_mass", "body_inertia"}


def test_link_scale_and_base_mass_combine_and_do_not_accumulate(backend: MujocoBackend) -> None:
    cfg = only(link_mass_scale=Range(0.9, 1.1), base_added_mass_kg=Range(-1.0, 3.0))
    rand = DomainRandomizer(backend, cfg, gen())
    pelvis, torso = body_id(backend, "pelvis"), body_id(backend, "torso_link")
    k_pelvis, k_torso = (
        rand.mass_body_names.index("pelvis"),
        rand.mass_body_names.index("torso_link"),
    )
    nominal = backend.robot.model.body_mass
    for _ in range(2):  # a second startup redraws from nominal, not from the first draw
        rand.on_startup()
        for i, m in enumerate(backend.models):
            s_pelvis = float(rand.link_mass_scale[i, k_pelvis])
            added = float(rand.base_added_mass_kg[i])
            # m = s·m₀ + Δm on the base; s·m₀ elsewhere
            assert m.body_mass[pelvis] == pytest.approx(s_pelvis * 3.813 + added, rel=1e-6)
            s_torso = float(rand.link_mass_scale[i, k_torso])
            assert m.body_mass[torso] == pytest.approx(s_torso * nominal[torso], rel=1e-6)


def test_com_offset_moves_the_torso_com_in_its_frame(backend: MujocoBackend) -> None:
    com = ComOffsetRange()
    rand = DomainRandomizer(backend, only(com_offset=com), gen())
    rand.on_startup()
    torso = body_id(backend, "torso_link")
    nominal = backend.robot.model.body_ipos
    assert rand.com_offset_b_m.shape == (N, 3)
    for axis, r in enumerate(com.axes):
        assert_within(rand.com_offset_b_m[:, axis], r)
    for i, m in enumerate(backend.models):
        expected = nominal.copy()
        expected[torso] += np_(rand.com_offset_b_m[i])
        np.testing.assert_allclose(m.body_ipos, expected, rtol=0, atol=1e-7)
    assert changed(backend) == {"body_ipos"}


def test_armature_scale_multiplies_the_nominal_joint_armature(
    backend: MujocoBackend, g1: Any
) -> None:
    rand = DomainRandomizer(backend, only(armature_scale=Range(0.9, 1.1)), gen())
    rand.on_startup()
    dofs = backend.robot.joint_dof_adr
    nominal = backend.robot.model.dof_armature
    np.testing.assert_allclose(nominal[dofs], g1.armature_kg_m2, rtol=1e-6)
    assert_within(rand.armature_scale, Range(0.9, 1.1))
    for i, m in enumerate(backend.models):
        expected = nominal.copy()
        expected[dofs] = np.asarray(g1.armature_kg_m2) * np_(rand.armature_scale[i])
        np.testing.assert_allclose(m.dof_armature, expected, rtol=1e-6)  # free joint untouched
    assert changed(backend) == {"dof_armature"}


@pytest.mark.parametrize(
    ("term", "attr", "mujoco_field", "r"),
    [
        ("joint_damping_nm_s_per_rad", "joint_damping_nm_s_per_rad", "dof_damping", Range(0, 0.1)),
        ("joint_friction_nm", "joint_friction_nm", "dof_frictionloss", Range(0.0, 0.3)),
    ],
)
def test_joint_damping_and_dry_friction_are_absolute_per_joint(
    backend: MujocoBackend, term: str, attr: str, mujoco_field: str, r: Range
) -> None:
    rand = DomainRandomizer(backend, only(**{term: r}), gen())
    rand.on_startup()
    values = getattr(rand, attr)
    assert values.shape == (N, len(backend.joint_names))
    assert_within(values, r)
    dofs = backend.robot.joint_dof_adr
    nominal = getattr(backend.robot.model, mujoco_field)
    for i, m in enumerate(backend.models):
        expected = nominal.copy()
        expected[dofs] = np_(values[i])
        np.testing.assert_allclose(getattr(m, mujoco_field), expected, rtol=1e-6, atol=1e-9)
    assert changed(backend) == {mujoco_field}


# -- reset terms -------------------------------------------------------------------------


def _gains(backend: MujocoBackend, env: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kp, kd)`` as the MuJoCo position actuators hold them."""
    m, act = backend.models[env], backend.robot.actuator_ids
    kp = m.actuator_gainprm[act, 0]
    np.testing.assert_allclose(m.actuator_biasprm[act, 1], -kp)  # bias −kp·q pairs the gain
    return kp.copy(), -m.actuator_biasprm[act, 2]


def test_pd_gains_are_redrawn_for_the_reset_envs_only(backend: MujocoBackend, g1: Any) -> None:
    r = Range(0.9, 1.1)
    rand = DomainRandomizer(backend, only(kp_scale=r, kd_scale=r, motor_strength=r), gen())
    rand.on_startup()
    assert changed(backend) == set()  # gains are a reset term
    rand.on_reset(torch.tensor([1, 3]))
    kp0, kd0 = np.asarray(g1.kp_nm_per_rad), np.asarray(g1.kd_nm_s_per_rad)
    for env in (0, 2):
        kp, kd = _gains(backend, env)
        np.testing.assert_allclose(kp, kp0, rtol=1e-6)
        np.testing.assert_allclose(kd, kd0, rtol=1e-6)
        assert torch.all(rand.kp_scale[env] == 1.0) and torch.all(rand.motor_strength[env] == 1.0)
    for env in (1, 3):
        for attr in ("kp_scale", "kd_scale", "motor_strength"):
            assert_within(getattr(rand, attr)[env], r)
        s = np_(rand.motor_strength[env])
        kp, kd = _gains(backend, env)
        np.testing.assert_allclose(kp, kp0 * np_(rand.kp_scale[env]) * s, rtol=1e-6)
        np.testing.assert_allclose(kd, kd0 * np_(rand.kd_scale[env]) * s, rtol=1e-6)
    assert changed(backend) == {"actuator_gainprm", "actuator_biasprm"}


def test_motor_strength_multiplies_kp_and_kd_together(backend: MujocoBackend, g1: Any) -> None:
    rand = DomainRandomizer(backend, only(motor_strength=Range(0.5, 1.5)), gen())
    rand.on_reset(range(N))
    kp0, kd0 = np.asarray(g1.kp_nm_per_rad), np.asarray(g1.kd_nm_s_per_rad)
    for env in range(N):
        kp, kd = _gains(backend, env)
        s = np_(rand.motor_strength[env])
        assert s.min() >= 0.5 and s.max() <= 1.5 and np.ptp(s) > 0.1  # per joint
        # τ = s·(kp·e − kd·q̇): the same factor on both gains
        np.testing.assert_allclose(kp / kp0, s, rtol=1e-6)
        np.testing.assert_allclose(kd / kd0, s, rtol=1e-6)
    assert torch.all(rand.kp_scale == 1.0) and torch.all(rand.kd_scale == 1.0)


def test_encoder_bias_is_drawn_for_reset_envs_and_stays_off_the_model(
    backend: MujocoBackend,
) -> None:
    r = Range(-0.01, 0.01)
    rand = DomainRandomizer(backend, only(joint_pos_bias_rad=r), gen())
    assert torch.equal(rand.joint_pos_bias, torch.zeros(N, len(backend.joint_names)))
    rand.on_reset([0, 2])
    assert_within(rand.joint_pos_bias, r)
    assert torch.all(rand.joint_pos_bias[[0, 2]] != 0.0)
    assert torch.all(rand.joint_pos_bias[[1, 3]] == 0.0)
    assert changed(backend) == set()


def test_action_delay_steps_are_integers_up_to_the_max(backend: MujocoBackend) -> None:
    rand = DomainRandomizer(backend, only(max_action_delay_steps=2), gen())
    seen: set[int] = set()
    for _ in range(20):
        rand.on_reset(range(N))
        assert rand.action_delay_steps.dtype == torch.long
        seen |= set(rand.action_delay_steps.tolist())
    assert seen == {0, 1, 2}
    assert changed(backend) == set()


# -- pushes ------------------------------------------------------------------------------


def test_pushes_fire_when_the_timer_expires_and_add_the_drawn_velocity(
    backend: MujocoBackend,
) -> None:
    push = PushConfig(interval_s=Range(1.0, 1.0))
    rand = DomainRandomizer(backend, only(push=push), gen())
    pushed_at: dict[int, list[int]] = {env: [] for env in range(N)}
    for step in range(1, 121):  # 120 steps of 0.02 s = 2.4 s → pushes at 1.0 s and 2.0 s
        lin0, ang0 = backend.root_lin_vel_w.clone(), backend.root_ang_vel_w.clone()
        ids = rand.on_step(0.02)
        for env in ids.tolist():
            pushed_at[env].append(step)
        d_lin = backend.root_lin_vel_w - lin0
        d_ang = backend.root_ang_vel_w - ang0
        expected_lin = torch.zeros(N, 3)
        expected_ang = torch.zeros(N, 3)
        expected_lin[ids], expected_ang[ids] = rand.push_lin_vel_w[ids], rand.push_ang_vel_w[ids]
        torch.testing.assert_close(d_lin, expected_lin, atol=1e-5, rtol=0)
        torch.testing.assert_close(d_ang, expected_ang, atol=1e-5, rtol=0)
    assert pushed_at == {env: [50, 100] for env in range(N)}
    assert rand.push_count.tolist() == [2] * N
    # velocity changes were drawn, not zero
    assert float(rand.push_lin_vel_w.abs().min()) > 0.0
    assert changed(backend) == set()


def test_each_env_has_its_own_push_timer(backend: MujocoBackend) -> None:
    push = PushConfig(interval_s=Range(1.0, 3.0))
    rand = DomainRandomizer(backend, only(push=push), gen(3))
    first = rand.push_timer_s.clone()
    assert float(first.min()) >= 1.0 and float(first.max()) <= 3.0
    assert len(set(first.tolist())) == N
    dt = 0.1
    # first push of env i: the first step k with k·dt >= T_i
    expected = {env: math.ceil(float(first[env]) / dt - 1e-6) for env in range(N)}
    got: dict[int, int] = {}
    for step in range(1, 31):
        for env in rand.on_step(dt).tolist():
            got.setdefault(env, step)
            assert 1.0 <= float(rand.push_timer_s[env]) <= 3.0  # redrawn after the push
    assert got == expected


def test_push_velocities_stay_in_their_ranges(backend: MujocoBackend) -> None:
    push = PushConfig(interval_s=Range(0.02, 0.02))  # every step
    rand = DomainRandomizer(backend, only(push=push), gen())
    lin, ang = [], []
    for _ in range(50):
        ids = rand.on_step(0.02)
        assert ids.tolist() == list(range(N))
        lin.append(rand.push_lin_vel_w.clone())
        ang.append(rand.push_ang_vel_w.clone())
    for samples, ranges in ((lin, push.lin_vel_w_m_s), (ang, push.ang_vel_w_rad_s)):
        x = torch.cat(samples)
        for axis, r in enumerate(ranges):
            assert_within(x[:, axis], r)
            assert float(x[:, axis].max() - x[:, axis].min()) > 0.8 * (r.high - r.low)


# -- switches, names, determinism ------------------------------------------------------


@pytest.mark.parametrize(
    "cfg",
    [
        DomainRandConfig(enabled=False, max_action_delay_steps=3),
        only(),
    ],
    ids=["master-switch-off", "every-term-none"],
)
def test_disabled_terms_leave_the_nominal_model(
    backend: MujocoBackend, cfg: DomainRandConfig
) -> None:
    rand = DomainRandomizer(backend, cfg, gen())
    lin0 = backend.root_lin_vel_w.clone()
    rand.on_startup()
    rand.on_reset(range(N))
    pushed = [rand.on_step(0.5).numel() for _ in range(20)]
    assert changed(backend) == set()
    assert pushed == [0] * 20
    torch.testing.assert_close(backend.root_lin_vel_w, lin0)
    assert rand.friction is None and rand.joint_damping_nm_s_per_rad is None
    assert torch.all(rand.joint_pos_bias == 0.0) and torch.all(rand.action_delay_steps == 0)
    assert torch.all(rand.body_mass_scale == 1.0) and torch.all(rand.motor_strength == 1.0)


def test_unknown_body_lists_the_valid_ones(backend: MujocoBackend) -> None:
    with pytest.raises(ConfigError, match=r"com_body: unknown body 'chest'; valid: .*torso_link"):
        DomainRandomizer(backend, DomainRandConfig(), gen(), com_body="chest")


def test_base_mass_must_stay_positive(backend: MujocoBackend) -> None:
    cfg = only(base_added_mass_kg=Range(-4.0, 0.0))  # 3.813 − 4 < 0
    with pytest.raises(ConfigError, match=r"base_added_mass_kg \(-4.0, 0.0\) can make 'pelvis'"):
        DomainRandomizer(backend, cfg, gen())


def test_same_seed_same_draws(make: Callable[[], MujocoBackend]) -> None:
    cfg = DomainRandConfig(max_action_delay_steps=2)
    draws = []
    for _ in range(2):
        rand = DomainRandomizer(make(), cfg, gen(7))
        rand.on_startup()
        rand.on_reset(range(N))
        draws.append(rand.sampled())
    assert draws[0].keys() == draws[1].keys()
    for key in draws[0]:
        assert torch.equal(draws[0][key], draws[1][key]), key
