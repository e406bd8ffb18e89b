"""The wire-level twin: simulated hardware that the real drivers talk to over their real protocols.

- `dynamixel_bus`: a Dynamixel Protocol 2.0 bus of X-series servos on a pty (dynamixel_sdk opens it);
- `widowx_chain`: the WidowX 250 6-DOF (wx250s) chain on that bus;
- `servo_bridge`: the servos ARE the MuJoCo twin's joints (goals -> actuator targets, physics -> present);
- `wire_twin_loop`: the twin scene behind the bus in real time (ROS-free; nodes/wire_twin_node.py).
Nothing here imports the drivers: the caller passes the driver's calibration (motors.yaml).
"""
