"""Unitree G1 low-level DDS: CRC, C layout, fast codec, slot mapping, loopback, sim robot.

Domains owned by this module (loopback only): 92 for in-process tests (topic names get a random
suffix, so parallel runs cannot hear each other), 95 for the sim-robot subprocess.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from cyclonedds.idl import IdlStruct
from cyclonedds.pub import DataWriter
from cyclonedds.qos import Policy, Qos
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from humimic.deploy.commands import JointCommand
from humimic.deploy.dds_ros2 import DdsConfig, open_participant
from humimic.deploy.unitree import (
    G1_MOTOR_SLOTS,
    LOWCMD_C_DTYPE,
    LOWSTATE_C_DTYPE,
    NUM_MOTOR_SLOTS,
    LowCmd_,
    LowState_,
    MotorSlotMap,
    UnitreeRobotSide,
    UnitreeTransport,
    crc32_mpeg2,
    lowcmd_crc,
    lowstate_crc,
    pack_lowcmd,
    pack_lowstate,
    quat_wxyz_to_rpy,
    unitree_crc32,
)
from humimic.errors import DeployError
from humimic.robots.spec import RobotSpec

DOMAIN_ID = 92
SIM_DOMAIN_ID = 95
DDS = DdsConfig(domain_id=DOMAIN_ID, interface="lo")
TIMEOUT_S = 5.0

# Unitree's own struct formats for the hg messages (unitree_sdk2_python, utils/crc.py): the
# C layout the CRC is computed over.
UNITREE_LOWCMD_FORMAT = "<2B2x" + "B3x5fI" * 35 + "5I"
UNITREE_LOWSTATE_FORMAT = "<2I2B2xI" + "13fh2x" + "B3x4f2hf7I" * 35 + "40B5I"


def crc32_core_reference(words: list[int]) -> int:
    """Unitree's ``Crc32Core`` (unitree_sdk2), bit by bit, as the reference: for each 32-bit
    word, for each bit from the most significant, shift the register (xor the polynomial when
    its top bit falls out), then xor the polynomial if the data bit is set."""
    crc, poly = 0xFFFFFFFF, 0x04C11DB7
    for data in words:
        xbit = 1 << 31
        for _ in range(32):
            crc = ((crc << 1) & 0xFFFFFFFF) ^ (poly if crc & 0x80000000 else 0)
            if data & xbit:
                crc ^= poly
            xbit >>= 1
    return crc


def f32(rng: np.random.Generator, n: int | None = None) -> Any:
    """float32-representable values (what survives the wire exactly)."""
    values = rng.normal(0.0, 2.0, n).astype(np.float32).astype(np.float64)
    return values.tolist() if n is not None else float(values)


def random_lowcmd(rng: np.random.Generator) -> LowCmd_:
    cmd = LowCmd_(mode_pr=1, mode_machine=int(rng.integers(0, 256)))
    for m in cmd.motor_cmd:
        m.mode = int(rng.integers(0, 2))
        m.q, m.dq, m.tau, m.kp, m.kd = f32(rng, 5)
        m.reserve = int(rng.integers(0, 2**32))
    cmd.reserve = rng.integers(0, 2**32, 4).tolist()
    cmd.crc = int(rng.integers(0, 2**32))
    return cmd


def random_lowstate(rng: np.random.Generator) -> LowState_:
    st = LowState_(version=[1, 2], mode_pr=0, mode_machine=5, tick=int(rng.integers(0, 2**32)))
    imu = st.imu_state
    imu.quaternion, imu.gyroscope = f32(rng, 4), f32(rng, 3)
    imu.accelerometer, imu.rpy = f32(rng, 3), f32(rng, 3)
    imu.temperature = int(rng.integers(-(2**15), 2**15))
    for m in st.motor_state:
        m.mode = int(rng.integers(0, 256))
        m.q, m.dq, m.ddq, m.tau_est, m.vol = f32(rng, 5)
        m.temperature = rng.integers(-100, 100, 2).tolist()
        m.sensor = rng.integers(0, 2**32, 2).tolist()
        m.motorstate = int(rng.integers(0, 2**32))
        m.reserve = rng.integers(0, 2**32, 4).tolist()
    st.wireless_remote = rng.integers(0, 256, 40).astype(np.uint8).tobytes()
    st.reserve = rng.integers(0, 2**32, 4).tolist()
    st.crc = int(rng.integers(0, 2**32))
    return st


def unitree_pack_lowcmd(cmd: LowCmd_) -> bytes:
    values: list[Any] = [cmd.mode_pr, cmd.mode_machine]
    for m in cmd.motor_cmd:
        values += [m.mode, m.q, m.dq, m.tau, m.kp, m.kd, m.reserve]
    return struct.pack(UNITREE_LOWCMD_FORMAT, *values, *cmd.reserve, cmd.crc)


def unitree_pack_lowstate(st: LowState_) -> bytes:
    imu = st.imu_state
    values: list[Any] = [*st.version, st.mode_pr, st.mode_machine, st.tick]
    values += [*imu.quaternion, *imu.gyroscope, *imu.accelerometer, *imu.rpy, imu.temperature]
    for m in st.motor_state:
        values += [m.mode, m.q, m.dq, m.ddq, m.tau_est, *m.temperature, m.vol, *m.sensor]
        values += [m.motorstate, *m.reserve]
    values += [*st.wireless_remote, *st.reserve, st.crc]
    return struct.pack(UNITREE_LOWSTATE_FORMAT, *values)


# --------------------------------------------------------------------------------------------
# CRC


def test_crc_of_hand_computed_words() -> None:
    """By hand: the register starts at R0 = 0xFFFFFFFF and each word w maps R to
    (R ⊕ w)·x³² mod P (feeding a data bit is the same as flipping the register's top bit).

    * [0xFFFFFFFF]: R0 ⊕ w = 0, so the CRC is 0.
    * [0xFFFFFFFE]: R0 ⊕ w = 1, so the CRC is x³² mod P = P without its x³² term = 0x04C11DB7.
    * [0xFFFFFFFF, 0x00000001]: 0 after the first word, then 1·x³² mod P = 0x04C11DB7.
    unitree_crc32 takes the packed struct, whose last word (the crc field) is skipped.
    """
    assert crc32_core_reference([0xFFFFFFFF]) == 0
    assert crc32_core_reference([0xFFFFFFFE]) == 0x04C11DB7
    assert unitree_crc32(struct.pack("<2I", 0xFFFFFFFF, 1234)) == 0
    assert unitree_crc32(struct.pack("<2I", 0xFFFFFFFE, 0)) == 0x04C11DB7
    assert unitree_crc32(struct.pack("<3I", 0xFFFFFFFF, 1, 0)) == 0x04C11DB7


def test_crc32_mpeg2_check_value() -> None:
    # the CRC catalogue's check value of CRC-32/MPEG-2 (reveng.sourceforge.io)
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7
    assert crc32_mpeg2(b"") == 0xFFFFFFFF


def test_fast_crc_equals_unitree_bit_loop() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 250):
        words = rng.integers(0, 2**32, n, dtype=np.uint64).tolist()
        packed = struct.pack(f"<{n + 1}I", *words, 0)
        assert unitree_crc32(packed) == crc32_core_reference(words)


def test_lowcmd_crc_of_a_real_message_matches_the_reference(g1: RobotSpec) -> None:
    cmd = MotorSlotMap(g1).fill_lowcmd(LowCmd_(), JointCommand.damping(g1.num_joints), 5)
    words = list(struct.unpack(f"<{LOWCMD_C_DTYPE.itemsize // 4}I", unitree_pack_lowcmd(cmd)))
    assert cmd.crc == lowcmd_crc(cmd) == crc32_core_reference(words[:-1])


# --------------------------------------------------------------------------------------------
# layout and codec


def test_c_layout_is_unitrees() -> None:
    assert LOWCMD_C_DTYPE.itemsize == struct.calcsize(UNITREE_LOWCMD_FORMAT) == 1004
    assert LOWSTATE_C_DTYPE.itemsize == struct.calcsize(UNITREE_LOWSTATE_FORMAT) == 2092
    rng = np.random.default_rng(1)
    for _ in range(3):
        cmd, st = random_lowcmd(rng), random_lowstate(rng)
        assert pack_lowcmd(cmd) == unitree_pack_lowcmd(cmd)
        assert pack_lowstate(st) == unitree_pack_lowstate(st)
    assert lowstate_crc(st) == crc32_core_reference(
        list(struct.unpack("<523I", unitree_pack_lowstate(st)))[:-1]
    )


def test_fast_codec_is_byte_identical_to_cyclone() -> None:
    rng = np.random.default_rng(2)
    for _ in range(3):
        for msg in (random_lowcmd(rng), random_lowstate(rng)):
            generic = IdlStruct.serialize(msg)  # Cyclone's own serializer
            assert generic[:4] == b"\x00\x01\x00\x00"  # plain CDR, little endian
            assert msg.serialize() == generic
            cls = type(msg)
            assert cls.deserialize(generic) == msg
            assert cls.__idl__.deserialize(msg.serialize()) == msg


def test_typenames_are_unitrees() -> None:
    assert LowCmd_.__idl_typename__ == "unitree_hg.msg.dds_.LowCmd_"  # on the wire: "::"
    assert LowState_.__idl_typename__ == "unitree_hg.msg.dds_.LowState_"


# --------------------------------------------------------------------------------------------
# slots


def test_g1_motor_slots_are_the_policy_order(g1: RobotSpec) -> None:
    # robots/g1.py: policy order = URDF order = motor-slot order
    np.testing.assert_array_equal(MotorSlotMap(g1).slots, np.arange(g1.num_joints))
    assert set(G1_MOTOR_SLOTS) == set(g1.joint_names)


def test_slot_table_errors_name_the_joint(g1: RobotSpec) -> None:
    table = dict(G1_MOTOR_SLOTS)
    del table["waist_roll_joint"]
    with pytest.raises(DeployError, match="unknown motor joint 'waist_roll_joint'; valid:"):
        MotorSlotMap(g1, table)
    with pytest.raises(DeployError, match="must be distinct"):
        MotorSlotMap(g1, {**G1_MOTOR_SLOTS, "waist_roll_joint": 0})


def test_command_round_trips_through_lowcmd_slots(g1: RobotSpec) -> None:
    rng = np.random.default_rng(3)
    n = g1.num_joints
    # a shuffled table: joint j in slot perm[j], so the mapping is really exercised
    perm = rng.permutation(NUM_MOTOR_SLOTS)[:n]
    slots = MotorSlotMap(g1, dict(zip(g1.joint_names, perm.tolist(), strict=True)))
    command = JointCommand(*(np.array(f32(rng, n)) for _ in range(5)))
    cmd = slots.fill_lowcmd(LowCmd_(), command, mode_machine=5)
    assert (cmd.mode_pr, cmd.mode_machine, cmd.crc) == (0, 5, lowcmd_crc(cmd))
    unused = sorted(set(range(NUM_MOTOR_SLOTS)) - set(perm.tolist()))
    assert all(cmd.motor_cmd[s].mode == 0 and cmd.motor_cmd[s].kp == 0.0 for s in unused)
    assert cmd.motor_cmd[perm[3]].q == command.position_rad[3]
    back = slots.command_from_lowcmd(LowCmd_.deserialize(cmd.serialize()))
    for field in ("position_rad", "velocity_rad_s", "effort_nm", "kp", "kd"):
        np.testing.assert_array_equal(getattr(back, field), getattr(command, field))


def test_a_disabled_motor_produces_no_torque(g1: RobotSpec) -> None:
    slots = MotorSlotMap(g1)
    cmd = slots.fill_lowcmd(
        LowCmd_(), JointCommand.pd(np.ones(29), 50.0, 2.0, None, np.ones(29)), 0
    )
    cmd.motor_cmd[3].mode = 0
    back = slots.command_from_lowcmd(cmd)
    assert (back.kp[3], back.kd[3], back.effort_nm[3]) == (0.0, 0.0, 0.0)
    assert (back.kp[2], back.kd[2], back.effort_nm[2]) == (50.0, 2.0, 1.0)


def test_rpy_of_hand_rotations() -> None:
    half = 0.15  # rotation of 0.3 rad: quaternion (cos 0.15, axis · sin 0.15)
    np.testing.assert_allclose(quat_wxyz_to_rpy([np.cos(half), 0, 0, np.sin(half)]), [0, 0, 0.3])
    np.testing.assert_allclose(quat_wxyz_to_rpy([np.cos(half), np.sin(half), 0, 0]), [0.3, 0, 0])
    np.testing.assert_allclose(quat_wxyz_to_rpy([np.cos(half), 0, np.sin(half), 0]), [0, 0.3, 0])


# --------------------------------------------------------------------------------------------
# loopback


def wait_until(predicate: Callable[[], Any], what: str, action: Callable[[], Any] | None = None):
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        if action is not None:
            action()
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {TIMEOUT_S} s waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def topic_names() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {"lowcmd_topic": f"rt/lowcmd_{suffix}", "lowstate_topic": f"rt/lowstate_{suffix}"}


@pytest.fixture
def transport(g1: RobotSpec, topic_names: dict[str, str]) -> Iterator[UnitreeTransport]:
    with UnitreeTransport(g1, DDS, **topic_names) as t:
        yield t


@pytest.fixture
def robot_side(g1: RobotSpec, topic_names: dict[str, str]) -> Iterator[UnitreeRobotSide]:
    with UnitreeRobotSide(g1, DDS, mode_machine=5, **topic_names) as side:
        yield side


def raw_writer(topic: str, cls: type) -> DataWriter:
    participant = open_participant(DDS)
    qos = Qos(Policy.Reliability.Reliable(duration(seconds=1)), Policy.History.KeepLast(1))
    return DataWriter(participant, Topic(participant, topic, cls), qos=qos)


def test_state_and_command_round_trip(g1: RobotSpec, transport, robot_side, topic_names) -> None:
    rng = np.random.default_rng(4)
    n = g1.num_joints
    q, dq, tau = (np.array(f32(rng, n)) for _ in range(3))
    quat = np.array([0.5, 0.5, -0.5, 0.5])

    def publish() -> None:
        robot_side.publish_state(q, dq, tau, quat, [0.25, -0.5, 1.0], [0.0, 0.0, 9.81])

    state = wait_until(transport.latest, "a LowState_", publish)
    np.testing.assert_array_equal(state.joint_pos_rad, q)
    np.testing.assert_array_equal(state.joint_vel_rad_s, dq)
    np.testing.assert_array_equal(state.imu_quat_wxyz, quat)  # IMUState_ is wxyz already
    np.testing.assert_array_equal(state.gyro_b_rad_s, [0.25, -0.5, 1.0])
    assert transport.mode_machine == 5 and transport.crc_errors == 0

    participant = open_participant(DDS)
    spy = DataReader(participant, Topic(participant, topic_names["lowcmd_topic"], LowCmd_))
    command = JointCommand(*(np.array(f32(rng, n)) for _ in range(5)))
    received = wait_until(robot_side.latest_command, "a LowCmd_", lambda: transport.send(command))
    for field in ("position_rad", "velocity_rad_s", "effort_nm", "kp", "kd"):
        np.testing.assert_array_equal(getattr(received.command, field), getattr(command, field))
    raw = wait_until(
        lambda: spy.take(N=10), "the LowCmd_ on the wire", lambda: transport.send(command)
    )
    assert raw[-1].mode_machine == 5  # the robot's value, echoed
    assert raw[-1].crc == lowcmd_crc(raw[-1])


def test_corrupted_lowstate_is_refused(g1: RobotSpec, transport, topic_names) -> None:
    writer = raw_writer(topic_names["lowstate_topic"], LowState_)
    state = random_lowstate(np.random.default_rng(5))
    state.imu_state.quaternion = [1.0, 0.0, 0.0, 0.0]
    state.crc = lowstate_crc(state) ^ 0x1  # one bit off
    wait_until(lambda: transport.crc_errors, "the crc refusal", lambda: writer.write(state))
    assert transport.latest() is None and transport.mode_machine is None
    state.crc = lowstate_crc(state)
    wait_until(transport.latest, "the valid LowState_", lambda: writer.write(state))


def test_corrupted_lowcmd_is_refused(g1: RobotSpec, robot_side, topic_names) -> None:
    writer = raw_writer(topic_names["lowcmd_topic"], LowCmd_)
    cmd = MotorSlotMap(g1).fill_lowcmd(LowCmd_(), JointCommand.damping(g1.num_joints), 5)
    cmd.motor_cmd[0].kd = 80.0  # changed after the crc was computed
    wait_until(lambda: robot_side.crc_errors, "the crc refusal", lambda: writer.write(cmd))
    assert robot_side.latest_command() is None


# --------------------------------------------------------------------------------------------
# sim robot over Unitree DDS


def test_sim_robot_speaks_unitree(g1: RobotSpec) -> None:
    cmd = [
        sys.executable,
        "-m",
        "humimic.deploy.sim_robot",
        "--interface=unitree",
        f"--domain={SIM_DOMAIN_ID}",
        "--network=lo",
        "--mode-machine=5",
        "--duration=30",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        with UnitreeTransport(g1, DdsConfig(domain_id=SIM_DOMAIN_ID, interface="lo")) as robot:
            deadline = time.monotonic() + 15.0  # process start-up: imports, MuJoCo
            while robot.latest() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            first = robot.latest()
            assert first is not None, "no LowState_ from the sim robot"
            assert robot.mode_machine == 5 and robot.crc_errors == 0
            default = np.array(g1.default_joint_pos_rad)
            assert np.abs(first.joint_pos_rad - default).max() < 0.1
            moving = False
            while time.monotonic() < deadline + 5.0 and not moving:
                robot.send(JointCommand.damping(g1.num_joints))
                time.sleep(0.05)
                state = robot.latest()
                moving = state is not None and np.abs(state.joint_vel_rad_s).max() > 0.05
            assert moving, "joints did not respond to the damping LowCmd_"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10.0)
        assert proc.returncode == 0, out
        assert "0 refused" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_waiting_for_a_silent_robot_says_what_arrived(g1: RobotSpec) -> None:
    with UnitreeTransport(g1, DdsConfig(domain_id=97, interface="lo")) as robot:
        with pytest.raises(DeployError, match=r"0 LowState_ on rt/lowstate accepted, 0 refused"):
            robot.wait_for_state(0.2)
