//! The binding layer: the only Rust code that knows PyO3. It mirrors the core, one file per
//! capability, and every function follows one recipe: extract and borrow the inputs while
//! attached to the interpreter, run the pure core with the GIL released (`py.detach`), then
//! convert the outputs. Errors from the core reach Python only through the one
//! `From<EktpError> for PyErr` below.

use pyo3::prelude::*;

use pyo3::exceptions::PyTypeError;

use crate::error::EktpError;

/// The error every copy or pickle of a key-holding handle raises.
pub(crate) fn refused(handle: &Bound<'_, PyAny>) -> PyErr {
    let name = handle
        .get_type()
        .name()
        .map_or_else(|_| "this object".to_string(), |n| n.to_string());
    PyTypeError::new_err(format!(
        "{name} holds key material: it cannot be pickled or copied (keep it in the process that \
         made it and share the key provider's configuration instead)"
    ))
}

/// The `#[pymethods]` of a class that holds key material, with the methods that refuse
/// `pickle`, `copy.copy` and `copy.deepcopy` added to the ones given.
macro_rules! key_holder_methods {
    (impl $ty:ident { $($methods:tt)* }) => {
        #[pymethods]
        impl $ty {
            $($methods)*

            fn __reduce__(slf: &Bound<'_, Self>) -> PyResult<()> {
                Err($crate::python::refused(slf.as_any()))
            }

            fn __reduce_ex__(slf: &Bound<'_, Self>, _protocol: &Bound<'_, PyAny>) -> PyResult<()> {
                Err($crate::python::refused(slf.as_any()))
            }

            fn __getstate__(slf: &Bound<'_, Self>) -> PyResult<()> {
                Err($crate::python::refused(slf.as_any()))
            }

            fn __copy__(slf: &Bound<'_, Self>) -> PyResult<()> {
                Err($crate::python::refused(slf.as_any()))
            }

            fn __deepcopy__(slf: &Bound<'_, Self>, _memo: &Bound<'_, PyAny>) -> PyResult<()> {
                Err($crate::python::refused(slf.as_any()))
            }
        }
    };
}

mod chip;
mod dedup;
mod dialect;
mod keys;
mod ledger;
mod names;
mod nik;
mod people;
mod plan;
mod raster;

// The exception classes are defined in Python (`ektpcore/errors.py`) so they can carry typed
// attributes and docstrings; the core raises them through this single conversion.
pyo3::import_exception!(ektpcore.errors, InvalidNikError);
pyo3::import_exception!(ektpcore.errors, InvalidArgumentError);
pyo3::import_exception!(ektpcore.errors, StreamDecodeError);
pyo3::import_exception!(ektpcore.errors, ChipDecodeError);
pyo3::import_exception!(ektpcore.errors, SecureMessagingError);
pyo3::import_exception!(ektpcore.errors, RibbonMismatchError);

impl From<EktpError> for PyErr {
    fn from(err: EktpError) -> PyErr {
        let message = err.to_string();
        match err {
            EktpError::InvalidNik { error, .. } => {
                InvalidNikError::new_err((message, error.kind.code(), error.position))
            }
            EktpError::InvalidArgument(_) => InvalidArgumentError::new_err(message),
            EktpError::ChipDecode { offset, .. } => ChipDecodeError::new_err((message, offset)),
            EktpError::StreamDecode { offset, .. } => StreamDecodeError::new_err((message, offset)),
            EktpError::SecureMessaging(_) => SecureMessagingError::new_err(message),
            EktpError::RibbonMismatch(_) => RibbonMismatchError::new_err(message),
        }
    }
}

#[pymodule]
mod _ektpcore {
    #[pymodule_export]
    use super::nik::{
        check_nik, check_nik_int, compose_nik, crosscheck_niks, decompose_niks, mask_nik,
        nik_error_table, parse_niks, provinces, retired_papua_regencies, PyRegionSet,
    };

    #[pymodule_export]
    use super::dedup::{
        first_occurrences, index_checksum, index_contains, index_difference, index_is_sorted,
        index_read, index_sorted_unique, index_union,
    };

    #[pymodule_export]
    use super::names::{normalize_names, parse_name};

    #[pymodule_export]
    use super::people::{
        default_match_weights, find_people_matches, people_block, people_clusters, people_keys,
        people_rule_names, people_score,
    };

    #[pymodule_export]
    use super::ledger::{
        history_chain, history_first_break, history_payloads, history_payloads_columns, json_list,
        PyActingCheck, PyBlankReplay, PyLedgerRows, PyRecordReplay,
    };

    #[pymodule_export]
    use super::keys::{sealed_format, sealed_key_id, verify_signature, PyKeyRing};

    #[pymodule_export]
    use super::plan::{
        factorize_pairs, plan_batches, plan_classes, plan_combine_cards, plan_ids_check, plan_run,
        plan_windows,
    };

    #[pymodule_export]
    use super::raster::raster_face;

    #[pymodule_export]
    use super::dialect::{
        dialect_condition, dialect_ribbon, dialect_status_query, evolis_decode,
        evolis_encode_cards, evolis_encode_panels, evolis_job_part, evolis_parse_prefix,
        magicard_command, magicard_decode, magicard_encode_cards, magicard_encode_panels,
        magicard_encode_parts, magicard_parse_prefix, EncodedPart,
    };

    #[pymodule_export]
    use super::chip::{
        apdu_encode, apdu_parse, mrz_check_digit, perso_scripts, status_meaning, tlv_decode,
        tlv_encode, PyChallenge, PyMasterKey, PySession, PySmKeys,
    };
}
