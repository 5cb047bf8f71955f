# ruff: noqa: UP031  (runs on the target: must stay valid on old Pythons)
"""Host side of a remote restore: make the staging directory, then move verified files into place.

Not imported: sent to the target and run as ``python3 -I -S -c SOURCE COMMAND ...``, stdlib only,
valid on Python 3.4+:

* ``prepare TARGET BASE STAGE_NAME``: makes ROOT = TARGET/BASE and an empty ROOT/STAGE_NAME (a stale
  one of the same name is removed first).
* ``place STAGE TARGET BASE``: stdin holds the restored entries as NUL-separated records, a kind letter
  (``d`` directory, ``f`` file, ``l`` symlink) then the path below both STAGE and ROOT, in path order
  (a directory before its content).

Below TARGET every path is reached one component at a time through directory descriptors opened
with O_NOFOLLOW: a symlink planted in the target (``target/etc -> /``) is never followed, it is
replaced by a directory, so nothing is written outside the target.

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
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _parts(rel):
    parts = [p for p in rel.split(b"/") if p]
    if any(p in (b".", b"..") for p in parts):
        raise OSError(errno.EINVAL, "path escapes the restore target")
    return parts


def _step(fd, name):
    """Directory ``name`` in ``fd``, made when missing; a symlink or file there is replaced, never followed."""
    try:
        return os.open(name, _DIR, dir_fd=fd)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            raise
        if e.errno != errno.ENOENT:
            os.unlink(name, dir_fd=fd)
    try:
        os.mkdir(name, 0o700, dir_fd=fd)  # its mode comes last, from the staged copy
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise
    return os.open(name, _DIR, dir_fd=fd)


def _walk(fd, rel):
    """A new descriptor of directory ``rel`` below ``fd`` (made as needed)."""
    fd = os.dup(fd)
    try:
        for name in _parts(rel):
            nfd = _step(fd, name)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


class _Dirs:
    """Directory descriptors below ROOT, by path; files come in path order, so few are open at once."""

    def __init__(self, root_fd):
        self.root_fd = root_fd
        self.fds = {}

    def get(self, rel):
        fd = self.fds.get(rel)
        if fd is None:
            if len(self.fds) > 64:
                self.close()
            fd = self.fds[rel] = _walk(self.root_fd, rel)
            st = os.fstat(fd)
            if st.st_mode & 0o300 != 0o300 and st.st_uid == os.geteuid():  # read-only from an earlier
                os.fchmod(fd, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)  # restore: its mode is set last
        return fd

    def close(self):
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}


def _fsync_file(path):
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_then_rename(src, dfd, name):
    """Across file systems: a full copy beside ``name`` first, then one atomic rename over it."""
    part = name + PART_SUFFIX
    try:
        try:
            os.unlink(part, dir_fd=dfd)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        st = os.lstat(src)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), part, dir_fd=dfd)
        else:
            out = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dfd)
            with open(src, "rb") as fin, os.fdopen(out, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1024 * 1024)
                fout.flush()
                os.fchmod(fout.fileno(), stat.S_IMODE(st.st_mode))
                if os.geteuid() == 0:
                    os.fchown(fout.fileno(), st.st_uid, st.st_gid)
                os.utime(fout.fileno(), ns=(st.st_atime_ns, st.st_mtime_ns))
                os.fsync(fout.fileno())
        if stat.S_ISLNK(st.st_mode) and os.geteuid() == 0:
            os.chown(part, st.st_uid, st.st_gid, dir_fd=dfd, follow_symlinks=False)
        os.replace(part, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        try:
            os.unlink(part, dir_fd=dfd)
        except OSError:
            pass
        raise


def _place(src, dfd, name):
    if stat.S_ISREG(os.lstat(src).st_mode):
        _fsync_file(src)  # tar -x wrote it without: its data is on disk before its name is
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
    else:
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(name, dir_fd=dfd)  # only an empty one: a directory with content in the way stops the restore
    try:
        os.replace(src, name, dst_dir_fd=dfd)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        _copy_then_rename(src, dfd, name)


def _set_stat(fd, st):
    if os.geteuid() == 0:
        os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _open_root(target, base):
    os.makedirs(target, exist_ok=True)  # the target itself is the caller's choice
    tfd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return _walk(tfd, base)
    finally:
        os.close(tfd)


def prepare(target, base, stage_name):
    root_fd = _open_root(target, base)
    try:
        try:
            st = os.stat(stage_name, dir_fd=root_fd, follow_symlinks=False)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        else:  # a stale staging directory of this snapshot (an interrupted run)
            if stat.S_ISDIR(st.st_mode):
                _make_writable(root_fd, stage_name)
                shutil.rmtree(os.path.join(os.fsencode(target), base, stage_name))
            else:
                os.unlink(stage_name, dir_fd=root_fd)
        os.mkdir(stage_name, 0o700, dir_fd=root_fd)
    finally:
        os.close(root_fd)
    return 0


def _make_writable(dir_fd, name):
    """u+w on a directory tree, never following a symlink (``rmtree`` then can empty it)."""
    fd = os.open(name, _DIR, dir_fd=dir_fd)
    try:
        os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) | stat.S_IRWXU)
        for entry in os.listdir(fd):
            if stat.S_ISDIR(os.stat(entry, dir_fd=fd, follow_symlinks=False).st_mode):
                _make_writable(fd, entry)
    finally:
        os.close(fd)


def place(stage, target, base):
    records = [r for r in sys.stdin.buffer.read().split(b"\0") if r]
    total = sum(1 for r in records if r[:1] != b"d")
    placed = 0
    rel = b""
    dirs = []
    root_fd = -1
    walked = None
    try:
        for rec in records:  # before anything moves out of them (that changes their times)
            if rec[:1] == b"d":
                rel = rec[1:]
                src = os.path.join(stage, rel)
                st = os.lstat(src)
                dirs.append((rel, st))
                if not os.access(src, os.W_OK | os.X_OK):
                    os.chmod(src, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)
        root_fd = _open_root(target, base)
        walked = _Dirs(root_fd)
        for rec in records:
            kind, rel = rec[:1], rec[1:]
            if kind == b"d":
                walked.get(rel)
            else:
                parent, name = os.path.split(rel)
                _place(os.path.join(stage, rel), walked.get(parent), name)
                placed += 1
        walked.close()
        for rel, st in reversed(dirs):
            fd = _walk(root_fd, rel)
            try:
                _set_stat(fd, st)
            finally:
                os.close(fd)
        synced = set()
        for rec in records:  # each directory that got an entry (and each restored one) once, after them
            rel = rec[1:]
            for d in ([rel] if rec[:1] == b"d" else []) + [os.path.dirname(rel)]:
                if d not in synced:
                    synced.add(d)
                    fd = _walk(root_fd, d)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
    except OSError as e:
        sys.stderr.write("%d of %d files placed; %s: %s\n" % (placed, total, os.fsdecode(rel), e.strerror or e))
        return 1
    finally:
        if walked is not None:
            walked.close()
        if root_fd >= 0:
            os.close(root_fd)
    sys.stdout.write("%d\n" % placed)
    return 0


def main():
    args = [os.fsencode(a) for a in sys.argv[2:]]
    if sys.argv[1] == "prepare":
        try:
            return prepare(*args)
        except OSError as e:
            sys.stderr.write("%s: %s\n" % (os.fsdecode(e.filename or args[0]), e.strerror or e))
            return 1
    return place(*args)


if __name__ == "__main__":
    sys.exit(main())
