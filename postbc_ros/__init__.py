"""postbc_ros: Posterior Behavioral Cloning + online RL finetuning for robot arms on ROS 2.

Layout (ROS-free core, thin nodes):
  robots/    kinematic specs of the supported arms (DH / link dimensions, limits)
  sim/       MuJoCo twins, gymnasium tasks, scripted (multimodal) demonstrators
  data/      LeRobotDataset v3 recorder/reader, chunk windows, collection loop
  learning/  PostBC: bootstrap ensemble, posterior covariance, diffusion policy, checkpoints
  rl/        DSRL, DSRL-NA, Best-of-N/IQL finetuners and the learning benchmark
  core/      safety filter, watchdog, chunk scheduling, persistent replay store, episode FSM
  drivers/   device interfaces (arm, camera, teleop) with real / sim / fake backends
  graph/     the one shared description of the ROS node graph and a process launcher
  nodes/     thin rclpy nodes (message conversion + calls into the core)
  cli/       the `postbc` command
"""
__version__ = "0.1.0"
