"""Launch test: the deploy node starts against nothing (no robot) and reports itself.

``colcon test --packages-select humimic_ros`` (or ``launch_test test/test_launch.py``) in a
sourced workspace with humimic pip-installed into the same Python. Without a robot the node
must stay in PASSIVE (or DAMPING), publish its latched RuntimeStatus, and stream passive joint
commands (kp = kd = 0) for the policy's joints.
"""

import importlib.resources
import json
import time
import unittest

import pytest

pytest.importorskip(
    "launch_testing", reason="needs a ROS 2 install (launch_testing); not available on CPU CI"
)

import launch  # noqa: E402
import launch_ros.actions  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import rclpy  # noqa: E402
from humimic_msgs.msg import JointCommand, RuntimeStatus  # noqa: E402
from launch_ros.substitutions import FindPackageShare  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

POLICY_DIR = importlib.resources.files("humimic") / "data" / "policy"
POLICY = str(POLICY_DIR)
JOINT_NAMES = json.loads((POLICY_DIR / "policy.json").read_text())["joint_names"]
TIMEOUT_S = 20.0  # start-up loads onnxruntime and the clips


@pytest.mark.launch_test
def generate_test_description():
    config = launch.substitutions.PathJoinSubstitution(
        [FindPackageShare("humimic_ros"), "config", "g1.yaml"]
    )
    node = launch_ros.actions.Node(
        package="humimic_ros",
        executable="deploy_node",
        name="humimic_deploy",
        output="screen",
        parameters=[config, {"policy": POLICY, "auto_start": False}],
    )
    return launch.LaunchDescription([node, launch_testing.actions.ReadyToTest()]), {"node": node}


class TestDeployNodeComesUp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()

    @classmethod
    def tearDownClass(cls):
        rclpy.shutdown()

    def setUp(self):
        self.probe = rclpy.create_node("humimic_launch_test_probe")

    def tearDown(self):
        self.probe.destroy_node()

    def _first(self, msg_type, topic, qos):
        received = []
        sub = self.probe.create_subscription(msg_type, topic, received.append, qos)
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while not received and time.monotonic() < deadline:
                rclpy.spin_once(self.probe, timeout_sec=0.1)
        finally:
            self.probe.destroy_subscription(sub)
        self.assertTrue(received, f"nothing on {topic} within {TIMEOUT_S} s")
        return received[0]

    def test_status_says_passive_or_damping(self):
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        status = self._first(RuntimeStatus, "/humimic/status", latched)
        self.assertIn(status.state, ("PASSIVE", "DAMPING"))
        self.assertEqual(status.policy_steps, 0)

    def test_commands_are_passive_for_every_policy_joint(self):
        best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        cmd = self._first(JointCommand, "/humimic/joint_command", best_effort)
        self.assertEqual(list(cmd.name), JOINT_NAMES)  # policy order
        n = len(JOINT_NAMES)
        self.assertEqual(list(cmd.kp), [0.0] * n)
        self.assertEqual(list(cmd.kd), [0.0] * n)  # PASSIVE: motors off in effect


@launch_testing.post_shutdown_test()
class TestDeployNodeShutdown(unittest.TestCase):
    def test_exit_code(self, proc_info):
        # SIGINT from launch: the node sends damping and exits 0
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0])
