# make demo / make test / make bench: each creates .venv if missing, installs, runs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned to the CPU build that ships on this machine; any other specifier may pull a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: demo test bench asan mutate install clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

OUT ?= .

demo: install
	$(BIN)/python examples/seed_workflow.py --out $(OUT)

# Two pytest-xdist workers, each with its share of the cores (tests/conftest.py); OMP_WAIT_POLICY=PASSIVE: torch's
# OpenMP threads sleep instead of spinning between ops, so the suite does not stall when the machine is busy with
# other jobs (benchmarks/bench_contention.py measures the effect). 2 cores: about 6 min. -rs prints why a test was
# skipped (the browser tests say what is missing).
# PYTHONDONTWRITEBYTECODE and no cache provider: the tests write nothing into the working tree (no __pycache__,
# no .pytest_cache; hypothesis's caches go to the temp folder, see tests/conftest.py).
test: install
	OMP_WAIT_POLICY=PASSIVE PYTHONDONTWRITEBYTECODE=1 $(BIN)/python -m pytest -n 2 -rs -p no:cacheprovider

bench: install
	$(BIN)/pip install -q $(TORCH) pykan==0.2.8 pandas pyyaml
	$(BIN)/python benchmarks/bench_layer.py && $(BIN)/python benchmarks/bench_vs_pykan.py
	$(BIN)/python benchmarks/bench_startup.py && $(BIN)/python benchmarks/bench_contention.py

# Mutation testing of the workflow modules (issue 18; not part of CI): the minutes per module are in the report;
# a rerun re-tests changed functions and survivors only. Writes benchmarks/results/mutation.md. MODULES=io,prune.
mutate: install
	$(BIN)/pip install -q -e '.[mutate]'
	$(BIN)/python scripts/mutate.py $(if $(MODULES),--only $(MODULES))

asan: install
	ASAN_OPTIONS=detect_leaks=0,verify_asan_link_order=0 LD_PRELOAD=$$(gcc -print-file-name=libasan.so) \
		$(BIN)/python scripts/check_native_asan.py

clean:
	rm -rf $(VENV) build src/*.egg-info
