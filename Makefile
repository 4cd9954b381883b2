# Two commands: `make demo` and `make test`. Both install what they need into .venv from
# the committed uv.lock (uv itself is pinned and installed into .tools/).

PYTHON      ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION  := 0.13.9
TOOLS       := .tools
UV          := $(TOOLS)/bin/uv
VENV        := .venv
SYNCED      := $(VENV)/.synced
export UV_PYTHON := $(PYTHON)
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Precompile bytecode at install: imports of airflow, dbt and GX are several times faster
# (and PYTHONDONTWRITEBYTECODE environments never cache it otherwise).
export UV_COMPILE_BYTECODE := 1

.PHONY: demo test bench lint reference-tools clean distclean help

help:
	@echo "make demo   - run the whole platform end-to-end on an embedded PostgreSQL"
	@echo "make test   - run the test suite (unit, integration, Airflow end-to-end)"
	@echo "make bench  - benchmarks against reference tools (slow; figures go in the README)"
	@echo "make lint   - ruff (lint and format), mypy, import layers, sqlfluff"
	@echo "make clean  - stop the embedded warehouse and remove all local state"
	@echo "make distclean - clean, and remove the installed .venv too"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Re-sync when the lock or the project metadata changes (a stale .venv is rebuilt).
$(SYNCED): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --extra synthetic --extra spark --quiet
	@touch $@

# bcftools/tabix/samtools/bedtools are the reference tools the genomics tests compare against
# (bedtools unionbedg: the coverage table); wrk is
# the load generator of the API benchmark; Java runs Spark (the aggregation test). Installed
# when we can (root with apt-get);
# otherwise those comparisons skip with a reason.
reference-tools:
	@if ! command -v bcftools >/dev/null 2>&1 || ! command -v tabix >/dev/null 2>&1 \
	    || ! command -v bedtools >/dev/null 2>&1 \
	    || ! command -v wrk >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1 \
	    || ! [ -x /usr/bin/time ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bcftools, tabix, samtools, bedtools, wrk, GNU time, Java 17 for Spark (apt-get)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bcftools tabix samtools bedtools wrk time openjdk-17-jre-headless >/dev/null) \
	      || echo "could not install reference tools; their comparisons will be skipped"; \
	  else echo "reference tools missing and not root: their comparisons will be skipped"; fi; \
	fi

demo: $(SYNCED)
	$(VENV)/bin/medfollow demo

# The real-scheduler test spends most of its time waiting for Airflow's services, so it runs
# beside the rest of the suite (its report is printed at the end); both must pass. Without
# MEDFOLLOW_TEST_DATABASE_URL both use the embedded test server, started once here for both.
TEST_DB := MEDFOLLOW_STATE_DIR=$(CURDIR)/.state/test MEDFOLLOW_DATABASE_URL= $(VENV)/bin/medfollow db
test: $(SYNCED) reference-tools lint
	@mkdir -p .state
	@if [ -z "$$MEDFOLLOW_TEST_DATABASE_URL" ]; then $(TEST_DB) start >/dev/null; fi; \
	  $(VENV)/bin/pytest -m real_scheduler -s -p no:cacheprovider > .state/real-scheduler.log 2>&1 & \
	  scheduler=$$!; \
	  $(VENV)/bin/pytest -m "not real_scheduler" --durations=15; suite=$$?; \
	  wait $$scheduler; real=$$?; \
	  echo "--- real-scheduler test ---"; tail -n 40 .state/real-scheduler.log; \
	  if [ -z "$$MEDFOLLOW_TEST_DATABASE_URL" ]; then $(TEST_DB) stop >/dev/null; fi; \
	  exit $$(( suite || real ))

bench: $(SYNCED) reference-tools
	$(VENV)/bin/python -m bench

# Style, types and the direction of imports (pyproject.toml [tool.importlinter]) are checked
# the same way everywhere: here, in make test, in CI.
lint: $(SYNCED)
	$(VENV)/bin/ruff check src plugins dags tests bench
	$(VENV)/bin/ruff format --check src plugins dags tests bench
	$(VENV)/bin/mypy src plugins
	$(VENV)/bin/lint-imports
	cd dbt && ../$(VENV)/bin/sqlfluff lint models snapshots

clean:
	-@[ -x $(VENV)/bin/medfollow ] && MEDFOLLOW_DATABASE_URL= $(VENV)/bin/medfollow db stop >/dev/null 2>&1 || true
	-@[ -x $(VENV)/bin/python ] && MEDFOLLOW_STATE_DIR=$(CURDIR)/.state/test MEDFOLLOW_DATABASE_URL= $(VENV)/bin/medfollow db stop >/dev/null 2>&1 || true
	rm -rf .state dbt/target dbt/logs .pytest_cache .ruff_cache

distclean: clean
	rm -rf $(VENV) $(TOOLS)
