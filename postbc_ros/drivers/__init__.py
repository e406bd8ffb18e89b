"""Device drivers behind one interface per kind: arm (drivers.arm), camera (drivers.camera),
teleoperation (drivers.teleop). Each kind has real, sim and fake backends chosen by name; the
hardware SDKs are imported inside the backend that needs them, never at package import."""
