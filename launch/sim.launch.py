"""The MuJoCo twin behind a ros2_control-style interface plus the safety-filtered arm controller.

    ros2 launch postbc_ros sim.launch.py robot:=widowx sim:=true ...
    postbc launch sim robot:=widowx sim:=true ...      (same graph without ROS 2's launch tools)

The node list, parameters and remappings come from postbc_ros.graph (the one shared description);
`ros2 launch postbc_ros sim.launch.py --show-args` lists the arguments.
"""
from postbc_ros.graph.ros2_launch import generate_launch_description_for

GRAPH = "sim"


def generate_launch_description():
    return generate_launch_description_for(GRAPH)
