"""Unitree G1 low-level DDS: ``unitree_hg`` ``LowCmd_`` / ``LowState_`` on ``rt/lowcmd`` /
``rt/lowstate``, what the real robot (and Unitree's simulator) speaks.

These are not ROS message definitions but Unitree's own IDL types (``unitree_hg/msg/dds_/*.idl``
in ``unitree_sdk2``), named the ROS 2 way (``unitree_hg::msg::dds_::LowCmd_``, topic
``rt/lowcmd``), ``@final``, plain CDR. The facts below come from Unitree's SDK
(``unitree_sdk2_python``: ``idl/unitree_hg/msg/dds_/*.py``, ``utils/crc.py``; ``unitree_sdk2``:
the ``G1JointIndex`` enum and ``Crc32Core``); the code is ours.

Layout (field order = wire order = C struct order)::

    MotorCmd_   mode u8 · q f32 · dq f32 · tau f32 · kp f32 · kd f32 · reserve u32   (28 B in C)
    LowCmd_     mode_pr u8 · mode_machine u8 · motor_cmd MotorCmd_[35] · reserve u32[4] · crc u32
                                                                                    (1004 B in C)
    IMUState_   quaternion f32[4] (w, x, y, z) · gyroscope f32[3] · accelerometer f32[3] ·
                rpy f32[3] · temperature i16                                         (56 B in C)
    MotorState_ mode u8 · q f32 · dq f32 · ddq f32 · tau_est f32 · temperature i16[2] · vol f32 ·
                sensor u32[2] · motorstate u32 · reserve u32[4]                      (56 B in C)
    LowState_   version u32[2] · mode_pr u8 · mode_machine u8 · tick u32 · imu_state IMUState_ ·
                motor_state MotorState_[35] · wireless_remote u8[40] · reserve u32[4] · crc u32
                                                                                    (2092 B in C)

**CRC.** ``crc`` is Unitree's ``Crc32Core`` over the *C struct* (natural alignment, little
endian; not the CDR bytes, whose padding differs) read as little-endian ``uint32`` words, all
but the last (the crc itself): CRC-32 with polynomial ``0x04C11DB7``, initial value
``0xFFFFFFFF``, each word fed most significant bit first, no reflection, no final xor. That is
CRC-32/MPEG-2 over each word's big-endian bytes (:func:`crc32_mpeg2`, computed through
``zlib`` on bit-reversed bytes: microseconds, not a Python bit loop). A message whose crc does
not match is refused, counted and logged.

**Semantics** (G1): motor ``mode`` 1 = enabled (the PD law runs), 0 = off; ``mode_pr`` 0 = the
ankles are addressed as pitch/roll joints (our joint names; 1 = the A/B motors);
``mode_machine`` must echo what the robot reports in ``LowState_`` (its hardware type), so the
runtime side copies it from the newest state. Slots 0..28 of a 29-DoF G1 are its joints in
URDF order (= policy order, see ``robots/g1.py``), matched here by name
(:data:`G1_MOTOR_SLOTS`); slots 29..34 stay zero and disabled.

**Network.** As :class:`~humimic.deploy.dds_ros2.DdsConfig`: the real robot is on domain 0 on
the interface wired to it (``eth0``...); Unitree's MuJoCo simulator uses domain 1 on ``lo``.

**QoS.** As Unitree's SDK (Cyclone defaults): writers reliable (so they match any reader), keep
last 1, plain CDR; readers best effort, keep last 1 (they match any writer).
"""

# No `from __future__ import annotations` here: Cyclone DDS reads the IDL classes' annotations
# at run time and cannot resolve them from strings.

import logging
import math
import sys
import threading
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cyclonedds.idl.annotations as annotate
import numpy as np
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl._support import Endianness
from cyclonedds.idl.types import array, float32, int16, uint8, uint32
from cyclonedds.qos import Policy, Qos
from cyclonedds.sub import DataReader
from cyclonedds.util import duration
from numpy.typing import ArrayLike

from humimic.deploy.clock import Clock, MonotonicClock
from humimic.deploy.commands import FloatArray, JointCommand, RobotState
from humimic.deploy.dds_ros2 import (
    WRITE_MAX_BLOCKING_S,
    DdsConfig,
    DdsNode,
    ReceivedCommand,
)
from humimic.errors import DeployError, unknown_name
from humimic.robots.spec import RobotSpec

log = logging.getLogger(__name__)

NUM_MOTOR_SLOTS = 35
TOPIC_LOWCMD = "rt/lowcmd"
TOPIC_LOWSTATE = "rt/lowstate"
UNITREE_SIM_DDS = DdsConfig(domain_id=1, interface="lo")
"""Where Unitree's MuJoCo simulator (``unitree_mujoco``) listens."""

MOTOR_MODE_OFF = 0
MOTOR_MODE_ENABLE = 1
MODE_PR_PITCH_ROLL = 0
"""``mode_pr``: ankles addressed as pitch/roll joints (1 would be the A/B motors)."""

# Unitree's G1JointIndex (unitree_sdk2), keyed by the URDF joint names humimic uses.
G1_MOTOR_SLOTS: dict[str, int] = {
    "left_hip_pitch_joint": 0,
    "left_hip_roll_joint": 1,
    "left_hip_yaw_joint": 2,
    "left_knee_joint": 3,
    "left_ankle_pitch_joint": 4,
    "left_ankle_roll_joint": 5,
    "right_hip_pitch_joint": 6,
    "right_hip_roll_joint": 7,
    "right_hip_yaw_joint": 8,
    "right_knee_joint": 9,
    "right_ankle_pitch_joint": 10,
    "right_ankle_roll_joint": 11,
    "waist_yaw_joint": 12,
    "waist_roll_joint": 13,
    "waist_pitch_joint": 14,
    "left_shoulder_pitch_joint": 15,
    "left_shoulder_roll_joint": 16,
    "left_shoulder_yaw_joint": 17,
    "left_elbow_joint": 18,
    "left_wrist_roll_joint": 19,
    "left_wrist_pitch_joint": 20,
    "left_wrist_yaw_joint": 21,
    "right_shoulder_pitch_joint": 22,
    "right_shoulder_roll_joint": 23,
    "right_shoulder_yaw_joint": 24,
    "right_elbow_joint": 25,
    "right_wrist_roll_joint": 26,
    "right_wrist_pitch_joint": 27,
    "right_wrist_yaw_joint": 28,
}
MOTOR_SLOTS: dict[str, dict[str, int]] = {"g1": G1_MOTOR_SLOTS}
"""Motor slot of each joint, per robot name."""


# --------------------------------------------------------------------------------------------
# IDL types (names and field order are Unitree's; see the module docstring)


# mypy sees lists; Cyclone DDS sees fixed-size IDL arrays.
if TYPE_CHECKING:
    _F32x3 = list[float]
    _F32x4 = list[float]
    _I16x2 = list[int]
    _U32x2 = list[int]
    _U32x4 = list[int]
    _U8x40 = bytes
else:
    _F32x3 = array[float32, 3]
    _F32x4 = array[float32, 4]
    _I16x2 = array[int16, 2]
    _U32x2 = array[uint32, 2]
    _U32x4 = array[uint32, 4]
    _U8x40 = array[uint8, 40]  # Cyclone DDS maps fixed uint8 arrays to `bytes`


@dataclass
@annotate.final
@annotate.autoid("sequential")
class MotorCmd_(IdlStruct, typename="unitree_hg.msg.dds_.MotorCmd_"):
    mode: uint8 = 0
    q: float32 = 0.0
    dq: float32 = 0.0
    tau: float32 = 0.0
    kp: float32 = 0.0
    kd: float32 = 0.0
    reserve: uint32 = 0


@dataclass
@annotate.final
@annotate.autoid("sequential")
class MotorState_(IdlStruct, typename="unitree_hg.msg.dds_.MotorState_"):
    mode: uint8 = 0
    q: float32 = 0.0
    dq: float32 = 0.0
    ddq: float32 = 0.0
    tau_est: float32 = 0.0
    temperature: _I16x2 = field(default_factory=lambda: [0, 0])
    vol: float32 = 0.0
    sensor: _U32x2 = field(default_factory=lambda: [0, 0])
    motorstate: uint32 = 0
    reserve: _U32x4 = field(default_factory=lambda: [0, 0, 0, 0])


if TYPE_CHECKING:
    _MotorCmds = list[MotorCmd_]
    _MotorStates = list[MotorState_]
else:
    _MotorCmds = array[MotorCmd_, NUM_MOTOR_SLOTS]
    _MotorStates = array[MotorState_, NUM_MOTOR_SLOTS]


@dataclass
@annotate.final
@annotate.autoid("sequential")
class LowCmd_(IdlStruct, typename="unitree_hg.msg.dds_.LowCmd_"):
    mode_pr: uint8 = 0
    mode_machine: uint8 = 0
    motor_cmd: _MotorCmds = field(
        default_factory=lambda: [MotorCmd_() for _ in range(NUM_MOTOR_SLOTS)]
    )
    reserve: _U32x4 = field(default_factory=lambda: [0, 0, 0, 0])
    crc: uint32 = 0

    def serialize(
        self,
        buffer: Any = None,
        endianness: Endianness | None = None,
        use_version_2: bool | None = None,
    ) -> bytes:
        """Plain CDR, byte-identical to Cyclone's generic serializer, 6-10× faster (see
        :class:`CStructCodec`); other encodings go to the generic one. LowState_ repeats this
        override: Cyclone's type builder refuses non-IDL base classes, so no mixin can hold it."""
        if _fast_path(buffer, endianness, use_version_2):
            return _CDR_LE_HEADER + _LOWCMD_CODEC.cdr_from_c(pack_lowcmd(self))
        return super().serialize(buffer, endianness, use_version_2)

    @classmethod
    def deserialize(
        cls, data: bytes, has_header: bool = True, use_version_2: bool | None = None
    ) -> "LowCmd_":
        if has_header and use_version_2 is None and bytes(data[:2]) == _CDR_LE_HEADER[:2]:
            return lowcmd_from_c(_LOWCMD_CODEC.c_from_cdr(data[4:]))
        return super().deserialize(data, has_header, use_version_2)


@dataclass
@annotate.final
@annotate.autoid("sequential")
class IMUState_(IdlStruct, typename="unitree_hg.msg.dds_.IMUState_"):
    quaternion: _F32x4 = field(default_factory=lambda: [1.0, 0.0, 0.0, 0.0])
    gyroscope: _F32x3 = field(default_factory=lambda: [0.0, 0.0, 0.0])
    accelerometer: _F32x3 = field(default_factory=lambda: [0.0, 0.0, 0.0])
    rpy: _F32x3 = field(default_factory=lambda: [0.0, 0.0, 0.0])
    temperature: int16 = 0


@dataclass
@annotate.final
@annotate.autoid("sequential")
class LowState_(IdlStruct, typename="unitree_hg.msg.dds_.LowState_"):
    version: _U32x2 = field(default_factory=lambda: [0, 0])
    mode_pr: uint8 = 0
    mode_machine: uint8 = 0
    tick: uint32 = 0
    imu_state: IMUState_ = field(default_factory=IMUState_)
    motor_state: _MotorStates = field(
        default_factory=lambda: [MotorState_() for _ in range(NUM_MOTOR_SLOTS)]
    )
    wireless_remote: _U8x40 = field(default_factory=lambda: bytes(40))
    reserve: _U32x4 = field(default_factory=lambda: [0, 0, 0, 0])
    crc: uint32 = 0

    def serialize(
        self,
        buffer: Any = None,
        endianness: Endianness | None = None,
        use_version_2: bool | None = None,
    ) -> bytes:
        """Plain CDR, byte-identical to Cyclone's generic serializer, 6-10× faster (see
        :class:`CStructCodec`); other encodings go to the generic one."""
        if _fast_path(buffer, endianness, use_version_2):
            return _CDR_LE_HEADER + _LOWSTATE_CODEC.cdr_from_c(pack_lowstate(self))
        return super().serialize(buffer, endianness, use_version_2)

    @classmethod
    def deserialize(
        cls, data: bytes, has_header: bool = True, use_version_2: bool | None = None
    ) -> "LowState_":
        if has_header and use_version_2 is None and bytes(data[:2]) == _CDR_LE_HEADER[:2]:
            return lowstate_from_c(_LOWSTATE_CODEC.c_from_cdr(data[4:]))
        return super().deserialize(data, has_header, use_version_2)


# --------------------------------------------------------------------------------------------
# C layout and CRC

_MOTOR_CMD_C = np.dtype(
    [
        ("mode", "u1"),
        ("q", "<f4"),
        ("dq", "<f4"),
        ("tau", "<f4"),
        ("kp", "<f4"),
        ("kd", "<f4"),
        ("reserve", "<u4"),
    ],
    align=True,
)
_MOTOR_CMD_FIELDS = tuple(_MOTOR_CMD_C.fields or ())
LOWCMD_C_DTYPE = np.dtype(
    [
        ("mode_pr", "u1"),
        ("mode_machine", "u1"),
        ("motor_cmd", _MOTOR_CMD_C, (NUM_MOTOR_SLOTS,)),
        ("reserve", "<u4", (4,)),
        ("crc", "<u4"),
    ],
    align=True,
)
"""``LowCmd_`` as the C struct the CRC is computed over (1004 bytes)."""

_IMU_C = np.dtype(
    [
        ("quaternion", "<f4", (4,)),
        ("gyroscope", "<f4", (3,)),
        ("accelerometer", "<f4", (3,)),
        ("rpy", "<f4", (3,)),
        ("temperature", "<i2"),
    ],
    align=True,
)
_MOTOR_STATE_C = np.dtype(
    [
        ("mode", "u1"),
        ("q", "<f4"),
        ("dq", "<f4"),
        ("ddq", "<f4"),
        ("tau_est", "<f4"),
        ("temperature", "<i2", (2,)),
        ("vol", "<f4"),
        ("sensor", "<u4", (2,)),
        ("motorstate", "<u4"),
        ("reserve", "<u4", (4,)),
    ],
    align=True,
)
_MOTOR_STATE_FIELDS = tuple(_MOTOR_STATE_C.fields or ())
LOWSTATE_C_DTYPE = np.dtype(
    [
        ("version", "<u4", (2,)),
        ("mode_pr", "u1"),
        ("mode_machine", "u1"),
        ("tick", "<u4"),
        ("imu_state", _IMU_C),
        ("motor_state", _MOTOR_STATE_C, (NUM_MOTOR_SLOTS,)),
        ("wireless_remote", "u1", (40,)),
        ("reserve", "<u4", (4,)),
        ("crc", "<u4"),
    ],
    align=True,
)
"""``LowState_`` as the C struct the CRC is computed over (2092 bytes)."""


class CStructCodec:
    """Moves a ``@final`` IDL struct between its plain-CDR body and its C layout.

    Both hold the same primitives in the same order; only the padding differs (CDR aligns each
    primitive relative to the start of the body, C aligns nested structs to their largest
    member). The map from one to the other is computed once from the C ``dtype`` as two byte
    index arrays, so a conversion is one numpy gather. Cyclone's generic Python serializer
    takes ~0.6 ms to serialize a ``LowState_`` and ~0.55 ms to read one; through the C record
    and this map, ~0.1 ms and ~0.06 ms.

    Args:
        c_dtype: the struct as an aligned numpy ``dtype`` (:data:`LOWCMD_C_DTYPE`, ...).
    """

    def __init__(self, c_dtype: np.dtype) -> None:
        c_index: list[int] = []
        cdr_index: list[int] = []
        cdr_pos = 0

        def leaf(dt: np.dtype, c_offset: int) -> None:
            nonlocal cdr_pos
            if dt.fields is not None:
                for name in dt.names or ():
                    fdt, offset = dt.fields[name][:2]
                    leaf(fdt, c_offset + offset)
            elif dt.subdtype is not None:
                sub, shape = dt.subdtype
                for k in range(int(np.prod(shape))):
                    leaf(sub, c_offset + k * sub.itemsize)
            else:
                size = dt.itemsize  # XCDR1: a primitive aligns to its size (at most 8)
                cdr_pos += -cdr_pos % min(size, 8)
                c_index.extend(range(c_offset, c_offset + size))
                cdr_index.extend(range(cdr_pos, cdr_pos + size))
                cdr_pos += size

        leaf(c_dtype, 0)
        self.c_dtype = c_dtype
        self.cdr_size = cdr_pos
        """Bytes in the CDR body (without the 4-byte header and the writer's padding)."""
        self._c_index = np.array(c_index, dtype=np.intp)
        self._cdr_index = np.array(cdr_index, dtype=np.intp)

    def c_from_cdr(self, body: bytes) -> np.ndarray:
        """The C record (0-d structured array) of a little-endian CDR body."""
        if len(body) < self.cdr_size:
            raise DeployError(
                f"CDR body of {len(body)} bytes; a {self.c_dtype} needs {self.cdr_size}"
            )
        src = np.frombuffer(body, dtype=np.uint8, count=self.cdr_size)
        dst = np.zeros(self.c_dtype.itemsize, dtype=np.uint8)
        dst[self._c_index] = src[self._cdr_index]
        return dst.view(self.c_dtype).reshape(())

    def cdr_from_c(self, c_bytes: bytes) -> bytes:
        """The little-endian CDR body of a C struct's bytes."""
        src = np.frombuffer(c_bytes, dtype=np.uint8, count=self.c_dtype.itemsize)
        dst = np.zeros(self.cdr_size, dtype=np.uint8)
        dst[self._cdr_index] = src[self._c_index]
        return dst.tobytes()


_LOWCMD_CODEC = CStructCodec(LOWCMD_C_DTYPE)
_LOWSTATE_CODEC = CStructCodec(LOWSTATE_C_DTYPE)
_CDR_LE_HEADER = b"\x00\x01\x00\x00"


def _fast_path(buffer: Any, endianness: Endianness | None, use_version_2: bool | None) -> bool:
    little = endianness == Endianness.Little or (endianness is None and sys.byteorder == "little")
    return buffer is None and little and not use_version_2


def lowcmd_from_c(rec: np.ndarray) -> LowCmd_:
    """A :class:`LowCmd_` from its C record (:data:`LOWCMD_C_DTYPE`)."""
    motors = rec["motor_cmd"]
    columns = [motors[name].tolist() for name in _MOTOR_CMD_FIELDS]
    return LowCmd_(
        mode_pr=int(rec["mode_pr"]),
        mode_machine=int(rec["mode_machine"]),
        motor_cmd=[MotorCmd_(*values) for values in zip(*columns, strict=True)],
        reserve=rec["reserve"].tolist(),
        crc=int(rec["crc"]),
    )


def lowstate_from_c(rec: np.ndarray) -> LowState_:
    """A :class:`LowState_` from its C record (:data:`LOWSTATE_C_DTYPE`)."""
    motors, imu = rec["motor_state"], rec["imu_state"]
    columns = [motors[name].tolist() for name in _MOTOR_STATE_FIELDS]
    return LowState_(
        version=rec["version"].tolist(),
        mode_pr=int(rec["mode_pr"]),
        mode_machine=int(rec["mode_machine"]),
        tick=int(rec["tick"]),
        imu_state=IMUState_(
            quaternion=imu["quaternion"].tolist(),
            gyroscope=imu["gyroscope"].tolist(),
            accelerometer=imu["accelerometer"].tolist(),
            rpy=imu["rpy"].tolist(),
            temperature=int(imu["temperature"]),
        ),
        motor_state=[MotorState_(*values) for values in zip(*columns, strict=True)],
        wireless_remote=rec["wireless_remote"].tobytes(),
        reserve=rec["reserve"].tolist(),
        crc=int(rec["crc"]),
    )


_BIT_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _reflect32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 of ``data``: polynomial ``0x04C11DB7``, init ``0xFFFFFFFF``, MSB first,
    no reflection, no final xor (check value: ``crc32_mpeg2(b"123456789") == 0x0376E6E7``).

    Computed with ``zlib.crc32`` (the reflected CRC-32 with the same polynomial, init and a
    final xor ``0xFFFFFFFF``): reversing the bits of every input byte and of the result turns
    one into the other, and the final xor is undone.
    """
    return _reflect32(zlib.crc32(bytes(data).translate(_BIT_REVERSED))) ^ 0xFFFFFFFF


def unitree_crc32(packed: bytes) -> int:
    """Unitree's ``Crc32Core`` of a packed C struct: over its little-endian ``uint32`` words,
    all but the last (the ``crc`` field), each fed MSB first."""
    if len(packed) % 4:
        raise DeployError(f"unitree_crc32: {len(packed)} bytes is not a whole number of words")
    words = np.frombuffer(packed, dtype="<u4", count=len(packed) // 4 - 1)
    return crc32_mpeg2(words.astype(">u4").tobytes())


def pack_lowcmd(cmd: LowCmd_) -> bytes:
    """``cmd`` as Unitree's C struct (:data:`LOWCMD_C_DTYPE`, 1004 bytes)."""
    rec = np.zeros((), dtype=LOWCMD_C_DTYPE)
    rec["mode_pr"], rec["mode_machine"] = cmd.mode_pr, cmd.mode_machine
    motors, slots = rec["motor_cmd"], cmd.motor_cmd
    for name in _MOTOR_CMD_FIELDS:
        motors[name] = [getattr(m, name) for m in slots]
    rec["reserve"], rec["crc"] = cmd.reserve, cmd.crc
    return rec.tobytes()


def pack_lowstate(state: LowState_) -> bytes:
    """``state`` as Unitree's C struct (:data:`LOWSTATE_C_DTYPE`, 2092 bytes)."""
    rec = np.zeros((), dtype=LOWSTATE_C_DTYPE)
    rec["version"], rec["tick"] = state.version, state.tick
    rec["mode_pr"], rec["mode_machine"] = state.mode_pr, state.mode_machine
    imu, s_imu = rec["imu_state"], state.imu_state
    for name in ("quaternion", "gyroscope", "accelerometer", "rpy", "temperature"):
        imu[name] = getattr(s_imu, name)
    motors, slots = rec["motor_state"], state.motor_state
    for name in _MOTOR_STATE_FIELDS:
        motors[name] = [getattr(m, name) for m in slots]
    rec["wireless_remote"] = np.frombuffer(bytes(state.wireless_remote), dtype=np.uint8)
    rec["reserve"], rec["crc"] = state.reserve, state.crc
    return rec.tobytes()


def lowcmd_crc(cmd: LowCmd_) -> int:
    """The crc ``cmd`` must carry."""
    return unitree_crc32(pack_lowcmd(cmd))


def lowstate_crc(state: LowState_) -> int:
    """The crc ``state`` must carry."""
    return unitree_crc32(pack_lowstate(state))


# --------------------------------------------------------------------------------------------
# joints ↔ motor slots


class MotorSlotMap:
    """Motor slot of each policy joint, resolved by name once.

    Attributes:
        slots: [J] motor slot of policy joint ``j``.
    """

    def __init__(self, robot: RobotSpec, table: dict[str, int] | None = None) -> None:
        if table is None:
            if robot.name not in MOTOR_SLOTS:
                raise DeployError(
                    unknown_name("robot with a Unitree motor-slot table", robot.name, MOTOR_SLOTS)
                )
            table = MOTOR_SLOTS[robot.name]
        slots = []
        for name in robot.joint_names:
            if name not in table:
                raise DeployError(f"{robot.name}: {unknown_name('motor joint', name, table)}")
            slots.append(table[name])
        if len(set(slots)) != len(slots) or not all(0 <= s < NUM_MOTOR_SLOTS for s in slots):
            raise DeployError(
                f"{robot.name}: motor slots must be distinct and in 0..{NUM_MOTOR_SLOTS - 1}, "
                f"got {slots}"
            )
        self.robot = robot
        self.slots = np.array(slots, dtype=np.intp)

    def fill_lowcmd(
        self,
        cmd: LowCmd_,
        command: JointCommand,
        mode_machine: int,
        mode_pr: int = MODE_PR_PITCH_ROLL,
    ) -> LowCmd_:
        """Write ``command`` (policy order) into ``cmd``'s slots (enabled), zero and disable
        the other slots, set the modes and the crc. Returns ``cmd``."""
        if command.num_joints != len(self.slots):
            raise DeployError(
                f"JointCommand for {command.num_joints} joints; {self.robot.name} has "
                f"{len(self.slots)}"
            )
        cmd.mode_pr, cmd.mode_machine = int(mode_pr), int(mode_machine)
        for m in cmd.motor_cmd:
            m.mode, m.q, m.dq, m.tau, m.kp, m.kd, m.reserve = (
                MOTOR_MODE_OFF,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0,
            )
        columns = zip(
            self.slots.tolist(),
            command.position_rad.tolist(),
            command.velocity_rad_s.tolist(),
            command.effort_nm.tolist(),
            command.kp.tolist(),
            command.kd.tolist(),
            strict=True,
        )
        for slot, q, dq, tau, kp, kd in columns:
            m = cmd.motor_cmd[slot]
            m.mode, m.q, m.dq, m.tau, m.kp, m.kd = MOTOR_MODE_ENABLE, q, dq, tau, kp, kd
        cmd.crc = lowcmd_crc(cmd)
        return cmd

    def command_from_lowcmd(self, cmd: LowCmd_) -> JointCommand:
        """The command in policy order (float32 values widened). A disabled slot
        (``mode == 0``) produces no torque: its gains and feed-forward read as zero."""
        motors = [cmd.motor_cmd[s] for s in self.slots.tolist()]
        on = np.array([m.mode != MOTOR_MODE_OFF for m in motors])

        def column(name: str, zero_when_off: bool) -> FloatArray:
            values = np.array([getattr(m, name) for m in motors], dtype=np.float64)
            return np.where(on, values, 0.0) if zero_when_off else values

        return JointCommand(
            position_rad=column("q", False),
            velocity_rad_s=column("dq", False),
            effort_nm=column("tau", True),
            kp=column("kp", True),
            kd=column("kd", True),
        )

    def state_from_lowstate(self, state: LowState_, stamp_s: float) -> RobotState:
        """A :class:`RobotState` (policy order) from ``state``; the quaternion is already
        ``wxyz`` in ``IMUState_``."""
        motors = [state.motor_state[s] for s in self.slots.tolist()]
        imu = state.imu_state
        return RobotState(
            joint_pos_rad=np.array([m.q for m in motors], dtype=np.float64),
            joint_vel_rad_s=np.array([m.dq for m in motors], dtype=np.float64),
            imu_quat_wxyz=np.array(imu.quaternion, dtype=np.float64),
            gyro_b_rad_s=np.array(imu.gyroscope, dtype=np.float64),
            stamp_s=stamp_s,
        )


def _writer_qos() -> Qos:
    return Qos(
        Policy.Reliability.Reliable(max_blocking_time=duration(seconds=WRITE_MAX_BLOCKING_S)),
        Policy.History.KeepLast(1),
        Policy.DataRepresentation(use_cdrv0_representation=True),
    )


def _reader_qos() -> Qos:
    return Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(1))


def _newest(reader: DataReader, cls: type) -> Any:
    newest = None
    while True:
        samples = reader.take(N=16)
        newest = next((s for s in reversed(samples) if isinstance(s, cls)), newest)
        if len(samples) < 16:
            return newest


def _log_count(count: int) -> bool:
    return count in (1, 10, 100, 1000) or count % 10000 == 0


# --------------------------------------------------------------------------------------------
# runtime side


class UnitreeTransport(DdsNode):
    """The runtime's state source and command sink on a Unitree G1 (or its simulator).

    Implements :class:`~humimic.deploy.ports.StateSource` (``latest``: the newest valid
    ``LowState_``, stamped on arrival with ``clock``) and
    :class:`~humimic.deploy.ports.CommandSink` (``send``: a ``LowCmd_`` with the crc, the
    robot's ``mode_machine`` echoed). ``LowState_`` messages with a wrong crc are refused and
    counted in :attr:`crc_errors`.

    Args:
        robot: the robot (joint names → motor slots).
        dds: domain and interface (real G1: domain 0 on its Ethernet interface;
            Unitree's simulator: :data:`UNITREE_SIM_DDS`).
        clock: the runtime clock.
        slots: a slot map (default: :class:`MotorSlotMap` of ``robot``).
        participant: share an existing participant.
        lowcmd_topic, lowstate_topic: DDS topic names (defaults ``rt/lowcmd``,
            ``rt/lowstate``).
    """

    def __init__(
        self,
        robot: RobotSpec,
        dds: DdsConfig | None = None,
        clock: Clock | None = None,
        *,
        slots: MotorSlotMap | None = None,
        participant: DomainParticipant | None = None,
        lowcmd_topic: str = TOPIC_LOWCMD,
        lowstate_topic: str = TOPIC_LOWSTATE,
    ) -> None:
        super().__init__(dds, participant, None)
        self.robot = robot
        self.clock: Clock = MonotonicClock() if clock is None else clock
        self.slots = MotorSlotMap(robot) if slots is None else slots
        self.lowcmd_topic, self.lowstate_topic = lowcmd_topic, lowstate_topic
        self._lock = threading.Lock()
        self._raw: tuple[LowState_, float] | None = None
        self._state: RobotState | None = None
        self.mode_machine: int | None = None
        """``mode_machine`` of the newest valid state (``None`` before the first)."""
        self.states_received = 0
        self.crc_errors = 0
        self._warned_no_state = False
        self._cmd = LowCmd_()
        self._cmd_lock = threading.Lock()
        self._writer_ = self._dds_writer(lowcmd_topic, LowCmd_, _writer_qos())
        self._reader_ = self._dds_reader(lowstate_topic, LowState_, _reader_qos(), self._on_state)

    def _on_state(self, reader: DataReader | None) -> None:
        now_s = self.clock.now_s()
        if self._closed or reader is None:  # None: the reader is being deleted (close)
            return
        sample = _newest(reader, LowState_)
        if sample is None:
            return
        expected = lowstate_crc(sample)
        if sample.crc != expected:
            with self._lock:
                self.crc_errors += 1
                count = self.crc_errors
            if _log_count(count):
                log.error(
                    "refused LowState_ #%d on %s: crc 0x%08x, expected 0x%08x",
                    count,
                    self.lowstate_topic,
                    sample.crc,
                    expected,
                )
            return
        with self._lock:
            self._raw = (sample, now_s)
            self._state = None
            self.mode_machine = int(sample.mode_machine)
            self.states_received += 1

    def latest(self) -> RobotState | None:
        """The newest valid state in policy order, or ``None`` before the first. Never blocks."""
        with self._lock:
            if self._state is None and self._raw is not None:
                self._state = self.slots.state_from_lowstate(*self._raw)
            return self._state

    def wait_for_state(self, timeout_s: float) -> RobotState:
        """Block until the first valid ``LowState_`` is there (start-up, tools, tests; not for
        the control loop).

        Raises:
            DeployError: none within ``timeout_s`` (says how many arrived and failed the crc).
        """
        return self._wait_for(
            timeout_s,
            -math.inf,
            lambda: (
                f"{self.states_received} LowState_ on {TOPIC_LOWSTATE} accepted, "
                f"{self.crc_errors} refused by the crc"
            ),
        )

    def send(self, command: JointCommand) -> None:
        """Publish ``command`` (policy order) as a ``LowCmd_`` with its crc."""
        self._check_open()
        mode_machine = self.mode_machine
        if mode_machine is None:
            mode_machine = 0
            if not self._warned_no_state:
                self._warned_no_state = True
                log.warning("sending LowCmd_ before any LowState_: mode_machine = 0")
        with self._cmd_lock:
            self._write(self._writer_, self.slots.fill_lowcmd(self._cmd, command, mode_machine))


# --------------------------------------------------------------------------------------------
# robot side


def quat_wxyz_to_rpy(quat_wxyz: ArrayLike) -> FloatArray:
    """Roll, pitch, yaw (rad; intrinsic z-y'-x'', as ``IMUState_.rpy``) of a unit quaternion."""
    w, x, y, z = np.asarray(quat_wxyz, dtype=np.float64)
    roll = math.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2.0 * (w * y - z * x))))
    yaw = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return np.array([roll, pitch, yaw])


class UnitreeRobotSide(DdsNode):
    """The robot's end: publishes ``LowState_`` (with crc), receives ``LowCmd_`` (crc checked:
    a mismatch is refused, logged and counted in :attr:`crc_errors`; the previous command stays
    in force). Used by the sim robot.

    Args:
        robot, dds, clock, slots, participant, lowcmd_topic, lowstate_topic: as
            :class:`UnitreeTransport`.
        mode_machine: the hardware type the robot reports (the runtime echoes it).
    """

    def __init__(
        self,
        robot: RobotSpec,
        dds: DdsConfig | None = None,
        clock: Clock | None = None,
        *,
        slots: MotorSlotMap | None = None,
        participant: DomainParticipant | None = None,
        mode_machine: int = 0,
        lowcmd_topic: str = TOPIC_LOWCMD,
        lowstate_topic: str = TOPIC_LOWSTATE,
    ) -> None:
        super().__init__(dds, participant, None)
        self.robot = robot
        self.clock: Clock = MonotonicClock() if clock is None else clock
        self.slots = MotorSlotMap(robot) if slots is None else slots
        self.lowcmd_topic, self.lowstate_topic = lowcmd_topic, lowstate_topic
        self._lock = threading.Lock()
        self._command: ReceivedCommand | None = None
        self.commands_received = 0
        self.crc_errors = 0
        self._state = LowState_(mode_pr=MODE_PR_PITCH_ROLL, mode_machine=mode_machine)
        for m in self._state.motor_state:
            m.mode = MOTOR_MODE_OFF
        for s in self.slots.slots.tolist():
            self._state.motor_state[s].mode = MOTOR_MODE_ENABLE
        self._tick = 0
        self._writer_ = self._dds_writer(lowstate_topic, LowState_, _writer_qos())
        self._reader_ = self._dds_reader(lowcmd_topic, LowCmd_, _reader_qos(), self._on_command)

    def publish_state(
        self,
        joint_pos_rad: ArrayLike,
        joint_vel_rad_s: ArrayLike,
        joint_effort_nm: ArrayLike,
        imu_quat_wxyz: ArrayLike,
        gyro_b_rad_s: ArrayLike,
        accel_b_m_s2: ArrayLike,
    ) -> None:
        """Publish one ``LowState_`` ([J] arrays in policy order; quat wxyz; body-frame gyro
        and accelerometer). ``tick`` counts messages."""
        self._check_open()
        st = self._state
        q = np.asarray(joint_pos_rad, dtype=np.float64).tolist()
        dq = np.asarray(joint_vel_rad_s, dtype=np.float64).tolist()
        tau = np.asarray(joint_effort_nm, dtype=np.float64).tolist()
        for slot, qi, dqi, ti in zip(self.slots.slots.tolist(), q, dq, tau, strict=True):
            m = st.motor_state[slot]
            m.q, m.dq, m.tau_est = qi, dqi, ti
        quat = np.asarray(imu_quat_wxyz, dtype=np.float64)
        st.imu_state.quaternion = quat.tolist()
        st.imu_state.gyroscope = np.asarray(gyro_b_rad_s, dtype=np.float64).tolist()
        st.imu_state.accelerometer = np.asarray(accel_b_m_s2, dtype=np.float64).tolist()
        st.imu_state.rpy = quat_wxyz_to_rpy(quat).tolist()
        self._tick = (self._tick + 1) & 0xFFFFFFFF
        st.tick = self._tick
        st.crc = lowstate_crc(st)
        self._write(self._writer_, st)

    def _on_command(self, reader: DataReader | None) -> None:
        now_s = self.clock.now_s()
        if self._closed or reader is None:  # None: the reader is being deleted (close)
            return
        sample = _newest(reader, LowCmd_)
        if sample is None:
            return
        expected = lowcmd_crc(sample)
        if sample.crc != expected:
            with self._lock:
                self.crc_errors += 1
                count = self.crc_errors
            if _log_count(count):
                log.error(
                    "refused LowCmd_ #%d on %s: crc 0x%08x, expected 0x%08x",
                    count,
                    self.lowcmd_topic,
                    sample.crc,
                    expected,
                )
            return
        command = self.slots.command_from_lowcmd(sample)
        with self._lock:
            self.commands_received += 1
            self._command = ReceivedCommand(command, now_s, self.commands_received)

    def latest_command(self) -> ReceivedCommand | None:
        """The newest accepted command, or ``None`` before the first. Never blocks."""
        with self._lock:
            return self._command


__all__ = [
    "G1_MOTOR_SLOTS",
    "LOWCMD_C_DTYPE",
    "LOWSTATE_C_DTYPE",
    "MOTOR_SLOTS",
    "NUM_MOTOR_SLOTS",
    "TOPIC_LOWCMD",
    "TOPIC_LOWSTATE",
    "UNITREE_SIM_DDS",
    "CStructCodec",
    "IMUState_",
    "LowCmd_",
    "LowState_",
    "MotorCmd_",
    "MotorSlotMap",
    "MotorState_",
    "UnitreeRobotSide",
    "UnitreeTransport",
    "crc32_mpeg2",
    "lowcmd_crc",
    "lowcmd_from_c",
    "lowstate_crc",
    "lowstate_from_c",
    "pack_lowcmd",
    "pack_lowstate",
    "quat_wxyz_to_rpy",
    "unitree_crc32",
]
