"""Use cases the Prefect tasks and the CLI call: each receives a unit of work (leadops.db.unit_of_work),
loads through its repositories, calls the domain and persists; none commits or imports Prefect."""
