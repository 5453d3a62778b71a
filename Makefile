# congvu: `make run` loads the try-out province and runs the filter and the console on
# it, `make test` runs the whole suite (installing what it needs, Debian packages
# included when root).
PYTHON ?= python3
# Every command run from here reads the file it names or the embedded defaults, never a
# server's /etc/congvu/congvu.toml (the rule is in congvu/configsource.py).
export CONGVU_CONFIG := none
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)

# Every Debian package congvu and its tests need, each with the reason, is in
# deploy/debian-packages.txt (the one list, which doctor checks on servers): the
# libraries the code loads, what a mail server runs beside congvu, and the tests' real,
# independent peers (Postfix, Dovecot, OpenDKIM, gpgsm, Mail::SPF, OpenDMARC, Chromium...).
DEBIAN_PACKAGES := $(shell sed -e 's/\#.*//' deploy/debian-packages.txt | awk 'NF { print $$1 }')

.PHONY: run test check docs bench bench-postfix lint typecheck system-deps lock dist clean

# .venv holds what requirements.lock says: first every locked package at its pin, each
# file checked against the lock's hashes (pip included), then congvu itself, editable,
# with its test tools, every locked package held at its pin (the lock's names and
# versions as constraints: pip refuses hashes in constraints beside an editable install).
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	sed -n '/^[A-Za-z0-9]/s/ .*//p' requirements.lock > $(VENV)/lock-pins.txt
	$(PY) -m pip install -q -e '.[test]' -c $(VENV)/lock-pins.txt
	rm -f $(VENV)/.installed-*
	touch $@

# The try-out province (congvu example load: written once into $CONGVU_VAR, else ./var),
# then the filter and the console on its configuration until Ctrl-C; when either stops,
# the other is stopped too. Nothing else ever reads example.toml.
EXAMPLE := $(or $(CONGVU_VAR),var)/example.toml

run: SHELL := /bin/bash
run: $(STAMP)
	$(VENV)/bin/congvu example load
	@echo "starting: filter on 127.0.0.1:10025 (outbound: the trusted path) and 127.0.0.1:10027" \
	      "(inbound), console on http://127.0.0.1:8080; Ctrl-C stops both"
	@trap 'kill $$pids 2>/dev/null; wait' EXIT; trap 'exit 130' INT TERM; \
	$(VENV)/bin/congvu serve --config $(EXAMPLE) & pids=$$!; \
	$(VENV)/bin/congvu web --config $(EXAMPLE) & pids="$$pids $$!"; \
	wait -n

system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null \
	      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; }; \
	  else \
	    echo "NOTE: missing Debian packages:$$missing (not root: tests needing them are skipped with a reason)"; \
	  fi; \
	fi

# Bytecode caches go under .venv, and are written even where the environment sets
# PYTHONDONTWRITEBYTECODE: pytest rewrites and compiles every test module in each of its
# workers, about 6 s of CPU per worker when nothing is cached, and every congvu process
# a test starts compiles what changed again.
check test bench bench-postfix bench-scale: export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache
check test bench bench-postfix bench-scale: export PYTHONDONTWRITEBYTECODE :=

# The JavaScript MIME parsers the ambiguous-MIME corpus is also read with (postal-mime,
# mailparser), at the versions tests/js/package-lock.json pins; without npm their test
# says it is skipped.
JS_STAMP := tests/js/node_modules/.package-lock.json
$(JS_STAMP): tests/js/package-lock.json
	if command -v npm >/dev/null; then npm ci --prefix tests/js --no-audit --no-fund --loglevel=error; \
	else echo "NOTE: npm is missing: the JavaScript readings of the MIME corpus are skipped"; fi

test: system-deps $(STAMP) $(JS_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests --ignore=tests/benchmarks

# The quick loop: lint, types, and the tests that need no real mail system, no
# independent implementation to cross-check against, no PostgreSQL server, no fresh
# interpreter (congvu serve, a command in a subprocess) and no long run (pytest markers
# e2e, interop and slow in pyproject.toml; tests/conftest.py marks every test asking
# for the PostgreSQL cluster slow); `make test` runs them all.
# Two workers a core: the quick loop's tests spend about half their time waiting (DNS and
# next-hop timeouts they provoke, fsync, child processes), which the other workers fill
# (2 cores: 2 workers 2 min 49 s, 4 workers 1 min 40 s, the same tests).
CHECK_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -p no:cacheprovider -n $(CHECK_WORKERS) \
	    -m "not e2e and not interop and not slow" tests --ignore=tests/benchmarks

# docs/configuration.md, generated from the configuration models (a test keeps it current).
docs: $(STAMP)
	$(VENV)/bin/congvu config reference --out docs/configuration.md

bench: system-deps $(STAMP)
	$(PY) -m pytest -q -s tests/benchmarks

# The audit store's reads on both backends (tests/benchmarks/test_audit_store_backends.py:
# the unit+month query, `audit verify`, `audit verify --since-verified`) at 10,000,000
# records each: long the first time (10,000,000 records: 26.5 min of writing, 7 of the
# pg_dump and pg_restore measured beside it, 54 min in all with both verifies, 33 GB; 2
# cores at load 1-3), so not part of `make bench` (which runs it at 1,000,000 and 3,000,000).
# The stores are written once and kept in $CONGVU_BENCH_SCALE_DIR (default
# build/bench-scale); the disk they use and the time their writing took are printed.
# SCALE_RECORDS sets the size (several: comma-separated).
SCALE_RECORDS ?= 10000000
CONGVU_BENCH_SCALE_DIR ?= $(abspath build/bench-scale)
.PHONY: bench-scale
bench-scale: system-deps $(STAMP)
	CONGVU_BENCH_DATA=$(CONGVU_BENCH_SCALE_DIR) CONGVU_BENCH_STORE_RECORDS=$(SCALE_RECORDS) \
	    $(PY) -m pytest -q -s -p no:cacheprovider tests/benchmarks/test_audit_store_backends.py

# The race against OpenDKIM: Postfix alone, + OpenDKIM, + congvu (needs root for Postfix).
bench-postfix: system-deps $(STAMP)
	$(PY) -m pytest -q -s -p no:cacheprovider tests/benchmarks/test_postfix_race.py

# Mutation testing (cosmic-ray, in a virtual environment of its own under .venv) of the
# modules that matter, each against its package's tests, in a copy of the committed
# tree: one line per module, `MODULE: killed/total (score)`, then the survivors;
# tools/mutation-equivalents.txt lists those judged equivalent. CPU-heavy and not part
# of `make test`: one module at a time, at the lowest priority. MODULES="a.py b.py"
# narrows it.
MODULES ?=
.PHONY: mutate
mutate: $(STAMP)
	nice -n 19 $(PY) tools/mutate.py $(MODULES)

# requirements.lock: every runtime dependency pinned with the hashes of its files, what
# `make dist` bundles and install.sh installs with --require-hashes. Existing pins are kept;
# `make lock LOCK_FLAGS=--upgrade` moves them all to the newest releases.
UV_VERSION := 0.13.8
LOCK_FLAGS ?=
lock: $(STAMP)
	test -x $(VENV)/bin/uv || $(PY) -m pip install -q uv==$(UV_VERSION)
	$(VENV)/bin/uv pip compile -q pyproject.toml --generate-hashes --python-version 3.11 \
	    --python-platform linux --custom-compile-command "make lock" $(LOCK_FLAGS) \
	    -o requirements.lock

# The offline bundle: congvu's wheel, a wheel of every locked dependency for this platform,
# install.sh and the deploy/ files, in dist/congvu-<version>-bundle/ and its tarball.
dist: $(STAMP)
	$(PY) tools/bundle.py --out dist

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
