# The two README commands live here:
#   make demo   set up everything, then open JupyterLab on notebooks/quickstart.ipynb
#   make test   set up everything (browser included), then run every check and test
# Both are idempotent: a second run only re-checks what is already installed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# jupyter refuses to run as root without this flag
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
SUDO      := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: demo demo-headless test setup system-deps js-test lint bench clean

demo: setup
	$(BIN)/jupyter lab notebooks/quickstart.ipynb $(ROOT_FLAG)

demo-headless: setup
	$(BIN)/python -m risk_widgets.demo.run_notebook notebooks/quickstart.ipynb artifacts/quickstart.ipynb

test: setup system-deps lint js-test
	$(BIN)/python -m pytest -n 2 --dist loadfile

setup: $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	# npm install, not npm ci: npm 11 here writes lock files without the optional per-platform
	# packages of rollup, which npm ci then refuses as out of sync
	cd js && npm install --no-audit --no-fund --loglevel=error && npm run build
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# keras-hub for tests/test_kerashub_sweep.py, without its dependencies (they pull in
	# tensorflow-text and with it a second TensorFlow next to tensorflow-cpu), plus the light
	# ones its backbones import; kagglehub's pin and keras-hub's differ on kagglesdk (unused)
	$(BIN)/python -m pip install --quiet regex rich kagglehub sentencepiece tokenizers
	$(BIN)/python -m pip install --quiet --no-deps "keras-hub>=0.32"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Debian packages: Chromium for the browser tests, graphviz's `dot` for to_svg()
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v dot >/dev/null; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium graphviz >/dev/null; \
	fi
	@chromium --version && dot -V

lint:
	$(BIN)/ruff check .

js-test:
	cd js && npm run typecheck && npm test

# Benchmarks (not part of `make test`): rewrites bench/RESULTS.md; `make bench BENCH_ARGS=--quick`
# skips the 10k-layer model and the risk-quality seeds
BENCH_ARGS ?=
bench: setup system-deps
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) js/node_modules risk_widgets/static artifacts
