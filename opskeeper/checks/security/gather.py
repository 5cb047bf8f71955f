# ruff: noqa: B905, UP022, UP031  - runs on the target: stay compatible with old python3 (3.6+)
"""Fact gathering script, shipped to the target over stdin and run by its own ``python3`` (stdlib only).

Nothing is installed on the target and nothing is written there. The caller replaces
the ``PARAMS`` line with the JSON parameters of the scan. Output: one JSON document
on stdout, ``{"version": 1, "euid": N, "sections": {name: {"ok", "error", "data"}}}``.
A section that cannot run (missing tool, no permission, timeout) says so in
``error``; the checks that need it become "could not run", never "passed".
Secrets never leave the host: of /etc/shadow only the password *state* is sent,
of certificate files only the CERTIFICATE blocks (never private keys).
"""

import concurrent.futures
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time

PARAMS: dict = {}  # replaced by the caller

VERSION = 1
STEP_TIMEOUT = float(PARAMS.get("step_timeout", 60))
MAX_ITEMS = int(PARAMS.get("max_items", 5000))
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Skip(Exception):
    """The section cannot run here (missing tool, no permission)."""


def run(argv, timeout=None):
    env = dict(os.environ, LC_ALL="C", PATH=PATH_ENV)
    proc = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        timeout=timeout or STEP_TIMEOUT,
        env=env,
    )
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def which(name):
    return shutil.which(name, path=PATH_ENV)


def need_root(what):
    if os.geteuid() != 0:
        raise Skip(what + " needs root (set sudo: true for this host)")


# -- sshd ---------------------------------------------------------------------------------------------


def _own_netns():
    try:
        return os.readlink("/proc/self/ns/net")
    except OSError:
        return None


def _sshd_config_in_use():
    """The -f argument of the listening sshd in this network namespace, if it has one."""
    mine = _own_netns()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as fh:
                argv = fh.read().split(b"\0")
            if not argv or not os.path.basename(argv[0].decode()).startswith("sshd"):
                continue
            if mine is not None and os.readlink("/proc/%s/ns/net" % pid) != mine:
                continue
        except OSError:
            continue
        # sshd rewrites its title ("sshd: /usr/sbin/sshd -D -f CFG [listener] ..."): split on blanks too.
        # Session processes ("sshd: user [priv]") carry no -f; the listener started with one does.
        args = b" ".join(argv).decode("utf-8", "replace").split()
        if "-f" in args[:-1]:
            return args[args.index("-f") + 1]
    return None


def sect_sshd():
    binary = which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
    if not binary:
        raise Skip("sshd is not installed")
    need_root("sshd -T")
    argv = [binary, "-T"]
    config = _sshd_config_in_use()
    if config:
        argv += ["-f", config]
    code, out, err = run(argv)
    if code != 0:
        raise Skip("sshd -T failed: " + err.strip()[-300:])
    settings = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        if key in settings:
            settings[key] += "," + value.strip()
        else:
            settings[key] = value.strip()
    return {"config": config or "/etc/ssh/sshd_config", "settings": settings}


# -- listening sockets --------------------------------------------------------------------------------


def _split_addr(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _proc_net_tcp():
    found = []
    for path, fam in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        try:
            with open(path) as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] != "0A":  # LISTEN
                continue
            hexaddr, hexport = parts[1].split(":")
            raw = bytes.fromhex(hexaddr)
            if fam == 4:
                addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                addr = socket.inet_ntop(socket.AF_INET6, words)
            found.append({"proto": "tcp", "address": addr, "port": int(hexport, 16), "process": ""})
    return found


def sect_listening():
    if not which("ss"):
        return {"source": "/proc/net/tcp", "sockets": _proc_net_tcp()}
    code, out, err = run(["ss", "-ltnHp"])
    if code != 0:
        return {"source": "/proc/net/tcp", "sockets": _proc_net_tcp()}
    sockets = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        addr, port = _split_addr(parts[3])
        proc = re.search(r'users:\(\("([^"]+)"', line)
        sockets.append(
            {"proto": "tcp", "address": addr, "port": port, "process": proc.group(1) if proc else ""}
        )
    return {"source": "ss", "sockets": sockets}


# -- files --------------------------------------------------------------------------------------------


def _find(roots, predicate):
    roots = [r for r in roots if os.path.exists(r)]
    if not roots:
        return [], False
    argv = ["find"] + roots + ["-xdev"] + predicate + ["-printf", "%m %u %y %p\\n"]
    try:
        code, out, err = run(argv)
    except subprocess.TimeoutExpired as e:
        raise Skip("find over %s did not finish in %ss" % (", ".join(roots), STEP_TIMEOUT)) from e
    items = []
    for line in out.splitlines():
        mode, owner, kind, path = line.split(" ", 3)
        items.append({"path": path, "mode": mode, "owner": owner, "type": kind})
    # find exits 1 on unreadable directories: we report what it saw and that it was incomplete
    return items[:MAX_ITEMS], code != 0 or len(items) > MAX_ITEMS


def sect_suid():
    items, partial = _find(PARAMS.get("suid_paths", ["/"]), ["-type", "f", "-perm", "/6000"])
    return {"files": items, "partial": partial}


def sect_world_writable():
    pred = ["(", "-type", "f", "-o", "(", "-type", "d", "!", "-perm", "-1000", ")", ")", "-perm", "-0002"]
    items, partial = _find(PARAMS.get("world_writable_paths", []), pred)
    return {"files": items, "partial": partial}


# -- accounts -----------------------------------------------------------------------------------------


def _pw_state(field):
    if field == "":
        return "empty"
    if field.startswith(("!", "*")):
        return "locked"
    return "set"


def sect_accounts():
    users = []
    with open("/etc/passwd") as fh:
        for line in fh:
            parts = line.rstrip("\n").split(":")
            if len(parts) >= 7:
                users.append({"name": parts[0], "uid": int(parts[2]), "shell": parts[6], "passwd": parts[1]})
    shadow = None
    if os.access("/etc/shadow", os.R_OK):
        shadow = {}
        with open("/etc/shadow") as fh:
            for line in fh:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 5:
                    shadow[parts[0]] = {"state": _pw_state(parts[1]), "max_days": parts[4]}
    for u in users:  # only the state of the passwd field leaves the host
        u["passwd"] = "shadow" if u["passwd"] == "x" else _pw_state(u["passwd"])
    return {"users": users, "shadow": shadow}


# -- updates ------------------------------------------------------------------------------------------

_APT_INST = re.compile(r"^Inst (\S+) (?:\[(\S+)\] )?\((\S+) (.*?)\s*\[[^\]]*\]\)")


def sect_updates():
    if which("apt-get"):
        # -s: simulation, from the local package lists only (no network, no lock, no root needed)
        code, out, err = run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"])
        if code != 0:
            raise Skip("apt-get -s dist-upgrade failed: " + err.strip()[-300:])
        pkgs = []
        for line in out.splitlines():
            m = _APT_INST.match(line)
            if m:
                origin = m.group(4)
                pkgs.append(
                    {
                        "package": m.group(1),
                        "installed": m.group(2) or "",
                        "candidate": m.group(3),
                        "origin": origin,
                        "security": "security" in origin.lower(),
                    }
                )
        lists = glob.glob("/var/lib/apt/lists/*_Packages*")
        age = time.time() - max(os.path.getmtime(p) for p in lists) if lists else None
        return {"manager": "apt", "packages": pkgs, "lists_age_s": age}
    if which("dnf"):
        code, out, err = run(["dnf", "-q", "--cacheonly", "updateinfo", "list", "--security"])
        if code != 0:
            raise Skip("dnf updateinfo failed: " + err.strip()[-300:])
        pkgs = [
            {"package": p[2], "installed": "", "candidate": "", "origin": p[0], "security": True}
            for p in (line.split() for line in out.splitlines())
            if len(p) >= 3
        ]
        return {"manager": "dnf", "packages": pkgs, "lists_age_s": None}
    raise Skip("no supported package manager (apt-get, dnf)")


# -- certificates, firewall, sysctl, integrity --------------------------------------------------------

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
CERT_SUFFIXES = (".pem", ".crt", ".cer", ".cert")
SKIP_CERT_FILES = ("ca-certificates.crt", "ca-bundle.crt")  # the distribution's CA bundle


def _cert_files(root):
    if os.path.isfile(root):
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            # symlinks under /etc/ssl/certs point into the distribution's CA store: not ours to renew
            if name.endswith(CERT_SUFFIXES) and name not in SKIP_CERT_FILES and not os.path.islink(path):
                yield path


def sect_certs():
    certs = []
    for root in PARAMS.get("cert_paths", []):
        for path in _cert_files(root):
            try:
                if os.path.getsize(path) > 1 << 20:
                    continue
                with open(path, encoding="ascii", errors="replace") as fh:
                    blocks = _PEM.findall(fh.read())
            except OSError:
                continue
            for i, pem in enumerate(blocks):
                certs.append({"path": path, "index": i, "pem": pem})
            if len(certs) >= MAX_ITEMS:
                return {"certs": certs, "partial": True}
    return {"certs": certs, "partial": False}


def sect_firewall():
    need_root("reading the firewall ruleset")
    if which("nft"):
        code, out, err = run(["nft", "list", "ruleset"])
        if code == 0:
            rules = [
                ln
                for ln in out.splitlines()
                if ln.strip() and not ln.strip().startswith(("table", "chain", "}", "type "))
            ]
            return {"tool": "nft", "rules": len(rules), "policies": re.findall(r"policy (\w+);", out)}
    if which("iptables-save"):
        code, out, err = run(["iptables-save"])
        if code == 0:
            rules = [ln for ln in out.splitlines() if ln.startswith("-A ")]
            policies = re.findall(r"^:\S+ (\w+)", out, re.M)
            return {"tool": "iptables", "rules": len(rules), "policies": policies}
    raise Skip("neither nft nor iptables-save is installed")


def sect_sysctl():
    values = {}
    for key in PARAMS.get("sysctl_keys", []):
        try:
            with open("/proc/sys/" + key.replace(".", "/")) as fh:
                values[key] = fh.read().strip()
        except OSError:
            values[key] = None
    return {"values": values}


def _hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sect_integrity():
    hashes, missing, errors = {}, [], []
    for root in PARAMS.get("integrity_paths", []):
        if not os.path.lexists(root):
            missing.append(root)
            continue
        paths = (
            [root]
            if not os.path.isdir(root)
            else sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
        )
        for path in paths[:MAX_ITEMS]:
            try:
                st = os.lstat(path)
                if stat.S_ISREG(st.st_mode):
                    hashes[path] = _hash(path)
                elif stat.S_ISLNK(st.st_mode):
                    hashes[path] = "symlink:" + os.readlink(path)
            except OSError as e:
                errors.append("%s: %s" % (path, e.strerror))
    return {"hashes": hashes, "missing_roots": missing, "errors": errors}


SECTIONS = {
    "sshd": sect_sshd,
    "listening": sect_listening,
    "suid": sect_suid,
    "world_writable": sect_world_writable,
    "accounts": sect_accounts,
    "updates": sect_updates,
    "certs": sect_certs,
    "firewall": sect_firewall,
    "sysctl": sect_sysctl,
    "integrity": sect_integrity,
}


def run_section(name):
    started = time.monotonic()
    try:
        entry = {"ok": True, "error": None, "data": SECTIONS[name]()}
    except Skip as e:
        entry = {"ok": False, "error": str(e), "data": None}
    except subprocess.TimeoutExpired:
        entry = {"ok": False, "error": "timed out after %ss" % STEP_TIMEOUT, "data": None}
    except Exception as e:  # one broken section must not hide the others
        entry = {"ok": False, "error": "%s: %s" % (type(e).__name__, e), "data": None}
    entry["seconds"] = round(time.monotonic() - started, 3)
    return entry


def main():
    wanted = PARAMS.get("sections") or list(SECTIONS)
    result = {"version": VERSION, "euid": os.geteuid(), "hostname": socket.gethostname(), "sections": {}}
    # sections mostly wait on find / apt-get: run them side by side, the scan takes as long as the slowest
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        entries = list(pool.map(run_section, wanted))
    result["sections"] = dict(zip(wanted, entries))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
