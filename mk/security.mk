# Security scans (owner: security area). Needs `scan` registered in cli/main.py.
SECURITY_HOME ?= var

.PHONY: test-security demo-security lynis-compare

test-security: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/checks/security

# Scan the example estate (localhost) twice: the second run shows persisting findings and a score trend.
demo-security: $(STAMP)
	OPSKEEPER_HOME=$(SECURITY_HOME) $(BIN)/opskeeper scan run || test $$? -eq 1
	OPSKEEPER_HOME=$(SECURITY_HOME) $(BIN)/opskeeper scan run --no-notify || test $$? -eq 1
	OPSKEEPER_HOME=$(SECURITY_HOME) $(BIN)/opskeeper scan findings --status open
	OPSKEEPER_HOME=$(SECURITY_HOME) $(BIN)/opskeeper scan score

# Lynis (Debian package) on this machine, for the comparison in the security notes.
lynis-compare: $(STAMP)
	lynis audit system --quick --no-colors --logfile $(SECURITY_HOME)/lynis.log \
	  --report-file $(SECURITY_HOME)/lynis-report.dat >/dev/null
	@grep -E '^(warning|suggestion)\[\]' $(SECURITY_HOME)/lynis-report.dat | cut -d'|' -f1-2
	OPSKEEPER_HOME=$(SECURITY_HOME) $(BIN)/opskeeper scan findings --status open
