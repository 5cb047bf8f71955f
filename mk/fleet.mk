# Fleet test bed and fan-out benchmark (owner: fleet execution over SSH).
# The test bed needs root, iproute2, openssh-server and sudo (the login user runs `sudo -n`).
TESTBED_HOSTS ?= 3
TESTBED_NAME ?= demo
TESTBED_ESTATE ?= var/testbed/estate.yaml

.PHONY: testbed-deps testbed-up testbed-down testbed-down-all bench-fanout

testbed-deps:
	@missing=""; \
	command -v sudo >/dev/null || missing="$$missing sudo"; \
	test -x /usr/sbin/sshd || missing="$$missing openssh-server"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v ansible >/dev/null || $(BIN)/python -c 'import ansible' 2>/dev/null || missing="$$missing ansible"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	fi

testbed-up: $(STAMP) testbed-deps
	$(BIN)/python -m testbed up --hosts $(TESTBED_HOSTS) --name $(TESTBED_NAME) --estate $(TESTBED_ESTATE)

# Removes the demo bed only: other pytest sessions may be using their own beds right now.
testbed-down: $(STAMP)
	$(BIN)/python -m testbed down $(TESTBED_NAME)

# After a crash: every bed, live or stale, and leftovers without state (stops other sessions' beds too).
testbed-down-all: $(STAMP)
	$(BIN)/python -m testbed down --all

bench-fanout: $(STAMP) testbed-deps
	$(BIN)/python -m bench.fanout --hosts 50 --runs 3
