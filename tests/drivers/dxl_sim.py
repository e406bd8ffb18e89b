"""Re-export of the simulated Dynamixel Protocol 2.0 bus, which now lives in the package
(postbc_ros/sim/wire/dynamixel_bus.py: protocol, servos, bus; widowx_chain.py: the wx250s chain)
so the wire-level twin can host it. Tests keep importing `from dxl_sim import ...` unchanged;
every name of both modules, private ones included, is available here."""
from __future__ import annotations

from postbc_ros.sim.wire import dynamixel_bus as _bus
from postbc_ros.sim.wire import widowx_chain as _chain

for _mod in (_bus, _chain):
    globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("__")})
del _mod
