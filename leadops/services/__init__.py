"""Use cases the Prefect tasks call: each takes a Session (its unit of work) and returns counts."""
