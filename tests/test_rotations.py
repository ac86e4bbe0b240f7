import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from humimic.rotations import (
    angular_velocity_w,
    matrix_to_quat,
    quat_conj,
    quat_exp,
    quat_from_axis_angle,
    quat_log,
    quat_mul,
    quat_rotate,
    quat_slerp,
    quat_to_matrix,
    wxyz_to_xyzw,
    xyzw_to_wxyz,
    yaw_quat,
)


def test_rotate_90_deg_about_z_maps_x_to_y():
    # q = (cos 45°, 0, 0, sin 45°) rotates (1, 0, 0) to (0, 1, 0)
    q = np.array([np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(quat_rotate(q, [1.0, 0.0, 0.0]), [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(q) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)


def test_hamilton_product_i_times_j_is_k():
    i, j, k = np.eye(4)[1], np.eye(4)[2], np.eye(4)[3]
    np.testing.assert_allclose(quat_mul(i, j), k)
    np.testing.assert_allclose(quat_mul(j, i), -k)


def test_layout_conversion_round_trip():
    q = np.array([0.1, 0.2, 0.3, 0.9])
    np.testing.assert_allclose(wxyz_to_xyzw(q), [0.2, 0.3, 0.9, 0.1])
    np.testing.assert_allclose(xyzw_to_wxyz(wxyz_to_xyzw(q)), q)


unit_quats = (
    st.lists(st.floats(-1, 1), min_size=4, max_size=4)
    .filter(lambda v: np.linalg.norm(v) > 0.1)
    .map(lambda v: np.array(v) / np.linalg.norm(v))
)


@settings(max_examples=200, deadline=None)
@given(unit_quats)
def test_matrix_round_trip(q):
    q_back = matrix_to_quat(quat_to_matrix(q))
    assert abs(abs(np.dot(q_back, q)) - 1.0) < 1e-9  # same rotation up to sign


@settings(max_examples=200, deadline=None)
@given(unit_quats)
def test_log_exp_round_trip_and_rotate_matches_matrix(q):
    q_back = quat_exp(quat_log(q))
    assert abs(abs(np.dot(q_back, q)) - 1.0) < 1e-9
    v = np.array([0.3, -1.2, 0.7])
    np.testing.assert_allclose(quat_rotate(q, v), quat_to_matrix(q) @ v, atol=1e-12)
    np.testing.assert_allclose(quat_mul(q, quat_conj(q)), [1, 0, 0, 0], atol=1e-12)


def test_slerp_halfway_is_half_angle():
    q0 = np.array([1.0, 0, 0, 0])
    q1 = quat_from_axis_angle([0, 0, 1], np.pi / 2)
    mid = quat_slerp(q0, q1, 0.5)
    # halfway between 0 and 90° about z is 45°: (cos 22.5°, 0, 0, sin 22.5°)
    np.testing.assert_allclose(mid, [np.cos(np.pi / 8), 0, 0, np.sin(np.pi / 8)], atol=1e-12)
    np.testing.assert_allclose(quat_slerp(q0, q1, 0.0), q0, atol=1e-12)
    np.testing.assert_allclose(
        quat_slerp(q0, -q1, 1.0) * np.sign(quat_slerp(q0, -q1, 1.0)[0]), q1, atol=1e-12
    )


def test_angular_velocity_of_constant_spin_is_exact():
    # spinning at 2 rad/s about (0, 0.6, 0.8) sampled at 50 Hz
    axis, rate, dt = np.array([0.0, 0.6, 0.8]), 2.0, 0.02
    t = np.arange(20) * dt
    q = quat_from_axis_angle(np.tile(axis, (20, 1)), rate * t)
    np.testing.assert_allclose(angular_velocity_w(q, dt), np.tile(rate * axis, (20, 1)), atol=1e-9)


def test_yaw_quat_keeps_heading_only():
    q = quat_mul(quat_from_axis_angle([0, 0, 1], 0.7), quat_from_axis_angle([1, 0, 0], 0.3))
    np.testing.assert_allclose(yaw_quat(q), quat_from_axis_angle([0, 0, 1], 0.7), atol=1e-12)


def test_quat_log_of_identity_is_zero():
    np.testing.assert_allclose(quat_log([1.0, 0, 0, 0]), [0, 0, 0])
    assert quat_log(quat_from_axis_angle([1, 0, 0], np.pi - 1e-3))[0] == pytest.approx(np.pi - 1e-3)
