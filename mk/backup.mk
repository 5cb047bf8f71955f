# Backup benchmark: opskeeper vs restic on the same ~500 MB data set (see bench/backup/bench_backup.py).
.PHONY: bench-backup
bench-backup: $(STAMP)
	@command -v restic >/dev/null || $(MAKE) --no-print-directory system-deps
	$(BIN)/python -m bench.backup.bench_backup
