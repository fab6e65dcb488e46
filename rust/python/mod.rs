//! The binding layer: the only Rust code that knows PyO3. Every function here follows one
//! recipe: extract and borrow the inputs while attached to the interpreter, run the pure core
//! with the GIL released (`py.detach`), then convert the outputs. Errors from the core reach
//! Python only through `From<EktpError> for PyErr`.

use numpy::{
    IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyList, PyString};

use crate::dedup;
use crate::dialect;
use crate::error::EktpError;
use crate::names;
use crate::nik::{
    self, BulkOut, NikError, NikErrorKind, Prepared, Reference, RegionMatch, RegionSet, Rules,
};
use crate::plan;
use crate::raster;

// The exception classes are defined in Python (`ektpcore/errors.py`) so they can carry typed
// attributes and docstrings; the core raises them through this single conversion.
pyo3::import_exception!(ektpcore.errors, InvalidNikError);
pyo3::import_exception!(ektpcore.errors, InvalidArgumentError);
pyo3::import_exception!(ektpcore.errors, StreamDecodeError);
pyo3::import_exception!(ektpcore.errors, ChipDecodeError);
pyo3::import_exception!(ektpcore.errors, SecureMessagingError);

mod chip;

impl From<EktpError> for PyErr {
    fn from(err: EktpError) -> PyErr {
        let message = err.to_string();
        match err {
            EktpError::InvalidNik { error, .. } => {
                InvalidNikError::new_err((message, error.kind.code(), error.position))
            }
            EktpError::InvalidArgument(_) => InvalidArgumentError::new_err(message),
            EktpError::Decode { offset, .. } => ChipDecodeError::new_err((message, offset)),
            EktpError::SecureMessaging(_) => SecureMessagingError::new_err(message),
        }
    }
}

/// A region table reduced to bitmaps for the NIK checks; built by `ektpcore.RegionTable`.
#[pyclass(frozen, name = "RegionSet", module = "ektpcore._ektpcore")]
struct PyRegionSet(RegionSet);

#[pymethods]
impl PyRegionSet {
    /// Builds the set from digit-only codes (2, 4, 6 or more digits).
    #[new]
    fn new(codes: Vec<String>) -> PyResult<Self> {
        RegionSet::from_codes(codes.iter().map(String::as_str))
            .map(PyRegionSet)
            .map_err(|e| EktpError::InvalidArgument(e).into())
    }

    /// How a 6-digit region code matches: 1 current, 2 retired Papua regency, 0 unknown.
    fn lookup(&self, region_code: u32) -> u8 {
        let code = region_code % 1_000_000;
        match self.0.lookup(
            (code / 10_000) as u8,
            (code / 100 % 100) as u8,
            (code % 100) as u8,
        ) {
            RegionMatch::Current => 1,
            RegionMatch::Historical => 2,
            RegionMatch::Unknown(_) => 0,
        }
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }
}

fn rules<'a>(reference_days: Option<i64>, regions: Option<&'a RegionSet>) -> PyResult<Rules<'a>> {
    let reference = match reference_days {
        None => None,
        Some(days) => Some(Reference::from_unix_days(days).ok_or_else(|| {
            EktpError::InvalidArgument(format!("reference date (day {days}) is out of range"))
        })?),
    };
    Ok(Rules { reference, regions })
}

fn invalid(masked: String, error: NikError) -> PyErr {
    EktpError::InvalidNik {
        masked: nik::mask(&masked),
        error,
    }
    .into()
}

type BulkArrays<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<i8>>,
);

/// Allocates the three output columns as numpy arrays and lets `fill` write them. numpy's
/// allocator asks the kernel for huge pages on large arrays, which a `Vec` does not: at 10^7
/// elements that halves the time of the whole parse.
fn bulk<'py>(
    py: Python<'py>,
    n: usize,
    fill: impl FnOnce(BulkOut<'_>) -> PyResult<()>,
) -> PyResult<BulkArrays<'py>> {
    // SAFETY: uninitialised arrays of plain integers; `fill` overwrites every element before
    // they are handed to Python, and on error they are dropped unseen.
    let (values, errors, positions) = unsafe {
        (
            PyArray1::<i64>::new(py, [n], false),
            PyArray1::<u8>::new(py, [n], false),
            PyArray1::<i8>::new(py, [n], false),
        )
    };
    {
        let (mut v, mut e, mut p) = (
            values.readwrite(),
            errors.readwrite(),
            positions.readwrite(),
        );
        fill(BulkOut {
            values: v.as_slice_mut()?,
            errors: e.as_slice_mut()?,
            positions: p.as_slice_mut()?,
        })?;
    }
    Ok((values, errors, positions))
}

/// Validates one NIK given as `str` (characters) or `bytes` (one byte per character) and
/// returns it as an integer; raises `InvalidNikError`.
#[pyfunction]
#[pyo3(signature = (text, reference_days=None, regions=None))]
fn check_nik(
    text: &Bound<'_, PyAny>,
    reference_days: Option<i64>,
    regions: Option<&Bound<'_, PyRegionSet>>,
) -> PyResult<i64> {
    let rules = rules(reference_days, regions.map(|r| &r.get().0))?;
    if let Ok(s) = text.cast::<PyString>() {
        let s = s.to_string_lossy();
        rules
            .parse_utf8(s.as_bytes())
            .map(|v| v as i64)
            .map_err(|e| invalid(s.into_owned(), e))
    } else if let Ok(b) = text.cast::<PyBytes>() {
        let b = b.as_bytes();
        rules
            .parse_bytes(b)
            .map(|v| v as i64)
            .map_err(|e| invalid(String::from_utf8_lossy(b).into_owned(), e))
    } else {
        Err(PyTypeError::new_err(format!(
            "a NIK is given as str or bytes, not {}",
            text.get_type().name()?
        )))
    }
}

/// Validates one NIK given as an integer (read as 16 digits with leading zeros).
#[pyfunction]
#[pyo3(signature = (value, reference_days=None, regions=None))]
fn check_nik_int(
    value: i64,
    reference_days: Option<i64>,
    regions: Option<&Bound<'_, PyRegionSet>>,
) -> PyResult<i64> {
    let rules = rules(reference_days, regions.map(|r| &r.get().0))?;
    rules
        .parse_int(value)
        .map(|v| v as i64)
        .map_err(|e| invalid(format!("{value:016}"), e))
}

/// Bulk: a contiguous buffer of fixed-width byte strings (the `uint8` view of an `S{width}`
/// array). Returns `(values, errors, positions)`.
#[pyfunction]
#[pyo3(signature = (buf, width, reference_days=None, regions=None))]
fn parse_niks_bytes<'py>(
    py: Python<'py>,
    buf: PyReadonlyArray1<'py, u8>,
    width: usize,
    reference_days: Option<i64>,
    regions: Option<&Bound<'py, PyRegionSet>>,
) -> PyResult<BulkArrays<'py>> {
    let rules = rules(reference_days, regions.map(|r| &r.get().0))?;
    let buf = buf.as_slice()?;
    bulk(py, nik::fixed_width_len(buf.len(), width), |out| {
        py.detach(|| nik::parse_fixed_bytes(buf, width, &rules, out));
        Ok(())
    })
}

/// Bulk: a contiguous buffer of fixed-width UCS-4 strings (the `uint32` view of `U{width}`).
#[pyfunction]
#[pyo3(signature = (buf, width, reference_days=None, regions=None))]
fn parse_niks_ucs4<'py>(
    py: Python<'py>,
    buf: PyReadonlyArray1<'py, u32>,
    width: usize,
    reference_days: Option<i64>,
    regions: Option<&Bound<'py, PyRegionSet>>,
) -> PyResult<BulkArrays<'py>> {
    let rules = rules(reference_days, regions.map(|r| &r.get().0))?;
    let buf = buf.as_slice()?;
    bulk(py, nik::fixed_width_len(buf.len(), width), |out| {
        py.detach(|| nik::parse_fixed_ucs4(buf, width, &rules, out));
        Ok(())
    })
}

/// Bulk: NIKs held as `int64`.
#[pyfunction]
#[pyo3(signature = (values, reference_days=None, regions=None))]
fn parse_niks_int<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, i64>,
    reference_days: Option<i64>,
    regions: Option<&Bound<'py, PyRegionSet>>,
) -> PyResult<BulkArrays<'py>> {
    let rules = rules(reference_days, regions.map(|r| &r.get().0))?;
    let values = values.as_slice()?;
    bulk(py, values.len(), |out| {
        py.detach(|| nik::parse_ints(values, &rules, out));
        Ok(())
    })
}

/// Reads one Python element into its 16 characters, or its error. Never raises: a bad
/// element is an error code, not an exception.
fn prepare_object(obj: &Bound<'_, PyAny>) -> Prepared {
    if let Ok(s) = obj.cast::<PyString>() {
        // Lone surrogates cannot be UTF-8; the lossy form keeps one character per code point.
        return match s.to_str() {
            Ok(t) => nik::prepare_utf8(t.as_bytes()),
            Err(_) => nik::prepare_utf8(s.to_string_lossy().as_bytes()),
        };
    }
    if obj.is_none() {
        return Err(NikError {
            kind: NikErrorKind::Missing,
            position: None,
        });
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return <[u8; 16]>::try_from(b.as_bytes()).map_err(|_| NikError {
            kind: NikErrorKind::Length,
            position: None,
        });
    }
    // Floats are refused even when integral: above 2^53 they no longer hold a NIK exactly.
    if obj.is_instance_of::<PyBool>() || obj.is_instance_of::<PyFloat>() {
        return Err(NikError {
            kind: NikErrorKind::NotText,
            position: None,
        });
    }
    match obj.extract::<i64>() {
        Ok(v) => nik::prepare_int(v),
        Err(_) => match obj.lt(0) {
            // An integer beyond int64: too long, or negative.
            Ok(true) => nik::prepare_int(-1),
            Ok(false) if obj.extract::<u128>().is_ok() => nik::prepare_int(i64::MAX),
            _ => Err(NikError {
                kind: NikErrorKind::NotText,
                position: None,
            }),
        },
    }
}

/// Bulk: a `list` or an object `ndarray` of `str`, `bytes`, `int` or `None`. The strings are
/// copied into 16-byte slots while attached (Python objects cannot be read otherwise), then
/// checked with the GIL released.
#[pyfunction]
#[pyo3(signature = (items, reference_days=None, regions=None))]
fn parse_niks_objects<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyAny>,
    reference_days: Option<i64>,
    regions: Option<&Bound<'py, PyRegionSet>>,
) -> PyResult<BulkArrays<'py>> {
    let rules = rules(reference_days, regions.map(|r| &r.get().0))?;
    if let Ok(list) = items.cast::<PyList>() {
        parse_objects_chunked(py, list.len(), list.iter(), &rules)
    } else if let Ok(array) = items.extract::<PyReadonlyArray1<'py, Py<PyAny>>>() {
        let slice = array.as_slice()?;
        parse_objects_chunked(
            py,
            slice.len(),
            slice.iter().map(|o| o.bind(py).clone()),
            &rules,
        )
    } else {
        Err(PyTypeError::new_err(format!(
            "expected a list or a 1-D object array, not {}",
            items.get_type().name()?
        )))
    }
}

/// Elements read per round trip: prepared under the GIL into a reused buffer, then checked
/// with the GIL released, so memory stays flat and other Python threads get their turns.
const OBJECT_CHUNK: usize = 1 << 16;

fn parse_objects_chunked<'py>(
    py: Python<'py>,
    n: usize,
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    rules: &Rules<'_>,
) -> PyResult<BulkArrays<'py>> {
    bulk(py, n, |out| {
        let mut prepared: Vec<Prepared> = Vec::with_capacity(OBJECT_CHUNK.min(n));
        let mut start = 0;
        let mut items = items.take(n).peekable();
        while items.peek().is_some() {
            prepared.clear();
            prepared.extend(
                items
                    .by_ref()
                    .take(OBJECT_CHUNK)
                    .map(|o| prepare_object(&o)),
            );
            let end = start + prepared.len();
            let chunk = BulkOut {
                values: &mut out.values[start..end],
                errors: &mut out.errors[start..end],
                positions: &mut out.positions[start..end],
            };
            py.detach(|| nik::parse_prepared(&prepared, rules, chunk));
            start = end;
        }
        if start != n {
            return Err(PyTypeError::new_err(
                "the list changed size while it was read",
            ));
        }
        Ok(())
    })
}

/// Bulk: an Arrow-layout UTF-8 column: `offsets` (`int32` or `int64`, n + 1), `data`
/// (`uint8`), and an optional validity mask (`bool`, false = null).
#[pyfunction]
#[pyo3(signature = (offsets, data, valid=None, reference_days=None, regions=None))]
fn parse_niks_utf8<'py>(
    py: Python<'py>,
    offsets: &Bound<'py, PyAny>,
    data: PyReadonlyArray1<'py, u8>,
    valid: Option<PyReadonlyArray1<'py, bool>>,
    reference_days: Option<i64>,
    regions: Option<&Bound<'py, PyRegionSet>>,
) -> PyResult<BulkArrays<'py>> {
    let rules = rules(reference_days, regions.map(|r| &r.get().0))?;
    let data = data.as_slice()?;
    let valid = valid.as_ref().map(|v| v.as_slice()).transpose()?;
    fn run<'py, O: Copy + Into<i64> + Sync>(
        py: Python<'py>,
        offsets: &[O],
        data: &[u8],
        valid: Option<&[bool]>,
        rules: &Rules<'_>,
    ) -> PyResult<BulkArrays<'py>> {
        bulk(py, offsets.len().saturating_sub(1), |out| {
            py.detach(|| nik::parse_utf8_offsets(offsets, data, valid, rules, out))
                .map_err(|e| EktpError::InvalidArgument(e).into())
        })
    }
    if let Ok(o) = offsets.extract::<PyReadonlyArray1<'py, i32>>() {
        run(py, o.as_slice()?, data, valid, &rules)
    } else {
        let o = offsets.extract::<PyReadonlyArray1<'py, i64>>()?;
        run(py, o.as_slice()?, data, valid, &rules)
    }
}

type DecomposedArrays<'py> = (
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<i64>>,
);

/// Bulk: `(province, regency, district, sex, birth_days)` of `int64` NIKs; the birth year's
/// century is resolved against `reference_days` (days since 1970-01-01).
#[pyfunction]
fn decompose_niks<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, i64>,
    reference_days: i64,
) -> PyResult<DecomposedArrays<'py>> {
    let reference = rules(Some(reference_days), None)?.reference.expect("given");
    let values = values.as_slice()?;
    let d = py.detach(|| nik::decompose(values, reference));
    Ok((
        d.province.into_pyarray(py),
        d.regency.into_pyarray(py),
        d.district.into_pyarray(py),
        d.sex.into_pyarray(py),
        d.birth_date.into_pyarray(py),
    ))
}

/// Bulk: mismatch flags of NIKs against records' birth dates (days, `NaT` = unknown) and sexes
/// (ISO/IEC 5218, 0 = unknown).
#[pyfunction]
fn crosscheck_niks<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, i64>,
    birth_days: PyReadonlyArray1<'py, i64>,
    sexes: PyReadonlyArray1<'py, u8>,
) -> PyResult<Bound<'py, PyArray1<u8>>> {
    let (v, b, s) = (
        values.as_slice()?,
        birth_days.as_slice()?,
        sexes.as_slice()?,
    );
    let flags = py
        .detach(|| nik::crosscheck(v, b, s))
        .map_err(EktpError::InvalidArgument)?;
    Ok(flags.into_pyarray(py))
}

/// Builds a NIK from its parts and validates it.
#[pyfunction]
fn compose_nik(
    region_code: u32,
    year: i32,
    month: u8,
    day: u8,
    female: bool,
    serial: u16,
) -> PyResult<i64> {
    let sex = if female {
        nik::Sex::Female
    } else {
        nik::Sex::Male
    };
    nik::compose(region_code, year, month, day, sex, serial)
        .map(|v| v as i64)
        .map_err(|e| {
            let dd = day as u32 + if female { 40 } else { 0 };
            let yy = year.rem_euclid(100);
            invalid(
                format!("{region_code:06}{dd:02}{month:02}{yy:02}{serial:04}"),
                e,
            )
        })
}

/// `(code, name, message)` for every NIK error code.
#[pyfunction]
fn nik_error_table() -> Vec<(u8, &'static str, &'static str)> {
    NikErrorKind::ALL
        .iter()
        .map(|k| (k.code(), k.name(), k.message()))
        .collect()
}

/// The built-in table of Indonesia's 38 provinces: `(code, name)`.
#[pyfunction]
fn provinces() -> Vec<(u8, &'static str)> {
    nik::PROVINCES.to_vec()
}

/// Regencies retired by the 2022 Papua split: `(old PPKK, name, new PPKK)`.
#[pyfunction]
fn retired_papua_regencies() -> Vec<(u16, &'static str, u16)> {
    nik::RETIRED_PAPUA_REGENCIES.to_vec()
}

/// Hides the middle of a NIK-like text: `3271**********01`.
#[pyfunction]
fn mask_nik(text: &str) -> String {
    nik::mask(text)
}

type FirstOccurrences<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<bool>>, usize);

/// Keep-first exact dedup of `int64` keys: `(first_index, is_first, n_invalid)`, where keys
/// outside `0..limit` get -1 and `False` and are counted as invalid.
#[pyfunction]
fn first_occurrences<'py>(
    py: Python<'py>,
    keys: PyReadonlyArray1<'py, i64>,
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
        py.detach(|| dedup::first_occurrences(keys, limit, i, f))
            .map_err(EktpError::InvalidArgument)?
    };
    Ok((index, first, invalid))
}

/// Sorted, duplicate-free copy of the non-negative keys.
#[pyfunction]
fn index_sorted_unique<'py>(
    py: Python<'py>,
    keys: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let keys = keys.as_slice()?;
    Ok(py
        .detach(|| dedup::sorted::sorted_unique(keys))
        .into_pyarray(py))
}

/// Membership of each query in a sorted set.
#[pyfunction]
fn index_contains<'py>(
    py: Python<'py>,
    set: PyReadonlyArray1<'py, i64>,
    queries: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    let (set, queries) = (set.as_slice()?, queries.as_slice()?);
    let mut out = vec![false; queries.len()];
    py.detach(|| dedup::sorted::contains(set, queries, &mut out));
    Ok(out.into_pyarray(py))
}

/// Union of two sorted sets.
#[pyfunction]
fn index_union<'py>(
    py: Python<'py>,
    a: PyReadonlyArray1<'py, i64>,
    b: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let (a, b) = (a.as_slice()?, b.as_slice()?);
    Ok(py.detach(|| dedup::sorted::union(a, b)).into_pyarray(py))
}

/// `a` without `b`, both sorted sets.
#[pyfunction]
fn index_difference<'py>(
    py: Python<'py>,
    a: PyReadonlyArray1<'py, i64>,
    b: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let (a, b) = (a.as_slice()?, b.as_slice()?);
    Ok(py
        .detach(|| dedup::sorted::difference(a, b))
        .into_pyarray(py))
}

/// The checksum an index file stores for its payload.
#[pyfunction]
fn index_checksum(py: Python<'_>, values: PyReadonlyArray1<'_, i64>) -> PyResult<u64> {
    let values = values.as_slice()?;
    Ok(py.detach(|| dedup::sorted::checksum(values)))
}

/// True when the values are strictly increasing.
#[pyfunction]
fn index_is_sorted(py: Python<'_>, values: PyReadonlyArray1<'_, i64>) -> PyResult<bool> {
    let values = values.as_slice()?;
    Ok(py.detach(|| dedup::sorted::is_strictly_increasing(values)))
}

/// `(canonical, key, titles, patronym)` of one name.
#[pyfunction]
fn parse_name(name: &str) -> (String, String, Vec<String>, String) {
    let p = names::parse_name(name);
    (p.canonical, p.key, p.titles, p.patronym)
}

/// Canonical forms (or sorted keys, with `key=True`) of many names; `None` stays `None`.
#[pyfunction]
#[pyo3(signature = (items, key=false))]
fn normalize_names(items: Vec<Option<String>>, key: bool, py: Python<'_>) -> Vec<Option<String>> {
    py.detach(|| {
        use rayon::prelude::*;
        items
            .par_iter()
            .with_min_len(1024)
            .map(|n| {
                n.as_deref().map(|n| {
                    let p = names::parse_name(n);
                    if key {
                        p.key
                    } else {
                        p.canonical
                    }
                })
            })
            .collect()
    })
}

type PeopleMatches<'py> = (
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<f32>>,
    Vec<Bound<'py, PyArray1<u8>>>,
    Bound<'py, PyArray1<i64>>,
    usize,
    Vec<(&'static str, usize)>,
);

fn people_config(
    weights: Vec<f64>,
    threshold: f64,
    max_block: usize,
    window: usize,
) -> PyResult<dedup::people::Config> {
    let w: [f64; 19] = weights.try_into().map_err(|w: Vec<f64>| {
        EktpError::InvalidArgument(format!("expected 19 weights, got {}", w.len()))
    })?;
    let weights = dedup::people::Weights {
        name: [w[0], w[1], w[2], w[3]],
        name_frequency_offset: w[4],
        birth: [w[5], w[6], w[7], w[8], w[9]],
        birth_placeholder: w[10],
        sex: [w[11], w[12]],
        place: [w[13], w[14], w[15]],
        mother: [w[16], w[17], w[18]],
    };
    Ok(dedup::people::Config {
        weights,
        threshold,
        max_block,
        window,
    })
}

/// People records as the Python layer hands them over: a dict of columns (names, birth,
/// sex, places, mothers, niks).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct PeopleColumns<'py> {
    names: Vec<Option<String>>,
    birth: PyReadonlyArray1<'py, i64>,
    sex: PyReadonlyArray1<'py, u8>,
    places: Vec<Option<String>>,
    mothers: Vec<Option<String>>,
    niks: PyReadonlyArray1<'py, i64>,
}

fn prepare_people(py: Python<'_>, c: &PeopleColumns<'_>) -> PyResult<Vec<dedup::people::Prepared>> {
    let people = dedup::people::People {
        name: &c.names,
        birth: c.birth.as_slice()?,
        sex: c.sex.as_slice()?,
        place: &c.places,
        mother: &c.mothers,
        nik: c.niks.as_slice()?,
    };
    py.detach(|| dedup::people::prepare(&people))
        .map_err(|e| EktpError::InvalidArgument(e).into())
}

type PeopleKeys<'py> = (
    Vec<Bound<'py, PyArray1<i64>>>,
    Vec<Bound<'py, PyArray1<bool>>>,
    Vec<String>,
);
type PeopleBlock<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Vec<usize>,
);
type PeopleScores<'py> = (
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<f32>>,
    Vec<Bound<'py, PyArray1<u8>>>,
);

/// Blocking keys of every rule (`u64` as `int64`), whether each applies, and the name keys.
#[pyfunction]
fn people_keys<'py>(py: Python<'py>, columns: PeopleColumns<'py>) -> PyResult<PeopleKeys<'py>> {
    let records = prepare_people(py, &columns)?;
    let mut keys = Vec::new();
    let mut present = Vec::new();
    for rule in 0..dedup::people::RULE_COUNT {
        let k = py.detach(|| dedup::people::rule_keys(&records, rule));
        present.push(
            k.iter()
                .map(Option::is_some)
                .collect::<Vec<_>>()
                .into_pyarray(py),
        );
        keys.push(
            k.iter()
                .map(|k| k.unwrap_or(0) as i64)
                .collect::<Vec<_>>()
                .into_pyarray(py),
        );
    }
    Ok((keys, present, records.into_iter().map(|r| r.key).collect()))
}

/// Candidate pairs of one blocking rule among records (given in ascending `rows` order):
/// `(left_rows, right_rows, oversized group sizes)`.
#[pyfunction]
fn people_block<'py>(
    py: Python<'py>,
    columns: PeopleColumns<'py>,
    rows: PyReadonlyArray1<'py, i64>,
    rule: usize,
    max_block: usize,
    window: usize,
) -> PyResult<PeopleBlock<'py>> {
    use dedup::people::{group_pairs, rule_keys, Config};
    if rule >= dedup::people::RULE_COUNT {
        return Err(EktpError::InvalidArgument(format!("no blocking rule {rule}")).into());
    }
    let records = prepare_people(py, &columns)?;
    let rows = rows.as_slice()?;
    let config = Config {
        max_block,
        window,
        ..Config::default()
    };
    let (pairs, oversized) = py.detach(|| {
        let keyed = rule_keys(&records, rule)
            .into_iter()
            .enumerate()
            .filter_map(|(i, k)| k.map(|k| (k, i as u32)))
            .collect();
        group_pairs(keyed, &records, rule, &config)
    });
    let left: Vec<i64> = pairs.iter().map(|p| rows[(p >> 32) as usize]).collect();
    let right: Vec<i64> = pairs
        .iter()
        .map(|p| rows[(p & 0xFFFF_FFFF) as usize])
        .collect();
    Ok((
        left.into_pyarray(py),
        right.into_pyarray(py),
        oversized.iter().map(|o| o.size).collect(),
    ))
}

/// Scores candidate pairs given both sides' records: `(keep, score, levels)`. `frequency[k]`
/// is how many of all `records` records share the left record's name key.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn people_score<'py>(
    py: Python<'py>,
    left: PeopleColumns<'py>,
    right: PeopleColumns<'py>,
    frequency: PyReadonlyArray1<'py, i64>,
    records: u64,
    weights: Vec<f64>,
    threshold: f64,
) -> PyResult<PeopleScores<'py>> {
    use rayon::prelude::*;
    let config = people_config(weights, threshold, 0, 0)?;
    let (a, b) = (prepare_people(py, &left)?, prepare_people(py, &right)?);
    let frequency = frequency.as_slice()?;
    if a.len() != b.len() || frequency.len() != a.len() {
        return Err(EktpError::InvalidArgument("pair columns differ in length".into()).into());
    }
    let scored: Vec<Option<(f32, [u8; 5])>> = py.detach(|| {
        (0..a.len())
            .into_par_iter()
            .map(|k| {
                let w =
                    dedup::people::exact_name_weight(&config.weights, frequency[k] as u64, records);
                dedup::people::score_pair(&a[k], &b[k], w, &config)
            })
            .collect()
    });
    let keep: Vec<bool> = scored.iter().map(Option::is_some).collect();
    let score: Vec<f32> = scored.iter().map(|s| s.map_or(0.0, |s| s.0)).collect();
    let levels = (0..5)
        .map(|f| {
            scored
                .iter()
                .map(|s| s.map_or(0, |s| s.1[f]))
                .collect::<Vec<u8>>()
                .into_pyarray(py)
        })
        .collect();
    Ok((keep.into_pyarray(py), score.into_pyarray(py), levels))
}

fn hash32(bytes: &[u8]) -> PyResult<[u8; 32]> {
    bytes.try_into().map_err(|_| {
        EktpError::InvalidArgument(format!("a chain hash has 32 bytes, not {}", bytes.len())).into()
    })
}

/// Hashes of history rows appended after `previous` (32 bytes), in order.
#[pyfunction]
fn history_chain(
    py: Python<'_>,
    previous: Vec<u8>,
    payloads: Vec<Vec<u8>>,
) -> PyResult<Vec<Py<PyBytes>>> {
    let previous = hash32(&previous)?;
    let hashes = py.detach(|| {
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        crate::ledger::chain(&previous, &refs)
    });
    Ok(hashes
        .iter()
        .map(|h| PyBytes::new(py, h).unbind())
        .collect())
}

/// The index of the first history row whose stored hash breaks the chain, or `None`.
#[pyfunction]
fn history_first_break(
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
        crate::ledger::first_break(&previous, &refs, &stored)
    }))
}

/// The blocking rules' names, in rule order.
#[pyfunction]
fn people_rule_names() -> Vec<&'static str> {
    (0..dedup::people::RULE_COUNT)
        .map(dedup::people::rule_name)
        .collect()
}

/// Connected components of matched pairs: per record, the smallest index of its cluster.
#[pyfunction]
fn people_clusters<'py>(
    py: Python<'py>,
    n: usize,
    left: PyReadonlyArray1<'py, u32>,
    right: PyReadonlyArray1<'py, u32>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let (l, r) = (left.as_slice()?, right.as_slice()?);
    if l.iter().chain(r).any(|&i| i as usize >= n) || l.len() != r.len() {
        return Err(EktpError::InvalidArgument("pair indices out of range".into()).into());
    }
    Ok(py
        .detach(|| dedup::people::clusters(n, l, r))
        .into_pyarray(py))
}

/// Demographic matches: `(left, right, score, levels, cluster, candidates, oversized)`.
/// `weights` is flat: name 4, name frequency offset 1, birth 5, birth placeholder 1, sex 2,
/// place 3, mother 3.
#[pyfunction]
fn find_people_matches<'py>(
    py: Python<'py>,
    columns: PeopleColumns<'py>,
    weights: Vec<f64>,
    threshold: f64,
    max_block: usize,
    window: usize,
) -> PyResult<PeopleMatches<'py>> {
    let config = people_config(weights, threshold, max_block, window)?;
    let people = dedup::people::People {
        name: &columns.names,
        birth: columns.birth.as_slice()?,
        sex: columns.sex.as_slice()?,
        place: &columns.places,
        mother: &columns.mothers,
        nik: columns.niks.as_slice()?,
    };
    let m = py
        .detach(|| dedup::people::find_matches(&people, &config))
        .map_err(EktpError::InvalidArgument)?;
    Ok((
        m.left.into_pyarray(py),
        m.right.into_pyarray(py),
        m.score.into_pyarray(py),
        m.levels.into_iter().map(|l| l.into_pyarray(py)).collect(),
        m.cluster.into_pyarray(py),
        m.candidates,
        m.oversized.into_iter().map(|o| (o.rule, o.size)).collect(),
    ))
}

/// The default weights, flat in the order `find_people_matches` takes them.
#[pyfunction]
fn default_match_weights() -> Vec<f64> {
    let w = dedup::people::Weights::default();
    [
        &w.name[..],
        &[w.name_frequency_offset],
        &w.birth,
        &[w.birth_placeholder],
        &w.sex,
        &w.place,
        &w.mother,
    ]
    .concat()
}

/// A hasher for object addresses: one multiply, enough to spread pointers over the table.
#[derive(Default)]
struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

fn text_of(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if obj.is_none() {
        return Ok(String::new());
    }
    obj.cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{what} names must be text (str) or None")))?
        .to_str()
        .map(str::to_owned)
}

type Factorized<'py> = (Bound<'py, PyArray1<u32>>, Vec<(String, String)>);

/// Codes for the (kecamatan, kelurahan) pair of every record, continuing `known` (the pairs
/// coded so far, in code order); returns the codes and every pair now known. A categorical
/// column repeats the same few string objects, so pairs are looked up by object address
/// first and by text only the first time an address pair is seen.
#[pyfunction]
fn factorize_pairs<'py>(
    py: Python<'py>,
    kecamatan: PyReadonlyArray1<'py, Py<PyAny>>,
    kelurahan: PyReadonlyArray1<'py, Py<PyAny>>,
    known: Vec<(String, String)>,
) -> PyResult<Factorized<'py>> {
    use std::collections::HashMap;
    use std::hash::BuildHasherDefault;

    let (a, b) = (kecamatan.as_slice()?, kelurahan.as_slice()?);
    if a.len() != b.len() {
        return Err(EktpError::InvalidArgument(
            "kecamatan and kelurahan must have one value per record".into(),
        )
        .into());
    }
    let mut pairs = known;
    let mut by_text: HashMap<(String, String), u32> = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), i as u32))
        .collect();
    let mut by_address: HashMap<(usize, usize), u32, BuildHasherDefault<AddressHasher>> =
        HashMap::default();
    let mut codes = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        let address = (x.as_ptr() as usize, y.as_ptr() as usize);
        let code = match by_address.get(&address) {
            Some(&code) => code,
            None => {
                let pair = (
                    text_of(x.bind(py), "kecamatan")?,
                    text_of(y.bind(py), "kelurahan")?,
                );
                let next = pairs.len() as u32;
                let code = *by_text.entry(pair.clone()).or_insert_with(|| {
                    pairs.push(pair);
                    next
                });
                by_address.insert(address, code);
                code
            }
        };
        codes.push(code);
    }
    Ok((codes.into_pyarray(py), pairs))
}

/// The planner's record columns, a dict built by `ektpcore.plan`.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct PlanJobs<'py> {
    ready: PyReadonlyArray1<'py, f64>,
    priority: PyReadonlyArray1<'py, u8>,
    group: PyReadonlyArray1<'py, u32>,
    two_sided: PyReadonlyArray1<'py, bool>,
}

/// One printer: `(one_sided_s, two_sided_s, ribbon_capacity, ribbon_left, ribbon_change_s,
/// free_at, windows)`.
type PlanPrinter = (f64, f64, u32, u32, f64, f64, Vec<(f64, f64)>);

/// The schedule as numpy columns (a dict on the Python side); batch ribbon changes as CSR.
#[derive(IntoPyObject)]
struct PlanOut<'py> {
    printer: Bound<'py, PyArray1<i32>>,
    batch: Bound<'py, PyArray1<i32>>,
    start: Bound<'py, PyArray1<f64>>,
    end: Bound<'py, PyArray1<f64>>,
    reason: Bound<'py, PyArray1<u8>>,
    order: Bound<'py, PyArray1<u32>>,
    batch_printer: Bound<'py, PyArray1<u32>>,
    batch_start: Bound<'py, PyArray1<f64>>,
    batch_end: Bound<'py, PyArray1<f64>>,
    batch_first: Bound<'py, PyArray1<u32>>,
    batch_len: Bound<'py, PyArray1<u32>>,
    change_offsets: Bound<'py, PyArray1<u32>>,
    changes: Bound<'py, PyArray1<u32>>,
    makespan: f64,
    lower_bound: f64,
    busy: Vec<f64>,
    available: Vec<f64>,
    groups_split: u32,
    ribbon_left: Vec<u32>,
}

/// Plans print batches (see `rust/plan`); the GIL is released while planning.
#[pyfunction]
fn plan_batches<'py>(
    py: Python<'py>,
    jobs: PlanJobs<'py>,
    printers: Vec<PlanPrinter>,
    click_limit: u32,
    click_overhead_s: f64,
    blanks: u64,
    blank_arrivals: Vec<(f64, u64)>,
) -> PyResult<PlanOut<'py>> {
    let specs: Vec<plan::PrinterSpec> = printers
        .into_iter()
        .map(
            |(one, two, capacity, left, change, free_at, windows)| plan::PrinterSpec {
                one_sided_s: one,
                two_sided_s: two,
                ribbon_capacity: capacity,
                ribbon_left: left,
                ribbon_change_s: change,
                free_at,
                windows,
            },
        )
        .collect();
    let options = plan::Options {
        click_limit,
        click_overhead_s,
        blanks,
        blank_arrivals,
    };
    let columns = plan::Jobs {
        ready: jobs.ready.as_slice()?,
        priority: jobs.priority.as_slice()?,
        group: jobs.group.as_slice()?,
        two_sided: jobs.two_sided.as_slice()?,
    };
    let s = py.detach(|| plan::plan(&columns, &specs, &options))?;
    let mut change_offsets = Vec::with_capacity(s.batches.len() + 1);
    let mut changes = Vec::new();
    change_offsets.push(0u32);
    for b in &s.batches {
        changes.extend_from_slice(&b.ribbon_changes);
        change_offsets.push(changes.len() as u32);
    }
    let column = |f: fn(&plan::Batch) -> f64| s.batches.iter().map(f).collect::<Vec<f64>>();
    let index = |f: fn(&plan::Batch) -> u32| s.batches.iter().map(f).collect::<Vec<u32>>();
    Ok(PlanOut {
        batch_printer: index(|b| b.printer).into_pyarray(py),
        batch_start: column(|b| b.start).into_pyarray(py),
        batch_end: column(|b| b.end).into_pyarray(py),
        batch_first: index(|b| b.first).into_pyarray(py),
        batch_len: index(|b| b.len).into_pyarray(py),
        change_offsets: change_offsets.into_pyarray(py),
        changes: changes.into_pyarray(py),
        printer: s.printer.into_pyarray(py),
        batch: s.batch.into_pyarray(py),
        start: s.start.into_pyarray(py),
        end: s.end.into_pyarray(py),
        reason: s.reason.into_pyarray(py),
        order: s.order.into_pyarray(py),
        makespan: s.makespan,
        lower_bound: s.lower_bound,
        busy: s.busy,
        available: s.available,
        groups_split: s.groups_split,
        ribbon_left: s.ribbon_left,
    })
}

/// Raster settings as the Python layer passes them (a dict).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct RasterArgs<'py> {
    depth: u8,
    curve: Vec<u8>,
    /// `none`, `layer` or `near-black`.
    black: String,
    near_black: u8,
    /// `threshold`, `floyd-steinberg` or `ordered`.
    halftone: String,
    threshold: u8,
    /// `none`, `full` or `mask`.
    overlay: String,
    mask: Option<PyReadonlyArray2<'py, u8>>,
    rotation: u16,
    colour: bool,
}

impl RasterArgs<'_> {
    fn settings(&self) -> PyResult<raster::Settings> {
        let bad = |what: &str, value: &str| {
            PyErr::from(EktpError::InvalidArgument(format!(
                "unknown {what} {value:?}"
            )))
        };
        let mut s = raster::Settings::new(self.depth);
        s.curve =
            self.curve.as_slice().try_into().map_err(|_| {
                EktpError::InvalidArgument("a transfer curve has 256 entries".into())
            })?;
        s.black = match self.black.as_str() {
            "none" => raster::BlackMode::None,
            "layer" => raster::BlackMode::Layer,
            "near-black" => raster::BlackMode::NearBlack(self.near_black),
            other => return Err(bad("black mode", other)),
        };
        s.halftone = match self.halftone.as_str() {
            "threshold" => raster::Halftone::Threshold(self.threshold),
            "floyd-steinberg" => raster::Halftone::FloydSteinberg,
            "ordered" => raster::Halftone::Ordered,
            other => return Err(bad("halftone", other)),
        };
        s.overlay = match (self.overlay.as_str(), &self.mask) {
            ("none", _) => raster::Overlay::None,
            ("full", _) => raster::Overlay::Full,
            ("mask", Some(mask)) => {
                raster::Overlay::Mask(contiguous2(mask, "overlay mask")?.to_vec())
            }
            ("mask", None) => {
                return Err(EktpError::InvalidArgument("overlay 'mask' needs a mask".into()).into())
            }
            (other, _) => return Err(bad("overlay", other)),
        };
        s.rotation = self.rotation;
        s.colour = self.colour;
        Ok(s)
    }
}

fn contiguous2<'a>(a: &'a PyReadonlyArray2<'_, u8>, what: &str) -> PyResult<&'a [u8]> {
    a.as_slice().map_err(|_| {
        EktpError::InvalidArgument(format!(
            "the {what} must be C-contiguous (numpy.ascontiguousarray)"
        ))
        .into()
    })
}

/// Borrows a face: `rgb` is `H x W x 3` uint8, `black` `H x W` uint8, both C-contiguous.
fn face_view<'a>(
    rgb: Option<&'a PyReadonlyArray3<'_, u8>>,
    black: Option<&'a PyReadonlyArray2<'_, u8>>,
) -> PyResult<raster::Face<'a>> {
    let (mut h, mut w) = (0, 0);
    let rgb_slice = match rgb {
        Some(a) => {
            let shape = a.shape();
            if shape[2] != 3 {
                return Err(EktpError::InvalidArgument(format!(
                    "an RGB face is H x W x 3; got {shape:?}"
                ))
                .into());
            }
            (h, w) = (shape[0], shape[1]);
            Some(a.as_slice().map_err(|_| {
                PyErr::from(EktpError::InvalidArgument(
                    "the RGB face must be C-contiguous (numpy.ascontiguousarray)".into(),
                ))
            })?)
        }
        None => None,
    };
    let black_slice = match black {
        Some(a) => {
            let shape = a.shape();
            if rgb.is_some() && (shape[0], shape[1]) != (h, w) {
                return Err(EktpError::InvalidArgument(format!(
                    "the black layer is {}x{}, the face {h}x{w}",
                    shape[0], shape[1]
                ))
                .into());
            }
            (h, w) = (shape[0], shape[1]);
            Some(contiguous2(a, "black layer")?)
        }
        None => None,
    };
    Ok(raster::Face {
        height: h,
        width: w,
        rgb: rgb_slice,
        black: black_slice,
    })
}

type PanelArrays<'py> = (
    usize,
    usize,
    Option<Bound<'py, PyArray1<u8>>>,
    Option<Bound<'py, PyArray1<u8>>>,
    Option<Bound<'py, PyArray1<u8>>>,
    Option<Bound<'py, PyArray1<u8>>>,
    Option<Bound<'py, PyArray1<u8>>>,
);

fn panel_arrays(py: Python<'_>, p: raster::Panels) -> PanelArrays<'_> {
    let colour = |v: Vec<u8>| (!v.is_empty()).then(|| v.into_pyarray(py));
    (
        p.lines,
        p.dots,
        colour(p.y),
        colour(p.m),
        colour(p.c),
        p.k.map(|v| v.into_pyarray(py)),
        p.o.map(|v| v.into_pyarray(py)),
    )
}

/// Separates one face into panels `(lines, dots, y, m, c, k, o)`; the GIL is released.
#[pyfunction]
#[pyo3(signature = (rgb, black, settings))]
fn raster_face<'py>(
    py: Python<'py>,
    rgb: Option<PyReadonlyArray3<'py, u8>>,
    black: Option<PyReadonlyArray2<'py, u8>>,
    settings: RasterArgs<'py>,
) -> PyResult<PanelArrays<'py>> {
    let s = settings.settings()?;
    let face = face_view(rgb.as_ref(), black.as_ref())?;
    let panels = py.detach(|| raster::rasterize(&face, &s))?;
    Ok(panel_arrays(py, panels))
}

/// One card for the Evolis encoder: front RGB and black layer, back RGB and black layer.
type CardArrays<'py> = (
    Option<PyReadonlyArray3<'py, u8>>,
    Option<PyReadonlyArray2<'py, u8>>,
    Option<PyReadonlyArray3<'py, u8>>,
    Option<PyReadonlyArray2<'py, u8>>,
);

/// Evolis job settings as a dict.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct EvolisArgs {
    ribbon: String,
    feeder: char,
    compress: bool,
    padding: usize,
}

impl EvolisArgs {
    fn settings(&self) -> dialect::evolis::JobSettings {
        dialect::evolis::JobSettings {
            ribbon: self.ribbon.clone(),
            feeder: self.feeder,
            compress: self.compress,
            padding: self.padding,
        }
    }
}

/// Rasterises and encodes a chunk of cards (`Ss` ... `Se;1` each, in order) on every core
/// with the GIL released; the caller writes the job's start and end.
#[pyfunction]
fn evolis_encode_cards<'py>(
    py: Python<'py>,
    cards: Vec<CardArrays<'py>>,
    front: RasterArgs<'py>,
    back: RasterArgs<'py>,
    job: EvolisArgs,
) -> PyResult<Bound<'py, PyBytes>> {
    let (fs, bs, js) = (front.settings()?, back.settings()?, job.settings());
    let faces = cards
        .iter()
        .map(|(fr, fb, br, bb)| {
            let f = face_view(fr.as_ref(), fb.as_ref())?;
            let b = if br.is_some() || bb.is_some() {
                Some(face_view(br.as_ref(), bb.as_ref())?)
            } else {
                None
            };
            Ok((f, b))
        })
        .collect::<PyResult<Vec<_>>>()?;
    let encoded = py.detach(|| dialect::evolis::encode_cards(&faces, &fs, &bs, &js))?;
    PyBytes::new_with(py, encoded.len(), |buf| {
        let mut at = 0;
        for part in encoded.parts() {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        Ok(())
    })
}

/// Panels given as arrays (`lines`, `dots`, y, m, c, k, o), for encoders fed by a Python
/// raster stage or by a decoder.
type PanelInput<'py> = (
    usize,
    usize,
    Option<PyReadonlyArray1<'py, u8>>,
    Option<PyReadonlyArray1<'py, u8>>,
    Option<PyReadonlyArray1<'py, u8>>,
    Option<PyReadonlyArray1<'py, u8>>,
    Option<PyReadonlyArray1<'py, u8>>,
);

fn panels_from(p: &PanelInput<'_>) -> PyResult<raster::Panels> {
    let copy = |a: &Option<PyReadonlyArray1<'_, u8>>| -> PyResult<Option<Vec<u8>>> {
        a.as_ref().map(|a| Ok(a.as_slice()?.to_vec())).transpose()
    };
    Ok(raster::Panels {
        lines: p.0,
        dots: p.1,
        y: copy(&p.2)?.unwrap_or_default(),
        m: copy(&p.3)?.unwrap_or_default(),
        c: copy(&p.4)?.unwrap_or_default(),
        k: copy(&p.5)?,
        o: copy(&p.6)?,
    })
}

/// Encodes one card from ready panels.
#[pyfunction]
#[pyo3(signature = (front, back, depth, job))]
fn evolis_encode_panels<'py>(
    py: Python<'py>,
    front: PanelInput<'py>,
    back: Option<PanelInput<'py>>,
    depth: u8,
    job: EvolisArgs,
) -> PyResult<Bound<'py, PyBytes>> {
    let f = panels_from(&front)?;
    let b = back.as_ref().map(panels_from).transpose()?;
    let mut out = Vec::new();
    let card = dialect::evolis::Card {
        front: &f,
        back: b.as_ref(),
    };
    dialect::evolis::encode_card(&card, depth, &job.settings(), &mut out)?;
    Ok(PyBytes::new(py, &out))
}

/// The start (`Pr`, `Pmi`), the chip phase (`Pneab;E`, `Sis`/`Sic`), the reject (`Ser`) and
/// the end (padding) of an Evolis job.
#[pyfunction]
#[pyo3(signature = (part, job, station=None))]
fn evolis_job_part<'py>(
    py: Python<'py>,
    part: &str,
    job: EvolisArgs,
    station: Option<&str>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    match (part, station) {
        ("start", _) => dialect::evolis::job_start(&job.settings(), &mut out),
        ("end", _) => dialect::evolis::job_end(&job.settings(), &mut out),
        ("reject", _) => dialect::evolis::reject(&mut out),
        ("chip", Some("contact")) => {
            dialect::evolis::chip_phase(dialect::ChipStation::Contact, &mut out)
        }
        ("chip", Some("contactless")) => {
            dialect::evolis::chip_phase(dialect::ChipStation::Contactless, &mut out)
        }
        _ => {
            return Err(EktpError::InvalidArgument(format!(
                "unknown job part {part:?} (station {station:?})"
            ))
            .into())
        }
    }
    Ok(PyBytes::new(py, &out))
}

type DecodedCommand = (usize, String, Vec<String>, Option<Py<PyBytes>>);
type DecodedCardOut<'py> = (
    PanelArrays<'py>,
    Option<PanelArrays<'py>>,
    Option<&'static str>,
    bool,
    u8,
);

fn decode_error(e: dialect::DecodeError) -> PyErr {
    StreamDecodeError::new_err((e.to_string(), e.offset))
}

fn commands_out(py: Python<'_>, commands: Vec<dialect::Command>) -> Vec<DecodedCommand> {
    commands
        .into_iter()
        .map(|c| {
            (
                c.offset,
                c.name,
                c.params,
                c.payload.map(|p| PyBytes::new(py, &p).unbind()),
            )
        })
        .collect()
}

/// The complete commands at the start of `stream` and the bytes they take (a command cut
/// off by the end is left for later); malformed input raises `StreamDecodeError`.
#[pyfunction]
fn evolis_parse_prefix(py: Python<'_>, stream: &[u8]) -> PyResult<(Vec<DecodedCommand>, usize)> {
    let (commands, used) = dialect::evolis::parse_prefix(stream).map_err(decode_error)?;
    Ok((commands_out(py, commands), used))
}

/// Decodes an Evolis stream: `(commands, ribbon, cards)`; a malformed stream raises
/// `StreamDecodeError` with the byte offset.
#[pyfunction]
fn evolis_decode<'py>(
    py: Python<'py>,
    stream: &[u8],
) -> PyResult<(
    Vec<DecodedCommand>,
    Option<String>,
    Vec<DecodedCardOut<'py>>,
)> {
    let job = py
        .detach(|| dialect::evolis::decode(stream))
        .map_err(decode_error)?;
    let commands = commands_out(py, job.commands);
    let cards = job
        .cards
        .into_iter()
        .map(|c| {
            let chip = c.chip.map(|s| match s {
                dialect::ChipStation::Contact => "contact",
                dialect::ChipStation::Contactless => "contactless",
            });
            (
                panel_arrays(py, c.front),
                c.back.map(|b| panel_arrays(py, b)),
                chip,
                c.rejected,
                c.depth,
            )
        })
        .collect();
    Ok((commands, job.ribbon, cards))
}

#[pymodule]
mod _ektpcore {
    #[pymodule_export]
    use super::chip::{
        apdu_encode, apdu_parse, mrz_check_digit, perso_scripts, status_meaning, tlv_decode,
        tlv_encode, PyChallenge, PySession, PySmKeys,
    };
    #[pymodule_export]
    use super::{
        check_nik, check_nik_int, compose_nik, crosscheck_niks, decompose_niks, mask_nik,
        nik_error_table, parse_niks_bytes, parse_niks_int, parse_niks_objects, parse_niks_ucs4,
        parse_niks_utf8, provinces, retired_papua_regencies, PyRegionSet,
    };
    #[pymodule_export]
    use super::{
        default_match_weights, factorize_pairs, find_people_matches, first_occurrences,
        history_chain, history_first_break, index_checksum, index_contains, index_difference,
        index_is_sorted, index_sorted_unique, index_union, normalize_names, parse_name,
        people_block, people_clusters, people_keys, people_rule_names, people_score, plan_batches,
    };
    #[pymodule_export]
    use super::{
        evolis_decode, evolis_encode_cards, evolis_encode_panels, evolis_job_part,
        evolis_parse_prefix, raster_face,
    };
}
