# Everything a fresh machine needs: `make test` builds .venv and runs the suite,
# `make run` starts a node on its embedded defaults.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test run demo venv bench clean install

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

# Four worker processes (pytest-xdist) on any machine: most of the slow tests wait on real
# nodes and timers rather than compute, so they overlap even on 2 cores; an idle worker takes
# tests queued for a busy one (worksteal), so one slow test does not hold a queue. TEST_JOBS=0: one process.
TEST_JOBS ?= 4
test: $(STAMP) $(BROWSER) $(NFT)
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist worksteal

# Listens on /ip4/0.0.0.0/tcp/4001 (see docs/operating.md) and serves the web view on
# $(API_TCP) (it prints a one-time login link, docs/web.md); pass flags with `make run ARGS="--bootstrap /ip4/…/tcp/4001/p2p/12D3KooW…"`.
API_TCP ?= 127.0.0.1:5001
run: $(STAMP)
	$(VENV)/bin/trustmesh node run --api-tcp $(API_TCP) $(ARGS)

# The `trustmesh` command for this user: pipx when there is one, else a venv of its own
# in ~/.local/share/trustmesh/venv with the script linked into ~/.local/bin.
USER_VENV ?= $(HOME)/.local/share/trustmesh/venv
USER_BIN ?= $(HOME)/.local/bin
install:
	@if command -v pipx >/dev/null 2>&1; then \
		pipx install --force . && echo "installed with pipx: run 'trustmesh --help'"; \
	else \
		test -x $(USER_VENV)/bin/python || $(PYTHON) -m venv $(USER_VENV); \
		$(USER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check . && \
		mkdir -p $(USER_BIN) && ln -sf $(USER_VENV)/bin/trustmesh $(USER_BIN)/trustmesh && \
		echo "installed $(USER_BIN)/trustmesh" && \
		case ":$$PATH:" in *":$(USER_BIN):"*) ;; *) echo "add it to your PATH: export PATH=\"$(USER_BIN):\$$PATH\"";; esac; \
	fi

# Four node processes on 127.0.0.1 make deals and attestations, converge, report, stop.
demo: $(STAMP)
	$(VENV)/bin/trustmesh demo --nodes 4

bench: $(STAMP)
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info
