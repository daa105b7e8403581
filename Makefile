# Two commands on a fresh machine (README "Quick start"): `make samples` and `make test`.
# Each creates the virtual environment it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: samples test lint rule-tests bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# The samples include deliberate violations: exit 1 is the expected answer, 2 is a real error.
samples: $(STAMP)
	@$(BIN)/compliance audit cases_samples/; status=$$?; [ $$status -le 1 ] || exit $$status

rule-tests: $(STAMP)
	$(BIN)/compliance test rules/

lint: $(STAMP)
	$(BIN)/ruff check compliance tests benchmarks

test: $(STAMP) lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
