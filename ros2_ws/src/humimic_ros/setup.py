"""ament_python build of humimic_ros (``colcon build --symlink-install``)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "humimic_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    # humimic itself (numpy, onnxruntime, cyclonedds, ...) is pip-installed into the same
    # Python; it is not a ROS package, so it is not listed here or in package.xml.
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="humimic",
    maintainer_email="humimic@example.com",
    description="The humimic deploy runtime as a thin rclpy node.",
    license="BSD-3-Clause",
    tests_require=["pytest"],
    entry_points={"console_scripts": [f"deploy_node = {PACKAGE}.node:main"]},
)
