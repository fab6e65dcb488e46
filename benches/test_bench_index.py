"""Opening the issued-NIK index: 100,000,000 NIKs (800 MB) read into a private copy, with the
header, size, checksum and order all verified, against NumPy reading the same column from an
``.npy`` file (fully, and memory-mapped without any check)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import ektpcore

from .conftest import Measure

GROUP = "index-open"


@pytest.fixture(scope="session")
def index_files(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, npt.NDArray[np.int64]]:
    timing = pytestconfig.getoption("benchmark_enable")
    n = int(os.environ.get("EKTPCORE_BENCH_INDEX_N", 100_000_000 if timing else 20_000))
    # Strictly increasing NIK-shaped numbers, without the cost of sorting 10^8 of them.
    values = 11 * 10**14 + np.arange(n, dtype=np.int64) * 7 + (np.arange(n) % 5)
    folder = tmp_path_factory.mktemp("index")
    index = ektpcore.NikIndex()
    index._values = values  # already sorted and unique by construction
    index.save(folder / "issued.nix")
    np.save(folder / "issued.npy", values)
    return folder / "issued.nix", folder / "issued.npy", values


def test_open_ektpcore(measure: Measure, index_files: tuple[Path, Path, np.ndarray]) -> None:
    nix, _, values = index_files
    loaded = measure(GROUP, "ektpcore", ektpcore.NikIndex.load, nix)
    assert len(loaded) == len(values)
    assert loaded.values[-1] == values[-1]


def test_open_numpy_load(measure: Measure, index_files: tuple[Path, Path, np.ndarray]) -> None:
    _, npy, values = index_files
    assert np.array_equal(measure(GROUP, "numpy load (reads all)", np.load, npy)[-3:], values[-3:])


def test_open_numpy_mmap(measure: Measure, index_files: tuple[Path, Path, np.ndarray]) -> None:
    _, npy, values = index_files
    mapped = measure(GROUP, "numpy load mmap (no checks)", lambda: np.load(npy, mmap_mode="r"))
    assert mapped[-1] == values[-1]
