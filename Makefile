# listkit: `make sample` runs the main job on the bundled sample data; `make test` runs the test suite.
# Both create .venv first (Python 3.11+ with venv; on Debian run as root and python3-venv is installed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out/sample

.PHONY: setup test-tools engines sample test lint lab bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    rm -rf $(VENV); apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
	    && $(PYTHON) -m venv $(VENV); \
	  else echo "make: python3 -m venv failed; install your distribution's python3-venv package" >&2; exit 1; fi; }

# The report's nbconvert template is installed into .venv/share/jupyter too: reinstall when it changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml $(wildcard listkit/templates/*/*)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The report runs in Jupyter kernel "python3": make it this environment's interpreter.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

setup: $(VENV)/.installed

sample: setup
	$(BIN)/listkit run --subscribers data/sample/subscribers.csv --events data/sample/events.csv --out $(OUT)

# The DNS tests run a real dnsmasq on loopback, the report's browser test Debian's chromium (headless,
# driven by playwright; never a browser playwright downloads): installed from Debian's packages when
# missing (as root). Without chromium the browser test is skipped, saying why; without dnsmasq make stops.
test-tools:
	@command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base >/dev/null; \
	  else echo "make: the DNS tests need dnsmasq; install your distribution's dnsmasq-base package" >&2; exit 1; fi; }
	@[ -x /usr/bin/chromium ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      chromium fonts-liberation >/dev/null; \
	  else echo "make: the report's browser test needs /usr/bin/chromium (Debian's chromium package); skipping it" >&2; fi; }

# The engines' tests run DuckDB and Spark (local mode) for real: their extras, and for Spark a Java
# runtime from Debian's packages (as root) when there is none.
$(VENV)/.engines-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,duckdb,spark]'
	touch $@

engines: $(VENV)/.engines-installed
	@command -v java >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      openjdk-17-jre-headless >/dev/null; \
	  else echo "make: the Spark tests need a Java runtime (Debian's openjdk-17-jre-headless); skipping them" >&2; fi; }

test: setup test-tools engines
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Jupyter refuses to run as root unless told; containers often run as root, so tell it there.
lab: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,lab]'
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# The benchmark of docs/benchmarks.md (benchmarks/run.py: data generated once into benchmarks/data/, then
# measured side by side). `make bench BENCH_ARGS="--scaling --huge"` adds the scaling curve and the 150 M
# log; `BENCH_ARGS=--quick` checks the harness on tiny sizes. Run it on an otherwise idle machine.
BENCH_ARGS ?=
$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench: setup $(VENV)/.bench-installed
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
