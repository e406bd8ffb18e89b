"""rclpy glue for the nodes, and nothing else: bootstrap (importing rclpy from a ROS install or
the PyPI wheels), QoS profiles, message conversions, declared parameters, the node process entry,
Fast DDS shared-memory settings and the ros2_control arm backend (it needs a node).

Everything a node decides lives in the ROS-free packages below (core, rl, sim, drivers); this
package imports nothing of the project above it.
"""
