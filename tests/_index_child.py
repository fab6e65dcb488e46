"""A process that loads a NIK index, has its file changed under it, and queries it again.

Run by ``tests/test_index_sharing.py`` in a process of its own, since an index that depended
on its file could be killed by SIGBUS here:

    python _index_child.py INDEX OTHER NIKS HOW

``INDEX`` is loaded; ``OTHER`` is another index file; ``NIKS`` an ``.npy`` of the loaded
index's NIKs followed by as many of ``OTHER``'s; ``HOW`` says what happens to ``INDEX`` after
the load. Prints one JSON line: how many of each half the loaded index holds, before and after,
and what loading the file again gives.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from pathlib import Path

import numpy as np

from ektpcore import IndexFileError, NikIndex


def change(path: Path, other: Path, how: str) -> None:
    """Changes the index file after it was loaded."""
    inode = path.stat().st_ino
    if how == "truncate-to-header":
        os.truncate(path, 64)
    elif how == "truncate-to-nothing":
        os.truncate(path, 0)
    elif how == "truncate-to-half":
        os.truncate(path, path.stat().st_size // 2)
    elif how == "copy-over":  # cp: the same file, emptied then rewritten
        shutil.copyfile(other, path)
    elif how == "rewrite-payload":  # the other index's NIKs written over these, header kept
        with open(path, "r+b") as f, open(other, "rb") as src:
            src.seek(64)
            f.seek(64)
            f.write(src.read())
    elif how == "flip-bits":
        with open(path, "r+b") as f:
            for offset in range(64, path.stat().st_size, 997):
                f.seek(offset)
                byte = f.read(1)[0]
                f.seek(offset)
                f.write(bytes([byte ^ 0x5A]))
    elif how == "save-over":  # a new file renamed over the path
        NikIndex.load(other).save(path)
    elif how == "remove":
        path.unlink()
        return
    else:
        raise SystemExit(f"unknown change {how!r}")
    if how != "save-over":
        assert path.stat().st_ino == inode, "the change was meant to be in place"


def reload(path: Path) -> str:
    try:
        NikIndex.load(path)
    except IndexFileError as err:
        return f"IndexFileError: {err}"
    except FileNotFoundError:
        return "FileNotFoundError"
    return "loaded"


def race(path: Path, other: Path, loads: int) -> dict[str, int]:
    """Loads ``path`` again and again while a thread copies the two versions over it in
    turn: every load is whole (one version or the other, all its NIKs) or refused."""
    original = path.read_bytes()
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            shutil.copyfile(other, path)
            path.write_bytes(original)

    niks = np.load(sys.argv[3])
    half = len(niks) // 2
    outcome = {"first": 0, "second": 0, "refused": 0, "mixed": 0}
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(loads):
            try:
                index = NikIndex.load(path)
            except IndexFileError:
                outcome["refused"] += 1
                continue
            held = index.contains(niks)
            if held[:half].all() and not held[half:].any():
                outcome["first"] += 1
            elif held[half:].all() and not held[:half].any():
                outcome["second"] += 1
            else:
                outcome["mixed"] += 1
    finally:
        stop.set()
        thread.join()
    return outcome


def main() -> None:
    path, other, niks_file, how = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    if how.startswith("race-"):
        print(json.dumps(race(path, other, int(how.removeprefix("race-")))))
        return
    niks = np.load(niks_file)
    half = len(niks) // 2
    index = NikIndex.load(path)

    def counts() -> list[int]:
        held = index.contains(niks)
        return [int(held[:half].sum()), int(held[half:].sum())]

    before = counts()
    change(path, other, how)
    after = counts()
    # Everything the index offers, not only contains(), is the process's own.
    report = {
        "before": before,
        "after": after,
        "values": bool(np.array_equal(index.values, np.sort(niks[:half]))),
        "added": int(index.add(niks[half:]).sum()),
        "reload": reload(path),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
