//! Bindings of the NIK core (`crate::nik`): one NIK at a time for `Nik.parse`, whole columns
//! for `parse_niks`, and the tables and helpers the Python layer shows.

use numpy::{IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyList, PyString, PyTuple};

use crate::error::EktpError;
use crate::nik::{
    self, BulkOut, NikError, NikErrorKind, Prepared, Reference, RegionMatch, RegionSet, Rules,
};

/// A region table reduced to bitmaps for the NIK checks; built by `ektpcore.RegionTable`.
#[pyclass(frozen, name = "RegionSet", module = "ektpcore._ektpcore")]
pub struct PyRegionSet(RegionSet);

#[pymethods]
impl PyRegionSet {
    /// Builds the set from digit-only codes (2, 4, 6 or more digits).
    #[new]
    fn new(codes: Vec<String>) -> PyResult<Self> {
        Ok(PyRegionSet(RegionSet::from_codes(
            codes.iter().map(String::as_str),
        )?))
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

/// Validates one NIK given as `str` (characters) or `bytes` (one byte per character) and
/// returns it as an integer; raises `InvalidNikError`.
#[pyfunction]
#[pyo3(signature = (text, reference_days=None, regions=None))]
pub fn check_nik(
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
pub fn check_nik_int(
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

/// The columns `parse_niks` reads, each as the Python layer hands it over.
pub enum NikColumn<'py> {
    /// NIKs held as `int64`.
    Int(PyReadonlyArray1<'py, i64>),
    /// `(buf, width)`: the `uint8` view of an `S{width}` array.
    Bytes(PyReadonlyArray1<'py, u8>, usize),
    /// `(buf, width)`: the `uint32` view of a `U{width}` array (UCS-4).
    Ucs4(PyReadonlyArray1<'py, u32>, usize),
    /// `(offsets, data, valid)`: an Arrow-layout UTF-8 column, `offsets` `int32` or `int64`
    /// (n + 1), `data` `uint8`, `valid` a `bool` mask (false = null) or `None`.
    Utf8(
        Offsets<'py>,
        PyReadonlyArray1<'py, u8>,
        Option<PyReadonlyArray1<'py, bool>>,
    ),
    /// A `list` of `str`, `bytes`, `int` or `None`.
    List(Bound<'py, PyList>),
    /// A 1-D object `ndarray` of the same.
    Objects(PyReadonlyArray1<'py, Py<PyAny>>),
}

/// The offsets of an Arrow `string` (`int32`) or `large_string` (`int64`) column.
pub enum Offsets<'py> {
    Small(PyReadonlyArray1<'py, i32>),
    Large(PyReadonlyArray1<'py, i64>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for NikColumn<'py> {
    type Error = PyErr;

    /// Tells the kinds apart by type and dtype checks, numpy buffers first, and extracts only
    /// the one that matches: a failed extraction builds a Python exception just to drop it,
    /// which costs more than parsing a short column.
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(values) = obj.cast::<PyArray1<i64>>() {
            return Ok(NikColumn::Int(values.try_readonly()?));
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            if tuple.len() == 2 {
                let (buf, width): (Bound<'py, PyAny>, usize) = tuple.extract()?;
                return Ok(match buf.cast::<PyArray1<u8>>() {
                    Ok(bytes) => NikColumn::Bytes(bytes.try_readonly()?, width),
                    Err(_) => NikColumn::Ucs4(buf.extract()?, width),
                });
            }
            let (offsets, data, valid): (Bound<'py, PyAny>, _, _) = tuple.extract()?;
            let offsets = match offsets.cast::<PyArray1<i32>>() {
                Ok(small) => Offsets::Small(small.try_readonly()?),
                Err(_) => Offsets::Large(offsets.extract()?),
            };
            return Ok(NikColumn::Utf8(offsets, data, valid));
        }
        if let Ok(list) = obj.cast::<PyList>() {
            return Ok(NikColumn::List(list.to_owned()));
        }
        match obj.extract() {
            Ok(objects) => Ok(NikColumn::Objects(objects)),
            Err(_) => Err(PyTypeError::new_err(format!(
                "expected a list or a 1-D object array, not {}",
                obj.get_type().name()?
            ))),
        }
    }
}

/// Bulk: parses and validates a column of NIKs (see [`NikColumn`] for the kinds) and returns
/// `(values, errors, positions)`. Buffers are read in place with the GIL released; Python
/// objects are read in chunks while attached, each chunk checked detached.
#[pyfunction]
#[pyo3(signature = (values, reference_days=None, regions=None))]
pub fn parse_niks<'py>(
    py: Python<'py>,
    values: NikColumn<'py>,
    reference_days: Option<i64>,
    regions: Option<&Bound<'py, PyRegionSet>>,
) -> PyResult<BulkArrays<'py>> {
    let rules = rules(reference_days, regions.map(|r| &r.get().0))?;
    let rules = &rules;
    match values {
        NikColumn::Int(values) => {
            let values = values.as_slice()?;
            detached(py, values.len(), |out| nik::parse_ints(values, rules, out))
        }
        NikColumn::Bytes(buf, width) => {
            let buf = buf.as_slice()?;
            let n = nik::fixed_width_len(buf.len(), width);
            detached(py, n, |out| nik::parse_fixed_bytes(buf, width, rules, out))
        }
        NikColumn::Ucs4(buf, width) => {
            let buf = buf.as_slice()?;
            let n = nik::fixed_width_len(buf.len(), width);
            detached(py, n, |out| nik::parse_fixed_ucs4(buf, width, rules, out))
        }
        NikColumn::Utf8(offsets, data, valid) => {
            let data = data.as_slice()?;
            let valid = valid.as_ref().map(|v| v.as_slice()).transpose()?;
            match offsets {
                Offsets::Small(o) => parse_utf8(py, o.as_slice()?, data, valid, rules),
                Offsets::Large(o) => parse_utf8(py, o.as_slice()?, data, valid, rules),
            }
        }
        NikColumn::List(list) => parse_objects_chunked(py, list.len(), list.iter(), rules),
        NikColumn::Objects(array) => {
            let slice = array.as_slice()?;
            parse_objects_chunked(
                py,
                slice.len(),
                slice.iter().map(|o| o.bind(py).clone()),
                rules,
            )
        }
    }
}

/// Fills the output columns from a buffer borrowed from numpy, with the GIL released.
fn detached<'py>(
    py: Python<'py>,
    n: usize,
    kernel: impl FnOnce(BulkOut<'_>) + Send,
) -> PyResult<BulkArrays<'py>> {
    bulk(py, n, |out| {
        py.detach(|| kernel(out));
        Ok(())
    })
}

fn parse_utf8<'py, O: Copy + Into<i64> + Sync>(
    py: Python<'py>,
    offsets: &[O],
    data: &[u8],
    valid: Option<&[bool]>,
    rules: &Rules<'_>,
) -> PyResult<BulkArrays<'py>> {
    bulk(py, offsets.len().saturating_sub(1), |out| {
        Ok(py.detach(|| nik::parse_utf8_offsets(offsets, data, valid, rules, out))?)
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

/// Elements read per round trip: prepared under the GIL into a reused buffer, then checked
/// with the GIL released, so memory stays flat and other Python threads get their turns.
const OBJECT_CHUNK: usize = 1 << 16;

/// The strings are copied into 16-byte slots while attached (Python objects cannot be read
/// otherwise), then checked with the GIL released.
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
pub fn decompose_niks<'py>(
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
pub fn crosscheck_niks<'py>(
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
    let flags = py.detach(|| nik::crosscheck(v, b, s))?;
    Ok(flags.into_pyarray(py))
}

/// Builds a NIK from its parts and validates it.
#[pyfunction]
pub fn compose_nik(
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
pub fn nik_error_table() -> Vec<(u8, &'static str, &'static str)> {
    NikErrorKind::ALL
        .iter()
        .map(|k| (k.code(), k.name(), k.message()))
        .collect()
}

/// The built-in table of Indonesia's 38 provinces: `(code, name)`.
#[pyfunction]
pub fn provinces() -> Vec<(u8, &'static str)> {
    nik::PROVINCES.to_vec()
}

/// Regencies retired by the 2022 Papua split: `(old PPKK, name, new PPKK)`.
#[pyfunction]
pub fn retired_papua_regencies() -> Vec<(u16, &'static str, u16)> {
    nik::RETIRED_PAPUA_REGENCIES.to_vec()
}

/// Hides the middle of a NIK-like text: `3271**********01`.
#[pyfunction]
pub fn mask_nik(text: &str) -> String {
    nik::mask(text)
}
