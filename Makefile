# Quick start: `make train` and `make test`. Each creates or updates .venv first, so both work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install train test lint bench clean

# torch is installed first and pinned: on a CPU machine `pip install torch==2.13.0` takes the local CPU wheel, and
# nothing later can pull a CUDA build because the pinned version is already satisfied.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,sweep]'
	touch $(STAMP)

install: $(STAMP)

# The main job on its defaults: HIRO on the U-maze (PointMaze_UMaze-v3, HIRO's maze protocol, 30k env steps),
# leaving runs/PointMaze_UMaze-v3__hiro__0__<time>/ with logs, checkpoints and plots.
train: $(STAMP)
	$(BIN)/hrlkit train hiro --env PointMaze_UMaze-v3

# Two pytest workers (pytest-xdist), each test module on one of them (module-scoped fixtures such as the sweep tests'
# Ray cluster are made once): 862 tests in 303 s on an idle 2-core machine (ci-local, 2026-11-30; 363 s beside two
# benchmark runs; 423 s on the slower machine of earlier sessions), against about 850 s in one process there.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

lint: $(STAMP)
	$(BIN)/ruff check hrlkit tests benchmarks
	$(BIN)/ruff format --check hrlkit tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
