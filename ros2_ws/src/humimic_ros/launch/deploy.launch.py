"""Run a humimic policy through the deploy runtime as a ROS 2 node.

    ros2 launch humimic_ros deploy.launch.py policy:=/path/to/policy
    ros2 launch humimic_ros deploy.launch.py policy:=/path/to/policy use_sim_robot:=true
    ros2 launch humimic_ros deploy.launch.py --show-args

Arguments:
    policy: policy folder written by ``humimic export`` (required).
    config: parameter YAML (default: this package's ``config/g1.yaml``).
    namespace: ROS namespace of the node (default: none).
    use_sim_robot: also start ``humimic sim-robot --interface ros2`` (a MuJoCo G1 on a
        gantry) on ``ROS_DOMAIN_ID`` (default: false).
    sim_robot_network: the sim robot's ``--network`` (default ``auto``: Cyclone's choice or
        ``CYCLONEDDS_URI``, as ``rmw_cyclonedds_cpp`` does; ``lo`` pins loopback).
"""

import sys

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    policy = LaunchConfiguration("policy")
    config = LaunchConfiguration("config")
    namespace = LaunchConfiguration("namespace")
    use_sim_robot = LaunchConfiguration("use_sim_robot")
    sim_robot_network = LaunchConfiguration("sim_robot_network")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "policy",
                description="Policy folder written by `humimic export` (policy.onnx, "
                "policy.json, clips/), or its policy.onnx.",
            ),
            DeclareLaunchArgument(
                "config",
                default_value=PathJoinSubstitution(
                    [FindPackageShare("humimic_ros"), "config", "g1.yaml"]
                ),
                description="Parameter YAML of the deploy node (rates, timeouts, topics, "
                "auto_start).",
            ),
            DeclareLaunchArgument(
                "namespace",
                default_value="",
                description="ROS namespace of the node. The default topics are absolute and "
                "stay where they are; relative topic names in the YAML move under it.",
            ),
            DeclareLaunchArgument(
                "use_sim_robot",
                default_value="false",
                choices=["true", "false"],
                description="Also start `humimic sim-robot --interface ros2` (MuJoCo G1 on a "
                "gantry, raw DDS, no ROS needed) on ROS_DOMAIN_ID.",
            ),
            DeclareLaunchArgument(
                "sim_robot_network",
                default_value="auto",
                description="The sim robot's --network: 'auto' follows CYCLONEDDS_URI (set "
                "the same one for rmw_cyclonedds_cpp), 'lo' pins loopback.",
            ),
            ExecuteProcess(
                cmd=[
                    sys.executable,
                    "-m",
                    "humimic",
                    "sim-robot",
                    "--interface",
                    "ros2",
                    "--domain",
                    EnvironmentVariable("ROS_DOMAIN_ID", default_value="0"),
                    "--network",
                    sim_robot_network,
                ],
                name="humimic_sim_robot",
                output="screen",
                condition=IfCondition(use_sim_robot),
            ),
            Node(
                package="humimic_ros",
                executable="deploy_node",
                name="humimic_deploy",
                namespace=namespace,
                output="screen",
                emulate_tty=True,
                parameters=[config, {"policy": ParameterValue(policy, value_type=str)}],
            ),
        ]
    )
