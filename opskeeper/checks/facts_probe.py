# ruff: noqa: UP031  (runs on the target: must stay valid on old Pythons)
"""Remote fact probe: stdlib-only, run on the target as ``python3 -I -S - [CPU_SAMPLE_S]`` with this file on stdin.

Prints one JSON object with exactly the fields of ``opskeeper.checks.facts.HostFacts``
and the same meanings as the local psutil collector (psutil's Linux formulas are
reproduced: disk partitions with ``all=False``, MemAvailable, busy CPU time
excluding idle+iowait, process names extended from cmdline, TCP LISTEN sockets).
It must stay valid on Python 3.7+ (old targets): no walrus, no f-strings with "=", no datetime.UTC.
"""

import os
import socket
import struct
import sys
import time

# Few imports on purpose: the probe runs once per host per check and its start-up is most of its CPU
# (json pulls in re and enum, datetime and subprocess are not free): ~20 ms less per host.

PSEUDO_FS = {
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs", "pstore", "debugfs",
    "tracefs", "mqueue", "hugetlbfs", "fusectl", "configfs", "bpf", "autofs", "binfmt_misc", "nsfs",
    "squashfs", "overlay", "rpc_pipefs", "ramfs",
}  # fmt: skip  (the same list as opskeeper.checks.facts)


def _read(path):
    with open(path) as fh:
        return fh.read()


def _iso(ts):
    """``datetime.fromtimestamp(ts, timezone.utc).isoformat()`` without importing datetime."""
    whole = int(ts)
    micro = int(round((ts - whole) * 1e6))
    if micro >= 1000000:
        whole, micro = whole + 1, 0
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return text + (".%06d" % micro if micro else "") + "+00:00"


def _json(value):
    """Compact JSON of dicts, lists, str, int, float, bool and None (ASCII only, like json.dumps)."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _json_str(value)
    if isinstance(value, dict):
        return "{" + ",".join(_json_str(k) + ":" + _json(v) for k, v in sorted(value.items())) + "}"
    return "[" + ",".join(_json(v) for v in value) + "]"


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _json_str(text):
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code > 0xFFFF:
            code -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 | (code >> 10), 0xDC00 | (code & 0x3FF)))
        else:
            out.append("\\u%04x" % code)
    return '"' + "".join(out) + '"'


def _os_name():
    try:
        for line in _read("/etc/os-release").splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return os.uname().sysname


def _cpu_times():
    fields = [float(x) for x in _read("/proc/stat").splitlines()[0].split()[1:]]
    fields += [0.0] * (10 - len(fields))
    total = sum(fields) - fields[8] - fields[9]  # guest time is already in user/nice
    return total, total - fields[3] - fields[4]  # busy = total - idle - iowait


def _cpu_pct(sample_s):
    t1, b1 = _cpu_times()
    time.sleep(sample_s)
    t2, b2 = _cpu_times()
    if t2 <= t1:
        return 0.0
    return round(min(100.0, max(0.0, 100.0 * (b2 - b1) / (t2 - t1))), 1)


def _meminfo():
    info = {}
    for line in _read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            info[key] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return info


def _pct(used, total):
    return round(100.0 * used / total, 1) if total else 0.0


def _disks():
    dev_fs = set()
    for line in _read("/proc/filesystems").splitlines():
        parts = line.split()
        if parts and (not line.startswith("nodev") or parts[-1] == "zfs"):
            dev_fs.add(parts[-1])
    mounts = os.path.realpath("/etc/mtab") if os.path.isfile("/etc/mtab") else "/proc/self/mounts"
    out, seen = [], set()
    for line in _read(mounts).splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        device = "" if parts[0] == "none" else _unescape(parts[0])
        mount, fstype = _unescape(parts[1]), parts[2]
        if not device or fstype not in dev_fs or fstype in PSEUDO_FS or device in seen:
            continue
        seen.add(device)
        try:
            st = os.statvfs(mount)
        except OSError:
            continue
        total = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        inodes_used = st.f_files - st.f_ffree
        out.append({
            "mount": mount, "device": device, "fstype": fstype,
            "total_bytes": total, "used_bytes": used, "free_bytes": free,
            "used_pct": _pct(used, used + free),
            "inodes_total": st.f_files, "inodes_used": inodes_used, "inodes_pct": _pct(inodes_used, st.f_files),
        })
    return out


def _unescape(field):
    # /proc/mounts escapes space, tab, newline and backslash as octal.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _failed_units():
    if not os.path.isdir("/run/systemd/system"):
        return None
    import subprocess  # only where systemd runs

    try:
        proc = subprocess.run(["systemctl", "--failed", "--no-legend", "--plain", "--no-pager"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [line.split()[0] for line in proc.stdout.decode("utf-8", "replace").splitlines() if line.strip()]


def _process_names():
    names = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = _read("/proc/%s/stat" % pid)
            name = stat[stat.find("(") + 1:stat.rfind(")")]
            if len(name) >= 15:  # comm is truncated: psutil takes the cmdline's basename when it extends it
                with open("/proc/%s/cmdline" % pid, "rb") as fh:
                    argv0 = fh.read().split(b"\0")[0].decode("utf-8", "replace")
                extended = os.path.basename(argv0)
                if extended.startswith(name):
                    name = extended
        except OSError:
            continue
        if name:
            names.add(name)
    return sorted(names)


def _decode_address(hexaddr, family):
    ip_hex, port_hex = hexaddr.split(":")
    raw = bytes.fromhex(ip_hex)
    if family == socket.AF_INET:
        raw = raw[::-1] if sys.byteorder == "little" else raw
    elif sys.byteorder == "little":
        raw = struct.pack(">4I", *struct.unpack("<4I", raw))
    return socket.inet_ntop(family, raw), int(port_hex, 16)


def _listening_proc():
    found = set()
    for proto, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = _read("/proc/net/" + proto).splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A":  # TCP_LISTEN
                address, port = _decode_address(parts[1], family)
                found.add((port, proto, address))
    return found


_NETLINK_SOCK_DIAG, _SOCK_DIAG_BY_FAMILY, _NLMSG_ERROR, _NLMSG_DONE = 4, 20, 2, 3
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_TCP_LISTEN = 10


def _listening_netlink():
    """TCP LISTEN sockets via sock_diag (as ss does): /proc/net/tcp walks every socket of every namespace."""
    found = set()
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as sock:
        for seq, (family, proto) in enumerate(((socket.AF_INET, "tcp"), (socket.AF_INET6, "tcp6")), 1):
            req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN) + bytes(48)
            sock.send(struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, seq, 0) + req)
            done = False
            while not done:
                data = sock.recv(1 << 16)
                off = 0
                while off + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, off)
                    if kind == _NLMSG_DONE:
                        done = True
                        break
                    if kind == _NLMSG_ERROR or length < 16:
                        raise OSError("sock_diag refused the dump")
                    msg = off + 16  # inet_diag_msg: family, state, timer, retrans, then the socket id
                    fam = data[msg]
                    port = struct.unpack_from(">H", data, msg + 4)[0]
                    raw = data[msg + 8:msg + (12 if fam == socket.AF_INET else 24)]
                    found.add((port, proto, socket.inet_ntop(fam, raw)))
                    off += (length + 3) & ~3
    return found


def _listening():
    try:
        found = _listening_netlink()
    except (OSError, AttributeError, struct.error):
        found = _listening_proc()
    return [{"proto": proto, "address": address, "port": port} for port, proto, address in sorted(found)]


def collect(cpu_sample_s):
    boot = 0.0
    for line in _read("/proc/stat").splitlines():
        if line.startswith("btime "):
            boot = float(line.split()[1])
    mem = _meminfo()
    load = os.getloadavg()
    uname = os.uname()
    swap_total = mem.get("SwapTotal", 0)
    swap_used = swap_total - mem.get("SwapFree", 0)
    mem_total = mem.get("MemTotal", 0)
    mem_available = mem.get("MemAvailable", mem.get("MemFree", 0) + mem.get("Cached", 0) + mem.get("Buffers", 0))
    cpu_pct = _cpu_pct(cpu_sample_s)
    return {
        "hostname": socket.gethostname(),
        "collected_at": _iso(time.time()),
        "os": _os_name(),
        "kernel": uname.release,
        "arch": uname.machine,
        "boot_time": _iso(boot),
        "uptime_s": round(time.time() - boot, 1),
        "cpu_count": os.cpu_count() or 1,
        "cpu_pct": cpu_pct,
        "load1": round(load[0], 2),
        "load5": round(load[1], 2),
        "load15": round(load[2], 2),
        "mem_total": mem_total,
        "mem_available": mem_available,
        "mem_used_pct": _pct(mem_total - mem_available, mem_total),
        "swap_total": swap_total,
        "swap_used": swap_used,
        "swap_used_pct": _pct(swap_used, swap_total),
        "disks": _disks(),
        "failed_units": _failed_units(),
        "processes": _process_names(),
        "listening": _listening(),
    }


if __name__ == "__main__":
    sample = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2
    sys.stdout.write(_json(collect(sample)))
    sys.stdout.write("\n")
