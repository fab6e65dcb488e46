from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ektpcore
from ektpcore import IndexFileError, Nik, NikIndex

from .conftest import valid_niks

ops = st.lists(
    st.tuples(st.sampled_from(["add", "discard"]), st.lists(st.integers(0, 30), max_size=12)),
    max_size=12,
)
POOL = ektpcore.sample_niks(31, seed=9)


@given(ops)
def test_index_behaves_like_a_set(steps: list[tuple[str, list[int]]]) -> None:
    index, model = NikIndex(), set()
    for op, picks in steps:
        niks = POOL[picks]
        if op == "add":
            new = index.add(niks)
            seen: set[int] = set()
            expected = []
            for v in niks.tolist():
                expected.append(v not in model and v not in seen)
                seen.add(v)
            assert new.tolist() == expected
            model |= set(niks.tolist())
        else:
            present = index.discard(niks)
            assert present.tolist() == [v in model for v in niks.tolist()]
            model -= set(niks.tolist())
        assert index.values.tolist() == sorted(model)
        assert index.contains(POOL).tolist() == [v in model for v in POOL.tolist()]
    assert len(index) == len(model)


def test_invalid_niks_are_never_members() -> None:
    index = NikIndex(["3271014508990001", "bad", None])
    assert len(index) == 1
    assert index.contains(["bad", "3271014508990001"]).tolist() == [False, True]
    assert index.add(["bad"]).tolist() == [False]
    assert "3271014508990001" in index
    assert Nik("3271014508990001") in index
    assert "bad" not in index
    assert 3.5 not in index
    assert list(index) == [Nik("3271014508990001")]
    assert repr(index) == "NikIndex(1 NIKs)"


def test_union() -> None:
    a, b = NikIndex(POOL[:10]), NikIndex(POOL[5:20])
    assert (a | b).values.tolist() == sorted(set(POOL[:20].tolist()))
    assert a.union(POOL[25:]).values.tolist() == sorted(
        set(POOL[:10].tolist()) | set(POOL[25:].tolist())
    )


@given(st.lists(valid_niks(), max_size=50))
def test_save_load_round_trip(texts: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "issued.nix"
        index = NikIndex(texts)
        index.save(path)
        loaded = NikIndex.load(path)
        assert loaded == index
        assert not loaded.values.flags.writeable
        assert os.listdir(tmp) == ["issued.nix"]
        # Changing a loaded index never writes to its file.
        loaded.add(["3271014508990001"])
        assert NikIndex.load(path) == index


def _saved(tmp_path: Path, n: int = 300_000) -> tuple[Path, bytes]:
    path = tmp_path / "issued.nix"
    NikIndex(ektpcore.sample_niks(n, seed=1)).save(path)
    return path, path.read_bytes()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:40], "shorter than the header"),
        (lambda b: b[:-8], "truncated"),
        (lambda b: b + b"\0" * 8, "unexpected bytes"),
        (lambda b: b"NOTANIDX" + b[8:], "bad magic"),
        (lambda b: b[:8] + struct.pack("<I", 9) + b[12:], "version 9"),
        (lambda b: b[:100_000] + bytes([b[100_000] ^ 1]) + b[100_001:], "checksum"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 0x10]), "checksum"),
    ],
)
def test_damaged_files_are_refused_whole(tmp_path: Path, damage: object, message: str) -> None:
    path, raw = _saved(tmp_path)
    path.write_bytes(damage(raw))  # type: ignore[operator]
    with pytest.raises(IndexFileError, match=message):
        NikIndex.load(path)


def test_out_of_order_payload_with_a_valid_checksum(tmp_path: Path) -> None:
    values = np.array([3271014508990002, 3271014508990001], dtype=np.int64)
    header = struct.pack(
        "<8sIIQQ32x", b"EKTPNIX\0", 1, 0, 2, ektpcore._ektpcore.index_checksum(values)
    )
    path = tmp_path / "odd.nix"
    path.write_bytes(header + values.tobytes())
    with pytest.raises(IndexFileError, match="out of order"):
        NikIndex.load(path)


def test_a_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, raw = _saved(tmp_path, 1000)

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        NikIndex(POOL).save(path)
    assert path.read_bytes() == raw
    assert os.listdir(tmp_path) == ["issued.nix"]
