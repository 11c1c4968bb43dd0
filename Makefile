# The two commands: `make run` (set up and serve the demo) and `make test` (set up and run the suite).
# Both create .venv/ with the machine's Python 3.11 and install what they need into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
# The fake WeChat API that `make run` starts beside the server (see docs/sandbox.md).
SANDBOX_PORT ?= 8081
SANDBOX_URL := http://127.0.0.1:$(SANDBOX_PORT)
CALLBACK_HOST := $(if $(filter 0.0.0.0 ::,$(HOST)),127.0.0.1,$(HOST))
PYTEST_ARGS ?=

.PHONY: run test install install-dev migrate demo bench bench-compare clean

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
	$(MANAGE) wechat_demo --host $(HOST) --port $(PORT) --sandbox-url $(SANDBOX_URL)

# The WeChat API sandbox runs beside the server (the demo account's API base URL points at it, and
# it pushes events such as delivery reports to the callback). Both stop together: Ctrl-C, a
# SIGTERM to make, or the server exiting.
run: demo
	@$(MANAGE) wechat_sandbox --port $(SANDBOX_PORT) --callback-base http://$(CALLBACK_HOST):$(PORT) \
	    --push-job-finish & sandbox=$$!; \
	DEBUG=true $(MANAGE) runserver $(HOST):$(PORT) & server=$$!; \
	trap 'kill $$server $$sandbox 2>/dev/null; wait 2>/dev/null' EXIT INT TERM; \
	wait $$server

# The browser tests drive Debian's chromium: as root, scripts/ensure-browser.sh installs it and the
# CJK and emoji fonts of the screenshots (apt-get) when they are missing.
test: install-dev
	sh scripts/ensure-browser.sh
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install-dev
	$(PY) bench/callback_bench.py

# The callback (both log modes) beside the bare protocol view and WeRoBot, driven by wrk (Debian's
# wrk package); PostgreSQL and Redis from BENCH_DATABASE_URL / BENCH_REDIS_URL / BENCH_BROKER_URL.
bench-compare: install-dev
	$(PY) -m pip install --quiet -r requirements/bench.txt
	$(PY) bench/compare.py --rules 10,1000,100000

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache
