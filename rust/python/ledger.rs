//! Bindings of the history hash chain (`crate::ledger`): the ledger's rows are hashed and
//! checked here, with the GIL released, while the rows themselves stay in Python.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::EktpError;
use crate::ledger;

/// The chain's previous hash as the fixed-size array the core takes.
fn hash32(bytes: &[u8]) -> PyResult<[u8; 32]> {
    bytes.try_into().map_err(|_| {
        EktpError::InvalidArgument(format!("a chain hash has 32 bytes, not {}", bytes.len())).into()
    })
}

/// Hashes of history rows appended after `previous` (32 bytes), in order.
#[pyfunction]
pub fn history_chain(
    py: Python<'_>,
    previous: Vec<u8>,
    payloads: Vec<Vec<u8>>,
) -> PyResult<Vec<Py<PyBytes>>> {
    let previous = hash32(&previous)?;
    let hashes = py.detach(|| {
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        ledger::chain(&previous, &refs)
    });
    Ok(hashes
        .iter()
        .map(|h| PyBytes::new(py, h).unbind())
        .collect())
}

/// The index of the first history row whose stored hash breaks the chain, or `None`.
#[pyfunction]
pub fn history_first_break(
    py: Python<'_>,
    previous: Vec<u8>,
    payloads: Vec<Vec<u8>>,
    stored: Vec<Vec<u8>>,
) -> PyResult<Option<usize>> {
    let previous = hash32(&previous)?;
    // A stored hash of the wrong length can match nothing; all-ones stands in for it.
    let stored: Vec<[u8; 32]> = stored
        .iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()).unwrap_or([0xFF; 32]))
        .collect();
    Ok(py.detach(|| {
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        ledger::first_break(&previous, &refs, &stored)
    }))
}
