# The two commands a user needs: `make book` and `make test` (see README.md).
# Both create the environment in .venv when it is missing.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3
# Notebook parameters passed through papermill: empty means "auto" (CUDA if present, else CPU
# in quick mode). Examples: `make book QUICK=1`, `make book DEVICE=cpu`.
# RESULTS=results also saves each chapter's measurements there (with provenance).
QUICK   ?=
DEVICE  ?=
RESULTS ?=
NBARGS  := $(if $(QUICK),--quick $(QUICK),) $(if $(DEVICE),--device $(DEVICE),) $(if $(RESULTS),--results-dir $(RESULTS),)

.PHONY: env book notebooks html browser test test-fast results clean

env: $(STAMP)

# compileall: bytecode once, in parallel. With PYTHONDONTWRITEBYTECODE set (as on these machines) every
# process would otherwise recompile torch from source on import (measured: 2 min vs 13 s for
# torch+timm+pandas on a busy 2-core machine). Only an optimisation: a file that does not compile is skipped.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -c constraints.txt -e '.[book,onnx,dev,search]'
	$(PY) -m compileall -q -j0 $(VENV)/lib > /dev/null 2>&1 || true
	touch $@

## Execute every notebook through papermill, then render HTML to _build/html.
book: notebooks html

notebooks: env
	HF_HUB_OFFLINE=1 $(PY) -m gpuefficient.book.notebooks $(NBARGS)

# -W: warnings are errors; --keep-going: report all of them; -n: nitpicky references.
html: env
	$(PY) -m gpuefficient.book.notebooks --check
	$(PY) -m gpuefficient.book.notebooks --report
	$(VENV)/bin/jupyter-book build . --all -W -n --keep-going

## Headless Chromium for tests/test_browser.py (Debian's package, through apt; skipped when present).
browser:
	scripts/install_browser.sh

## Unit tests, then the slow ones (each notebook through papermill in quick mode, book build, the book
## opened in headless Chromium; a screenshot per chapter in _build/screenshots).
test: env browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m "not slow" -q
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m slow -q

test-fast: env
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m "not slow" -q

## On a GPU machine: every chapter in full mode, measurements written under results/.
results: env
	scripts/gpu_full_run.sh results

clean:
	rm -rf _build
