# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# Offline by design: no telemetry, no analytics, no progress bars.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY := false
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
# Keep the local ephemeral Prefect database inside the checkout unless told otherwise.
export PREFECT_HOME ?= $(CURDIR)/.prefect

.PHONY: install browser demo test test-unit clean image deploy-pool screenshots bench-intake bench-enrich bench-scoring bench-sla bench-report

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,workers]'
	touch $(STAMP)

demo: install
	$(BIN)/leadops demo

test: install browser
	$(BIN)/python -m pytest

# The report render test opens the HTML report in Debian's headless Chromium.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium (report render test)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

test-unit: install
	$(BIN)/python -m pytest tests/unit

# The flow-run image of the docker and kubernetes work pools (needs a Docker daemon).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image:
	docker build -f deployments/docker/Dockerfile -t leadops:$(VERSION) .

# Every deployment of prefect.yaml onto another work pool: make deploy-pool POOL=leadops-kubernetes
POOL ?= leadops-docker
deploy-pool: install
	$(BIN)/python -m deployments.pool_deploy $(POOL)

# PNGs of the Prefect UI under docs/screenshots (a temporary server, the sample runs, headless Chromium).
screenshots: install browser
	$(BIN)/python -m scripts.screenshots

clean:
	rm -rf var leadops.db leadops.db-shm leadops.db-wal .prefect .pytest_cache

# Benchmarks are not part of `make test`; they print ratios against a bare baseline.
bench-intake: install
	$(BIN)/python bench/intake.py --rows 100000 1000000 --db sqlite
	$(BIN)/python bench/intake.py --rows 100000 1000000 --db postgresql

bench-scoring: install
	$(BIN)/python bench/scoring.py --leads 1000000 --repeat 3

bench-sla: install
	$(BIN)/python bench/sla.py --clocks 1000000

bench-report: install
	$(BIN)/python bench/report.py --leads 200000 --activities 1000000

bench-enrich: install
	$(BIN)/python bench/enrich.py --leads 100000 --domains 5000 --cached 1000 --latency 0.02 --limit 50
