"""Stage 2: per-sample contributions, stored and summed into an aggregate kept exact under
additions and removals."""
