# Fuzz every reader of repository data (fuzz/fuzz_*.py, atheris) for FUZZ_SECONDS each, seeded from a tiny
# repository made by this version; fails on any input that ends in something other than a named backup error.
FUZZ_SECONDS ?= 30
FUZZ_WORK ?= $(or $(TMPDIR),/tmp)/opskeeper-fuzz
FUZZERS ?=
.PHONY: fuzz
fuzz: $(STAMP)
	@$(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/pip install -q 'atheris>=2.3.0'
	$(BIN)/python -m fuzz.run --seconds $(FUZZ_SECONDS) --work $(FUZZ_WORK) $(FUZZERS)
