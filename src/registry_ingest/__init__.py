"""Landing → raw: contracts, readers, typing, Great Expectations validation, pseudonymisation,
atomic loads and the delivery audit. ``pipeline.ingest_delivery`` is the one entry point."""
