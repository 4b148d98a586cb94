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

.PHONY: install browser demo test test-unit lint lint-mypy docs docs-reference clean image deploy-pool screenshots bench bench-check bench-intake \
  bench-enrich bench-scoring bench-sla bench-report bench-pipeline bench-naive bench-overhead bench-speed-to-lead \
  bench-small-run

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,workers,docs,lint]'
	touch $(STAMP)

demo: install
	$(BIN)/leadops demo

# Lint (ruff and mypy must report nothing) and the strict docs build first; then two pytest processes side by
# side, one per core: the end-to-end and chaos tests (real Prefect servers, workers and killed subprocesses,
# mostly waiting on them) and everything else. Each has its own temporary
# folders, PostgreSQL schema and Prefect API. The first one's report is printed when both are done; each lists
# its slowest tests (the suite's budget is 20 minutes on 2 cores).
test: install browser
	$(MAKE) lint
	$(MAKE) docs
	@mkdir -p .pytest_cache; \
	$(BIN)/python -m pytest tests/e2e tests/chaos --durations=15 > .pytest_cache/e2e.log 2>&1 & e2e=$$!; \
	$(BIN)/python -m pytest --ignore=tests/e2e --ignore=tests/chaos --durations=25; rest=$$?; \
	wait $$e2e; first=$$?; cat .pytest_cache/e2e.log; \
	echo "e2e and chaos: exit $$first; the rest: exit $$rest"; \
	test $$first -eq 0 -a $$rest -eq 0

# ruff over the code, tests, benchmarks and scripts; mypy over the installed package (config in pyproject.toml:
# strict on leadops/domain/). flows/, tasks/ and deployments/ are linked under .mypy_cache/layout/leadops/ so
# mypy sees them as leadops.flows, leadops.tasks and leadops.deployments. .pre-commit-config.yaml runs the same.
LINT_PATHS := leadops flows tasks deployments tests bench scripts docs/gen
MYPY_LAYOUT := .mypy_cache/layout/leadops
lint: install
	@$(BIN)/ruff check $(LINT_PATHS); ruff=$$?; $(MAKE) --no-print-directory lint-mypy; mypy=$$?; \
	echo "ruff: exit $$ruff; mypy: exit $$mypy"; test $$ruff -eq 0 -a $$mypy -eq 0

lint-mypy:
	@mkdir -p $(MYPY_LAYOUT) && for p in flows tasks deployments; do ln -sfn ../../../$$p $(MYPY_LAYOUT)/$$p; done
	$(BIN)/mypy

# The documentation site from docs/ into site/ (git-ignored), strict: a broken link or anchor fails it.
# Offline: no plugin reaches the network; the theme loads no web font.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# Rewrite the reference pages generated from the code (commands, settings, rule files, data model);
# tests/unit/test_docs_reference.py fails when they are stale.
docs-reference: install
	$(BIN)/python docs/gen/gen_reference.py

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
	$(BIN)/python -m leadops.deployments.pool_deploy $(POOL)

# PNGs of the Prefect UI under docs/screenshots (a temporary server, the sample runs, headless Chromium).
screenshots: install browser
	$(BIN)/python -m scripts.screenshots

clean:
	rm -rf var leadops.db leadops.db-shm leadops.db-wal .prefect .pytest_cache site

# Benchmarks are not part of `make test`; they print ratios against a bare baseline measured in the
# same run. Each writes its figures as JSON under bench/out/ (human lines on the terminal), and
# `make bench` ends with the regression check against bench/baseline.json.
# BENCH_FLAGS=--record stores the run's figures as the new reference (see bench/README.md).
BENCH_OUT := bench/out
BENCH_FLAGS ?=
BENCH = mkdir -p $(BENCH_OUT) && $(BIN)/python

bench: install
	rm -rf $(BENCH_OUT)
	$(MAKE) bench-intake bench-enrich bench-scoring bench-sla bench-report bench-pipeline bench-naive \
	  bench-overhead bench-speed-to-lead bench-small-run
	$(MAKE) bench-check

bench-check: install
	$(BIN)/python bench/check.py $(BENCH_OUT)/*.json

bench-intake: install
	$(BENCH) bench/intake.py --rows 100000 1000000 --db sqlite --json $(BENCH_FLAGS) > $(BENCH_OUT)/intake-sqlite.json
	$(BENCH) bench/intake.py --rows 100000 1000000 --db postgresql --json $(BENCH_FLAGS) > $(BENCH_OUT)/intake-postgresql.json

bench-scoring: install
	$(BENCH) bench/scoring.py --leads 1000000 --repeat 3 --json $(BENCH_FLAGS) > $(BENCH_OUT)/scoring.json

bench-sla: install
	$(BENCH) bench/sla.py --clocks 1000000 --json $(BENCH_FLAGS) > $(BENCH_OUT)/sla.json

bench-report: install
	$(BENCH) bench/report.py --leads 200000 --activities 1000000 --json $(BENCH_FLAGS) > $(BENCH_OUT)/report.json

bench-enrich: install
	$(BENCH) bench/enrich.py --leads 100000 --domains 5000 --cached 1000 --latency 0.02 --limit 50 --json $(BENCH_FLAGS) \
	  > $(BENCH_OUT)/enrich.json

# The full pipeline through the lead-pipeline flow against the bare baseline: loopback HTTP
# enrichment and no network (the 5,000 leads/s target), 100k and 1M leads, both databases.
bench-pipeline: install
	for db in sqlite postgresql; do for enrich in loopback offline; do \
	  $(BENCH) bench/pipeline.py --leads 100000 1000000 --db $$db --enrich $$enrich --json $(BENCH_FLAGS) \
	    > $(BENCH_OUT)/pipeline-$$db-$$enrich.json || exit 1; done; done

bench-naive: install
	$(BENCH) bench/naive.py --leads 10000 --json $(BENCH_FLAGS) > $(BENCH_OUT)/naive.json

bench-overhead: install
	$(BENCH) bench/prefect_overhead.py --flows 30 --tasks 500 --json $(BENCH_FLAGS) > $(BENCH_OUT)/overhead.json

bench-speed-to-lead: install
	$(BENCH) bench/speed_to_lead.py --duration 360 --json $(BENCH_FLAGS) > $(BENCH_OUT)/speed-to-lead.json

# A lead-pipeline run over 10 leads once its process is warm: in one process, and served by `leadops serve`.
bench-small-run: install
	$(BENCH) bench/small_run.py --runs 6 --leads 10 --served --json $(BENCH_FLAGS) > $(BENCH_OUT)/small-run.json
