"""Record linkage: one person key for every record, deterministic on CPR, probabilistic without."""
