"""Shared rclpy helpers for the nodes: bootstrap, QoS profiles, message conversions, parameters.

Modules that import rclpy (`qos`, `conversions`, `params`, `node_main`) are imported only by
nodes; `bootstrap` and `wire` are ROS-free so the CLI and tests can use them without rclpy.
"""
