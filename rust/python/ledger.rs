//! Bindings of the ledger's checks (`crate::ledger`): the history hash chain, the canonical
//! payload of a history row, rows of a table as the store returns them for checking, and the
//! replay of the histories against the tables; the bulk work runs with the GIL released.

use std::fmt::Write as _;
use std::sync::OnceLock;

use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PyString, PyTuple};

use crate::error::EktpError;
use crate::ledger;
use crate::ledger::acting::{Acting, ActingColumns};
use crate::ledger::replay::{self, BlankReplay, HistoryColumns, RecordReplay, RecordRules};
use crate::ledger::rows::{self, FastMap, Format, Layout, Rows};

use super::keys::PyKeyRing;

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
    previous: &[u8],
    payloads: Vec<PyBackedBytes>,
) -> PyResult<Vec<Py<PyBytes>>> {
    let previous = hash32(previous)?;
    let hashes = py.detach(|| {
        let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_ref()).collect();
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
    previous: &[u8],
    payloads: Vec<PyBackedBytes>,
    stored: Vec<PyBackedBytes>,
) -> PyResult<Option<usize>> {
    let previous = hash32(previous)?;
    // A stored hash of the wrong length can match nothing; all-ones stands in for it.
    let stored: Vec<[u8; 32]> = stored
        .iter()
        .map(|h| <[u8; 32]>::try_from(h.as_ref()).unwrap_or([0xFF; 32]))
        .collect();
    Ok(py.detach(|| {
        let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_ref()).collect();
        ledger::first_break(&previous, &refs, &stored)
    }))
}

/// A Python value of a history row as the text it is chained as: `None` is NULL, an `int` its
/// decimal digits, a `str` its UTF-8 bytes (what both stores return for the column, cast to
/// text). Anything else has no single text form and is refused.
fn field_text(value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<bool> {
    if value.is_none() {
        return Ok(false);
    }
    if let Ok(text) = value.cast::<PyString>() {
        out.extend_from_slice(text.to_str()?.as_bytes());
    } else if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
        // Digits written here for a machine integer: a Python `str()` call per field was
        // most of a bulk change's payload time.
        match value.extract::<i64>() {
            Ok(number) => out.extend_from_slice(number.to_string().as_bytes()),
            Err(_) => out.extend_from_slice(value.str()?.to_str()?.as_bytes()),
        }
    } else {
        return Err(PyTypeError::new_err(format!(
            "a history field is None, an int or a str, not {}",
            value.get_type().name()?
        )));
    }
    Ok(true)
}

/// The canonical payloads (see `crate::ledger::rows::encode`) of history rows being
/// appended: `tag` (the chain), then each row's fields, with any subject fields after them.
#[pyfunction]
pub fn history_payloads(
    py: Python<'_>,
    tag: &[u8],
    rows: Vec<Bound<'_, PyTuple>>,
) -> PyResult<Vec<Py<PyBytes>>> {
    let mut text = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        text.clear();
        let mut bounds: Vec<Option<(usize, usize)>> = Vec::with_capacity(row.len());
        for value in row.iter() {
            let start = text.len();
            let present = field_text(&value, &mut text)?;
            bounds.push(present.then_some((start, text.len())));
        }
        let mut payload = Vec::with_capacity(16 + text.len() + 5 * bounds.len());
        let fields = std::iter::once(Some(tag))
            .chain(bounds.iter().map(|b| b.map(|(s, e)| &text[s..e])))
            .collect::<Vec<_>>();
        rows::encode(&mut payload, fields.into_iter());
        out.push(PyBytes::new(py, &payload).unbind());
    }
    Ok(out)
}

/// One column of history rows given as columns: the same text for every row, or each row's
/// own (`bounds` into one shared buffer).
enum ColumnText {
    Same(Option<(usize, usize)>),
    PerRow(Vec<Option<(usize, usize)>>),
}

/// [`history_payloads`] of rows given as columns (a bulk change: most columns hold one value
/// for every row): the rows numbered from `first_seq`, then one entry of `columns` per field,
/// a `list` of `count` values or one value for every row. Each distinct value is turned into
/// text once, and no row tuple is built on either side.
#[pyfunction]
pub fn history_payloads_columns(
    py: Python<'_>,
    tag: &[u8],
    first_seq: i64,
    columns: Vec<Bound<'_, PyAny>>,
    count: usize,
) -> PyResult<Vec<Py<PyBytes>>> {
    let mut text = Vec::new();
    let bounded = |value: &Bound<'_, PyAny>, text: &mut Vec<u8>| {
        let start = text.len();
        field_text(value, text).map(|present| present.then_some((start, text.len())))
    };
    let mut parsed = Vec::with_capacity(columns.len());
    for column in &columns {
        parsed.push(match column.cast::<PyList>() {
            Ok(list) => {
                if list.len() != count {
                    return Err(EktpError::InvalidArgument(format!(
                        "a history column of {} values for {count} rows",
                        list.len()
                    ))
                    .into());
                }
                let mut bounds = Vec::with_capacity(count);
                for value in list.iter() {
                    bounds.push(bounded(&value, &mut text)?);
                }
                ColumnText::PerRow(bounds)
            }
            Err(_) => ColumnText::Same(bounded(column, &mut text)?),
        });
    }
    let mut seq = String::new();
    let mut payload = Vec::new();
    let mut out = Vec::with_capacity(count);
    for row in 0..count {
        payload.clear();
        seq.clear();
        write!(seq, "{}", first_seq + row as i64).expect("writing to a String");
        let fields = [Some(tag), Some(seq.as_bytes())]
            .into_iter()
            .chain(parsed.iter().map(|column| {
                let bounds = match column {
                    ColumnText::Same(bounds) => *bounds,
                    ColumnText::PerRow(each) => each[row],
                };
                bounds.map(|(s, e)| &text[s..e])
            }))
            .collect::<Vec<_>>();
        rows::encode(&mut payload, fields.into_iter());
        out.push(PyBytes::new(py, &payload).unbind());
    }
    Ok(out)
}

fn format_of(format: u8) -> PyResult<Format> {
    match format {
        1 => Ok(Format::Legacy),
        2 | 3 => Ok(Format::Canonical),
        _ => Err(EktpError::InvalidArgument(format!("no history format {format}")).into()),
    }
}

/// Rows of a ledger table as the store returned them, `width` cells a row, in the store's
/// `form`: `"json"` (one JSON array of arrays of text or null) or `"tuples"` (PostgreSQL's row
/// values, one a line), parsed in one pass with the GIL released; for a chained table, with
/// the links stored with them (`links`: 32 bytes a row, one after the other).
#[pyclass(frozen, name = "LedgerRows", module = "ektpcore._ektpcore")]
pub struct PyLedgerRows {
    rows: Rows,
    keys: OnceLock<FastMap<i64, usize>>,
    links: Vec<[u8; 32]>,
}

#[pymethods]
impl PyLedgerRows {
    #[new]
    #[pyo3(signature = (text, width, links=None, *, form="json"))]
    fn new(
        py: Python<'_>,
        text: PyBackedBytes,
        width: usize,
        links: Option<PyBackedBytes>,
        form: &str,
    ) -> PyResult<Self> {
        let parse = match form {
            "json" => Rows::parse,
            "tuples" => Rows::parse_tuples,
            _ => {
                let what = format!("ledger rows come as \"json\" or \"tuples\", not {form:?}");
                return Err(EktpError::InvalidArgument(what).into());
            }
        };
        let (rows, links) = py.detach(|| {
            let links = links.as_deref().map(rows::links).unwrap_or_default();
            parse(&text, width).map(|rows| (rows, links))
        })?;
        Ok(PyLedgerRows {
            rows,
            keys: OnceLock::new(),
            links,
        })
    }

    fn __len__(&self) -> usize {
        self.rows.len()
    }

    #[getter]
    fn width(&self) -> usize {
        self.rows.width()
    }

    /// The cells of row `index` as text (`None` for NULL; bytes that are not UTF-8 shown
    /// replaced).
    fn row(&self, index: usize) -> PyResult<Vec<Option<String>>> {
        if index >= self.rows.len() {
            return Err(PyIndexError::new_err("no such row"));
        }
        Ok((0..self.rows.width())
            .map(|c| {
                self.rows
                    .get(index, c)
                    .map(|t| String::from_utf8_lossy(t).into_owned())
            })
            .collect())
    }

    /// The index of the first row whose `column` is not `first + index`, or `None`.
    fn seq_break(&self, column: usize, first: i64) -> PyResult<Option<usize>> {
        self.column(column)?;
        Ok(self.rows.seq_break(column, first))
    }

    /// The payload of every row: the chain's `tag` and the cells of `columns`, in `format` (1
    /// the first, `0x1f`-joined; 2 and 3 canonical). In the canonical format an intake row also
    /// carries its subject's fields: `subject` is (rows keyed by their first column, the
    /// column of these rows holding the key, the column whose NULL marks an intake row, the
    /// subject's columns chained).
    #[pyo3(signature = (format, tag, columns, subject=None))]
    fn payloads(
        &self,
        py: Python<'_>,
        format: u8,
        tag: &[u8],
        columns: Vec<usize>,
        subject: Option<SubjectArg<'_>>,
    ) -> PyResult<Vec<Py<PyBytes>>> {
        let layout = (format_of(format)?, tag, columns);
        let subject = self.subject(&layout.2, subject.as_ref())?;
        let payloads = py.detach(|| self.layout_do(&layout, subject, |l, rows| l.payloads(rows)));
        Ok(bytes_list(py, &payloads))
    }

    /// The index of the first row whose stored link breaks the chain from `previous`, the
    /// payloads made as :meth:`payloads` makes them; `None` when every row fits. `mac`
    /// computes the links (a ``KeyRing``, or any object with ``first_break(previous,
    /// payloads, stored)``); without one they are SHA-256. SHA-256 and a ``KeyRing`` are
    /// checked here without a payload ever becoming a Python object.
    #[pyo3(signature = (mac, previous, format, tag, columns, subject=None))]
    #[allow(clippy::too_many_arguments)]
    fn first_break(
        &self,
        py: Python<'_>,
        mac: Option<Bound<'_, PyAny>>,
        previous: &[u8],
        format: u8,
        tag: &[u8],
        columns: Vec<usize>,
        subject: Option<SubjectArg<'_>>,
    ) -> PyResult<Option<usize>> {
        let layout = (format_of(format)?, tag, columns);
        let previous = hash32(previous)?;
        let subject = self.subject(&layout.2, subject.as_ref())?;
        let Some(mac) = mac else {
            return Ok(py.detach(|| {
                self.layout_do(&layout, subject, |l, rows| {
                    l.first_break(rows, &previous, &self.links)
                })
            }));
        };
        if let Ok(ring) = mac.cast::<PyKeyRing>() {
            // The ledger's own key ring: checked in the core too, no payload made an object.
            let ring = &ring.get().0;
            return Ok(py.detach(|| {
                let payloads = self.layout_do(&layout, subject, |l, rows| l.payloads(rows));
                let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
                ring.first_break(&previous, &refs, &self.links)
            }));
        }
        let payloads = py.detach(|| self.layout_do(&layout, subject, |l, rows| l.payloads(rows)));
        let (payloads, stored) = (bytes_list(py, &payloads), bytes_list(py, &self.links));
        mac.call_method1(
            "first_break",
            (PyBytes::new(py, &previous), payloads, stored),
        )?
        .extract()
    }

    /// A sealed ledger's records held to their sealed values: these rows are (record id, NIK
    /// index, byte length of the sealed value) and `sealed` the values one after the other
    /// (a NULL one takes no bytes). Each value must open under `ring`, bound to
    /// `records/<NIK index>`, to a NIK (its first sixteen bytes, all digits) whose blind index
    /// is the row's. Returns `(row, problem)` for each row that does not: 1 where the value
    /// does not open, 2 where the NIK inside is another row's. In the core, GIL released
    /// (a verify opens every record), so it runs beside the chain check.
    fn sealed_records(
        &self,
        py: Python<'_>,
        ring: PyRef<'_, PyKeyRing>,
        sealed: PyBackedBytes,
    ) -> PyResult<Vec<(usize, u8)>> {
        self.column(2)?;
        let (rows, ring) = (&self.rows, &ring.0);
        let found = py.detach(|| {
            let mut values: Vec<&[u8]> = Vec::with_capacity(rows.len());
            let mut aads: Vec<Vec<u8>> = Vec::with_capacity(rows.len());
            let mut at = 0usize;
            for row in 0..rows.len() {
                let len = rows.int(row, 2).and_then(|n| usize::try_from(n).ok());
                let end = at.saturating_add(len.unwrap_or(0)).min(sealed.len());
                values.push(&sealed[at..end]);
                at = end;
                let mut aad = b"records/".to_vec();
                aad.extend_from_slice(rows.get(row, 1).unwrap_or_default());
                aads.push(aad);
            }
            let aads: Vec<&[u8]> = aads.iter().map(Vec::as_slice).collect();
            let opened = ring.open(&values, &aads)?;
            let mut found = Vec::new();
            let (mut inside, mut niks) = (Vec::new(), Vec::new());
            for (row, value) in opened.iter().enumerate() {
                let nik = value
                    .as_deref()
                    .and_then(|v| v.get(..16))
                    .filter(|head| head.iter().all(u8::is_ascii_digit))
                    .and_then(|head| std::str::from_utf8(head).ok()?.parse::<i64>().ok());
                match nik {
                    Some(nik) => {
                        inside.push(row);
                        niks.push(nik);
                    }
                    None => found.push((row, 1)),
                }
            }
            let expected = ring.blind(&niks);
            for (row, blind) in inside.into_iter().zip(expected) {
                if rows.int(row, 1) != Some(blind) {
                    found.push((row, 2));
                }
            }
            found.sort_unstable();
            Ok::<_, EktpError>(found)
        })?;
        Ok(found)
    }

    /// The stored link of row `index`, 32 bytes (all-ones where the store gave none).
    fn link<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyBytes>> {
        if index >= self.rows.len() {
            return Err(PyIndexError::new_err("no such row"));
        }
        Ok(PyBytes::new(
            py,
            self.links.get(index).unwrap_or(&[0xFF; 32]),
        ))
    }
}

fn bytes_list(py: Python<'_>, values: &[impl AsRef<[u8]>]) -> Vec<Py<PyBytes>> {
    values
        .iter()
        .map(|v| PyBytes::new(py, v.as_ref()).unbind())
        .collect()
}

type LayoutArgs<'a> = (Format, &'a [u8], Vec<usize>);

/// The `subject` argument: (rows, key column, intake column, the subject's columns chained).
type SubjectArg<'py> = (PyRef<'py, PyLedgerRows>, usize, usize, Vec<usize>);

/// A subject checked against the rows it serves, ready to lend to the core.
struct SubjectRef<'a> {
    rows: &'a PyLedgerRows,
    key: usize,
    intake: usize,
    fields: &'a [usize],
}

impl<'a> SubjectRef<'a> {
    fn core(&self) -> rows::Subject<'a> {
        rows::Subject {
            rows: &self.rows.rows,
            index: self.rows.keys(),
            key: self.key,
            intake: self.intake,
            fields: self.fields,
        }
    }
}

impl PyLedgerRows {
    /// Where each key (the first column, an integer) stands; built once.
    fn keys(&self) -> &FastMap<i64, usize> {
        self.keys.get_or_init(|| self.rows.index(0))
    }

    /// `work` over these rows with the payload layout `layout` (and its subject).
    fn layout_do<T>(
        &self,
        layout: &LayoutArgs<'_>,
        subject: Option<SubjectRef<'_>>,
        work: impl FnOnce(&Layout<'_>, &Rows) -> T,
    ) -> T {
        let subject = subject.map(|s| s.core());
        let (format, tag, columns) = layout;
        let layout = Layout {
            format: *format,
            tag,
            columns,
            subject: subject.as_ref(),
        };
        work(&layout, &self.rows)
    }

    fn subject<'a>(
        &self,
        columns: &[usize],
        subject: Option<&'a SubjectArg<'_>>,
    ) -> PyResult<Option<SubjectRef<'a>>> {
        for &c in columns {
            self.column(c)?;
        }
        let Some((rows, key, intake, fields)) = subject else {
            return Ok(None);
        };
        self.column(*key)?;
        self.column(*intake)?;
        for &f in fields {
            rows.column(f)?;
        }
        Ok(Some(SubjectRef {
            rows,
            key: *key,
            intake: *intake,
            fields,
        }))
    }

    fn column(&self, column: usize) -> PyResult<()> {
        if column >= self.rows.width() {
            return Err(PyIndexError::new_err(format!(
                "rows have {} columns, not {}",
                self.rows.width(),
                column + 1
            )));
        }
        Ok(())
    }
}

type FindingTuple = (String, String, Option<i64>, String);

fn findings(found: (Vec<replay::Finding>, usize)) -> (Vec<FindingTuple>, usize) {
    let (kept, total) = found;
    let kept = kept
        .into_iter()
        .map(|f| (f.table.to_owned(), f.row, f.seq, f.problem))
        .collect();
    (kept, total)
}

fn history_columns(columns: (usize, usize, usize, usize, usize, usize)) -> HistoryColumns {
    let (seq, key, source, target, batch, other) = columns;
    HistoryColumns {
        seq,
        key,
        source,
        target,
        batch,
        other,
    }
}

fn taken<T>(slot: &mut Option<T>) -> PyResult<&mut T> {
    slot.as_mut()
        .ok_or_else(|| EktpError::InvalidArgument("this replay was already checked".into()).into())
}

/// The record history replayed against `records` and `cards` (see `crate::ledger::replay`):
/// `columns` are where (seq, record id, from, to, batch, blank) are in the rows fed.
#[pyclass(name = "RecordReplay", module = "ektpcore._ektpcore")]
pub struct PyRecordReplay(Option<RecordReplay>);

#[pymethods]
impl PyRecordReplay {
    #[new]
    fn new(
        columns: (usize, usize, usize, usize, usize, usize),
        queued: &str,
        printed: &str,
        releasing: Vec<String>,
        holding: Vec<String>,
    ) -> Self {
        let rules = RecordRules {
            queued: queued.into(),
            printed: printed.into(),
            releasing: releasing.into_iter().map(String::into_bytes).collect(),
            holding: holding.into_iter().map(String::into_bytes).collect(),
        };
        PyRecordReplay(Some(RecordReplay::new(history_columns(columns), rules)))
    }

    /// Feeds the next rows of the history, in order.
    fn feed(&mut self, py: Python<'_>, rows: PyRef<'_, PyLedgerRows>) -> PyResult<()> {
        let (replay, rows) = (taken(&mut self.0)?, &rows.rows);
        py.detach(|| replay.feed(rows));
        Ok(())
    }

    /// Findings (table, row, history seq, problem) for `records` (id, state, batch) and
    /// `cards` (record id, serial, valid), and how many there are in all.
    fn check(
        &mut self,
        py: Python<'_>,
        records: PyRef<'_, PyLedgerRows>,
        cards: PyRef<'_, PyLedgerRows>,
    ) -> PyResult<(Vec<FindingTuple>, usize)> {
        let replay = self.0.take().ok_or_else(|| {
            PyErr::from(EktpError::InvalidArgument(
                "this replay was already checked".into(),
            ))
        })?;
        let (records, cards) = (&records.rows, &cards.rows);
        Ok(findings(py.detach(|| replay.check(records, cards))))
    }
}

/// The blank-card history replayed against `blanks` and `blank_lots`: `columns` are where
/// (seq, serial, from, to, batch, record id) are in the rows fed.
#[pyclass(name = "BlankReplay", module = "ektpcore._ektpcore")]
pub struct PyBlankReplay(Option<BlankReplay>);

#[pymethods]
impl PyBlankReplay {
    #[new]
    fn new(columns: (usize, usize, usize, usize, usize, usize)) -> Self {
        PyBlankReplay(Some(BlankReplay::new(history_columns(columns))))
    }

    fn feed(&mut self, py: Python<'_>, rows: PyRef<'_, PyLedgerRows>) -> PyResult<()> {
        let (replay, rows) = (taken(&mut self.0)?, &rows.rows);
        py.detach(|| replay.feed(rows));
        Ok(())
    }

    /// Findings for `blanks` (serial, lot id, state, batch, record id) and `lots` (id, first,
    /// last, complete), and that the records named are among `records` (ids first).
    #[pyo3(signature = (blanks, lots, records=None))]
    fn check(
        &mut self,
        py: Python<'_>,
        blanks: PyRef<'_, PyLedgerRows>,
        lots: PyRef<'_, PyLedgerRows>,
        records: Option<PyRef<'_, PyLedgerRows>>,
    ) -> PyResult<(Vec<FindingTuple>, usize)> {
        let replay = self.0.take().ok_or_else(|| {
            PyErr::from(EktpError::InvalidArgument(
                "this replay was already checked".into(),
            ))
        })?;
        let (blanks, lots, records) = (&blanks.rows, &lots.rows, records.as_deref());
        let records = records.map(|r| r.keys());
        Ok(findings(py.detach(|| replay.check(blanks, lots, records))))
    }
}

/// Text of a cell for Python (bytes that are not UTF-8 shown replaced).
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One chained table's rows held to what the audit let each actor do (see
/// `crate::ledger::acting`): `columns` are where (seq, at, actor, role) are in the rows fed;
/// rows stamped before `since`, and those of the `skip` actor and role, are not held.
#[pyclass(name = "ActingCheck", module = "ektpcore._ektpcore")]
pub struct PyActingCheck(Acting);

#[pymethods]
impl PyActingCheck {
    #[new]
    #[pyo3(signature = (columns, since, skip=None))]
    fn new(
        columns: (usize, usize, usize, usize),
        since: &str,
        skip: Option<(String, String)>,
    ) -> Self {
        let (seq, at, actor, role) = columns;
        let columns = ActingColumns {
            seq,
            at,
            actor,
            role,
        };
        let skip = skip.as_ref().map(|(a, r)| (a.as_bytes(), r.as_bytes()));
        PyActingCheck(Acting::new(columns, since.as_bytes(), skip))
    }

    /// Gives `pair` its spans of time (from, until or `None`), as ledger stamps.
    fn learn(&mut self, pair: usize, spans: Vec<(String, Option<String>)>) {
        let spans = spans
            .into_iter()
            .map(|(lo, hi)| (lo.into_bytes(), hi.map(String::into_bytes)))
            .collect();
        self.0.learn(pair, spans);
    }

    /// Checks the table's rows from row `start` of `rows` on (chunks in order); stops at a
    /// row whose actor and role has no spans yet: (row, pair, actor, role), to `learn` and
    /// feed again from that row. `None` once every row is checked.
    #[pyo3(signature = (rows, start=0))]
    fn feed(
        &mut self,
        py: Python<'_>,
        rows: PyRef<'_, PyLedgerRows>,
        start: usize,
    ) -> Option<(usize, usize, String, String)> {
        let (acting, rows) = (&mut self.0, &rows.rows);
        let (row, pair) = py.detach(|| acting.feed(rows, start))?;
        let (actor, role) = acting.pair(pair)?;
        Some((row, pair, lossy(actor), lossy(role)))
    }

    /// The first row outside its spans of each actor and role: (actor, role, seq, stamp).
    fn outside(&self) -> Vec<(String, String, i64, String)> {
        self.0
            .outside()
            .into_iter()
            .map(|o| (lossy(&o.actor), lossy(&o.role), o.seq, lossy(&o.at)))
            .collect()
    }
}

/// `columns` (lists or tuples of `rows` values each) as the JSON text of one array (see
/// [`ledger::json`]), or `None` when a value is of another kind than an `int` that fits in 64
/// bits, a `str` or `None` (a `bool` included: JSON would write it as `true`), or a column
/// is of another length: the caller then writes it with `json.dumps`.
#[pyfunction]
pub fn json_list(columns: Vec<Bound<'_, PyAny>>, rows: usize) -> PyResult<Option<String>> {
    let mut parsed = Vec::with_capacity(columns.len());
    for column in &columns {
        let values: Vec<Bound<'_, PyAny>> = if let Ok(list) = column.cast::<PyList>() {
            list.iter().collect()
        } else if let Ok(tuple) = column.cast::<PyTuple>() {
            tuple.iter().collect()
        } else {
            return Ok(None);
        };
        if values.len() != rows {
            return Ok(None);
        }
        parsed.push(values);
    }
    let mut cells = Vec::with_capacity(parsed.len());
    for values in &parsed {
        let mut column = Vec::with_capacity(rows);
        for value in values {
            let cell = if value.is_none() {
                ledger::json::Cell::Null
            } else if value.is_exact_instance_of::<PyInt>() {
                match value.extract::<i64>() {
                    Ok(v) => ledger::json::Cell::Int(v),
                    Err(_) => return Ok(None),
                }
            } else if let Ok(text) = value.cast_exact::<PyString>() {
                match text.to_str() {
                    Ok(s) => ledger::json::Cell::Text(s),
                    Err(_) => return Ok(None),
                }
            } else {
                return Ok(None);
            };
            column.push(cell);
        }
        cells.push(column);
    }
    Ok(Some(ledger::json::write_rows(&cells, rows)))
}
