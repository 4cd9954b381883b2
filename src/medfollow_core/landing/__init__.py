"""The landing protocol: what a delivery is (a folder with a manifest), what a source may
deliver (its contract), where deliveries arrive, and the audit of every attempt."""
