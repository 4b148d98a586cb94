"""CRM connectors: HubSpot and Salesforce, read incrementally (leads, activities) and written back through the outbox.

Layers: ``http`` (one request loop: rate limits, retries, token refresh, redaction), ``hubspot`` and ``salesforce``
(thin typed clients of the documented endpoints), ``credentials`` (Prefect blocks, environment fallback),
``mapping`` (CRM record -> lead fields and activities), ``read`` (incremental reads into intake) and ``writeback``
(plan changes into the outbox, deliver them in batches with a modification-stamp check).
"""
