# ruff: noqa: UP031  (runs on the target: must stay valid on old Pythons)
"""Host side of a remote restore: move verified files from the staging directory into place.

Not imported: sent to the target and run as ``python3 -I -S -c SOURCE STAGE ROOT``, stdlib only,
valid on Python 3.4+. stdin holds the restored entries as NUL-separated records, a kind letter
(``d`` directory, ``f`` file, ``l`` symlink) then the path below both STAGE and ROOT, in path order
(a directory before its content).

Each file and symlink is renamed over its destination, so a reader sees the old or the new
version, never a mix; across a mount point it is copied beside the destination and then renamed.
A directory replaces a file or symlink in its way, and a file replaces an empty directory, as
``tar -x`` does. Directories get the mode, times and (as root) owner that ``tar -x`` gave them in
the staging directory, last, because moving content in changes them. Prints the number of entries
placed; on an error prints ``K of N files placed; PATH: REASON`` to stderr and exits 1. Each file is
fsynced before it is renamed into place and each directory once after its entries, before success.
"""

import errno
import os
import shutil
import stat
import sys

PART_SUFFIX = b".opskeeper-part"


def _copy_then_rename(src, dst):
    """Across file systems: a full copy beside ``dst`` first, then one atomic rename over it."""
    part = dst + PART_SUFFIX
    try:
        if os.path.lexists(part):
            os.unlink(part)
        shutil.copy2(src, part, follow_symlinks=False)
        if os.geteuid() == 0:
            st = os.lstat(src)
            os.lchown(part, st.st_uid, st.st_gid)
        os.replace(part, dst)
    except BaseException:
        try:
            os.unlink(part)
        except OSError:
            pass
        raise


def _fsync(path, flags=os.O_RDONLY):
    fd = os.open(path, flags | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _place(src, dst):
    if stat.S_ISREG(os.lstat(src).st_mode):
        _fsync(src)  # tar -x wrote it without: its data is on disk before its name is
    if os.path.isdir(dst) and not os.path.islink(dst):
        os.rmdir(dst)  # only an empty one: a directory with content in the way stops the restore
    parent = os.path.dirname(dst)
    if parent and not os.path.isdir(parent):
        os.makedirs(parent)
    try:
        os.replace(src, dst)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        _copy_then_rename(src, dst)


def _make_dir(dst):
    if os.path.islink(dst) or (os.path.lexists(dst) and not os.path.isdir(dst)):
        os.unlink(dst)
    if not os.path.isdir(dst):
        os.makedirs(dst)
    elif not os.access(dst, os.W_OK | os.X_OK):  # its mode is set last, from the staged copy
        os.chmod(dst, stat.S_IMODE(os.stat(dst).st_mode) | stat.S_IRWXU)


def _set_stat(path, st):
    if os.geteuid() == 0:
        os.lchown(path, st.st_uid, st.st_gid)
    os.chmod(path, stat.S_IMODE(st.st_mode))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def main():
    stage, root = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
    records = [r for r in sys.stdin.buffer.read().split(b"\0") if r]
    total = sum(1 for r in records if r[:1] != b"d")
    placed = 0
    rel = b""
    dirs = []
    try:
        for rec in records:  # before anything moves out of them (that changes their times)
            if rec[:1] == b"d":
                rel = rec[1:]
                src = os.path.join(stage, rel)
                st = os.lstat(src)
                dirs.append((rel, st))
                if not os.access(src, os.W_OK | os.X_OK):
                    os.chmod(src, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)
        for rec in records:
            kind, rel = rec[:1], rec[1:]
            if kind == b"d":
                _make_dir(os.path.join(root, rel))
            else:
                _place(os.path.join(stage, rel), os.path.join(root, rel))
                placed += 1
        for rel, st in reversed(dirs):
            _set_stat(os.path.join(root, rel), st)
        synced = set()
        for rec in records:  # each directory that got an entry (and each restored one) once, after them
            rel = rec[1:]
            for d in ([rel] if rec[:1] == b"d" else []) + [os.path.dirname(rel)]:
                if d not in synced:
                    synced.add(d)
                    _fsync(os.path.join(root, d) if d else root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        sys.stderr.write("%d of %d files placed; %s: %s\n" % (placed, total, os.fsdecode(rel), e.strerror or e))
        return 1
    sys.stdout.write("%d\n" % placed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
