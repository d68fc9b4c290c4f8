# Everything a fresh machine needs: `make test` builds .venv and runs the suite,
# `make run` starts a node on its embedded defaults.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test run venv bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

run: $(STAMP)
	$(VENV)/bin/trustmesh node run

bench: $(STAMP)
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info
