//! Bindings of the ledger's keys (`crate::keys`): a `KeyRing` handle that holds every key of a
//! sealed ledger and does the work with them, GIL released for bulk input; no getter returns
//! key bytes, and the handle refuses pickling and copying like every key holder.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;
use zeroize::Zeroizing;

use crate::error::EktpError;
use crate::keys::{self, KeyRing};

fn array<const N: usize>(bytes: &[u8], what: &str) -> PyResult<[u8; N]> {
    bytes.try_into().map_err(|_| {
        EktpError::InvalidArgument(format!("{what} is {N} bytes, not {}", bytes.len())).into()
    })
}

fn slices(values: &[PyBackedBytes]) -> Vec<&[u8]> {
    values.iter().map(|v| v.as_ref()).collect()
}

fn bytes_list(py: Python<'_>, values: &[impl AsRef<[u8]>]) -> Vec<Py<PyBytes>> {
    values
        .iter()
        .map(|v| PyBytes::new(py, v.as_ref()).unbind())
        .collect()
}

/// Every key of one sealed ledger: the root secret's derived keys (NIK blind index, history
/// chain, checkpoint signing) and the data keys by id. Built by an
/// `ektpcore.keys.LedgerKeys` provider; the ledger asks it to seal, open, index, chain and
/// sign, and it never hands out a key.
#[pyclass(frozen, name = "KeyRing", module = "ektpcore._ektpcore")]
pub struct PyKeyRing(pub(crate) KeyRing);

key_holder_methods! {
impl PyKeyRing {
    /// `root` and each data key are 32 bytes, given with the buffer protocol and copied once
    /// into the handle; `current` is the id of the data key new values are sealed with.
    #[new]
    fn new(
        py: Python<'_>,
        root: PyBuffer<u8>,
        data_keys: Vec<(u32, PyBuffer<u8>)>,
        current: u32,
    ) -> PyResult<Self> {
        let root = Zeroizing::new(root.to_vec(py)?);
        let mut data = Vec::with_capacity(data_keys.len());
        for (id, key) in &data_keys {
            data.push((*id, Zeroizing::new(key.to_vec(py)?)));
        }
        let refs: Vec<(u32, &[u8])> = data.iter().map(|(id, k)| (*id, k.as_slice())).collect();
        Ok(PyKeyRing(KeyRing::new(&root, &refs, current)?))
    }

    /// The ring one ledger works with: derived (HKDF) from this ring's secrets and the
    /// ledger's identity; its data keys always, with `whole` its blind index, chain and
    /// signing keys too (`crate::keys::KeyRing::bind`).
    fn bind(&self, py: Python<'_>, ledger: &[u8], whole: bool) -> PyResult<Self> {
        Ok(PyKeyRing(py.detach(|| self.0.bind(ledger, whole))?))
    }

    /// Whether the ring is bound to one ledger (seals in format 2).
    #[getter]
    fn bound(&self) -> bool {
        self.0.is_bound()
    }

    /// Identifies the ledger's root secret without revealing it (a bound ring's, with
    /// `whole`: its own keys).
    #[getter]
    fn fingerprint(&self) -> &str {
        self.0.fingerprint()
    }

    /// The id of the data key new values are sealed with.
    #[getter]
    fn current_key(&self) -> u32 {
        self.0.current_key()
    }

    /// The ids of the data keys held.
    #[getter]
    fn key_ids(&self) -> Vec<u32> {
        self.0.key_ids()
    }

    /// The public key that checks the ledger's signed checkpoints (32 bytes, Ed25519).
    #[getter]
    fn verify_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.verify_key())
    }

    /// The blind index of each NIK (int64 in, int64 out).
    fn blind<'py>(
        &self,
        py: Python<'py>,
        niks: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let niks = niks.as_slice()?;
        Ok(py.detach(|| self.0.blind(niks)).into_pyarray(py))
    }

    /// Each plaintext sealed with its associated data under the current data key.
    fn seal(
        &self,
        py: Python<'_>,
        plaintexts: Vec<PyBackedBytes>,
        aads: Vec<PyBackedBytes>,
    ) -> PyResult<Vec<Py<PyBytes>>> {
        let sealed = py.detach(|| self.0.seal(&slices(&plaintexts), &slices(&aads)))?;
        Ok(bytes_list(py, &sealed))
    }

    /// Each sealed value opened with its associated data; `None` where it does not open
    /// (altered, bound to other data, or sealed under a key not held).
    fn open(
        &self,
        py: Python<'_>,
        sealed: Vec<PyBackedBytes>,
        aads: Vec<PyBackedBytes>,
    ) -> PyResult<Vec<Option<Py<PyBytes>>>> {
        let opened = py.detach(|| self.0.open(&slices(&sealed), &slices(&aads)))?;
        Ok(opened
            .iter()
            .map(|v| v.as_ref().map(|v| PyBytes::new(py, v).unbind()))
            .collect())
    }

    /// The keyed chain links of rows appended after `previous` (32 bytes).
    fn chain(
        &self,
        py: Python<'_>,
        previous: &[u8],
        payloads: Vec<PyBackedBytes>,
    ) -> PyResult<Vec<Py<PyBytes>>> {
        let previous = array::<32>(previous, "a chain hash")?;
        let hashes = py.detach(|| self.0.chain(&previous, &slices(&payloads)));
        Ok(bytes_list(py, &hashes))
    }

    /// The index of the first row whose stored link breaks the keyed chain, or `None`.
    fn first_break(
        &self,
        py: Python<'_>,
        previous: &[u8],
        payloads: Vec<PyBackedBytes>,
        stored: Vec<PyBackedBytes>,
    ) -> PyResult<Option<usize>> {
        let previous = array::<32>(previous, "a chain hash")?;
        // A stored link of the wrong length matches nothing; all-ones stands in for it.
        let stored: Vec<[u8; 32]> = stored
            .iter()
            .map(|h| <[u8; 32]>::try_from(h.as_ref()).unwrap_or([0xFF; 32]))
            .collect();
        Ok(py.detach(|| self.0.first_break(&previous, &slices(&payloads), &stored)))
    }

    /// The Ed25519 signature (64 bytes) of `message` by the ledger's checkpoint key.
    fn sign<'py>(&self, py: Python<'py>, message: &[u8]) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.sign(message))
    }

    fn __repr__(&self) -> String {
        format!(
            "KeyRing(fingerprint={:?}, data keys {:?}, current {}{})",
            self.0.fingerprint(),
            self.0.key_ids(),
            self.0.current_key(),
            if self.0.is_bound() { ", bound" } else { "" }
        )
    }
}
}

/// The id of the data key `value` was sealed with, or `None` for bytes that are not a sealed
/// value.
#[pyfunction]
pub fn sealed_key_id(value: &[u8]) -> Option<u32> {
    keys::sealed_key_id(value)
}

/// The format of a sealed value (1: the key file's data keys; 2: keys bound to one ledger),
/// or `None` for bytes that are not a sealed value.
#[pyfunction]
pub fn sealed_format(value: &[u8]) -> Option<u8> {
    keys::sealed_format(value)
}

/// Whether `signature` (64 bytes) is `public_key`'s (32 bytes) Ed25519 signature of `message`.
#[pyfunction]
pub fn verify_signature(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    match (
        <[u8; 32]>::try_from(public_key),
        <[u8; 64]>::try_from(signature),
    ) {
        (Ok(key), Ok(sig)) => keys::verify_signature(&key, message, &sig),
        _ => false,
    }
}
