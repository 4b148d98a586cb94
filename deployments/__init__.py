"""Ways to run leadops' deployments: `leadops serve` (one process, every schedule) or a work pool."""
