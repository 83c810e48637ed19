# deepnotes: `make demo` (set up, run every experiment's quick preset, write the report)
# and `make test` (set up, run the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-installed
TORCH_VERSION := 2.13.0
TORCHATTACKS_VERSION := 3.5.1

.PHONY: setup demo test test-all test-cuda bench lint clean

setup: $(STAMP)

# torch is installed first and pinned, so that pip takes the tested CPU build instead of
# resolving `torch>=2.4` to a multi-GB CUDA wheel. torchattacks declares torchvision, which
# must not be installed next to this torch build; it imports neither, so --no-deps.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps "torchattacks==$(TORCHATTACKS_VERSION)"
	touch $(STAMP)

# The report is written even when an experiment fails; make still exits non-zero then.
demo: setup
	status=0; $(BIN)/deepnotes run all --quick --out runs || status=$$?; \
	$(BIN)/deepnotes report --out runs && exit $$status

# Two workers, one torch thread each: the suite's models are tiny and this machine has 2 cores.
test: setup
	$(BIN)/python -m pytest -q -n 2

test-all: setup
	$(BIN)/python -m pytest -q -n 2 -m ""

# The GPU checks (tests marked `cuda`: every quick preset with --device cuda, each optimizer
# form, attacks, fit, the GAN trainer); they skip with the reason when no GPU is visible.
test-cuda: setup
	$(BIN)/python -m pytest -q -m cuda tests/test_cuda.py

bench: setup
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
