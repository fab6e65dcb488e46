//! Bindings of the ledger's checks (`crate::ledger`): the history hash chain, the canonical
//! payload of a history row, rows of a table as the store returns them for checking, and the
//! replay of the histories against the tables; the bulk work runs with the GIL released.

use std::sync::OnceLock;

use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString, PyTuple};

use crate::error::EktpError;
use crate::ledger;
use crate::ledger::replay::{self, BlankReplay, HistoryColumns, RecordReplay, RecordRules};
use crate::ledger::rows::{self, FastMap, Format, Layout, Rows};

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
        out.extend_from_slice(value.str()?.to_str()?.as_bytes());
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

fn format_of(format: u8) -> PyResult<Format> {
    match format {
        1 => Ok(Format::Legacy),
        2 | 3 => Ok(Format::Canonical),
        _ => Err(EktpError::InvalidArgument(format!("no history format {format}")).into()),
    }
}

/// Rows of a ledger table as the store returned them (one JSON array of arrays of text or
/// null, `width` cells a row), parsed in one pass with the GIL released.
#[pyclass(frozen, name = "LedgerRows", module = "ektpcore._ektpcore")]
pub struct PyLedgerRows(Rows, OnceLock<FastMap<i64, usize>>);

#[pymethods]
impl PyLedgerRows {
    #[new]
    fn new(py: Python<'_>, json: PyBackedBytes, width: usize) -> PyResult<Self> {
        Ok(PyLedgerRows(
            py.detach(|| Rows::parse(&json, width))?,
            OnceLock::new(),
        ))
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }

    #[getter]
    fn width(&self) -> usize {
        self.0.width()
    }

    /// The cells of row `index` as text (`None` for NULL; bytes that are not UTF-8 shown
    /// replaced).
    fn row(&self, index: usize) -> PyResult<Vec<Option<String>>> {
        if index >= self.0.len() {
            return Err(PyIndexError::new_err("no such row"));
        }
        Ok((0..self.0.width())
            .map(|c| {
                self.0
                    .get(index, c)
                    .map(|t| String::from_utf8_lossy(t).into_owned())
            })
            .collect())
    }

    /// The index of the first row whose `column` is not `first + index`, or `None`.
    fn seq_break(&self, column: usize, first: i64) -> PyResult<Option<usize>> {
        self.column(column)?;
        Ok(self.0.seq_break(column, first))
    }

    /// `column` read as hex-written 32-byte hashes (all-ones where a cell is not one).
    fn hashes(&self, py: Python<'_>, column: usize) -> PyResult<Vec<Py<PyBytes>>> {
        self.column(column)?;
        let hashes = py.detach(|| self.0.hashes(column));
        Ok(hashes
            .iter()
            .map(|h| PyBytes::new(py, h).unbind())
            .collect())
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
        let format = format_of(format)?;
        let subject = self.subject(&columns, subject.as_ref())?;
        let payloads = py.detach(|| {
            let subject = subject.map(|s| s.core());
            let layout = Layout {
                format,
                tag,
                columns: &columns,
                subject: subject.as_ref(),
            };
            layout.payloads(&self.0)
        });
        Ok(payloads
            .iter()
            .map(|p| PyBytes::new(py, p).unbind())
            .collect())
    }

    /// The index of the first row whose stored link (hex, in `links`) breaks the chain from
    /// `previous`, the payloads made as :meth:`payloads` makes them; `None` when every row
    /// fits. `mac` computes the links (an object with ``first_break(previous, payloads,
    /// stored)``, such as a ``KeyRing``); without one they are SHA-256, checked here without
    /// a payload ever becoming a Python object.
    #[pyo3(signature = (mac, previous, format, tag, columns, links, subject=None))]
    #[allow(clippy::too_many_arguments)]
    fn first_break(
        &self,
        py: Python<'_>,
        mac: Option<Bound<'_, PyAny>>,
        previous: &[u8],
        format: u8,
        tag: &[u8],
        columns: Vec<usize>,
        links: usize,
        subject: Option<SubjectArg<'_>>,
    ) -> PyResult<Option<usize>> {
        let format = format_of(format)?;
        let previous = hash32(previous)?;
        self.column(links)?;
        let subject = self.subject(&columns, subject.as_ref())?;
        let stored = py.detach(|| self.0.hashes(links));
        let Some(mac) = mac else {
            return Ok(py.detach(|| {
                let subject = subject.map(|s| s.core());
                let layout = Layout {
                    format,
                    tag,
                    columns: &columns,
                    subject: subject.as_ref(),
                };
                layout.first_break(&self.0, &previous, &stored)
            }));
        };
        let payloads = py.detach(|| {
            let subject = subject.map(|s| s.core());
            let layout = Layout {
                format,
                tag,
                columns: &columns,
                subject: subject.as_ref(),
            };
            layout.payloads(&self.0)
        });
        let payloads: Vec<Py<PyBytes>> = payloads
            .iter()
            .map(|p| PyBytes::new(py, p).unbind())
            .collect();
        let stored: Vec<Py<PyBytes>> = stored
            .iter()
            .map(|h| PyBytes::new(py, h).unbind())
            .collect();
        mac.call_method1(
            "first_break",
            (PyBytes::new(py, &previous), payloads, stored),
        )?
        .extract()
    }

    /// The stored link of row `index` (hex in `column`), as 32 bytes (all-ones when the cell
    /// is not one).
    fn link<'py>(
        &self,
        py: Python<'py>,
        index: usize,
        column: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.column(column)?;
        if index >= self.0.len() {
            return Err(PyIndexError::new_err("no such row"));
        }
        let link = self
            .0
            .get(index, column)
            .and_then(rows::unhex32)
            .unwrap_or([0xFF; 32]);
        Ok(PyBytes::new(py, &link))
    }
}

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
            rows: &self.rows.0,
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
        self.1.get_or_init(|| self.0.index(0))
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
        if column >= self.0.width() {
            return Err(PyIndexError::new_err(format!(
                "rows have {} columns, not {}",
                self.0.width(),
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
        let (replay, rows) = (taken(&mut self.0)?, &rows.0);
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
        let (records, cards) = (&records.0, &cards.0);
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
        let (replay, rows) = (taken(&mut self.0)?, &rows.0);
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
        let (blanks, lots, records) = (&blanks.0, &lots.0, records.as_deref());
        let records = records.map(|r| r.keys());
        Ok(findings(py.detach(|| replay.check(blanks, lots, records))))
    }
}
