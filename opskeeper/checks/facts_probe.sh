# opskeeper fact probe, fallback for hosts without python3: POSIX sh + awk (+ df, getconf, date).
# Run as `sh -s -- CPU_SAMPLE_S` with this file on stdin. Prints the same JSON object as facts_probe.py
# (HostFacts). Approximations: process names longer than 15 characters stay truncated (no cmdline
# lookup), timestamps have whole seconds, disk sizes come from `df -k` (exact for 1 KiB multiples).
S=${1:-0.2}
LC_ALL=C
export LC_ALL
c1=$(head -n 1 /proc/stat)
sleep "$S" 2>/dev/null || sleep 1
c2=$(head -n 1 /proc/stat)
# Mounts psutil.disk_partitions(all=False) keeps: a device, a block-device file system, not pseudo.
# (The same PSEUDO_FS exclusions as the Python probe; only squashfs can pass the block-device test.)
MOUNTS_AWK='NR == FNR { if ($1 != "nodev") fs[$1] = 1; else if ($2 == "zfs") fs["zfs"] = 1; next }
  $1 != "none" && ($3 in fs) && $3 != "squashfs" && !($1 in seen) { seen[$1] = 1; print $1, $2, $3 }'
mounts=$(awk "$MOUNTS_AWK" /proc/filesystems /proc/self/mounts | awk '{ print $2 }')
{
  echo "@cpu1 $c1"
  echo "@cpu2 $c2"
  echo "@now $(date -u +%s)"
  echo "@hostname $(cat /proc/sys/kernel/hostname 2>/dev/null || hostname)"
  echo "@kernel $(uname -r)"
  echo "@arch $(uname -m)"
  echo "@ncpu $(getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c '^processor' /proc/cpuinfo)"
  echo "@section os"; grep '^PRETTY_NAME=' /etc/os-release 2>/dev/null
  echo "@section stat"; cat /proc/stat
  echo "@section meminfo"; cat /proc/meminfo
  echo "@section loadavg"; cat /proc/loadavg
  echo "@section mounts"; awk "$MOUNTS_AWK" /proc/filesystems /proc/self/mounts
  # shellcheck disable=SC2086  # one word per mount point on purpose
  echo "@section df"; [ -n "$mounts" ] && df -P -k $mounts 2>/dev/null
  # shellcheck disable=SC2086
  echo "@section dfi"; [ -n "$mounts" ] && df -P -i $mounts 2>/dev/null
  echo "@section procs"; cat /proc/[0-9]*/stat 2>/dev/null
  echo "@section tcp"; cat /proc/net/tcp 2>/dev/null
  echo "@section tcp6"; cat /proc/net/tcp6 2>/dev/null
  echo "@section failed"
  if [ -d /run/systemd/system ]; then echo "@systemd"; systemctl --failed --no-legend --plain --no-pager 2>/dev/null; fi
} | awk '
function hex(s,   i, n) { n = 0; s = tolower(s)
  for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
  return n }
function js(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/[\001-\037]/, "", s); return "\"" s "\"" }
function pct(u, t) { return t > 0 ? sprintf("%.1f", 100.0 * u / t) : "0.0" }
function iso(t,   d, s, z, era, doe, yoe, y, doy, mp, dd, m) {
  d = int(t / 86400); s = t - d * 86400; z = d + 719468
  era = int(z / 146097); doe = z - era * 146097
  yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
  y = yoe + era * 400; doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100)); mp = int((5 * doy + 2) / 153)
  dd = doy - int((153 * mp + 2) / 5) + 1; m = mp < 10 ? mp + 3 : mp - 9; if (m <= 2) y++
  return sprintf("%04d-%02d-%02dT%02d:%02d:%02d+00:00", y, m, dd, int(s / 3600), int(s % 3600 / 60), s % 60) }
function cpu(line,   f, n, i, tot) { n = split(line, f, " ")
  for (i = 2; i <= 11; i++) if (i > n) f[i] = 0
  tot = 0; for (i = 2; i <= 11; i++) tot += f[i]; tot -= f[10] + f[11]
  CT = tot; CB = tot - f[5] - f[6] }
function v4(a) { return hex(substr(a, 7, 2)) "." hex(substr(a, 5, 2)) "." hex(substr(a, 3, 2)) "." hex(substr(a, 1, 2)) }
function v6(a,   w, g, i, word, bs, bl, cs, cl, out) {
  for (w = 0; w < 4; w++) { word = substr(a, w * 8 + 1, 8)
    g[w * 2] = hex(substr(word, 7, 2) substr(word, 5, 2)); g[w * 2 + 1] = hex(substr(word, 3, 2) substr(word, 1, 2)) }
  bs = -1; bl = 0; cs = -1; cl = 0
  for (i = 0; i < 8; i++) if (g[i] == 0) { if (cs < 0) { cs = i; cl = 0 } cl++; if (cl > bl) { bs = cs; bl = cl } } else cs = -1
  if (bl < 2) bs = -1
  if (bs == 0 && (bl == 6 || (bl == 5 && g[5] == 65535)))
    return (bl == 5 ? "::ffff:" : "::") int(g[6] / 256) "." g[6] % 256 "." int(g[7] / 256) "." g[7] % 256
  out = ""
  for (i = 0; i < 8; i++) {
    if (i == bs) { out = out "::"; i += bl - 1; continue }
    if (out != "" && substr(out, length(out)) != ":") out = out ":"
    out = out sprintf("%x", g[i]) }
  return out }
/^@cpu1 / { cpu(substr($0, 7)); T1 = CT; B1 = CB; next }
/^@cpu2 / { cpu(substr($0, 7)); T2 = CT; B2 = CB; next }
/^@now / { NOW = $2; next }
/^@hostname / { HOST = substr($0, 11); next }
/^@kernel / { KERNEL = substr($0, 9); next }
/^@arch / { ARCH = substr($0, 7); next }
/^@ncpu / { NCPU = $2 + 0; next }
/^@section / { SEC = $2; next }
/^@systemd/ { SYSTEMD = 1; next }
SEC == "os" { sub(/^PRETTY_NAME=/, ""); gsub(/^"|"$/, ""); OS = $0; next }
SEC == "stat" && $1 == "btime" { BOOT = $2 + 0; next }
SEC == "meminfo" { sub(/:$/, "", $1); MEM[$1] = $2 * ($3 == "kB" ? 1024 : 1); next }
SEC == "loadavg" { L1 = $1; L5 = $2; L15 = $3; next }
SEC == "mounts" { NM++; MDEV[NM] = $1; MPT[NM] = $2; MFS[NM] = $3; next }
SEC == "df" && FNR > 0 && $1 != "Filesystem" && NF >= 6 { DTOT[$6] = $2 * 1024; DUSED[$6] = $3 * 1024; DFREE[$6] = $4 * 1024; next }
SEC == "dfi" && $1 != "Filesystem" && NF >= 6 { ITOT[$6] = $2; IUSED[$6] = $3; next }
SEC == "procs" { i = index($0, "("); j = 0; for (k = length($0); k > i; k--) if (substr($0, k, 1) == ")") { j = k; break }
  if (i && j) { n = substr($0, i + 1, j - i - 1); if (n != "") PROC[n] = 1 }; next }
(SEC == "tcp" || SEC == "tcp6") && $4 == "0A" { split($2, p, ":"); addr = SEC == "tcp" ? v4(p[1]) : v6(p[1])
  LISTEN[sprintf("%05d %s %s", hex(p[2]), SEC, addr)] = 1; next }
SEC == "failed" && SYSTEMD && NF { FAILED[++NF_] = $1; next }
END {
  avail = ("MemAvailable" in MEM) ? MEM["MemAvailable"] : MEM["MemFree"] + MEM["Cached"] + MEM["Buffers"]
  swt = MEM["SwapTotal"] + 0; swu = swt - MEM["SwapFree"]
  cpct = T2 > T1 ? 100.0 * (B2 - B1) / (T2 - T1) : 0; if (cpct < 0) cpct = 0; if (cpct > 100) cpct = 100
  printf "{\"arch\":%s,\"boot_time\":%s,\"collected_at\":%s,\"cpu_count\":%d,\"cpu_pct\":%.1f,", js(ARCH), js(iso(BOOT)), js(iso(NOW)), (NCPU > 0 ? NCPU : 1), cpct
  printf "\"disks\":["
  sep = ""
  for (m = 1; m <= NM; m++) { mp = MPT[m]; if (!(mp in DTOT)) continue
    used = DUSED[mp]; free = DFREE[mp]
    printf "%s{\"device\":%s,\"free_bytes\":%.0f,\"fstype\":%s,\"inodes_pct\":%s,\"inodes_total\":%.0f,\"inodes_used\":%.0f,\"mount\":%s,\"total_bytes\":%.0f,\"used_bytes\":%.0f,\"used_pct\":%s}", sep, js(MDEV[m]), free, js(MFS[m]), pct(IUSED[mp], ITOT[mp]), ITOT[mp], IUSED[mp], js(mp), DTOT[mp], used, pct(used, used + free)
    sep = "," }
  printf "],\"failed_units\":"
  if (!SYSTEMD) printf "null"; else { printf "["; for (i = 1; i <= NF_; i++) printf "%s%s", (i > 1 ? "," : ""), js(FAILED[i]); printf "]" }
  printf ",\"hostname\":%s,\"kernel\":%s,\"listening\":[", js(HOST), js(KERNEL)
  n = 0; for (k in LISTEN) KEYS[++n] = k
  for (i = 2; i <= n; i++) { v = KEYS[i]; for (j = i - 1; j >= 1 && KEYS[j] > v; j--) KEYS[j + 1] = KEYS[j]; KEYS[j + 1] = v }
  for (i = 1; i <= n; i++) { split(KEYS[i], f, " "); printf "%s{\"address\":%s,\"port\":%d,\"proto\":%s}", (i > 1 ? "," : ""), js(f[3]), f[1] + 0, js(f[2]) }
  printf "],\"load1\":%.2f,\"load15\":%.2f,\"load5\":%.2f,", L1, L15, L5
  printf "\"mem_available\":%.0f,\"mem_total\":%.0f,\"mem_used_pct\":%s,", avail, MEM["MemTotal"], pct(MEM["MemTotal"] - avail, MEM["MemTotal"])
  printf "\"os\":%s,\"processes\":[", js(OS == "" ? "Linux" : OS)
  n = 0; for (k in PROC) NAMES[++n] = k
  for (i = 2; i <= n; i++) { v = NAMES[i]; for (j = i - 1; j >= 1 && NAMES[j] > v; j--) NAMES[j + 1] = NAMES[j]; NAMES[j + 1] = v }
  for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? "," : ""), js(NAMES[i])
  printf "],\"swap_total\":%.0f,\"swap_used\":%.0f,\"swap_used_pct\":%s,\"uptime_s\":%.1f}\n", swt, swu, pct(swu, swt), NOW - BOOT
}'
