# opskeeper: `make demo` runs the monthly maintenance of the example estate; `make test` runs the tests.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test test-dates test-fast lint bench fuzz system-deps clean

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev]'
	@touch $(STAMP)

# Debian packages the tests and benchmarks use: sshd and sudo for the fleet test bed, restic for the backup
# benchmark, chromium and a CJK font to look at reports, lynis to compare scans, nftables for the firewall check,
# faketime to run the suite on other dates, strace to see a restore's fsyncs in order.
system-deps:
	@missing=""; \
	command -v sshd >/dev/null || test -x /usr/sbin/sshd || missing="$$missing openssh-server"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v restic >/dev/null || missing="$$missing restic"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v lynis >/dev/null || missing="$$missing lynis"; \
	command -v sudo >/dev/null || missing="$$missing sudo"; \
	command -v nft >/dev/null || test -x /usr/sbin/nft || missing="$$missing nftables"; \
	command -v faketime >/dev/null || missing="$$missing faketime"; \
	command -v strace >/dev/null || missing="$$missing strace"; \
	fc-list :lang=zh 2>/dev/null | grep -q . || missing="$$missing fonts-wqy-microhei"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: $(STAMP)
	$(BIN)/python -m demos.estate

# The whole suite today, then the part that needs no fleet test bed at dates that stress calendars, side by side (libfaketime:
# the process and its children start at that time and the clock runs on): the last day of February of a leap
# year at 23:50, and ten minutes before Europe springs forward in 2031. No test may depend on the machine's date.
FAKE_DATES ?= 2028-02-29 23:50:00|2031-03-30 00:50:00
# Not at faked dates: the fleet test bed, the Prefect harness flows (their date logic is the core's, tested
# directly), and the kill -9 / full-disk fault suites, which decide nothing by date.
DATED_TESTS ?= -m "not sshd and not s3 and not postgres and not browser and not wallclock and not flow" \
	--ignore=tests/faults --ignore=tests/backup/test_faults.py

# Two workers, one per core, each taking whole files (module fixtures and a file's fault sequence stay together).
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile
	@$(MAKE) --no-print-directory test-dates

# The dates run side by side, one per core, each in its own temporary directory; their outputs follow in order.
test-dates: $(STAMP)
	@dates='$(FAKE_DATES)'; IFS='|'; n=0; pids=(); logs=(); tmp="$${TMPDIR:-/tmp}/opskeeper-dated-$$$$"; \
	for at in $$dates; do \
	  n=$$((n+1)); mkdir -p "$$tmp"; logs+=("$$tmp/$$n.log"); \
	  ( echo "== the suite at $$(faketime "$$at" date '+%F %T %Z') (faketime) =="; \
	    FAKETIME_DONT_RESET=1 faketime "$$at" $(BIN)/python -m pytest -q -p no:cacheprovider \
	      --basetemp="$$tmp/$$n" $(DATED_TESTS) ) > "$$tmp/$$n.log" 2>&1 & \
	  pids+=($$!); \
	done; \
	rc=0; for k in "$${!pids[@]}"; do wait "$${pids[$$k]}" || rc=$$?; cat "$${logs[$$k]}"; done; \
	rm -rf "$$tmp"; exit $$rc

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not sshd and not s3 and not postgres and not browser"

# ruff, mypy, and the import contracts in pyproject.toml (what they say: docs/architecture.md).
lint: $(STAMP)
	$(BIN)/ruff check opskeeper cli flows tasks deployments testbed demos tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP) bench-fanout bench-backup bench-tick

clean:
	rm -rf $(VENV) var .pytest_cache

# Each capability adds its own targets (bench-fanout, bench-backup, testbed-up, ...) in mk/*.mk.
-include mk/*.mk
