# DR drills: the data-corruption drill of the demo on its own (backs up the example data first if needed).
.PHONY: demo-drill test-drills
demo-drill: $(STAMP)
	$(BIN)/python -c "from demos.estate import make_example_data; from opskeeper.paths import home_dir; make_example_data(home_dir())"
	$(BIN)/python -m demos.drill

test-drills: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/drills
