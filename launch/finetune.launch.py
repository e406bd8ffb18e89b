"""Online finetuning on the twin or a real arm: robot(s), policy, replay buffer, learner, episode manager.

    ros2 launch postbc_ros finetune.launch.py robot:=widowx sim:=true ...
    postbc launch finetune robot:=widowx sim:=true ...      (same graph without ROS 2's launch tools)

The node list, parameters and remappings come from postbc_ros.graph (the one shared description);
`ros2 launch postbc_ros finetune.launch.py --show-args` lists the arguments.
"""
from postbc_ros.graph.ros2_launch import generate_launch_description_for

GRAPH = "finetune"


def generate_launch_description():
    return generate_launch_description_for(GRAPH)
