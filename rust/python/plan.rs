//! Bindings of the batch planner (`crate::plan`): the jobs as numpy columns, the printers as
//! tuples, the schedule back as a dict of numpy columns; and the coding of the (kecamatan,
//! kelurahan) pairs a plan groups cards by.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::error::EktpError;
use crate::plan;

/// The planner's record columns, a dict built by `ektpcore.plan`.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct PlanJobs<'py> {
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
pub struct PlanOut<'py> {
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
pub fn plan_batches<'py>(
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
pub fn factorize_pairs<'py>(
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
