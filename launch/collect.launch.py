"""Demonstration collection: robot(s), teleop recorder, episode manager with human resets.

    ros2 launch postbc_ros collect.launch.py robot:=widowx sim:=true ...
    postbc launch collect robot:=widowx sim:=true ...      (same graph without ROS 2's launch tools)

The node list, parameters and remappings come from postbc_ros.graph (the one shared description);
`ros2 launch postbc_ros collect.launch.py --show-args` lists the arguments.
"""
from postbc_ros.graph.ros2_launch import generate_launch_description_for

GRAPH = "collect"


def generate_launch_description():
    return generate_launch_description_for(GRAPH)
