"""Prefect tasks: one IO or domain call each, retries and caching declared on the decorator."""
