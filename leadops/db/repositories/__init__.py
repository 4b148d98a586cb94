"""Repositories: the SQL of one area each (set-based), behind a Protocol a fake implements in tests.

A repository never commits; the unit of work that holds it does (leadops.db.unit_of_work).
"""
