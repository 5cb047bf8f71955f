# Tick benchmark (owner: calendar): ms per customer per tick of the real tick decision for 10, 100 and
# 1,000 generated customers, in 2027 and 2050, against the goal of 5 ms (see bench/tick/__main__.py).
.PHONY: bench-tick
bench-tick: $(STAMP)
	$(BIN)/python -m bench.tick --customers 10,100,1000 --years 2027,2050 --ticks 5
