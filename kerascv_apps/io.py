"""Atomic writes, one writer per directory, and cleanup of what killed processes left behind.

Everything is staged next to the destination (same filesystem) and moved with ``os.replace``.
Staging names carry the writer's PID (``.<name>.tmp-<pid>-<random>``), so leftovers of a
process that was killed can be told apart from the work of a live one (``clean_stale``).
"""

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
import time


def _staging_name(path, suffix=""):
    parent = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(os.path.normpath(path))
    return parent, f".{base}.tmp-{os.getpid()}-", suffix


def atomic_write_bytes(path, data):
    """Writes ``data`` to ``path`` atomically (temp file in the same folder, then rename)."""
    parent, prefix, _ = _staging_name(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_file(path, suffix=""):
    """Yields a temporary path; on success it is renamed to ``path``, on error removed.

    ``suffix`` keeps an extension that a writer insists on (Keras needs ``.keras``).
    """
    parent, prefix, _ = _staging_name(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=parent)
    os.close(fd)
    os.remove(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_dir(dest, overwrite=False, create=True):
    """Yields a staging directory that becomes ``dest`` only if the block succeeds.

    Refuses to replace an existing ``dest`` unless ``overwrite`` (nothing is silently
    overwritten); with ``overwrite`` the old directory is swapped out, then removed. With
    ``create=False`` the yielded path does not exist yet (for writers that create it).
    """
    dest = os.path.abspath(dest)
    if os.path.exists(dest) and not overwrite:
        raise FileExistsError(f"{dest} already exists; choose another destination or overwrite")
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.tmp-{os.getpid()}-", dir=parent)
    if not create:
        os.rmdir(stage)
    try:
        yield stage
        if os.path.exists(dest):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.old-{os.getpid()}-",
                                   dir=parent)
            os.rmdir(old)
            os.replace(dest, old)
            os.replace(stage, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, dest)
    finally:
        if os.path.exists(stage):
            shutil.rmtree(stage, ignore_errors=True)


def save_model_atomic(model, path):
    """``model.save(path)`` through a staging file, so a crash never leaves half a .keras file."""
    if not str(path).endswith(".keras"):
        raise ValueError(f"model path must end with .keras, got {path!r}")
    with atomic_file(path, suffix=".keras") as tmp:
        model.save(tmp)


def load_model(path, compile=True):
    """Loads a ``.keras`` model with ``safe_mode=True`` after registering this package's layers."""
    import keras

    import kerascv_apps.layers  # noqa: F401  (registers custom layers)

    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist (expected a .keras file)")
    return keras.models.load_model(path, safe_mode=True, compile=compile)


# --- one writer per directory ------------------------------------------------------------------
class LockedError(RuntimeError):
    """Another live process writes into the same directory."""


def pid_alive(pid):
    """Whether a process with this PID exists on this host."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except (OverflowError, ValueError):
        return False
    return True


_HELD = {}  # lock file -> nesting depth held by this process


def _read_lock(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def directory_lock(lock_file, what):
    """Holds ``lock_file`` while the block runs; it records the owner (JSON: pid, host, started).

    The lock is an OS file lock (``flock``) on that file, which the kernel releases when the
    owner dies, however it dies: a lock file left by a killed process is taken over, while
    a live owner makes this raise ``LockedError`` naming its PID and host. A lock file written
    on another host (shared filesystems) is refused too, since its owner cannot be checked.
    Re-entrant within one process. ``what`` names the protected thing in messages.
    """
    import fcntl

    lock_file = os.path.abspath(lock_file)
    if _HELD.get(lock_file):
        _HELD[lock_file] += 1
        try:
            yield
        finally:
            _HELD[lock_file] -= 1
        return
    os.makedirs(os.path.dirname(lock_file), exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    for _ in range(5):
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = _read_lock(lock_file) or {}
            raise LockedError(
                f"{what} is in use by process {owner.get('pid', '?')} on host "
                f"{owner.get('host', '?')} (lock file {lock_file}); wait for it to finish or "
                f"choose another directory") from None
        try:
            same = os.stat(lock_file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # its owner removed it meanwhile: lock the new file instead
            os.close(fd)
            continue
        owner = _read_lock(lock_file)
        if owner and owner.get("host") not in (None, me["host"]):
            os.close(fd)
            raise LockedError(
                f"{what} is locked by process {owner.get('pid')} on host {owner['host']} (lock "
                f"file {lock_file}); this host cannot tell whether it still runs. If it does "
                f"not, delete the lock file.")
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(me).encode())
        os.fsync(fd)
        break
    else:
        raise LockedError(f"could not take the lock {lock_file} for {what}")
    _HELD[lock_file] = 1
    try:
        yield
    finally:
        _HELD.pop(lock_file, None)
        with contextlib.suppress(FileNotFoundError):
            os.remove(lock_file)  # removed while still locked, then released
        os.close(fd)


def run_dir_lock(run_dir):
    """The lock of a training run directory (``run_dir/.lock``)."""
    return directory_lock(os.path.join(run_dir, ".lock"), f"run directory {run_dir}")


def destination_lock(dest):
    """The lock of a directory published as a whole (exports): ``.<name>.lock`` beside it."""
    dest = os.path.abspath(dest)
    return directory_lock(os.path.join(os.path.dirname(dest), f".{os.path.basename(dest)}.lock"),
                          f"destination {dest}")


def check_disjoint(out, read_paths, flag="--out"):
    """Refuses an output folder that contains, or lies inside, a path the command reads."""
    out_real = os.path.realpath(out)
    for path in read_paths:
        if not path:
            continue
        real = os.path.realpath(path)
        inside = real.startswith(out_real + os.sep) or out_real.startswith(real + os.sep)
        if out_real == real or inside:
            raise ValueError(f"{flag} {out} overlaps {path}, which this command reads; writing "
                             f"there could destroy it. Choose a folder outside {path}.")


# --- leftovers of killed processes -----------------------------------------------------------
_STAGING = re.compile(r"^\..+\.(?:tmp|old)-(\d+)-[^/]*$")
_TEMP_DIR = re.compile(r"^kcv_[a-z0-9]+_(\d+)_")


def _dead(pid_text):
    try:
        pid = int(pid_text)
    except (TypeError, ValueError):
        return False
    return pid != os.getpid() and not pid_alive(pid)


def stale_leftovers(roots=(), temp_dir=None, max_depth=4):
    """Paths left by dead processes: staging files/folders under ``roots`` (PID in the name,
    searched ``max_depth`` folder levels deep), lock files whose owner is dead, and
    ``kcv_*_<pid>_*`` folders in the temp directory (``temp_dir=False`` skips it)."""
    found = []
    for root in roots:
        root = os.path.abspath(root)
        if not os.path.isdir(root):
            continue
        base_depth = root.rstrip(os.sep).count(os.sep)
        for folder, dirs, files in os.walk(root):
            for name in list(dirs) + files:
                m = _STAGING.match(name)
                path = os.path.join(folder, name)
                if m and _dead(m.group(1)):
                    found.append(path)
                    if name in dirs:
                        dirs.remove(name)
                elif name == ".lock" or (name.startswith(".") and name.endswith(".lock")):
                    owner = _read_lock(path)
                    if (owner and owner.get("host") == socket.gethostname()
                            and _dead(owner.get("pid", 0))):
                        found.append(path)
            if folder.count(os.sep) - base_depth + 1 >= max_depth:
                dirs[:] = []
    if temp_dir is not False:
        temp_dir = temp_dir or tempfile.gettempdir()
        with contextlib.suppress(OSError):
            for name in sorted(os.listdir(temp_dir)):
                m = _TEMP_DIR.match(name)
                if m and _dead(m.group(1)):
                    found.append(os.path.join(temp_dir, name))
    return found


def clean_stale(roots=(), temp_dir=None, dry_run=False, max_depth=4):
    """Removes ``stale_leftovers`` (unless ``dry_run``) and returns their paths."""
    found = stale_leftovers(roots, temp_dir, max_depth)
    if not dry_run:
        for path in found:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
    return found
