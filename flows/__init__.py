"""Prefect flows: one module per flow; wiring, parameters and artifacts only."""
