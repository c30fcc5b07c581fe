"""Atomic writes: a failed or interrupted write never leaves a partial file at the destination.

Everything is staged next to the destination (same filesystem) and moved with ``os.replace``.
"""

import contextlib
import os
import shutil
import tempfile


def _staging_name(path, suffix=""):
    parent = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(os.path.normpath(path))
    return parent, f".{base}.tmp-", suffix


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
    stage = tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.tmp-", dir=parent)
    if not create:
        os.rmdir(stage)
    try:
        yield stage
        if os.path.exists(dest):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.old-", dir=parent)
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
