"""ROS 2 nodes (console scripts): thin shells converting messages and calling the ROS-free core."""
