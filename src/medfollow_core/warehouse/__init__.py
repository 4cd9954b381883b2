"""The warehouse: connection (embedded or configured), bootstrap from ``infra/warehouse``,
catalog look-ups and Arrow → PostgreSQL COPY."""
