# The two newcomer commands are `make run` and `make test`; both bootstrap .venv from python3 + pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SAMPLE := data/sample/submissions
OUT := out

export GX_ANALYTICS_ENABLED := false
# The project's Dagster instance: `make run` records its runs there (kocartr run's default, beside the warehouse)
# and `make ui` reads them. Not exported: tests keep their runs in their own temporary folders.
DAGSTER_HOME := $(CURDIR)/$(OUT)/dagster_home

.PHONY: setup run test test-fast lint ui docs bench clean

# Re-install only when pyproject.toml changes: a second `make` call does not reinstall.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	@$(BIN)/kocartr run --submissions $(SAMPLE) --warehouse $(OUT)/warehouse.duckdb --release-dir $(OUT)/releases \
		--dagster-home $(DAGSTER_HOME) --demo

test: setup
	$(BIN)/python -m pytest

# Format, lint and type check (configuration in pyproject.toml); CI runs it before the tests.
lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# The unit tier for development (about a minute on 2 cores): no test that builds a warehouse (marker `slow`,
# tests/conftest.py). `make test` stays the whole suite, as CI runs it.
test-fast: setup
	$(BIN)/python -m pytest -m "not slow" -n 2

ui: setup
	@mkdir -p $(DAGSTER_HOME)
	DAGSTER_HOME=$(DAGSTER_HOME) KOCARTR_SUBMISSIONS=$(CURDIR)/$(SAMPLE) KOCARTR_WAREHOUSE=$(CURDIR)/$(OUT)/warehouse.duckdb KOCARTR_DEMO=1 \
		KOCARTR_RELEASES=$(CURDIR)/$(OUT)/releases KOCARTR_QUERIES=$(CURDIR)/$(OUT)/queries \
		$(BIN)/dagster dev -m orchestration.definitions

# The browsable data dictionary: dbt docs as one static page, from the warehouse `make run` built.
# The cut-off is required by every dbt build: the one the warehouse was last built with.
docs: setup
	KOCARTR_WAREHOUSE=$(CURDIR)/$(OUT)/warehouse.duckdb KOCARTR_DATA_CUTOFF=$$($(BIN)/python -c "import duckdb; \
		print(duckdb.connect('$(OUT)/warehouse.duckdb', read_only=True).sql('select data_cutoff from intermediate.int_data_cutoff').fetchall()[0][0])") \
		$(BIN)/dbt docs generate --static --quiet \
		--project-dir dbt_project --profiles-dir dbt_project --target-path $(CURDIR)/$(OUT)/dbt-docs
	@echo "open $(OUT)/dbt-docs/static_index.html"

bench: setup
	$(BIN)/python benchmarks/run_benchmark.py

clean:
	rm -rf $(OUT) dbt_project/target dbt_project/logs
