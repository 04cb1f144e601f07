"""The protocol's rules as pure, deterministic code (DESIGN.md §2).

No sockets, no clocks (time is passed in), no torch: numpy and the standard
library only, so every device, and the simulator, runs the same rules.
"""
