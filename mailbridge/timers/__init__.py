"""Timers: the pure plan of escalations and interview clocks, and the runner of due actions."""
