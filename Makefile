# orderwatch: `make run` (the main job) and `make test` on a fresh clone with only python3 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install run demo desk-demo screenshots test lint typecheck unit lock clean bench bench-sweep bench-transitions bench-floor bench-prefect bench-simulate bench-cli bench-desk

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

PORT ?= 4200
DESK_PORT ?= 4280

# make run [PORT=4311] [DEMO=1]: DEMO=1 also loads the demo caseload (into an empty database only)
run: $(STAMP)
	$(BIN)/orderwatch up --port $(PORT) --desk-port $(DESK_PORT) $(if $(DEMO),--demo)

# the demo caseload into orderwatch's own database (the one `make run` and its UI use); refused if it holds cases
demo: $(STAMP)
	$(BIN)/python -m cli.demo

# The desk alone over a demo caseload, with generated demo accounts (their password is printed): http://127.0.0.1:8000
desk-demo: $(STAMP)
	$(BIN)/python -m desk --demo

# PNGs of the desk's main pages in docs/screenshots/ (headless Debian chromium through Playwright)
screenshots: $(STAMP)
	$(BIN)/python -m desk.dev.screenshots

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# --dist loadfile: a test module runs in one worker, so an end-to-end module's tests share its one Prefect server
# (xdist 3.8's loadgroup does not group under pytest 9.2: it renames item._nodeid, which nodeid no longer reads)
test: lint typecheck
	$(BIN)/python -m pytest -n 2 --dist loadfile -p no:cacheprovider --durations=15

# Benchmarks (bench/): each prints one JSON document; figures in README.md. Not part of `make test`.
bench: bench-sweep bench-transitions bench-floor bench-prefect bench-simulate bench-cli bench-desk

bench-sweep: $(STAMP)
	$(BIN)/python -m bench.sweep_scale

bench-transitions: $(STAMP)
	$(BIN)/python -m bench.transitions

bench-floor: $(STAMP)
	$(BIN)/python -m bench.floor

bench-prefect: $(STAMP)
	$(BIN)/python -m bench.prefect_ratio

bench-cli: $(STAMP)
	$(BIN)/python -m bench.cli

bench-desk: $(STAMP)
	$(BIN)/python -m bench.desk

bench-simulate: $(STAMP)
	$(BIN)/orderwatch simulate --cases 10000 --years 3 --seed 1 --json

lock:
	rm -rf /tmp/orderwatch-lock && $(PYTHON) -m venv /tmp/orderwatch-lock
	/tmp/orderwatch-lock/bin/pip install --quiet -e ".[dev]"
	( echo '# Full pinned set for orderwatch and its dev tools (regenerate with `make lock`).'; \
	  /tmp/orderwatch-lock/bin/pip freeze --exclude-editable ) > requirements.lock

clean:
	rm -rf $(VENV) var
