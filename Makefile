# DealDesk: `make run` serves the app on SQLite; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export FLASK_APP := web

.PHONY: install run test lint format clean bench faults cluster-up cluster-down fuzz sentinel

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

install: $(BIN)/.installed

run: install
	mkdir -p instance
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	@# One worker (4 threads) unless WEB_CONCURRENCY says otherwise: without Redis the sign-in throttle
	@# counts in process memory, and one process keeps the documented limits (docs/SECURITY.md).
	GUNICORN_BIND=$(HOST):$(PORT) LOG_FORMAT=$${LOG_FORMAT:-text} WEB_CONCURRENCY=$${WEB_CONCURRENCY:-1} $(BIN)/gunicorn -c gunicorn.conf.py

test: install
	@# The browser tests drive Debian's Chromium: CI installs it, a run by hand without it skips them.
	if [ "$${CI:-}" = "true" ] && ! command -v chromium >/dev/null 2>&1; then bash scripts/install-chromium.sh; fi
	@# The cluster fault test (tests/platform/test_cluster_faults.py) needs Debian's nginx: CI installs it too.
	if [ "$${CI:-}" = "true" ] && ! PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null 2>&1; then bash bench/install-tools.sh; fi
	@# The Sentinel failover test (tests/platform/test_sentinel.py) prefers Debian's redis-sentinel (redis-server --sentinel otherwise).
	if [ "$${CI:-}" = "true" ] && ! command -v redis-sentinel >/dev/null 2>&1; then bash scripts/install-redis-sentinel.sh; fi
	@# The PgBouncer tests (tests/platform/test_pgbouncer.py) start Debian's pgbouncer: CI installs it too.
	if [ "$${CI:-}" = "true" ] && ! PATH="$$PATH:/usr/sbin" command -v pgbouncer >/dev/null 2>&1; then bash scripts/install-pgbouncer.sh; fi
	@# The accessibility tests (tests/browser/test_accessibility.py) run axe-core from node_modules/: CI installs it.
	if [ "$${CI:-}" = "true" ]; then bash scripts/install-axe.sh; fi
	$(BIN)/python -m pytest -n auto -q -m "not cluster"
	@# The fault run under load times its promises (a 503 within 2 s, health unhealthy within 2 s): it runs
	@# alone, after the rest, so the other tests do not take the two cores it measures on.
	$(BIN)/python -m pytest -q -m cluster tests/platform/test_cluster_faults.py tests/platform/test_bench_mix.py

lint: install
	$(BIN)/ruff check web tests bench migrations wsgi.py gunicorn.conf.py
	$(BIN)/ruff format --check web tests bench migrations/env.py wsgi.py gunicorn.conf.py

format: install
	$(BIN)/ruff check --fix web tests bench migrations wsgi.py gunicorn.conf.py
	$(BIN)/ruff format web tests bench migrations/env.py wsgi.py gunicorn.conf.py

# The schemathesis run alone (also part of `make test`): every /api operation against a live server.
# FUZZ_EXAMPLES=N changes the examples per operation (default 200 positive + 100 negative).
fuzz: install
	mkdir -p instance && rm -f instance/fuzz-report.txt
	FUZZ_REPORT=instance/fuzz-report.txt $(BIN)/python -m pytest -n 2 -q -m fuzz tests/platform/test_fuzz.py
	awk '{n += $$3; s += $$4} END {printf "fuzz: %d operations, %d requests, %.0f s fuzzing (both workers)\n", NR, n, s}' instance/fuzz-report.txt

# The Redis Sentinel failover test alone (also part of `make test`).
sentinel: install
	$(BIN)/python -m pytest -q -m sentinel -s tests/platform/test_sentinel.py

# Performance (docs/PERFORMANCE.md): the restore hook's micro-benchmark, the per-route micro-benchmark
# (in-process, ~1-2 min), then every wrk target in one run.
# BENCH_ARGS=--write-doc puts the wrk table into docs/PERFORMANCE.md; ROUTES_ARGS=--write-doc the per-route table.
bench: install
	bash bench/install-tools.sh
	$(BIN)/python -m pytest bench/test_restore_hook_bench.py --benchmark-only -q
	$(BIN)/python -m bench.routes $(ROUTES_ARGS)
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	@# The browsing mix (bench/mix.py) takes only --write-doc from BENCH_ARGS; the rest are bench.run's.
	$(BIN)/python -m bench.mix $(filter --write-doc,$(BENCH_ARGS))

# The fault run: 60 s of load through nginx while Redis, PostgreSQL and an instance fail.
faults: install
	bash bench/install-tools.sh
	$(BIN)/python -m bench.faults

# A production-shaped cluster on loopback (bench/cluster.py); `make cluster-down` stops it by pid.
cluster-up: install
	$(BIN)/python -m bench.cluster up

cluster-down:
	$(BIN)/python -m bench.cluster down

clean:
	rm -rf $(VENV) instance .pytest_cache
