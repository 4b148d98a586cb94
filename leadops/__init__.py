"""leadops: lead operations on Prefect (ingest, validate, enrich, score, route, SLA, reports)."""

__version__ = "0.1.0"
