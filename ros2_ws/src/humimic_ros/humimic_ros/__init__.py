"""humimic_ros: the humimic deploy runtime as a ROS 2 node (see :mod:`humimic_ros.node`)."""
