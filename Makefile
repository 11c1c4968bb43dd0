# The two commands: `make run` (set up and serve the demo) and `make test` (set up and run the suite).
# Both create .venv/ with the machine's Python 3.11 and install what they need into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test install install-dev migrate demo bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.base-installed: requirements/base.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/dev.txt requirements/base.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@ $(VENV)/.base-installed

install: $(VENV)/.base-installed
install-dev: $(VENV)/.dev-installed

migrate: install
	$(MANAGE) migrate --noinput

demo: migrate
	$(MANAGE) wechat_demo --host $(HOST) --port $(PORT)

run: demo
	DEBUG=true $(MANAGE) runserver $(HOST):$(PORT)

test: install-dev
	sh scripts/ensure-browser.sh
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install-dev
	$(PY) bench/callback_bench.py

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache
