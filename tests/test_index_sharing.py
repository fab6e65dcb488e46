"""A loaded NIK index and its file: whatever happens to the file after ``NikIndex.load``
(truncated, copied over, rewritten in place, saved over, removed), the index answers as the
file was when loaded, and the process lives on. Each case runs in a process of its own
(``tests/_index_child.py``): an index that depended on its file's pages would die of SIGBUS
there, and a test runner must not."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ektpcore
from ektpcore import NikIndex

CHILD = Path(__file__).with_name("_index_child.py")
N = 1000


def _run(tmp_path: Path, how: str) -> dict[str, Any]:
    ours, theirs = ektpcore.sample_niks(N, seed=1), ektpcore.sample_niks(N, seed=2)
    assert not set(ours.tolist()) & set(theirs.tolist())
    path, other = tmp_path / "issued.nix", tmp_path / "other.nix"
    NikIndex(ours).save(path)
    NikIndex(theirs).save(other)
    assert path.stat().st_size == other.stat().st_size
    np.save(tmp_path / "niks.npy", np.concatenate([ours, theirs]))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, str(CHILD), str(path), str(other), str(tmp_path / "niks.npy"), how],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if done.returncode < 0:
        pytest.fail(f"the process died of {signal.Signals(-done.returncode).name}: {done.stderr}")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    ("how", "reload"),
    [
        ("truncate-to-header", "IndexFileError: .*truncated: 64 bytes of the 8064 expected"),
        ("truncate-to-nothing", "IndexFileError: .*shorter than the header"),
        ("truncate-to-half", "IndexFileError: .*truncated"),
        ("copy-over", "loaded$"),
        ("rewrite-payload", "IndexFileError: .*checksum mismatch"),
        ("flip-bits", "IndexFileError: .*checksum mismatch"),
        ("save-over", "loaded$"),
        ("remove", "FileNotFoundError$"),
    ],
)
def test_a_loaded_index_answers_as_its_file_was(tmp_path: Path, how: str, reload: str) -> None:
    result = _run(tmp_path, how)
    assert result["before"] == [N, 0]
    assert result["after"] == [N, 0], f"answers changed after {how}"
    assert result["values"]
    assert result["added"] == N  # the other index's NIKs are still new to it
    assert re.match(reload, result["reload"]), result["reload"]


def test_a_file_changing_during_loads_gives_whole_indexes_or_refusals(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "race-200")
    assert outcome["mixed"] == 0, outcome
    assert outcome["first"] + outcome["second"] + outcome["refused"] == 200, outcome


def test_a_file_shorter_or_longer_than_it_was_when_measured_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The size is taken once; a file that shrinks or grows after that is refused by the
    read itself."""
    path = tmp_path / "issued.nix"
    NikIndex(ektpcore.sample_niks(N, seed=1)).save(path)
    real = path.read_bytes()
    real_fstat = os.fstat

    def measured_whole(fd: int) -> Any:
        stat = list(real_fstat(fd))
        stat[6] = len(real)  # st_size as it was
        return os.stat_result(stat)

    monkeypatch.setattr(os, "fstat", measured_whole)
    path.write_bytes(real[:-8])
    with pytest.raises(ektpcore.IndexFileError, match="changed while it was being read"):
        NikIndex.load(path)
    path.write_bytes(real + b"\0" * 8)
    with pytest.raises(ektpcore.IndexFileError, match="changed while it was being read"):
        NikIndex.load(path)
    path.write_bytes(real)
    assert len(NikIndex.load(path)) == N
