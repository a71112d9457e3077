# The two commands of the README quickstart: `make demo` and `make test`.
# Each creates .venv with Python 3.11 and installs what it needs (once; re-run when
# pyproject.toml changes). torch is pinned to the CPU build on local disk (see pyproject).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck install clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "attnsim needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,cluster]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/attnsim demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy cannot follow the editable install's import hook, so it checks a tree of links laid
# out as the installed namespace (attnsim/, attnsim/sim -> sim/, ...), rebuilt each time.
PACKAGES := sim hwconfigs workloads kernels rtl_models reports
typecheck: $(STAMP)
	rm -rf build/typecheck && mkdir -p build/typecheck/attnsim
	for e in attnsim/* $(PACKAGES); do ln -s "$(CURDIR)/$$e" build/typecheck/attnsim/; done
	MYPYPATH=build/typecheck $(BIN)/mypy -p attnsim

test: lint typecheck
	$(BIN)/python -m pytest -n 2 -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
