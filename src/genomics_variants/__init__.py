"""National variant-frequency database: VCF → per-sample contributions → frequencies → API."""
