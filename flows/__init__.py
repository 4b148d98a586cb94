"""Prefect flows: one module per flow; wiring, parameters and artifacts only."""
from leadops.flows.heartbeats import install as _install_heartbeats

# A run's end no longer waits out Prefect's heartbeat thread's 1-second sleep (0.5 s a run on average).
_install_heartbeats()
