"""ROS-free robot-side logic (no rclpy, no hardware SDKs); every node is a thin shell around these.

arm side      safety (the filter before any hardware command), watchdog, arm_controller + arm_loop
              (what arm_node decides each period), trajectory_follower, joint_mapping, joint_tracker,
              joint_trajectory_controller + twin_loop (the twin behind sim_node), rate_pacer
policy side   policy_loop (chunk execution, takeover, weight swaps), chunk_scheduler, frame_buffer,
              takeover_actions, chunk_transitions -> transition (THE typed Transition and its codec)
episodes      episode_fsm, episode_protocol (episode_manager_node), teleop_session (teleop_node),
              operator_prompt (reset_operator_node)
storage       replay_store (crash-safe segments), episode_stream (a robot's stream -> its store),
              wire (the versioned byte format of transitions and weights)
configuration params (typed node configs: one dataclass per node is its parameters)
"""
