"""The benchmark data set: 200 x 1 MiB text logs, 20 x 10 MiB random, 20,000 small files (0.5-9.5 KiB)."""

from __future__ import annotations

import os
import random
from pathlib import Path

_WORDS = ["GET", "POST", "PUT", "DELETE", "/api/v1/items", "/api/v1/users", "/health", "/login", "status=200", "status=404", "status=500", "dur=12ms", "dur=340ms", "user=alice", "user=bob", "INFO", "WARN", "ERROR", "cache", "miss", "hit", "db", "query", "commit", "rollback", "worker", "started", "stopped", "retry", "timeout"]


def _log_text(rng: random.Random, size: int) -> bytes:
    lines, n = [], 0
    while n < size:
        line = (f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d}Z host{rng.randint(1, 9)} "
                + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 12))) + "\n")
        lines.append(line)
        n += len(line)
    return "".join(lines).encode()[:size]


def generate(root: Path, seed: int = 42) -> None:
    rng = random.Random(seed)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    (root / "blobs").mkdir(exist_ok=True)
    for i in range(200):
        (root / "logs" / f"app-{i:03d}.log").write_bytes(_log_text(rng, 1 << 20))
    for i in range(20):
        (root / "blobs" / f"blob-{i:02d}.bin").write_bytes(rng.randbytes(10 << 20))
    for i in range(20_000):
        d = root / "small" / f"d{i // 500:02d}"
        d.mkdir(parents=True, exist_ok=True)
        size = rng.randint(512, 9728)
        data = _log_text(rng, size) if i % 2 == 0 else rng.randbytes(size)
        (d / f"f{i:05d}.dat").write_bytes(data)


def change_fraction(root: Path, fraction: float, seed: int) -> int:
    """Rewrite ``fraction`` of the files (append to logs, rewrite a slice of others); returns how many."""
    rng = random.Random(seed)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    picked = rng.sample(files, int(len(files) * fraction))
    for p in picked:
        data = bytearray(p.read_bytes())
        pos = rng.randrange(len(data))
        data[pos:pos + 256] = rng.randbytes(min(256, len(data) - pos))
        p.write_bytes(bytes(data))
        os.utime(p)
    return len(picked)
