"""The decision core: plain values, the per-instance state machine, the
watched set and the fleet. Pure: no threads, no I/O, clocks passed in."""
