# DealDesk: `make run` serves the app on SQLite; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export FLASK_APP := web

.PHONY: install run test lint format clean

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
	GUNICORN_BIND=$(HOST):$(PORT) LOG_FORMAT=$${LOG_FORMAT:-text} $(BIN)/gunicorn -c gunicorn.conf.py

test: install
	@# The browser tests drive Debian's Chromium: CI installs it, a run by hand without it skips them.
	if [ "$${CI:-}" = "true" ] && ! command -v chromium >/dev/null 2>&1; then bash scripts/install-chromium.sh; fi
	$(BIN)/python -m pytest -n auto -q

lint: install
	$(BIN)/ruff check web tests migrations wsgi.py gunicorn.conf.py
	$(BIN)/ruff format --check web tests migrations/env.py wsgi.py gunicorn.conf.py

format: install
	$(BIN)/ruff check --fix web tests migrations wsgi.py gunicorn.conf.py
	$(BIN)/ruff format web tests migrations/env.py wsgi.py gunicorn.conf.py

clean:
	rm -rf $(VENV) instance .pytest_cache
