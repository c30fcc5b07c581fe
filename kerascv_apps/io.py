"""Atomic writes, one writer per directory, and cleanup of what killed processes left behind.

Everything is staged next to the destination (same filesystem) and moved with ``os.replace``
(directories: an atomic exchange where the OS has one). Every staging or backup name this
package creates carries its ownership marker, the ``kcv-`` tag, and the writer's PID::

    .<name>.kcv-tmp-<pid>-<random>[.ext]    staging file or folder (becomes <name>)
    .<name>.kcv-old-<pid>-<random>          the previous <name>, until the new one is in place

Cleanup (``find_leftovers``, ``clean_stale``) only ever touches names with that marker whose
writer is dead, dead-owner lock files this package wrote, ``kcv_*_<pid>_*`` temp folders, and
-- for the staging names of earlier versions, which had no marker -- only what cannot be a
user's file: staging folders that hold no file, and staging files of the file names the
trainer writes (``last.keras``, ``history.csv``, ...). It searches only the folders it is
given (never their parents), and says for each path why it is removed. An orphaned backup of
a destination that is missing (a writer killed between its two renames) is restored, never
deleted.
"""

import collections
import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import time

MARK = "kcv"  # the ownership marker in every staging/backup name this package creates


def test_hook(step):
    """Kill-injection point for tests: ``KERASCV_APPS_KILL_AT=<step>`` SIGKILLs the process
    when it reaches ``step`` (e.g. ``dir.exchanged``), like a kill by the user or the OOM
    killer would, without any cleanup running."""
    if os.environ.get("KERASCV_APPS_KILL_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


def staging_name(dest, kind="tmp", suffix=""):
    """``.<name>.kcv-<kind>-<pid>-<random><suffix>`` in the folder of ``dest`` (not created)."""
    dest = os.path.abspath(dest)
    parent = os.path.dirname(dest)
    base = os.path.basename(os.path.normpath(dest))
    rand = os.urandom(5).hex()
    return os.path.join(parent, f".{base}.{MARK}-{kind}-{os.getpid()}-{rand}{suffix}")


def _staging_name(path, suffix=""):
    parent = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(os.path.normpath(path))
    return parent, f".{base}.{MARK}-tmp-{os.getpid()}-", suffix


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


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a, b):
    """Atomically swaps the paths ``a`` and ``b`` (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False where the OS or filesystem has no exchange (the caller falls back to two
    renames); ``KERASCV_APPS_NO_EXCHANGE=1`` forces that fallback (tests)."""
    if os.environ.get("KERASCV_APPS_NO_EXCHANGE"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), a, None, b)


def _rmtree(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


@contextlib.contextmanager
def atomic_dir(dest, overwrite=False, create=True):
    """Yields a staging directory that becomes ``dest`` only if the block succeeds.

    Refuses to replace an existing ``dest`` unless ``overwrite`` (nothing is silently
    overwritten). Replacing is atomic from a reader's view: the new tree is exchanged with
    the old one in one step (``renameat2``), so ``dest`` always holds the old or the new
    complete tree, and the old one is removed afterwards. Without an exchange the old tree is
    renamed to a ``kcv-old`` backup first; a kill between the two renames leaves that backup,
    which the next writer of ``dest`` (``recover_destination``) or ``clean`` puts back.
    With ``create=False`` the yielded path does not exist yet (for writers that create it).
    """
    dest = os.path.abspath(dest)
    # what killed writers of dest left: its backup put back, their staging copies removed
    apply_leftovers(destination_leftovers(dest))
    if os.path.exists(dest) and not overwrite:
        raise FileExistsError(f"{dest} already exists; choose another destination or overwrite")
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    stage = staging_name(dest)
    if create:
        os.mkdir(stage)
    try:
        yield stage
        test_hook("dir.staged")
        if not os.path.exists(dest):
            os.replace(stage, dest)
            test_hook("dir.published")
        elif exchange(stage, dest):
            test_hook("dir.exchanged")  # dest: the new tree; stage: the old one
            _rmtree(stage)
        else:
            old = staging_name(dest, "old")
            os.replace(dest, old)
            test_hook("dir.moved_aside")
            os.replace(stage, dest)
            test_hook("dir.published")
            _rmtree(old)
    finally:
        if os.path.lexists(stage):
            _rmtree(stage)


def recover_destination(dest):
    """Puts back the backup of ``dest`` that a writer killed between its two renames left
    (``dest`` missing, one ``kcv-old`` backup of it whose writer is dead); returns its path."""
    dest = os.path.abspath(dest)
    if os.path.lexists(dest):
        return None
    parent, base = os.path.dirname(dest), os.path.basename(dest)
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(parent)):
            m = _MARKED.match(name)
            if m and m["base"] == base and m["kind"] == "old" and _dead(m["pid"]):
                os.replace(os.path.join(parent, name), dest)
                return os.path.join(parent, name)
    return None
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
    check_keras_file(path)
    try:
        return keras.models.load_model(path, safe_mode=True, compile=compile)
    except (TypeError, ValueError, KeyError) as e:
        text = str(e)
        missing = re.search(r"Could not (?:locate|deserialize) (?:class|function) '([^']+)'", text)
        if missing:
            raise ModelFileError(
                f"{path}: the model uses {missing.group(1)!r}, which is not a registered Keras "
                f"or kerascv_apps class (saved by other code, or a Lambda layer, which "
                f"safe_mode refuses); import the module that registers it first") from None
        raise ModelFileError(f"{path}: cannot rebuild the model from its config.json "
                             f"({type(e).__name__}: {text.splitlines()[0][:300] if text else ''})"
                             ) from None


class ModelFileError(ValueError):
    """A file given as a ``.keras`` model is not one this package can load (bad input)."""


# a .keras file is a zip: config.json, metadata.json and model.weights.h5 (stored, not deflated);
# more unpacked bytes than this many times the file size is a zip bomb, not a model
MAX_UNPACK_RATIO = 50
MAX_UNPACK_FLOOR = 256 << 20  # small files may unpack to this much whatever the ratio


def check_keras_file(path):
    """Refuses, before Keras opens it, a ``.keras`` path that is empty, not a zip archive,
    has no ``config.json``, or would unpack to far more than its size (zip bomb)."""
    import zipfile

    size = os.path.getsize(path)
    if os.path.isdir(path):
        raise ModelFileError(f"{path}: a folder, expected a .keras file")
    if size == 0:
        raise ModelFileError(f"{path}: the file is empty (0 bytes), expected a .keras model "
                             f"(a zip archive); was its save interrupted?")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a .keras model (expected a zip archive with "
                             f"config.json and model.weights.h5); the file is corrupt or of "
                             f"another kind")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise ModelFileError(f"{path}: corrupt .keras archive ({e})") from None
    names = {i.filename for i in infos}
    if "config.json" not in names:
        raise ModelFileError(f"{path}: a zip archive without config.json, so not a .keras "
                             f"model (it holds {', '.join(sorted(names)[:5]) or 'nothing'})")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > max(MAX_UNPACK_FLOOR, MAX_UNPACK_RATIO * size):
        raise ModelFileError(f"{path}: {size:,} bytes that unpack to {unpacked:,} bytes (more "
                             f"than {MAX_UNPACK_RATIO}x); refused as a zip bomb")


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


def confined_path(root, relative, what):
    """``root/relative`` for a path read from a data file (a manifest's shard name), refused
    (``ValueError`` naming ``what``) unless it stays inside ``root``: no absolute path, no
    ``..``, no symbolic link on the way, and resolving inside ``root``."""
    if not isinstance(relative, str) or not relative:
        raise ValueError(f"{what}: expected a file name inside {root}, got {relative!r}")
    if os.path.isabs(relative) or relative.startswith(("/", "\\")):
        raise ValueError(f"{what}: {relative!r} is an absolute path; only names inside "
                         f"{root} are allowed")
    parts = relative.replace("\\", "/").split("/")
    if ".." in parts:
        raise ValueError(f"{what}: {relative!r} leaves {root} (..); only names inside it are "
                         f"allowed")
    root_real = os.path.realpath(root)
    path = root_real
    for part in parts:
        path = os.path.join(path, part)
        if os.path.islink(path):
            raise ValueError(f"{what}: {relative!r} is a symbolic link ({path} -> "
                             f"{os.readlink(path)}); shards must be files inside {root}")
    if not os.path.realpath(path).startswith(root_real + os.sep):
        raise ValueError(f"{what}: {relative!r} resolves outside {root}")
    return path


# --- leftovers of killed processes -----------------------------------------------------------
_MARKED = re.compile(
    rf"^\.(?P<base>.+)\.{MARK}-(?P<kind>tmp|old)-(?P<pid>\d+)-[0-9a-z_]+(?:\.\w+)?$")
# staging names of earlier versions (no marker): trusted only where they cannot be a user's
_LEGACY = re.compile(r"^\.(?P<base>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-[^/]*$")
_TEMP_DIR = re.compile(r"^kcv_[a-z0-9]+_(\d+)_")
# files the trainer and evaluation write through atomic_write/atomic_file (legacy staging files
# of these names are ours; any other unmarked look-alike is left alone)
_OWN_FILES = frozenset({"last.keras", "best.keras", "best.json", "guard.json", "model.keras",
                        "history.csv", "run.json", "train_config.json", "evaluation.json",
                        "manifest.json"})

Leftover = collections.namedtuple("Leftover", "path action reason")
Leftover.__doc__ = ("A path ``clean`` acts on: ``action`` is ``remove`` or ``restore``; "
                    "``reason`` says why.")


def _dead(pid_text):
    try:
        pid = int(pid_text)
    except (TypeError, ValueError):
        return False
    return pid != os.getpid() and not pid_alive(pid)


def _holds_files(path):
    for _, _, files in os.walk(path):
        if files:
            return True
    return False


def _classify(folder, name, is_dir):
    """The ``Leftover`` for ``folder/name``, or None when it is not ours or its writer lives."""
    path = os.path.join(folder, name)
    m = _MARKED.match(name)
    if m and _dead(m["pid"]) and m["base"] == "previous-run" and m["kind"] == "old" and is_dir:
        if _run_has_good_epoch(folder):
            return Leftover(path, "remove", f"run replaced by --overwrite; the new run in "
                                            f"{folder} has a good epoch (PID {m['pid']} is gone)")
        return Leftover(path, "restore", f"run replaced by --overwrite whose new run (PID "
                                         f"{m['pid']}) was killed before its first good epoch")
    if m and _dead(m["pid"]):
        dest = os.path.join(folder, m["base"])
        if m["kind"] == "old" and not os.path.lexists(dest):
            return Leftover(path, "restore", f"backup of {dest}, which is missing (its writer, "
                                             f"PID {m['pid']}, was killed between two renames)")
        what = "staging copy" if m["kind"] == "tmp" else "replaced copy"
        return Leftover(path, "remove", f"{what} of {dest} written by PID {m['pid']}, which is "
                                        f"not running")
    m = _LEGACY.match(name)
    if m and _dead(m["pid"]):
        if is_dir and not _holds_files(path):
            return Leftover(path, "remove", f"empty staging folder of an earlier version (PID "
                                            f"{m['pid']} is not running); no file in it")
        if not is_dir and m["kind"] == "tmp" and m["base"] in _OWN_FILES:
            return Leftover(path, "remove", f"staging file of {m['base']} written by PID "
                                            f"{m['pid']}, which is not running")
        if is_dir and m["kind"] == "old" and not os.path.lexists(os.path.join(folder, m["base"])):
            return Leftover(path, "restore", f"backup of {os.path.join(folder, m['base'])}, "
                                             f"which is missing")
        return None
    if (name == ".lock" or (name.startswith(".") and name.endswith(".lock"))) and not is_dir:
        owner = _read_lock(path)
        if (isinstance(owner, dict) and {"pid", "host"} <= set(owner)
                and owner.get("host") == socket.gethostname() and _dead(owner.get("pid", 0))):
            return Leftover(path, "remove", f"lock of PID {owner['pid']}, which is not running")
    return None


_BASE_TEMP = []  # the temp directory above this process's private one (private_temp_dir)


@contextlib.contextmanager
def private_temp_dir():
    """Runs the block with a temp directory of its own, ``kcv_proc_<pid>_*`` in the usual
    one, as ``tempfile.tempdir`` and ``TMPDIR``: what TensorFlow, AutoGraph
    (``__autograph_generated_file*.py``) and Keras (``tmp*/assets``) put there is removed
    when the block ends, however it ends, and after a kill the folder carries the PID that
    ``clean`` needs to know it is ours and its owner is gone."""
    base = tempfile.gettempdir()
    path = tempfile.mkdtemp(prefix=f"kcv_proc_{os.getpid()}_", dir=base)
    saved_dir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = path, path
    _BASE_TEMP.append(base)
    try:
        yield path
    finally:
        _BASE_TEMP.pop()
        tempfile.tempdir = saved_dir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(path, ignore_errors=True)


def find_leftovers(roots=(), temp_dir=None, max_depth=4):
    """What killed processes of this package left under ``roots`` (searched ``max_depth``
    folder levels deep, never above them) and in the temp directory (``temp_dir=False``
    skips it), as ``Leftover`` (path, action, reason). Names without this package's marker
    are left alone unless they cannot hold a user's data (see the module docstring)."""
    found = []
    for root in roots:
        root = os.path.abspath(root)
        if not os.path.isdir(root):
            continue
        base_depth = root.rstrip(os.sep).count(os.sep)
        for folder, dirs, files in os.walk(root):
            for name in list(dirs) + files:
                hit = _classify(folder, name, name in dirs)
                if hit:
                    found.append(hit)
                    if name in dirs:
                        dirs.remove(name)
            if folder.count(os.sep) - base_depth + 1 >= max_depth:
                dirs[:] = []
    if temp_dir is not False:
        temp_dir = temp_dir or (_BASE_TEMP[0] if _BASE_TEMP else tempfile.gettempdir())
        with contextlib.suppress(OSError):
            for name in sorted(os.listdir(temp_dir)):
                m = _TEMP_DIR.match(name)
                if m and _dead(m.group(1)):
                    found.append(Leftover(os.path.join(temp_dir, name), "remove",
                                          f"temp folder of PID {m.group(1)}, which is not running"))
    return found


def destination_leftovers(dest):
    """Leftovers of earlier writers of ``dest`` only: its own staging and backup names beside
    it (``.<name>.kcv-tmp-*``, ``.<name>.kcv-old-*``, and the earlier versions' names), never
    anything else in that folder."""
    dest = os.path.abspath(dest)
    parent, base = os.path.dirname(dest), os.path.basename(dest)
    found = []
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(parent)):
            m = _MARKED.match(name) or _LEGACY.match(name)
            if m and m["base"] == base:
                hit = _classify(parent, name, os.path.isdir(os.path.join(parent, name)))
                if hit:
                    found.append(hit)
    return found


def _run_has_good_epoch(run_dir):
    backup = os.path.join(run_dir, "backup")
    return (os.path.exists(os.path.join(run_dir, "model.keras"))
            or (os.path.isdir(backup) and bool(os.listdir(backup))))


RUN_FILES = ("model.keras", "history.csv", "backup", "checkpoints", "logs", "plots",
             "evaluation.json", "run.json", "train_config.json")  # what one training run owns


RUN_SET_ASIDE = ".set-aside"  # in a run backup: every file of the old run is in it


def restore_run_backup(run_dir, backup):
    """Puts the files of a run that ``train --overwrite`` set aside (``backup``) back into
    ``run_dir``, after removing what the replacing run wrote."""
    complete = os.path.join(backup, RUN_SET_ASIDE)
    if os.path.exists(complete):  # the new run may have written: its files go
        for name in RUN_FILES:
            _rmtree(os.path.join(run_dir, name))
        os.remove(complete)
    # else killed while moving: what is still in run_dir is the old run's, and stays
    for name in sorted(os.listdir(backup)):
        os.replace(os.path.join(backup, name), os.path.join(run_dir, name))
    os.rmdir(backup)


def apply_leftovers(found):
    """Removes or restores each ``Leftover``; returns those acted on."""
    done = []
    for item in found:
        if item.action == "restore" and ".previous-run." in os.path.basename(item.path):
            restore_run_backup(os.path.dirname(item.path), item.path)
        elif item.action == "restore":
            m = _MARKED.match(os.path.basename(item.path)) or _LEGACY.match(
                os.path.basename(item.path))
            dest = os.path.join(os.path.dirname(item.path), m["base"])
            if os.path.lexists(dest):
                continue
            os.replace(item.path, dest)
        else:
            _rmtree(item.path)
        done.append(item)
    return done


def stale_leftovers(roots=(), temp_dir=None, max_depth=4):
    """The paths of ``find_leftovers``."""
    return [item.path for item in find_leftovers(roots, temp_dir, max_depth)]


def clean_stale(roots=(), temp_dir=None, dry_run=False, max_depth=4):
    """Acts on ``find_leftovers`` (removes, or restores a missing destination's backup) unless
    ``dry_run``, and returns their paths."""
    found = find_leftovers(roots, temp_dir, max_depth)
    if not dry_run:
        apply_leftovers(found)
    return [item.path for item in found]
