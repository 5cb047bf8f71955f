"""LocalExecutor: subprocess with exit codes as data, timeouts that kill the process group, output caps."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from opskeeper.remote.interface import CommandTimeout, ExecutorError
from opskeeper.remote.local import LocalExecutor


@pytest.fixture
def ex() -> LocalExecutor:
    return LocalExecutor("test-host")


def test_argv_list_is_not_shell_parsed(ex: LocalExecutor) -> None:
    res = ex.run(["printf", "%s|", "a b", "$(id)", ";ls"])
    assert (res.exit_code, res.stdout, res.ok) == (0, "a b|$(id)|;ls|", True)
    assert res.argv == ("printf", "%s|", "a b", "$(id)", ";ls")


def test_string_runs_in_sh_and_exit_code_is_data(ex: LocalExecutor) -> None:
    res = ex.run("echo out; echo err >&2; exit 7")
    assert (res.exit_code, res.stdout, res.stderr, res.ok) == (7, "out\n", "err\n", False)
    assert res.argv[:2] == ("/bin/sh", "-c")


def test_stdin_env_and_streaming_callback(ex: LocalExecutor) -> None:
    chunks: list[tuple[str, str]] = []
    res = ex.run("cat; echo $OPSK_X", stdin=b"from stdin\n", env={"OPSK_X": "from env"},
                 on_output=lambda name, text: chunks.append((name, text)))  # fmt: skip
    assert res.stdout == "from stdin\nfrom env\n"
    assert "".join(t for n, t in chunks if n == "stdout") == res.stdout


def test_timeout_kills_the_whole_process_group(ex: LocalExecutor, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    with pytest.raises(CommandTimeout, match=r"test-host: command timed out after 0.5s"):
        ex.run(f"sleep 60 & echo $! > {pidfile}; wait", timeout=0.5)
    child = int(pidfile.read_text())
    for _ in range(50):  # reaped by init; give it a moment
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{child}/stat").exists() and Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"background child {child} survived the timeout")


def test_output_is_capped_and_counted(ex: LocalExecutor) -> None:
    res = ex.run(["python3", "-c", "import sys; sys.stdout.write('x' * 100000)"], output_cap=1000)
    assert (len(res.stdout), res.stdout_truncated, res.stderr_truncated) == (1000, True, False)


def test_missing_program_is_a_transport_error(ex: LocalExecutor) -> None:
    with pytest.raises(ExecutorError, match="test-host: cannot start 'no-such-program-xyz'"):
        ex.run(["no-such-program-xyz"])


def test_put_and_get_file(ex: LocalExecutor, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"payload")
    ex.put_file(str(src), str(tmp_path / "dst"), mode=0o600)
    assert (tmp_path / "dst").read_bytes() == b"payload"
    assert (tmp_path / "dst").stat().st_mode & 0o777 == 0o600
    ex.get_file(str(tmp_path / "dst"), str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == b"payload"
    assert not list(tmp_path.glob("*opskeeper-tmp*"))
    with pytest.raises(ExecutorError, match="cannot copy"):
        ex.put_file(str(tmp_path / "missing"), str(tmp_path / "x"))


def test_stream(ex: LocalExecutor) -> None:
    stream = ex.open_stream(["sh", "-c", "head -c 300000 /dev/zero; echo done >&2"])
    data = stream.stdout.read()
    res = stream.wait(timeout=10)
    assert (len(data), res.exit_code, res.stderr) == (300000, 0, "done\n")


@pytest.mark.wallclock  # a timed thread join: under libfaketime it becomes an untimed wait
@pytest.mark.timeout(30)
def test_a_daemon_left_running_does_not_hold_the_step(ex: LocalExecutor) -> None:
    """The background process keeps stdout open for 120 s; the result must not wait for it."""
    res = ex.run("sleep 120 & echo $!", timeout=1)
    try:
        assert res.exit_code == 0 and res.stdout.strip().isdigit()
    finally:
        os.kill(int(res.stdout.strip()), 9)


@pytest.mark.timeout(30)
def test_timeout_holds_when_the_command_does_not_read_its_input(ex: LocalExecutor) -> None:
    with pytest.raises(CommandTimeout):
        ex.run("sleep 60", stdin=b"x" * 2_000_000, timeout=0.5)


def test_large_stdin_is_delivered(ex: LocalExecutor) -> None:
    res = ex.run(["wc", "-c"], stdin=b"y" * 3_000_000)
    assert res.stdout.strip() == "3000000"
