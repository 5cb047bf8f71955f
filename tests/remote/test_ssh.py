"""SSHExecutor against real sshd hosts of the test bed."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tarfile
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from opskeeper.config.loader import load_estate
from opskeeper.config.secrets import SecretRef
from opskeeper.ledger import Ledger
from opskeeper.ledger.audit import AuditEntry
from opskeeper.remote.interface import AuthenticationFailed, CommandTimeout, HostKeyRejected, HostUnreachable
from opskeeper.remote.ssh import SSHExecutor, SSHPool, audit_security_events
from opskeeper.remote.ssh_hostkeys import HostKeyProblem, SecurityEvent
from testbed import TestBed
from tests.remote.helpers import new_client_key, target

pytestmark = pytest.mark.sshd


def _gone(h, marker: str, timeout: float = 5.0) -> bool:
    """True once no process with ``marker`` in its command line remains."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if h.exec(f"pgrep -f '[{marker[0]}]{marker[1:]}'").returncode != 0:  # [s]leep: not pgrep's own sh
            return True
        time.sleep(0.05)
    return False


def test_run_quotes_argv_and_runs_strings_under_sh(fleet3: TestBed) -> None:
    with SSHExecutor(target(fleet3.hosts[0])) as ex:
        res = ex.run(["printf", "%s|", "a b", "$HOME", "it's", ""])
        assert (res.exit_code, res.stdout) == (0, "a b|$HOME|it's||")
        res = ex.run("echo $((2+3)); echo oops >&2; exit 4")
        assert (res.exit_code, res.stdout, res.stderr) == (4, "5\n", "oops\n")
        assert res.argv == ("sh", "-c", "echo $((2+3)); echo oops >&2; exit 4")
        first = ex.connect()
        ex.run(["true"])
        assert ex.connect() is first  # one connection per host, reused across steps


def test_stdin_env_and_streamed_output(fleet3: TestBed) -> None:
    seen: list[tuple[str, str]] = []
    with SSHExecutor(target(fleet3.hosts[1])) as ex:
        res = ex.run(["sh", "-c", 'cat; echo "$FOO"'], stdin=b"in\n", env={"FOO": "bar baz"},
                     on_output=lambda s, t: seen.append((s, t)))
        assert res.stdout == "in\nbar baz\n"
        assert "".join(t for s, t in seen if s == "stdout") == res.stdout
        big = os.urandom(3 * 1024 * 1024)
        assert ex.run("wc -c", stdin=big).stdout.strip() == str(len(big))


def test_output_over_the_cap_is_truncated_and_counted(fleet3: TestBed) -> None:
    with SSHExecutor(target(fleet3.hosts[0])) as ex:
        res = ex.run("head -c 3000000 /dev/zero | tr '\\0' a; echo done >&2", output_cap=1000)
    assert res.ok and res.stdout == "a" * 1000 and res.stdout_truncated
    assert res.stderr == "done\n" and not res.stderr_truncated


def test_sudo(fleet3: TestBed) -> None:
    with SSHExecutor(target(fleet3.hosts[0])) as ex:
        assert ex.run(["id", "-u"]).stdout.strip() != "0"
        assert ex.run(["id", "-u"], sudo=True).stdout.strip() == "0"
        assert ex.run("id -un", sudo=True, env={"X": "1"}).stdout.strip() == "root"


def test_command_timeout_kills_the_remote_command(fleet3: TestBed) -> None:
    h = fleet3.hosts[2]
    with SSHExecutor(target(h)) as ex:
        with pytest.raises(CommandTimeout, match=h.name):
            ex.run("sleep 31.25; echo never", timeout=0.5)
        assert _gone(h, "sleep 31.25")
        with pytest.raises(CommandTimeout):
            ex.run("sleep 32.25", timeout=0.5, sudo=True)  # sudo relays TERM to its root child
        assert _gone(h, "sleep 32.25")
        assert ex.run(["echo", "still usable"]).stdout == "still usable\n"


def test_auth_failure_names_the_host(fleet3: TestBed, tmp_path: Path) -> None:
    new_client_key(tmp_path / "stranger")
    t = target(fleet3.hosts[0], key=SecretRef(ref=f"file:{tmp_path / 'stranger'}"))
    with SSHExecutor(t) as ex, pytest.raises(AuthenticationFailed, match=f"{fleet3.hosts[0].name}.*refused"):
        ex.run(["true"])


def test_encrypted_key_needs_its_passphrase(fleet_factory, tmp_path: Path, monkeypatch) -> None:
    bed = fleet_factory(1)
    bed.authorize_key(new_client_key(tmp_path / "enc", passphrase=b"s3cret-phrase"))
    monkeypatch.setenv("TB_KEY_PASS", "s3cret-phrase")
    key = SecretRef(ref=f"file:{tmp_path / 'enc'}")
    with SSHExecutor(target(bed.hosts[0], key=key, key_passphrase=SecretRef(ref="env:TB_KEY_PASS"))) as ex:
        assert ex.run(["true"]).ok
    with SSHExecutor(target(bed.hosts[0], key=key)) as ex, pytest.raises(AuthenticationFailed, match="encrypted"):
        ex.run(["true"])


def _audit_actions(ledger: Ledger) -> list[tuple[str, str, dict]]:
    with ledger.session() as s:
        return [(e.action, e.subject, e.details) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def test_unknown_host_key_is_refused_and_audited(fleet3: TestBed, tmp_path: Path) -> None:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    h = fleet3.hosts[0]
    pattern = f"{h.name}.*unknown.*{re.escape(h.host_key_fingerprint)}"
    with SSHPool(on_security_event=audit_security_events(ledger)) as pool, pytest.raises(HostKeyRejected, match=pattern) as err:
        pool.executor(target(h, host_key=None)).run(["true"])
    assert str(err.value) == (
        f"host {h.name} ({h.address}:{h.port}): host key refused: expected nothing (no key is pinned), presented "
        f"{h.host_key_fingerprint}; host key unknown: it presented ssh-ed25519 {h.host_key_fingerprint}; pin it "
        "with 'host_key' or 'known_hosts' in the estate once you have checked it out of band"
    )
    (action, subject, details), = _audit_actions(ledger)
    assert (action, subject) == ("ssh.host-key-unknown", f"host:{h.name}")
    assert h.host_key_fingerprint in details["presented"]


def test_changed_host_key_is_refused_with_both_fingerprints(fleet_factory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="opskeeper.security")
    bed = fleet_factory(1)
    h = bed.hosts[0]
    pinned, old_fp = h.host_key_line, h.host_key_fingerprint
    h.change_host_key()
    events: list[SecurityEvent] = []
    with SSHPool(on_security_event=events.append) as pool, pytest.raises(HostKeyRejected) as err:
        pool.executor(target(h, host_key=pinned)).run(["true"])
    line = f"host {h.name} ({h.address}:{h.port}): host key refused: expected {old_fp}, presented {h.host_key_fingerprint}"
    assert str(err.value) == (f"{line}; HOST KEY CHANGED since it was pinned in estate: someone may be intercepting "
                              "the connection; if the host was rebuilt, verify its new key out of band and update the pin")
    assert [(e.problem, e.line) for e in events] == [(HostKeyProblem.CHANGED, line)]
    assert err.value.event == events[0]
    assert caplog.record_tuples == [("opskeeper.security", logging.WARNING, line)]  # the console's one line


def test_known_hosts_file_pins_the_key(fleet3: TestBed) -> None:
    t = target(fleet3.hosts[1], host_key=None, known_hosts=fleet3.known_hosts_path)
    with SSHExecutor(t) as ex:
        assert ex.run(["true"]).ok
    other = fleet3.hosts[0].host_key_line
    with SSHExecutor(target(fleet3.hosts[1], host_key=other)) as ex, pytest.raises(HostKeyRejected):
        ex.run(["true"])


def test_sftp_round_trip_with_checksum(fleet3: TestBed, tmp_path: Path) -> None:
    h = fleet3.hosts[0]
    src = tmp_path / "payload.bin"
    src.write_bytes(os.urandom(4 * 1024 * 1024 + 17))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    remote = f"{h.data_dir}/payload.bin"
    with SSHExecutor(target(h)) as ex:
        ex.put_file(str(src), remote, mode=0o640)
        assert ex.run(["sha256sum", remote]).stdout.split()[0] == digest
        assert ex.run(["stat", "-c", "%a", remote]).stdout.strip() == "640"
        assert ex.run(["ls", "-A", h.data_dir]).stdout.split() == ["payload.bin"]  # no temp file left
        ex.get_file(remote, str(tmp_path / "back.bin"))
        # root-owned directory: the upload goes through `sudo mv`
        ex.put_file(str(src), f"{h.www_dir}/payload.bin")
        assert ex.run(["stat", "-c", "%U", f"{h.www_dir}/payload.bin"]).stdout.strip() == "root"
    assert hashlib.sha256((tmp_path / "back.bin").read_bytes()).hexdigest() == digest


def test_open_stream_of_a_large_tar(fleet3: TestBed, tmp_path: Path) -> None:
    h = fleet3.hosts[1]
    h.exec(f"mkdir -p {h.data_dir}/tree && for i in 1 2 3; do head -c 8000000 /dev/urandom > "
           f"{h.data_dir}/tree/f$i; done", check=True)
    expected = {f"f{i}": hashlib.sha256(Path(f"{h.data_dir}/tree/f{i}").read_bytes()).hexdigest() for i in (1, 2, 3)}
    with SSHExecutor(target(h)) as ex:
        stream = ex.open_stream(["tar", "-C", f"{h.data_dir}/tree", "-cf", "-", "."], sudo=True)
        got = {}
        with tarfile.open(fileobj=stream.stdout, mode="r|") as tar:
            for member in tar:
                if member.isfile():
                    got[os.path.basename(member.name)] = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
        assert stream.wait(timeout=30).exit_code == 0
    h.exec(f"rm -rf {h.data_dir}/tree")
    assert got == expected


def test_sshd_killed_mid_step(fleet_factory) -> None:
    bed = fleet_factory(1)
    h = bed.hosts[0]
    with SSHExecutor(target(h)) as ex:
        ex.run(["true"])
        threading.Timer(0.5, h.kill_sshd).start()
        with pytest.raises(HostUnreachable, match=f"{h.name}.*connection lost"):
            ex.run("sleep 20", timeout=30)
        h.start_sshd()
        assert ex.run(["true"]).ok  # the next step reconnects


def test_unreachable_hosts_name_the_cause(fleet_factory) -> None:
    bed = fleet_factory(2)
    down, dark = bed.hosts
    down.kill_sshd()
    dark.link_down()
    with SSHExecutor(target(down)) as ex, pytest.raises(HostUnreachable, match=f"{down.name}.*refused"):
        ex.run(["true"])
    with SSHExecutor(target(dark, connect_timeout=0.5)) as ex, pytest.raises(HostUnreachable, match="timed out"):
        ex.run(["true"])


def test_jump_host(fleet3: TestBed) -> None:
    jump, dest = fleet3.hosts[0], fleet3.hosts[2]
    with SSHPool() as pool:
        ex = pool.executor(target(dest, jump=target(jump)))
        assert ex.run(["echo", "via jump"]).stdout == "via jump\n"
    log = Path(dest.dir, "sshd.log").read_text()
    assert f"Accepted publickey for {dest.user} from {jump.address}" in log


def test_executor_from_an_estate_host_audits_a_changed_key(fleet_factory, tmp_path: Path) -> None:
    bed = fleet_factory(1)
    (_, _, host), = load_estate(bed.estate_path).all_hosts()
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    with SSHExecutor.from_host(host, ledger=ledger) as ex:
        assert ex.run(["sudo", "-n", "true"]).ok
    bed.hosts[0].change_host_key()
    with SSHExecutor.from_host(host, ledger=ledger) as ex, pytest.raises(HostKeyRejected, match="CHANGED"):
        ex.connect()
    assert [a for a, _, _ in _audit_actions(ledger)] == ["ssh.host-key-changed"]
