"""Worker processes for the CPU-heavy part of a backup (readers) and of a local restore (writers).

Plain subprocesses (``python -m MODULE``) speaking length-prefixed pickle over their
stdin/stdout, not multiprocessing: spawn re-runs the caller's main script in each child
and fork is unsafe in a threaded process. The first message is the worker's setup (keys
and settings: a pipe to our own child, never a file); each later message is a batch,
answered by its result or by the exception it raised. A batch goes to the worker with the
least queued, unless the caller names one (a restore keeps a directory on one worker).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import IO, Any

from opskeeper.backup.errors import BackupError

_HEAD = struct.Struct("<QQ")  # pickle length, number of out-of-band buffers
_LEN = struct.Struct("<Q")


def send_msg(f: IO[bytes], obj: object) -> None:
    """Pickle ``obj``; ``pickle.PickleBuffer``s in it (big byte strings) travel after the pickle as they
    are, not copied into it, and come out as read-only memoryviews of one buffer (``recv_msg``)."""
    out_of_band: list[pickle.PickleBuffer] = []
    data = pickle.dumps(obj, protocol=5, buffer_callback=out_of_band.append)
    raws = [b.raw() for b in out_of_band]
    f.write(_HEAD.pack(len(data), len(raws)) + b"".join(_LEN.pack(r.nbytes) for r in raws))
    f.write(data)
    for r in raws:
        f.write(r)
    f.flush()


def _read_exactly(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise EOFError("worker process pipe closed" + (" mid-message" if data else ""))
    return data


def recv_msg(f: IO[bytes]) -> Any:
    n, nbufs = _HEAD.unpack(_read_exactly(f, _HEAD.size))
    lens = [_LEN.unpack_from(head, i * _LEN.size)[0] for head in [_read_exactly(f, nbufs * _LEN.size)]
            for i in range(nbufs)]
    data = _read_exactly(f, n)
    whole = bytearray(sum(lens))
    if whole and f.readinto(whole) != len(whole):  # type: ignore[attr-defined]
        raise EOFError("worker process pipe closed mid-message")
    view, views, pos = memoryview(whole).toreadonly(), [], 0
    for ln in lens:
        views.append(view[pos:pos + ln])
        pos += ln
    return pickle.loads(data, buffers=views)


_Job = tuple[object, "Future[Any]"]


class ProcessPool:
    """``workers`` processes running ``python -m module``; ``submit`` returns a Future per batch.

    A broken worker (pipe closed, bad message) fails the batches it was given with
    ``error(message)``; the others keep working.
    """

    def __init__(self, module: str, setup: object, workers: int,
                 error: Callable[[str], BaseException] = BackupError) -> None:
        self._error = error
        self._queues: list[queue.Queue[_Job | None]] = []
        self._busy: list[bool] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._threads: list[threading.Thread] = []
        try:
            for _ in range(workers):
                # Own process group: a terminal's Ctrl-C goes to the parent only, which stops the workers
                # by closing their input (they died with a traceback each, mid-file).
                proc = subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        process_group=0)
                self._procs.append(proc)
                assert proc.stdin is not None
                send_msg(proc.stdin, setup)
        except BaseException:
            self.shutdown()
            raise
        for i, proc in enumerate(self._procs):
            self._queues.append(queue.Queue())
            self._busy.append(False)
            t = threading.Thread(target=self._serve, args=(i, proc), name=f"{module}-pipe", daemon=True)
            t.start()
            self._threads.append(t)

    @property
    def workers(self) -> int:
        return len(self._procs)

    def submit(self, batch: object, worker: int | None = None) -> Future[Any]:
        """Queue a batch for ``worker`` (an index), or by default for the one with the least queued."""
        if worker is None:
            worker = min(range(len(self._queues)), key=lambda i: self._queues[i].qsize() + self._busy[i])
        fut: Future[Any] = Future()
        self._queues[worker].put((batch, fut))
        return fut

    def _serve(self, i: int, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        broken = ""
        while (job := self._queues[i].get()) is not None:
            batch, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            if broken:
                fut.set_exception(self._error(broken))
                continue
            self._busy[i] = True
            try:
                send_msg(proc.stdin, batch)
                result = recv_msg(proc.stdout)
            except Exception as e:  # a broken pipe or a bad message: never leave the Future pending
                broken = f"worker process {proc.pid} failed: {e}"
                fut.set_exception(self._error(broken))
                continue
            finally:
                self._busy[i] = False
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    def shutdown(self) -> None:
        for q in self._queues:
            q.put(None)
        for t in self._threads:
            t.join(timeout=30)
        for proc in self._procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for t in self._threads:
            t.join(timeout=10)  # a worker that had to be killed: its pipe thread has seen the end
        for proc in self._procs:  # closed here, not left to the garbage collector (or to a traceback)
            if proc.stdout is not None:
                with contextlib.suppress(OSError):
                    proc.stdout.close()


def start_pool(module: str, setup: object, workers: int,
               error: Callable[[str], BaseException] = BackupError) -> ProcessPool | None:
    """None where processes cannot be started (the caller keeps using threads)."""
    try:
        return ProcessPool(module, setup, workers, error)
    except OSError:
        return None


def serve(setup: Callable[[Any], Callable[[Any], object]], answered: tuple[type[BaseException], ...]) -> None:
    """A worker's main loop: ``setup(first message)`` gives the batch handler; exceptions of the
    ``answered`` types go back as the batch's result, anything else ends the worker."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by accident must not corrupt the protocol
    inp = sys.stdin.buffer
    handle = setup(recv_msg(inp))
    gc.disable()  # a worker makes no reference cycles worth collecting; the collector only costs time
    while True:
        try:
            batch = recv_msg(inp)
        except EOFError:
            return  # the parent closed the pipe (or died)
        try:
            result = handle(batch)
        except answered as e:
            result = e
        send_msg(out, result)
