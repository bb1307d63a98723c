# Two commands: `make run` serves the portal with demo data, `make test` runs the whole suite.
# Both create .venv and install the pinned requirements first, and are quick when nothing changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# A machine may ask Python not to cache bytecode (PYTHONDONTWRITEBYTECODE). The suite starts hundreds of
# Python processes (workers, runs, servers, the CLI), each of which would then compile our code afresh: with
# the cache `make test-fast` takes 25 s here instead of 33 s. __pycache__/ is ignored by git.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup run test test-fast coverage bench clean browser

setup: $(INSTALLED)

$(INSTALLED): requirements.txt
	@test -n "$(PYTHON)" || { echo "Flowsite needs Python 3.11: install it or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "Flowsite needs Python 3.11; $(PYTHON) is $$($(PYTHON) --version 2>&1). Run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(INSTALLED)

# Two test processes (pytest-xdist), one per core of the machines we test on, stealing work from each
# other so that one slow test at the end does not leave a core idle: each with its own
# database, task queue and artifact folder (flowsite/test_settings.py).
# The 15 slowest tests are listed at the end, so that what makes the suite slow is seen where it runs.
test: setup browser
	$(BIN)/python -m pytest -n 2 --dist worksteal --durations=15

# The quick loop while editing: everything but the tests marked e2e (real worker, server or CLI processes),
# browser and slow (set in each module, or by tests/conftest.py from the fixtures they use). About 25 s
# here; `make test` still runs the whole suite.
test-fast: setup
	$(BIN)/python -m pytest -n 2 --dist worksteal -m "not e2e and not browser and not slow"

# The whole suite as `make test` runs it, under coverage.py (CI's SQLite pass): prints the total over flowsite/,
# runs/, stacks/ and accounts/, the processes the tests start included, and fails under the floor in
# pyproject.toml. A process the fault tests kill leaves a data file it never finished: those are left out.
coverage: setup browser
	@rm -rf test-output/coverage && mkdir -p test-output/coverage
	$(BIN)/python -m coverage run -m pytest -n 2 --dist worksteal --durations=15
	@$(BIN)/python -m coverage combine -q 2>/dev/null; \
		unread=$$(find test-output/coverage -name '.coverage.*' | wc -l); rm -f test-output/coverage/.coverage.*; \
		echo "coverage: $$unread data files of processes killed while measured were left out"
	@$(BIN)/python -m coverage report > test-output/coverage/report.txt; status=$$?; \
		total=$$($(BIN)/python -m coverage report --format=total --fail-under=0); \
		floor=$$(sed -n 's/^fail_under = //p' pyproject.toml); \
		echo "Coverage of flowsite/, runs/, stacks/, accounts/: $$total% (floor $$floor% in pyproject.toml; per file: test-output/coverage/report.txt)"; \
		[ $$status = 0 ] || echo "Coverage is under the floor: test the lines that test-output/coverage/report.txt lists as missing (never lower the floor)"; \
		exit $$status

# The dashboard's tests drive Debian's Chromium; install it when this machine lets us.
browser:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing Chromium for the dashboard's browser tests"; \
			apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "The dashboard's browser tests need Chromium at /usr/bin/chromium: run 'sudo apt-get install chromium'"; exit 1; \
		fi; }

# The developer profile: DEBUG on, the development secret key, plain HTTP. Production is the default
# everywhere else (see the README's Deploying section).
run: export FLOWSITE_PROFILE = dev
run: setup
	@echo "Developer profile (FLOWSITE_PROFILE=dev): DEBUG on and a public development secret key; never expose this server."
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Serving Flowsite on http://$(HOST):$(PORT)/ with a worker and a scheduler (admin at http://$(HOST):$(PORT)/admin/); Ctrl-C stops them."
	$(BIN)/python manage.py serve $(HOST):$(PORT)

bench: setup
	$(BIN)/python -m bench.engine
	$(BIN)/python -m bench.control_plane
	$(BIN)/python -m bench.vertex
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.runs_list
	$(BIN)/python -m bench.logs
	$(BIN)/python -m bench.dashboard
	$(BIN)/python -m bench.schedules
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.metrics_pages

clean:
	rm -rf $(VENV) flowsite.sqlite3* artifacts staticfiles .pytest_cache .cache
