"""Content-defined chunking: FastCDC 2020 with a per-repository secret seed.

The gear table is XORed with a 63-bit secret seed (pyfastcdc's ``seed``), so chunk
boundaries depend on a repository secret and do not fingerprint known files across
repositories. pyfastcdc's Cython kernel cuts at ~4 GB/s; a pure-Python gear loop
runs at a few MB/s, which is why the maintained library is used, with the pure-Python
loop kept only as a fallback when the library is not installed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

from opskeeper.backup.format import ChunkerParams

try:
    from pyfastcdc import FastCDC
except ImportError:  # pragma: no cover - exercised by forcing the fallback in tests
    FastCDC = None  # type: ignore[assignment,misc]

_M64 = (1 << 64) - 1

_WHOLE_READ_LIMIT = 64 * 1024 * 1024  # bigger files are streamed, not read into memory


class Chunker:
    """Cuts bytes, files and streams into chunks (memoryviews valid until the next chunk for streams)."""

    def __init__(self, params: ChunkerParams, seed: int, *, pure_python: bool = False) -> None:
        self.params = params
        self._cdc: FastCDC | _PyFastCDC
        if FastCDC is None or pure_python:
            # Correct but ~1000x slower, and its cut points differ from pyfastcdc's (other gear
            # table): a repository written by both deduplicates less across the switch.
            self._cdc = _PyFastCDC(params, seed)
            return
        self._cdc = FastCDC(
            params.avg_size,
            min_size=params.min_size,
            max_size=params.max_size,
            normalized_chunking=params.normalization,  # type: ignore[arg-type]  # Literal[0..3]
            seed=seed,
        )

    def cut_bytes(self, data: bytes | memoryview) -> Iterator[memoryview]:
        if len(data) <= self.params.min_size:
            if len(data):
                yield memoryview(data)
            return
        if isinstance(self._cdc, _PyFastCDC):
            yield from self._cdc.cut_bytes(memoryview(data))
            return
        for c in self._cdc.cut_buf(data):
            yield c.data

    def cut_fd(self, f: BinaryIO, size: int) -> Iterator[memoryview]:
        """Chunks of an open regular file of known size (small: one read; large: streamed)."""
        if size <= _WHOLE_READ_LIMIT:
            yield from self.cut_bytes(f.read())
            return
        # Streamed: the library reuses its buffer, so each chunk is copied before the next is cut.
        yield from self.cut_stream(f)

    def cut_stream(self, stream: BinaryIO) -> Iterator[memoryview]:
        if isinstance(self._cdc, _PyFastCDC):
            yield from self._cdc.cut_stream(stream)
            return
        for c in self._cdc.cut_stream(stream):
            yield memoryview(bytes(c.data))


class _PyFastCDC:
    """FastCDC 2020 (normalised, two masks) in pure Python: the fallback when pyfastcdc is missing.

    The gear table is derived from the secret seed with SHA-256, so it is as secret as the seed.
    """

    def __init__(self, params: ChunkerParams, seed: int) -> None:
        self.p = params
        self.gear = [int.from_bytes(hashlib.sha256(b"okb-gear" + seed.to_bytes(8, "little") + bytes([i]))
                                    .digest()[:8], "little") for i in range(256)]
        bits = max(1, params.avg_size.bit_length() - 1)
        # High bits carry the most recent bytes of a left-shifting gear hash.
        self.mask_s = ((1 << (bits + params.normalization)) - 1) << (64 - bits - params.normalization)
        self.mask_l = ((1 << (bits - params.normalization)) - 1) << (64 - bits + params.normalization)

    def cut_point(self, data: memoryview) -> int:
        n, p, gear = len(data), self.p, self.gear
        if n <= p.min_size:
            return n
        end, h, i = min(n, p.max_size), 0, p.min_size
        center = min(p.avg_size, end)
        while i < center:
            h = ((h << 1) + gear[data[i]]) & _M64
            i += 1
            if not h & self.mask_s:
                return i
        while i < end:
            h = ((h << 1) + gear[data[i]]) & _M64
            i += 1
            if not h & self.mask_l:
                return i
        return end

    def cut_bytes(self, data: memoryview) -> Iterator[memoryview]:
        pos = 0
        while pos < len(data):
            n = self.cut_point(data[pos:])
            yield data[pos:pos + n]
            pos += n

    def cut_stream(self, stream: BinaryIO) -> Iterator[memoryview]:
        buf, eof = bytearray(), False
        while buf or not eof:
            while not eof and len(buf) < self.p.max_size:
                piece = stream.read(self.p.max_size)
                eof = not piece
                buf += piece
            if not buf:
                return
            n = self.cut_point(memoryview(buf))
            yield memoryview(bytes(buf[:n]))
            del buf[:n]
