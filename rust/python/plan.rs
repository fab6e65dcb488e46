//! Bindings of the batch planner (`crate::plan`): the jobs as numpy columns, the printers as
//! tuples, the schedule back as a dict of numpy columns; and the coding of the (kecamatan,
//! kelurahan) pairs a plan groups cards by.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::error::EktpError;
use crate::plan;
use crate::plan::windows;

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

/// The schedule as numpy columns (a dict on the Python side): `reason` per record, the cards'
/// times in print order (`order`), batch ribbon changes as CSR.
#[derive(IntoPyObject)]
pub struct PlanOut<'py> {
    reason: Bound<'py, PyArray1<u8>>,
    order: Bound<'py, PyArray1<u32>>,
    card_start: Bound<'py, PyArray1<f64>>,
    card_end: Bound<'py, PyArray1<f64>>,
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
    Ok(plan_out(py, s))
}

fn plan_out(py: Python<'_>, s: plan::Schedule) -> PlanOut<'_> {
    let mut change_offsets = Vec::with_capacity(s.batches.len() + 1);
    let mut changes = Vec::new();
    change_offsets.push(0u32);
    for b in &s.batches {
        changes.extend_from_slice(&b.ribbon_changes);
        change_offsets.push(changes.len() as u32);
    }
    let column = |f: fn(&plan::Batch) -> f64| s.batches.iter().map(f).collect::<Vec<f64>>();
    let index = |f: fn(&plan::Batch) -> u32| s.batches.iter().map(f).collect::<Vec<u32>>();
    PlanOut {
        batch_printer: index(|b| b.printer).into_pyarray(py),
        batch_start: column(|b| b.start).into_pyarray(py),
        batch_end: column(|b| b.end).into_pyarray(py),
        batch_first: index(|b| b.first).into_pyarray(py),
        batch_len: index(|b| b.len).into_pyarray(py),
        change_offsets: change_offsets.into_pyarray(py),
        changes: changes.into_pyarray(py),
        reason: s.reason.into_pyarray(py),
        order: s.order.into_pyarray(py),
        card_start: s.card_start.into_pyarray(py),
        card_end: s.card_end.into_pyarray(py),
        makespan: s.makespan,
        lower_bound: s.lower_bound,
        busy: s.busy,
        available: s.available,
        groups_split: s.groups_split,
        ribbon_left: s.ribbon_left,
    }
}

/// The record columns `ektpcore.plan` hands the core: ready times in seconds from the plan's
/// origin, classes, place codes (ranked into print order here) and sidedness.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct RunJobs<'py> {
    /// `None`: every record is ready at the origin (no column of zeros to allocate).
    ready: Option<PyReadonlyArray1<'py, f64>>,
    priority: PyReadonlyArray1<'py, u8>,
    place: PyReadonlyArray1<'py, u32>,
    two_sided: PyReadonlyArray1<'py, bool>,
}

/// One printer for `plan_run`: `(one_sided_s, two_sided_s, ribbon_capacity, ribbon_left,
/// ribbon_change_s, free_at, downtime, available)`, times in seconds from the origin except
/// `free_at` (from `now`).
type RunPrinter = (
    f64,
    f64,
    u32,
    u32,
    f64,
    f64,
    Vec<(f64, f64)>,
    Option<Vec<(f64, f64)>>,
);

/// The staffed shifts: `([(begin, finish, weekdays, printers)], t0, midnight, first_weekday,
/// around_the_clock)` (see `plan::windows::Staffing`).
type RunStaffing = (Vec<(f64, f64, u8, Option<u32>)>, f64, f64, u32, bool);

fn staffing_of((spans, t0, midnight, first_weekday, around): RunStaffing) -> windows::Staffing {
    windows::Staffing {
        spans: spans
            .into_iter()
            .map(|(begin, finish, weekdays, printers)| windows::ShiftSpan {
                begin,
                finish,
                weekdays,
                printers,
            })
            .collect(),
        t0,
        midnight,
        first_weekday,
        around_the_clock: around,
    }
}

/// One printer for `plan_windows`: `(two_sided_s, downtime, available)`.
type WindowPrinter = (f64, Vec<(f64, f64)>, Option<Vec<(f64, f64)>>);

/// The printers' working windows (see `rust/plan/windows.rs`): per printer `(two_sided_s,
/// downtime, available)`, the staffing and the days to cover.
#[pyfunction]
pub fn plan_windows(
    printers: Vec<WindowPrinter>,
    staffing: RunStaffing,
    days: u32,
) -> Vec<Vec<(f64, f64)>> {
    let avail: Vec<windows::Availability> = printers
        .into_iter()
        .map(|(two_sided_s, down, only)| windows::Availability {
            two_sided_s,
            down,
            only,
        })
        .collect();
    windows::windows(&avail, &staffing_of(staffing), days)
}

/// What `plan_run` returns besides the schedule: the windows it planned in (seconds from the
/// origin) and each batch's cards that used ribbon.
#[derive(IntoPyObject)]
pub struct RunOut<'py> {
    schedule: PlanOut<'py>,
    windows: Vec<Vec<(f64, f64)>>,
    batch_used: Bound<'py, PyArray1<i64>>,
}

/// The whole of `ektpcore.plan` past reading the columns: print order from the place codes,
/// times from `now`, the working windows, and the horizon grown (doubling the days, up to
/// three years) until no record lacks a printer only for want of horizon. Times come back in
/// seconds from the origin. The GIL is released while planning.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn plan_run<'py>(
    py: Python<'py>,
    jobs: RunJobs<'py>,
    subset: Option<PyReadonlyArray1<'py, i64>>,
    rank: PyReadonlyArray1<'py, u32>,
    now: f64,
    printers: Vec<RunPrinter>,
    staffing: RunStaffing,
    click_limit: u32,
    click_overhead_s: f64,
    blanks: u64,
    blank_arrivals: Vec<(f64, u64)>,
) -> PyResult<RunOut<'py>> {
    let ready_column = jobs.ready.as_ref().map(|r| r.as_slice()).transpose()?;
    let priority = jobs.priority.as_slice()?;
    let (place, two_sided) = (jobs.place.as_slice()?, jobs.two_sided.as_slice()?);
    let rank = rank.as_slice()?;
    let staffing = staffing_of(staffing);
    let subset = subset.as_ref().map(|s| s.as_slice()).transpose()?;
    let records = priority.len();
    if subset.is_some_and(|s| s.iter().any(|&j| j < 0 || j as usize >= records)) {
        return Err(EktpError::InvalidArgument("a record index outside the columns".into()).into());
    }
    let (s, windows, used) = py.detach(|| {
        let mut zeros = Vec::new();
        let ready = match ready_column {
            Some(column) => column,
            None => {
                zeros = plan::take(&plan::SPARE_F64);
                zeros.clear();
                zeros.resize(records, 0.0);
                &zeros[..]
            }
        };
        // The records planned, gathered when a subset is given.
        let gathered;
        let (ready, priority, place, two_sided) = match subset {
            None => (ready, priority, place, two_sided),
            Some(index) => {
                let at = |j: &i64| *j as usize;
                gathered = (
                    index.iter().map(|j| ready[at(j)]).collect::<Vec<f64>>(),
                    index.iter().map(|j| priority[at(j)]).collect::<Vec<u8>>(),
                    index.iter().map(|j| place[at(j)]).collect::<Vec<u32>>(),
                    index
                        .iter()
                        .map(|j| two_sided[at(j)])
                        .collect::<Vec<bool>>(),
                );
                (
                    &gathered.0[..],
                    &gathered.1[..],
                    &gathered.2[..],
                    &gathered.3[..],
                )
            }
        };
        let result = run(
            ready,
            priority,
            place,
            two_sided,
            rank,
            now,
            &printers,
            &staffing,
            plan::Options {
                click_limit,
                click_overhead_s,
                blanks,
                blank_arrivals: blank_arrivals.iter().map(|&(a, k)| (a - now, k)).collect(),
            },
        );
        plan::keep(&plan::SPARE_F64, zeros);
        result
    })?;
    Ok(RunOut {
        schedule: plan_out(py, s),
        windows,
        batch_used: used.into_pyarray(py),
    })
}

/// The largest finite value (`-inf` when none), in lanes the compiler can vectorise.
fn last_finite(values: &[f64]) -> f64 {
    let mut lanes = [f64::NEG_INFINITY; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = if v.is_finite() && v > *lane { v } else { *lane };
        }
    }
    for &v in rest {
        lanes[0] = if v.is_finite() && v > lanes[0] {
            v
        } else {
            lanes[0]
        };
    }
    lanes.into_iter().fold(f64::NEG_INFINITY, f64::max)
}

type Run = (plan::Schedule, Vec<Vec<(f64, f64)>>, Vec<i64>);

#[allow(clippy::too_many_arguments)]
fn run(
    ready: &[f64],
    priority: &[u8],
    place: &[u32],
    two_sided: &[bool],
    rank: &[u32],
    now: f64,
    printers: &[RunPrinter],
    staffing: &windows::Staffing,
    options: plan::Options,
) -> Result<Run, EktpError> {
    if place.iter().any(|&p| p as usize >= rank.len()) {
        return Err(EktpError::InvalidArgument(
            "a place code without a rank".into(),
        ));
    }
    let mut group = plan::take(&plan::SPARE_U32);
    group.clear();
    group.extend(place.iter().map(|&p| rank[p as usize]));
    let shifted: Vec<f64>;
    let ready = if now != 0.0 {
        shifted = ready.iter().map(|r| r - now).collect();
        &shifted[..]
    } else {
        ready
    };
    let columns = plan::Jobs {
        ready,
        priority,
        group: &group,
        two_sided,
    };
    let avail: Vec<windows::Availability> = printers
        .iter()
        .map(|p| windows::Availability {
            two_sided_s: p.1,
            down: p.6.clone(),
            only: p.7.clone(),
        })
        .collect();
    // A first horizon: the last release plus four times the work spread over the printers,
    // and a week besides.
    let slowest = printers.iter().map(|p| p.1).reduce(f64::max).unwrap_or(1.0);
    let last_ready = last_finite(ready).max(0.0);
    let work = ready.len() as f64 * slowest / printers.len().max(1) as f64;
    let mut days = ((last_ready + 4.0 * work) / 86_400.0) as u32 + 8;
    let result = loop {
        let windows = windows::windows(&avail, staffing, days);
        let specs: Vec<plan::PrinterSpec> = printers
            .iter()
            .zip(&windows)
            .map(|(p, w)| plan::PrinterSpec {
                one_sided_s: p.0,
                two_sided_s: p.1,
                ribbon_capacity: p.2,
                ribbon_left: p.3,
                ribbon_change_s: p.4,
                free_at: p.5,
                windows: w.iter().map(|&(a, b)| (a - now, b - now)).collect(),
            })
            .collect();
        let mut s = plan::plan(&columns, &specs, &options)?;
        let no_printer = s.reason.contains(&plan::reason::NO_PRINTER);
        if !no_printer || days > 3 * 366 || printers.is_empty() {
            if now != 0.0 {
                for t in s.card_start.iter_mut().chain(s.card_end.iter_mut()) {
                    *t += now;
                }
                for b in &mut s.batches {
                    b.start += now;
                    b.end += now;
                }
            }
            let used = s.batches.iter().map(|b| i64::from(b.len)).collect();
            break (s, windows, used);
        }
        days *= 2;
    };
    plan::keep(&plan::SPARE_U32, group);
    Ok(result)
}

/// Priority classes as the core reads them (`0..=255`), or `None` when one is out of range.
#[pyfunction]
pub fn plan_classes<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, i64>,
) -> PyResult<Option<Bound<'py, PyArray1<u8>>>> {
    let values = values.as_slice()?;
    let classes: Option<Vec<u8>> = py.detach(|| {
        if values.iter().any(|&v| !(0..=255).contains(&v)) {
            return None;
        }
        Some(values.iter().map(|&v| v as u8).collect())
    });
    Ok(classes.map(|c| c.into_pyarray(py)))
}

/// Whether record ids are fit for a plan: `0` distinct and non-negative, `1` one is
/// negative, `2` one repeats (ids already ascending are checked in one pass).
#[pyfunction]
pub fn plan_ids_check(py: Python<'_>, ids: PyReadonlyArray1<'_, i64>) -> PyResult<u8> {
    let ids = ids.as_slice()?;
    Ok(py.detach(|| {
        // One pass for the usual case: ids ascending (so distinct) from a non-negative one.
        if ids.first().is_none_or(|&i| i >= 0) && ids.windows(2).all(|w| w[0] < w[1]) {
            return 0;
        }
        if ids.iter().any(|&i| i < 0) {
            return 1;
        }
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            2
        } else {
            0
        }
    }))
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
    // A direct-mapped cache in front of the table: a column repeats a few dozen objects, so
    // nearly every record is found in one compare of two addresses, without hashing.
    const SLOTS: usize = 1 << 12;
    let mut recent = vec![(0usize, 0usize, 0u32); SLOTS];
    let slot_of = |(x, y): (usize, usize)| {
        (((x ^ y.rotate_left(17)) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize
            & (SLOTS - 1)
    };
    let mut codes = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        let address = (x.as_ptr() as usize, y.as_ptr() as usize);
        let slot = slot_of(address);
        let hit = recent[slot];
        if (hit.0, hit.1) == address {
            codes.push(hit.2);
            continue;
        }
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
        recent[slot] = (address.0, address.1, code);
        codes.push(code);
    }
    Ok((codes.into_pyarray(py), pairs))
}

/// The cards of a re-planned schedule: those the started batches keep, then the fresh plan's.
#[derive(IntoPyObject)]
pub struct CardsOut<'py> {
    order: Bound<'py, PyArray1<u32>>,
    card_start: Bound<'py, PyArray1<f64>>,
    card_end: Bound<'py, PyArray1<f64>>,
    reason: Bound<'py, PyArray1<u8>>,
    /// Cards each started batch still holds.
    lens: Bound<'py, PyArray1<i64>>,
}

/// The card columns after a re-plan, each written once: for each started batch (`firsts`,
/// `kept`: its first position in `order` and how many cards it kept), the cards whose record
/// is kept (`keep`, per old record), renumbered as the kept records come first (in their old
/// order); then the fresh plan's cards, its records numbered after the kept ones.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn plan_combine_cards<'py>(
    py: Python<'py>,
    order: PyReadonlyArray1<'py, u32>,
    card_start: PyReadonlyArray1<'py, f64>,
    card_end: PyReadonlyArray1<'py, f64>,
    firsts: PyReadonlyArray1<'py, i64>,
    kept: PyReadonlyArray1<'py, i64>,
    keep: PyReadonlyArray1<'py, bool>,
    fresh_order: PyReadonlyArray1<'py, u32>,
    fresh_start: PyReadonlyArray1<'py, f64>,
    fresh_end: PyReadonlyArray1<'py, f64>,
    fresh_reason: PyReadonlyArray1<'py, u8>,
) -> PyResult<CardsOut<'py>> {
    let (order, start, end) = (
        order.as_slice()?,
        card_start.as_slice()?,
        card_end.as_slice()?,
    );
    let (firsts, kept, keep) = (firsts.as_slice()?, kept.as_slice()?, keep.as_slice()?);
    let (f_order, f_start) = (fresh_order.as_slice()?, fresh_start.as_slice()?);
    let (f_end, f_reason) = (fresh_end.as_slice()?, fresh_reason.as_slice()?);
    let bad = || EktpError::InvalidArgument("batch ranges outside the schedule".into());
    if firsts.len() != kept.len()
        || start.len() != order.len()
        || end.len() != order.len()
        || f_start.len() != f_order.len()
        || f_end.len() != f_order.len()
        || order.iter().any(|&j| j as usize >= keep.len())
        || firsts
            .iter()
            .zip(kept)
            .any(|(&a, &k)| a < 0 || k < 0 || (a + k) as usize > order.len())
    {
        return Err(bad().into());
    }
    let out = py.detach(|| {
        // New number of each kept record: its rank among the kept ones.
        let mut rank = vec![u32::MAX; keep.len()];
        let mut frozen = 0u32;
        for (j, &k) in keep.iter().enumerate() {
            if k {
                rank[j] = frozen;
                frozen += 1;
            }
        }
        let total = kept.iter().sum::<i64>().max(0) as usize;
        let mut o = Vec::with_capacity(total.min(order.len()) + f_order.len());
        let mut s = Vec::with_capacity(o.capacity());
        let mut e = Vec::with_capacity(o.capacity());
        let mut lens = Vec::with_capacity(firsts.len());
        for (&a, &k) in firsts.iter().zip(kept) {
            let before = o.len();
            for pos in a as usize..(a + k) as usize {
                let r = rank[order[pos] as usize];
                if r != u32::MAX {
                    o.push(r);
                    s.push(start[pos]);
                    e.push(end[pos]);
                }
            }
            lens.push((o.len() - before) as i64);
        }
        o.extend(f_order.iter().map(|&j| j + frozen));
        s.extend_from_slice(f_start);
        e.extend_from_slice(f_end);
        let mut reason = vec![plan::reason::SCHEDULED; frozen as usize + f_reason.len()];
        reason[frozen as usize..].copy_from_slice(f_reason);
        (o, s, e, reason, lens)
    });
    Ok(CardsOut {
        order: out.0.into_pyarray(py),
        card_start: out.1.into_pyarray(py),
        card_end: out.2.into_pyarray(py),
        reason: out.3.into_pyarray(py),
        lens: out.4.into_pyarray(py),
    })
}
