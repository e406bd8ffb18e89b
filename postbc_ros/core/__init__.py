"""ROS-free robot-side logic (no rclpy, no hardware SDKs): the safety filter, the command
watchdog, timestamped action-chunk scheduling, the crash-safe replay store and the episode
state machine. Nodes are thin shells around these modules."""
