"""Heartbeat timing shared by both ends of the agents socket (PROTOCOL.md section 9)."""

INTERVAL = 1.0  # seconds between heartbeats when nothing else was sent
LIVENESS = 3  # intervals of silence before a peer counts as missing
REMOVE_AFTER = 30  # intervals of silence before the canvas ends an agent's session

RECONNECT_MIN = 0.1  # first reconnect delay, seconds; doubles on each failure
RECONNECT_MAX = 5.0  # ceiling of the reconnect delay
