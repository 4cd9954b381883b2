"""Record linkage: one stable person_key for every record, with or without CPR.

Sources that carry a CPR number are linked deterministically on its pseudonym, with the
CPR register as the spine and its number changes followed to today's number
(``deterministic``). Sources without CPR — cross-border outcome extracts, legacy biobank
extracts — are linked to the spine by a Fellegi–Sunter model that Splink trains on the data
itself (``persons``, ``model``, ``probabilistic``); clear links are made, uncertain ones wait
for a reviewer (``decide``, ``review``), and keys never move silently (``keys``). Every run
is measured (``quality``) and reported (``report``).

Entry points:

* ``rwd_linkage.run.run_linkage(url, key, ...)`` — link the warehouse (``medfollow linkage run``);
* ``rwd_linkage.general.link_files(left, right, spec, out)`` with
  ``rwd_linkage.spec.load_spec(path)`` — link any two files of people (``medfollow link``).

The package itself imports nothing heavy; Splink and DuckDB load with the modules that use them.
"""
