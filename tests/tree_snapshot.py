"""What "a refusal leaves the files byte for byte" means in the tests: every file and folder
under a root with the sha256 of each file's bytes, taken before and compared after.

    before = snapshot(tmp_path)
    assert main([...refused...]) == 2
    assert_unchanged(tmp_path, before)

A file created, removed, grown, truncated or rewritten with other bytes (and a folder created
or removed) anywhere under the root fails the comparison, which names each difference.
"""

import hashlib
import os

DIRECTORY = "<dir>"


def snapshot(root):
    """``{relative path: sha256 hex of the bytes}`` for every file under ``root``, and
    ``{relative path: "<dir>"}`` for every folder (the root itself excluded); ``{}`` when
    ``root`` does not exist. Symbolic links are recorded by their target, not followed."""
    root = os.fspath(root)
    out = {}
    if not os.path.lexists(root):
        return out
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = os.path.join(folder, name)
            out[os.path.relpath(path, root)] = (
                "link:" + os.readlink(path) if os.path.islink(path) else DIRECTORY)
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                out[os.path.relpath(path, root)] = "link:" + os.readlink(path)
                continue
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            out[os.path.relpath(path, root)] = digest.hexdigest()
    return out


def differences(before, after):
    """Sorted lines naming what was added, removed or changed between two snapshots."""
    lines = [f"added {p}" for p in sorted(set(after) - set(before))]
    lines += [f"removed {p}" for p in sorted(set(before) - set(after))]
    lines += [f"changed {p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    return lines


def assert_unchanged(root, before):
    """Fails naming every difference between ``before`` (a ``snapshot``) and ``root`` now."""
    diff = differences(before, snapshot(root))
    assert not diff, f"{root} changed: " + "; ".join(diff)
