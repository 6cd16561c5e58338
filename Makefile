# bitbybit — the two commands a new user needs:
#   make demo   set up, run the pipeline on the bundled sample days, then `make ui` opens Dagster
#   make test   set up and run the checks CI runs (ruff + pytest)
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
SAMPLE_FIRST ?= 2026-08-03
SAMPLE_LAST ?= 2026-08-07
# Installs come from uv.lock only (README "Set-up, the lock and upgrades").
UV := $(BIN)/uv
export UV_PYTHON_DOWNLOADS := never
EXTRAS := --extra cpu --extra dev --extra fast --extra infra
# the PyTorch CPU wheel behind the lock's `torch-cpu` index, checked against its pinned sha256
TORCH_CPU_SHA256 := deploy/torch-cpu.sha256
TORCH_CPU_WHEEL := /opt/wheels/$(word 2,$(file < $(TORCH_CPU_SHA256)))

.PHONY: setup lock lock-upgrade lock-check demo run ui desk test lint infra-check evaluate train-ranker bench clean

# uv itself, at the version and hashes uv.lock records (the dev extra then keeps it in .venv)
$(UV):
	test -x $(BIN)/python || $(PY) -m venv --without-pip $(VENV)
	$(PY) scripts/locked_requirement.py uv > $(VENV)/uv-requirement.txt
	$(PY) -m pip --python $(BIN)/python install --quiet --require-hashes --no-deps -r $(VENV)/uv-requirement.txt

$(TORCH_CPU_WHEEL):
	mkdir -p $(@D)
	curl -fsSL --retry 3 -o $@.part "https://download.pytorch.org/whl/cpu/$$(basename '$@' | sed 's/+/%2B/')"
	mv $@.part $@

# --locked: exactly uv.lock, and a failure when pyproject.toml changed without `make lock`.
# --compile-bytecode: the .pyc files are written once here; a process that must compile its imports
# (no .pyc, or PYTHONDONTWRITEBYTECODE set as on CI machines) pays ~3 s CPU more per start.
$(BIN)/dagster: pyproject.toml uv.lock $(TORCH_CPU_SHA256) | $(UV) $(TORCH_CPU_WHEEL)
	cd $(dir $(TORCH_CPU_WHEEL)) && sha256sum --quiet --strict -c $(CURDIR)/$(TORCH_CPU_SHA256)
	$(UV) sync --locked --compile-bytecode $(EXTRAS)
	touch $(BIN)/dagster

# The embedding model converted once to OpenVINO IR in the model cache (data/model_cache; the
# BITBYBIT_MODEL_CACHE of resources/openvino_encoder.py): part of installing, like the virtualenv, so
# the first run does not pay it (~20 s CPU). A run with another cache folder converts there once.
ENCODER_STAMP := data/model_cache/.prepared
$(ENCODER_STAMP): $(BIN)/dagster
	$(BIN)/python -m resources.embeddings prepare
	mkdir -p $(@D) && touch $@

# the project's own modules compiled too (only what changed since; a stale .pyc is never used)
PROJECT_PACKAGES := bitbybit_assets bitbybit_base resources sensors desk bench evaluation
setup: $(BIN)/dagster $(DAGSTER_HOME)/dagster.yaml $(ENCODER_STAMP)
	$(BIN)/python -m compileall -q $(PROJECT_PACKAGES) > /dev/null

# The smoke test against a real local model: llama-cpp-python's OpenAI-compatible server serving
# SmolLM2-135M (the llm-smoke extra). llama.cpp compiles once per machine, only the shared library
# the server loads ([tool.uv] config-settings-package); uv caches the built wheel (~/.cache/uv), so
# a later clone installs it in seconds.
$(VENV)/.llm-smoke: $(BIN)/dagster
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(UV) sync --locked --compile-bytecode $(EXTRAS) --extra llm-smoke
	touch $@

# uv.lock: `make lock` after editing pyproject.toml (keeps every locked version that still fits),
# `make lock-upgrade` moves everything to the newest allowed, `make lock-upgrade PACKAGE=polars` one
# package; `make lock-check` fails when pyproject.toml and uv.lock disagree (CI runs it).
lock: | $(UV)
	$(UV) lock

lock-upgrade: | $(UV)
	$(UV) lock $(if $(PACKAGE),$(foreach p,$(PACKAGE),--upgrade-package $(p)),--upgrade)

lock-check: | $(UV)
	$(UV) lock --check

$(DAGSTER_HOME)/dagster.yaml: deploy/local/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp deploy/local/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: setup
	$(BIN)/python -m bitbybit_assets.cli run --start $(SAMPLE_FIRST) --end $(SAMPLE_LAST)
	@echo
	@echo "Done. Open the Dagster UI with:  make ui   (then http://127.0.0.1:3000)"

run: setup
	$(BIN)/python -m bitbybit_assets.cli run --start $(START) --end $(or $(END),$(START))

ui: setup
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The editorial desk (same DAGSTER_HOME as `make ui`). First user: $(BIN)/bitbybit users add NAME --role admin
desk: setup
	@echo "bitbybit desk: http://$${BITBYBIT_DESK_HOST:-127.0.0.1}:$${BITBYBIT_DESK_PORT:-8000}/"
	$(BIN)/python -m desk

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The AWS stacks (infra/): render every environment, fail on a stale committed template/document,
# a mismatch with config/production.yaml's deployment names, or any cfn-lint finding. Offline, seconds.
infra-check: setup
	$(BIN)/python -m infra check

test: setup $(VENV)/.llm-smoke
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q

# Curation against every labelled day (../shared/data/labels + evaluation/labels): in-sample and
# leave-days-out tables. train-ranker rewrites bitbybit_assets/curate/models/ranker.json.
evaluate: setup
	$(BIN)/python -m evaluation.evaluate

train-ranker: setup
	$(BIN)/python -m evaluation.train_ranker

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf data output .dagster_home
