"""Stage 4: the HTTP API (Beacon v2 and frequency look-ups) with privacy tiers."""
