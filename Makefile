# Everything a fresh machine needs: `make test` builds .venv and runs the suite,
# `make run` starts a node on its embedded defaults.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test run demo venv bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The web view's test drives Debian's chromium (installed here when missing; needs root).
BROWSER := /usr/bin/chromium /usr/bin/chromedriver

$(BROWSER):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver

# The NAT tests build network namespaces with nftables NAT (root; skipped without it).
NFT := /usr/sbin/nft

$(NFT):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nftables iproute2

test: $(STAMP) $(BROWSER) $(NFT)
	$(PY) -m pytest -q

# Listens on /ip4/0.0.0.0/tcp/4001 (see docs/operating.md), web view on API_TCP (it prints a
# one-time login link, docs/web.md); pass flags with
# `make run ARGS="--bootstrap /ip4/…/tcp/4001/p2p/12D3KooW…"`.
API_TCP ?= 127.0.0.1:5001
run: $(STAMP)
	$(VENV)/bin/trustmesh node run --api-tcp $(API_TCP) $(ARGS)

# Four node processes on 127.0.0.1 make deals and attestations, converge, report, stop.
demo: $(STAMP)
	$(VENV)/bin/trustmesh demo --nodes 4

bench: $(STAMP)
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info
