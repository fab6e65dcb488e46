//! Bindings of exact dedup (`crate::dedup::first_occurrences`) and of the sorted-set kernels
//! behind `ektpcore.index` (`crate::dedup::index`): `int64` columns in, columns out, the GIL
//! released while the core runs.

use numpy::{IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::dedup;

/// An `int64` column borrowed from numpy, and one handed back to it.
type Column<'py> = PyReadonlyArray1<'py, i64>;
type Keys<'py> = Bound<'py, PyArray1<i64>>;

type FirstOccurrences<'py> = (Keys<'py>, Bound<'py, PyArray1<bool>>, usize);

/// Keep-first exact dedup of `int64` keys: `(first_index, is_first, n_invalid)`, where keys
/// outside `0..limit` get -1 and `False` and are counted as invalid.
#[pyfunction]
pub fn first_occurrences<'py>(
    py: Python<'py>,
    keys: Column<'py>,
    limit: i64,
) -> PyResult<FirstOccurrences<'py>> {
    let keys = keys.as_slice()?;
    // SAFETY: uninitialised plain arrays; the core writes every element or fails.
    let (index, first) = unsafe {
        (
            PyArray1::<i64>::new(py, [keys.len()], false),
            PyArray1::<bool>::new(py, [keys.len()], false),
        )
    };
    let invalid = {
        let (mut wi, mut wf) = (index.readwrite(), first.readwrite());
        let (i, f) = (wi.as_slice_mut()?, wf.as_slice_mut()?);
        py.detach(|| dedup::first_occurrences(keys, limit, i, f))?
    };
    Ok((index, first, invalid))
}

/// Sorted, duplicate-free copy of the non-negative keys.
#[pyfunction]
pub fn index_sorted_unique<'py>(py: Python<'py>, keys: Column<'py>) -> PyResult<Keys<'py>> {
    let keys = keys.as_slice()?;
    Ok(py
        .detach(|| dedup::index::sorted_unique(keys))
        .into_pyarray(py))
}

/// Membership of each query in a sorted set.
#[pyfunction]
pub fn index_contains<'py>(
    py: Python<'py>,
    set: Column<'py>,
    queries: Column<'py>,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    let (set, queries) = (set.as_slice()?, queries.as_slice()?);
    let mut out = vec![false; queries.len()];
    py.detach(|| dedup::index::contains(set, queries, &mut out));
    Ok(out.into_pyarray(py))
}

/// A merge of two sorted sets into a third, with the GIL released.
fn merge<'py>(
    py: Python<'py>,
    a: Column<'py>,
    b: Column<'py>,
    op: fn(&[i64], &[i64]) -> Vec<i64>,
) -> PyResult<Keys<'py>> {
    let (a, b) = (a.as_slice()?, b.as_slice()?);
    Ok(py.detach(|| op(a, b)).into_pyarray(py))
}

/// Union of two sorted sets.
#[pyfunction]
pub fn index_union<'py>(py: Python<'py>, a: Column<'py>, b: Column<'py>) -> PyResult<Keys<'py>> {
    merge(py, a, b, dedup::index::union)
}

/// `a` without `b`, both sorted sets.
#[pyfunction]
pub fn index_difference<'py>(
    py: Python<'py>,
    a: Column<'py>,
    b: Column<'py>,
) -> PyResult<Keys<'py>> {
    merge(py, a, b, dedup::index::difference)
}

/// The checksum an index file stores for its payload.
#[pyfunction]
pub fn index_checksum(py: Python<'_>, values: Column<'_>) -> PyResult<u64> {
    let values = values.as_slice()?;
    Ok(py.detach(|| dedup::index::checksum(values)))
}

/// True when the values are strictly increasing.
#[pyfunction]
pub fn index_is_sorted(py: Python<'_>, values: Column<'_>) -> PyResult<bool> {
    let values = values.as_slice()?;
    Ok(py.detach(|| dedup::index::is_strictly_increasing(values)))
}

/// Reads the `count` values of an index payload at `offset` of the open file `fd` into a new
/// array, with the GIL released: `(values, checksum, strictly increasing)`, or `None` when the
/// file ends before them. The descriptor stays the caller's.
#[pyfunction]
pub fn index_read<'py>(
    py: Python<'py>,
    fd: i32,
    offset: u64,
    count: usize,
) -> PyResult<Option<(Keys<'py>, u64, bool)>> {
    use std::mem::ManuallyDrop;
    use std::os::fd::FromRawFd;

    if fd < 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "not an open file descriptor",
        ));
    }
    // SAFETY: the caller keeps `fd` open for the call; ManuallyDrop leaves it open after.
    let file = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    // Zeroed pages cost nothing until the read writes them.
    let values = PyArray1::<i64>::zeros(py, [count], false);
    let read = {
        let mut out = values.readwrite();
        let out = out.as_slice_mut()?;
        py.detach(|| dedup::index::read_verified(&file, offset, out))
    };
    match read {
        Ok((checksum, increasing)) => Ok(Some((values, checksum, increasing))),
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(err) => Err(err.into()),
    }
}
