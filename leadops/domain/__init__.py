"""Domain layer: pure functions over dataclasses (normalize, dedupe, score, route,
SLA business-time clock, metrics). No IO, no Prefect, no SQLAlchemy, no network."""
