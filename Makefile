# The README's two commands: `make demo` (set up + offline demo) and `make test` (set up + tests).
SHELL := /bin/bash
export PYTHONPATH := $(CURDIR)
PY := $(CURDIR)/.venv/bin/python

.PHONY: setup demo test test-slow docs
setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m synthgap demo $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)

test-slow: setup
	SYNTHGAP_SLOW=1 $(PY) -m pytest -m slow $(ARGS)

docs: setup
	$(PY) -m synthgap.registries_doc
