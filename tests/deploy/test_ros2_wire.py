"""ROS 2 wire layer: generated Cyclone DDS types put ROS 2's exact bytes on the wire.

The reference is rosbags' CDR serializer (``Typestore.serialize_cdr``), which writes what a
ROS 2 node writes: a 4-byte encapsulation header ``00 01 00 00`` (plain CDR, little endian)
then the fields in order, each aligned to its own size relative to the end of the header.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from keyword import iskeyword
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet
from cyclonedds.domain import Domain, DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.qos import Policy, Qos
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration
from hypothesis import given, settings
from hypothesis import strategies as st
from rosbags.interfaces import Nodetype

from humimic.deploy.ros2_types import (
    CDR_LE_HEADER,
    DEFAULT_MSG_DIR,
    Ros2Types,
    build_typestore,
    create_reader,
    create_writer,
    dds_type_name,
    find_msg_files,
    reliable_qos,
    ros_topic_to_dds,
    sensor_data_qos,
)
from humimic.errors import DeployError

# The Unitree G1 29-DoF joints in policy order (legs, waist, arms).
G1_JOINTS = [
    *(
        f"{side}_{j}_joint"
        for side in ("left", "right")
        for j in ("hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll")
    ),
    "waist_yaw_joint",
    "waist_roll_joint",
    "waist_pitch_joint",
    *(
        f"{side}_{j}_joint"
        for side in ("left", "right")
        for j in (
            "shoulder_pitch",
            "shoulder_roll",
            "shoulder_yaw",
            "elbow",
            "wrist_roll",
            "wrist_pitch",
            "wrist_yaw",
        )
    ),
]

DOMAIN_ID = 77  # owned by this test module
# Loopback only, no multicast: nothing leaves the machine. Cyclone adds localhost to the
# unicast discovery peers by itself when multicast is off.
LOOPBACK_CONFIG = (
    "<CycloneDDS><Domain id='any'><General>"
    "<Interfaces><NetworkInterface address='127.0.0.1'/></Interfaces>"
    "<AllowMulticast>false</AllowMulticast>"
    "</General></Domain></CycloneDDS>"
)
TIMEOUT_S = 5.0


@pytest.fixture(scope="module")
def types() -> Ros2Types:
    return Ros2Types()


# --------------------------------------------------------------------------------------------
# helpers


def make(types: Ros2Types, ros_type: str, **fields: Any) -> Any:
    return types.typestore.types[ros_type](**fields)


def header(types: Ros2Types, rng: np.random.Generator, frame_id: str = "pelvis") -> Any:
    stamp = make(
        types,
        "builtin_interfaces/msg/Time",
        sec=int(rng.integers(0, 2**31 - 1)),
        nanosec=int(rng.integers(0, 10**9)),
    )
    return make(types, "std_msgs/msg/Header", stamp=stamp, frame_id=frame_id)


def assert_msg_equal(got: Any, want: Any, path: str = "msg") -> None:
    """Field-by-field equality of rosbags messages; arrays must match in dtype and value."""
    assert type(got).__name__ == type(want).__name__, path
    if dataclasses.is_dataclass(want):
        for f in dataclasses.fields(want):
            assert_msg_equal(getattr(got, f.name), getattr(want, f.name), f"{path}.{f.name}")
    elif isinstance(want, np.ndarray):
        assert got.dtype == want.dtype, f"{path}: dtype {got.dtype} != {want.dtype}"
        np.testing.assert_array_equal(got, want, err_msg=path)
    elif isinstance(want, list):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_msg_equal(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and np.isnan(want):
        assert np.isnan(got), path
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


def assert_same_wire(types: Ros2Types, msg: Any, ros_type: str) -> bytes:
    """Our bytes == rosbags' bytes, and each side decodes the other's bytes to ``msg``."""
    reference = bytes(types.typestore.serialize_cdr(msg, ros_type, little_endian=True))
    ours = types.serialize(msg, ros_type)
    assert reference[:4] == CDR_LE_HEADER
    assert ours[:4] == CDR_LE_HEADER
    assert ours == reference, f"{ros_type}: ours {ours.hex()} != rosbags {reference.hex()}"
    assert_msg_equal(types.deserialize(reference, ros_type), msg)
    assert_msg_equal(types.typestore.deserialize_cdr(ours, ros_type), msg)
    # and the IDL class itself decodes the rosbags bytes
    sample = types.idl_type(ros_type).deserialize(reference)
    assert_msg_equal(types.from_idl(sample), msg)
    return ours


def joint_state(types: Ros2Types, rng: np.random.Generator) -> Any:
    n = len(G1_JOINTS)
    return make(
        types,
        "sensor_msgs/msg/JointState",
        header=header(types, rng),
        name=list(G1_JOINTS),
        position=rng.uniform(-2.5, 2.5, n),
        velocity=rng.normal(0.0, 3.0, n),
        effort=rng.normal(0.0, 20.0, n),
    )


# --------------------------------------------------------------------------------------------
# names and type properties


def test_names_follow_ros2_conventions(types: Ros2Types) -> None:
    assert ros_topic_to_dds("/joint_states") == "rt/joint_states"
    assert ros_topic_to_dds("/humimic/joint_command") == "rt/humimic/joint_command"
    assert ros_topic_to_dds("imu") == "rt/imu"
    assert dds_type_name("sensor_msgs/msg/JointState") == "sensor_msgs::msg::dds_::JointState_"
    assert (
        dds_type_name("humimic_msgs/msg/JointCommand") == "humimic_msgs::msg::dds_::JointCommand_"
    )
    for ros_type in ("sensor_msgs/msg/JointState", "humimic_msgs/msg/RuntimeStatus"):
        assert types.idl_type(ros_type).__idl_typename__ == dds_type_name(ros_type)
    # nested types are generated with their own ROS 2 names
    imu = types.idl_default("sensor_msgs/msg/Imu")
    assert type(imu.header).__idl_typename__ == "std_msgs::msg::dds_::Header_"
    assert type(imu.header.stamp).__idl_typename__ == "builtin_interfaces::msg::dds_::Time_"
    assert type(imu.orientation).__idl_typename__ == "geometry_msgs::msg::dds_::Quaternion_"


@pytest.mark.parametrize("bad", ["", "/", "//x", "/a/", "~/x", "/{ns}/x"])
def test_invalid_topic_names_are_refused(bad: str) -> None:
    with pytest.raises(DeployError, match="invalid ROS 2 topic name"):
        ros_topic_to_dds(bad)


@pytest.mark.parametrize("bad", ["JointState", "sensor_msgs/JointState", "a/srv/B", "a/msg/"])
def test_invalid_type_names_are_refused(bad: str) -> None:
    with pytest.raises(DeployError, match="expected '<pkg>/msg/<Name>'"):
        dds_type_name(bad)


def test_generated_types_are_final_keyless_xcdr1_and_cached(types: Ros2Types) -> None:
    cls = types.idl_type("sensor_msgs/msg/JointState")
    assert types.idl_type("sensor_msgs/msg/JointState") is cls
    assert cls.__idl_annotations__["extensibility"] == "final"
    cls.__idl__.populate()
    assert cls.__idl__.keyless
    assert cls.__idl__.default_version == 1  # XCDR1
    assert cls.__idl__.supported_versions == 1  # FLAG_XCDR1 only: XCDR2 is refused
    assert types.ros_type_of(cls) == "sensor_msgs/msg/JointState"
    # members are the .msg fields, in order
    assert list(cls.__annotations__) == ["header", "name", "position", "velocity", "effort"]


def test_unknown_type_lists_what_exists(types: Ros2Types) -> None:
    with pytest.raises(DeployError, match=r"unknown ROS 2 message type 'humimic_msgs/msg/Nope'.*"):
        types.idl_type("humimic_msgs/msg/Nope")
    with pytest.raises(DeployError, match="humimic_msgs/msg/JointCommand"):
        types.idl_type("humimic_msgs/msg/Nope")


# --------------------------------------------------------------------------------------------
# byte-identical CDR


def test_joint_state_29_g1_joints_is_byte_identical(types: Ros2Types) -> None:
    rng = np.random.default_rng(0)
    msg = joint_state(types, rng)
    wire = assert_same_wire(types, msg, "sensor_msgs/msg/JointState")
    # the first field (header.stamp.sec, int32) follows the 4-byte encapsulation header
    assert wire[4:8] == msg.header.stamp.sec.to_bytes(4, "little")


def test_imu_with_covariances_is_byte_identical(types: Ros2Types) -> None:
    rng = np.random.default_rng(1)
    w, x, y, z = (rng.normal(size=4) / 2.0).tolist()  # any values: no unit-norm check on the wire
    msg = make(
        types,
        "sensor_msgs/msg/Imu",
        header=header(types, rng, "imu_link"),
        orientation=make(types, "geometry_msgs/msg/Quaternion", w=w, x=x, y=y, z=z),
        orientation_covariance=rng.normal(size=9),
        angular_velocity=make(types, "geometry_msgs/msg/Vector3", x=0.1, y=-0.2, z=0.3),
        angular_velocity_covariance=np.diag([1e-4, 2e-4, 3e-4]).ravel(),
        linear_acceleration=make(types, "geometry_msgs/msg/Vector3", x=0.0, y=0.05, z=9.81),
        linear_acceleration_covariance=np.full(9, -1.0),  # -1: "unknown" in ROS
    )
    wire = assert_same_wire(types, msg, "sensor_msgs/msg/Imu")
    # float64[9] is a fixed array: no length prefix. Layout after the 4-byte header:
    # stamp 8, frame_id 4 + 9 ("imu_link\0") = 21 -> pad to 24, quaternion 32 -> 56,
    # covariance 72 -> 128, vector 24 -> 152, covariance 72 -> 224, vector 24 -> 248,
    # covariance 72 -> 320.
    assert len(wire) == 4 + 320
    cov = np.frombuffer(wire[4 + 56 : 4 + 128], dtype="<f8")
    np.testing.assert_array_equal(cov, msg.orientation_covariance)


def test_imu_covariance_of_wrong_length_names_the_field(types: Ros2Types) -> None:
    msg = {"orientation_covariance": [0.0] * 8}
    with pytest.raises(
        DeployError, match=r"Imu\.orientation_covariance: expected 9 elements, got 8"
    ):
        types.to_idl(msg, "sensor_msgs/msg/Imu")


def joint_command(types: Ros2Types, rng: np.random.Generator) -> Any:
    n = len(G1_JOINTS)
    return make(
        types,
        "humimic_msgs/msg/JointCommand",
        header=header(types, rng, ""),
        name=list(G1_JOINTS),
        position=rng.uniform(-2.5, 2.5, n),
        velocity=np.zeros(n),
        effort=rng.normal(0.0, 1.0, n),
        kp=rng.uniform(20.0, 200.0, n),
        kd=rng.uniform(1.0, 5.0, n),
    )


def operator_command(types: Ros2Types, rng: np.random.Generator) -> Any:
    cls = types.typestore.types["humimic_msgs/msg/OperatorCommand"]
    return cls(
        header=header(types, rng, "joystick"), command=cls.SELECT_CLIP, clip="walk1_subject5"
    )


def runtime_status(types: Ros2Types, rng: np.random.Generator) -> Any:
    return make(
        types,
        "humimic_msgs/msg/RuntimeStatus",
        header=header(types, rng, ""),
        state="DAMPING",
        fault="watchdog: no joint state for 0.12 s",
        policy_steps=int(rng.integers(0, 2**32)),
        overruns=3,
        policy_latency_ms=float(rng.uniform(0.1, 2.0)),
    )


@pytest.mark.parametrize(
    ("ros_type", "build"),
    [
        ("humimic_msgs/msg/JointCommand", joint_command),
        ("humimic_msgs/msg/OperatorCommand", operator_command),
        ("humimic_msgs/msg/RuntimeStatus", runtime_status),
    ],
)
def test_humimic_msgs_are_byte_identical(types: Ros2Types, ros_type: str, build: Any) -> None:
    rng = np.random.default_rng(2)
    assert_same_wire(types, build(types, rng), ros_type)


def test_operator_command_constants_come_from_the_msg_file(types: Ros2Types) -> None:
    cls = types.typestore.types["humimic_msgs/msg/OperatorCommand"]
    constants = {n: getattr(cls, n) for n in ("START", "STOP", "DAMP", "RESET", "ESTOP")}
    assert constants == {"START": 1, "STOP": 2, "DAMP": 3, "RESET": 4, "ESTOP": 5}
    assert cls.SELECT_CLIP == 6


def test_runtime_status_layout_by_hand(types: Ros2Types) -> None:
    msg = {
        "state": "POLICY",
        "fault": "",
        "policy_steps": 7,
        "overruns": 1,
        "policy_latency_ms": 0.5,
    }
    wire = types.serialize(msg, "humimic_msgs/msg/RuntimeStatus")
    expected = (
        b"\x00\x01\x00\x00"  # plain CDR, little endian
        + bytes(8)  # stamp sec, nanosec = 0
        + b"\x01\x00\x00\x00\x00"  # frame_id "" = length 1 + NUL
        + b"\x00\x00\x00"  # pad to 4
        + b"\x07\x00\x00\x00POLICY\x00"  # state
        + b"\x00"  # pad to 4
        + b"\x01\x00\x00\x00\x00"  # fault ""
        + b"\x00\x00\x00"  # pad to 4
        + b"\x07\x00\x00\x00"  # policy_steps
        + b"\x01\x00\x00\x00"  # overruns, ends at offset 44 (counted after the header)
        + bytes(4)  # pad to 48: a float64 is 8-aligned relative to the end of the header
        + np.float64(0.5).tobytes()  # policy_latency_ms
    )
    assert wire == expected


def random_value(types: Ros2Types, desc: Any, rng: np.random.Generator) -> Any:
    """A random value of a rosbags field description, in rosbags' representation."""
    node, arg = desc
    if node == Nodetype.NAME:
        return random_message(types, arg, rng)
    if node == Nodetype.BASE:
        return random_base(arg[0], arg[1], rng, None)
    sub, size = arg
    n = size if node == Nodetype.ARRAY else int(rng.integers(0, 4 if not size else size + 1))
    if sub[0] == Nodetype.BASE:
        return random_base(sub[1][0], sub[1][1], rng, n)
    return [random_value(types, sub, rng) for _ in range(n)]


NP_DTYPES = {
    "byte": np.int8,  # rosbags keeps byte signed
    "char": np.uint8,
    **{t: getattr(np, t) for t in ("int8", "int16", "int32", "int64", "float32", "float64")},
    **{t: getattr(np, t) for t in ("uint8", "uint16", "uint32", "uint64")},
}


def random_base(base: str, bound: int, rng: np.random.Generator, n: int | None) -> Any:
    if base == "string":
        letters = list("abz_/09 .é")

        def one() -> str:
            return "".join(rng.choice(letters, size=int(rng.integers(0, (bound or 12) + 1))))

        return one() if n is None else [one() for _ in range(n)]
    size = 1 if n is None else n
    if base == "bool":
        values = rng.integers(0, 2, size).astype(np.bool_)
    elif base.startswith("float"):
        values = rng.normal(0.0, 100.0, size).astype(NP_DTYPES[base])
    else:
        info = np.iinfo(NP_DTYPES[base])
        values = rng.integers(info.min, info.max, size, dtype=NP_DTYPES[base], endpoint=True)
    return values[0].item() if n is None else values


def random_message(types: Ros2Types, ros_type: str, rng: np.random.Generator) -> Any:
    fields = types.typestore.fielddefs[ros_type][1]
    cls = types.typestore.types[ros_type]
    # rosbags appends "_" to field names that are Python keywords
    return cls(**{f"{n}_" if iskeyword(n) else n: random_value(types, d, rng) for n, d in fields})


def test_every_bundled_ros2_type_is_byte_identical(types: Ros2Types) -> None:
    """All ~150 Humble types: bool/byte/char, every int width, float32, bounded strings and
    sequences, fixed arrays of structs, nested messages."""
    rng = np.random.default_rng(3)
    ros_types = sorted(types.typestore.fielddefs)
    assert len(ros_types) > 100
    for ros_type in ros_types:
        for _ in range(3):
            assert_same_wire(types, random_message(types, ros_type, rng), ros_type)


# --------------------------------------------------------------------------------------------
# conversions from plain dicts


def test_dict_input_with_missing_fields_takes_zero_values(types: Ros2Types) -> None:
    sample = types.to_idl(
        {"name": ["left_knee_joint"], "position": np.array([0.3])}, "sensor_msgs/msg/JointState"
    )
    assert sample.name == ["left_knee_joint"]
    assert sample.position == [0.3]
    assert sample.velocity == [] and sample.effort == []
    assert (sample.header.stamp.sec, sample.header.frame_id) == (0, "")
    nested = {"header": {"stamp": {"sec": 3}, "frame_id": "x"}}
    sample = types.to_idl(nested, "sensor_msgs/msg/JointState")
    assert (sample.header.stamp.sec, sample.header.stamp.nanosec) == (3, 0)
    assert sample.header.frame_id == "x"


def test_dict_with_unknown_field_lists_the_valid_ones(types: Ros2Types) -> None:
    with pytest.raises(DeployError, match=r"unknown field 'positions'; valid: .*position"):
        types.to_idl({"positions": [1.0]}, "sensor_msgs/msg/JointState")


def test_bad_values_name_the_field(types: Ros2Types) -> None:
    with pytest.raises(DeployError, match=r"OperatorCommand\.command: 300 is outside the uint8"):
        types.to_idl({"command": 300}, "humimic_msgs/msg/OperatorCommand")
    with pytest.raises(DeployError, match=r"JointCommand\.kp: cannot convert"):
        types.to_idl({"kp": ["stiff"]}, "humimic_msgs/msg/JointCommand")
    with pytest.raises(DeployError, match=r"RuntimeStatus\.state: expected a str"):
        types.to_idl({"state": 3}, "humimic_msgs/msg/RuntimeStatus")


# --------------------------------------------------------------------------------------------
# message definitions on disk


def test_msg_files_are_found_next_to_the_package() -> None:
    files = find_msg_files()
    assert [f.name for f in files] == [
        "JointCommand.msg",
        "OperatorCommand.msg",
        "RuntimeStatus.msg",
    ]
    assert DEFAULT_MSG_DIR.parts[-4:] == ("ros2_ws", "src", "humimic_msgs", "msg")


def test_missing_msg_directory_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "ros2_ws" / "src" / "humimic_msgs" / "msg"
    with pytest.raises(DeployError, match="message definitions not found") as info:
        Ros2Types(msg_dir=missing)
    assert str(missing) in str(info.value)
    missing.mkdir(parents=True)
    with pytest.raises(DeployError, match=f"no \\*\\.msg file in {missing}"):
        build_typestore(missing)


# --------------------------------------------------------------------------------------------
# QoS


def test_qos_profiles_mirror_ros2() -> None:
    sensor = sensor_data_qos()
    assert sensor[Policy.Reliability] == Policy.Reliability.BestEffort
    assert sensor[Policy.History] == Policy.History.KeepLast(5)
    assert sensor[Policy.Durability] == Policy.Durability.Volatile
    default = reliable_qos()
    assert isinstance(default[Policy.Reliability], Policy.Reliability.Reliable)
    assert default[Policy.History] == Policy.History.KeepLast(10)
    assert default[Policy.Durability] == Policy.Durability.Volatile
    for qos in (sensor, default):
        assert qos[Policy.DataRepresentation] == Policy.DataRepresentation(
            use_cdrv0_representation=True
        )


# --------------------------------------------------------------------------------------------
# loopback DDS


@pytest.fixture(scope="module")
def participants() -> Any:
    domain = Domain(DOMAIN_ID, LOOPBACK_CONFIG)
    pub, sub = DomainParticipant(DOMAIN_ID), DomainParticipant(DOMAIN_ID)
    yield pub, sub
    del pub, sub, domain


def unique_topic(stem: str) -> str:
    """A topic no other process on this machine uses (parallel test runs share domain 77)."""
    return f"/humimic_test/{stem}_{uuid.uuid4().hex[:12]}"


def wait_until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {TIMEOUT_S} s waiting for {what}")
        time.sleep(0.005)


def test_joint_state_round_trip_over_loopback(
    participants: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    types = Ros2Types()  # fresh classes: the spy below touches nothing shared
    pub, sub = participants
    ros_type = "sensor_msgs/msg/JointState"
    topic = unique_topic("joint_states")
    writer = create_writer(pub, topic, ros_type, qos=reliable_qos(), types=types)
    reader = create_reader(sub, topic, ros_type, qos=reliable_qos(), types=types)
    assert writer.topic.name == ros_topic_to_dds(topic)
    assert writer.topic.typename == "sensor_msgs::msg::dds_::JointState_"
    wait_until(lambda: writer.get_publication_matched_status().current_count == 1, "writer match")
    wait_until(lambda: reader.get_subscription_matched_status().current_count == 1, "reader match")

    # Capture the payload the reader hands to the IDL class: the bytes that crossed DDS.
    cls = types.idl_type(ros_type)
    received: list[bytes] = []
    real = cls.deserialize.__func__

    def spy(klass: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        received.append(bytes(data))
        return real(klass, data, *args, **kwargs)

    monkeypatch.setattr(cls, "deserialize", classmethod(spy))

    msg = joint_state(types, np.random.default_rng(4))
    writer.write(types.to_idl(msg))
    waitset = WaitSet(sub)
    waitset.attach(ReadCondition(reader, SampleState.Any | ViewState.Any | InstanceState.Any))
    samples: list[Any] = []
    deadline = time.monotonic() + TIMEOUT_S
    while not samples and time.monotonic() < deadline:
        waitset.wait(duration(seconds=0.5))
        samples += reader.take(N=10)
    assert len(samples) == 1, f"expected one JointState within {TIMEOUT_S} s, got {samples}"
    assert_msg_equal(types.from_idl(samples[0]), msg)

    # On the wire: rosbags' bytes, zero-padded by the Python writer to a multiple of 4.
    reference = bytes(types.typestore.serialize_cdr(msg, ros_type, little_endian=True))
    assert len(received) == 1
    assert received[0][:4] == CDR_LE_HEADER
    assert received[0] == reference.ljust(-(-len(reference) // 4) * 4, b"\0")


def test_best_effort_writer_never_matches_reliable_reader(participants: Any) -> None:
    types = Ros2Types()
    pub, sub = participants
    topic = unique_topic("qos")
    reader = create_reader(sub, topic, "humimic_msgs/msg/JointCommand", reliable_qos(), types)
    reliable = create_writer(pub, topic, "humimic_msgs/msg/JointCommand", reliable_qos(), types)
    best_effort = create_writer(
        pub, topic, "humimic_msgs/msg/JointCommand", sensor_data_qos(), types
    )
    wait_until(lambda: reliable.get_publication_matched_status().current_count == 1, "match")
    # both writers were discovered together, locally: the mismatch is decided by now
    assert reader.get_subscription_matched_status().current_count == 1
    assert best_effort.get_publication_matched_status().current_count == 0
    assert reader.get_requested_incompatible_qos_status().total_count >= 1


def test_xcdr2_writer_is_refused(participants: Any) -> None:
    types = Ros2Types()
    pub, _ = participants
    cls = types.idl_type("humimic_msgs/msg/RuntimeStatus")
    topic = Topic(pub, ros_topic_to_dds(unique_topic("status")), cls)
    xcdr2 = Qos(Policy.DataRepresentation(use_xcdrv2_representation=True))
    with pytest.raises(Exception, match="Bad parameter"):
        DataWriter(pub, topic, qos=xcdr2)
    with pytest.raises(Exception, match="Bad parameter"):
        DataReader(pub, topic, qos=xcdr2)


# --------------------------------------------------------------------------------------------
# property


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)
# any Unicode text CDR can carry: UTF-8 encodable (no surrogates), no NUL terminator inside
joint_names = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40
)


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(joint_names, max_size=35),
    position=st.lists(finite_or_not, max_size=35),
    kp=st.lists(finite_or_not, max_size=35),
    frame_id=joint_names,
    nanosec=st.integers(0, 2**32 - 1),
)
def test_joint_command_property_byte_identical(
    types: Ros2Types,
    names: list[str],
    position: list[float],
    kp: list[float],
    frame_id: str,
    nanosec: int,
) -> None:
    stamp = make(types, "builtin_interfaces/msg/Time", sec=-1, nanosec=nanosec)
    msg = make(
        types,
        "humimic_msgs/msg/JointCommand",
        header=make(types, "std_msgs/msg/Header", stamp=stamp, frame_id=frame_id),
        name=names,
        position=np.array(position, dtype=np.float64),
        velocity=np.array(position[::-1], dtype=np.float64),
        effort=np.zeros(0),
        kp=np.array(kp, dtype=np.float64),
        kd=np.array(kp[:3], dtype=np.float64),
    )
    assert_same_wire(types, msg, "humimic_msgs/msg/JointCommand")
