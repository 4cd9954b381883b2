"""Stage 3: frequency releases by stratum, versioned, exported and looked up."""
