//! Bindings of the printer dialects (`crate::dialect`): whole Evolis and Magicard jobs encoded
//! from faces or panels with the GIL released, and streams decoded back into commands and
//! panels.

use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::raster::{face_view, panel_arrays, PanelArrays, RasterArgs};
use crate::dialect;
use crate::error::EktpError;
use crate::raster;

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
pub struct EvolisArgs {
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

/// Cards encoded in one stream: its bytes, and each card's `(bytes, replies)` in order.
type EncodedOut<'py> = (Bound<'py, PyBytes>, Vec<(usize, usize)>);

/// Rasterises and encodes a chunk of cards (`Ss` ... `Se;1` each, in order) on every core
/// with the GIL released; the caller writes the job's start and end.
#[pyfunction]
pub fn evolis_encode_cards<'py>(
    py: Python<'py>,
    cards: Vec<CardArrays<'py>>,
    front: RasterArgs<'py>,
    back: RasterArgs<'py>,
    job: EvolisArgs,
) -> PyResult<EncodedOut<'py>> {
    let (fs, bs, js) = (front.settings()?, back.settings()?, job.settings());
    let faces = faces_of(&cards)?;
    let encoded = py.detach(|| dialect::evolis::encode_cards(&faces, &fs, &bs, &js))?;
    bytes_of(py, &encoded)
}

/// Rasterises and encodes a chunk of cards for a Magicard (one or two pages each, in order)
/// on every core with the GIL released.
#[pyfunction]
pub fn magicard_encode_cards<'py>(
    py: Python<'py>,
    cards: Vec<CardArrays<'py>>,
    front: RasterArgs<'py>,
    back: RasterArgs<'py>,
    job: MagicardArgs,
) -> PyResult<EncodedOut<'py>> {
    bytes_of(py, &magicard_encoded(py, &cards, &front, &back, &job)?)
}

/// A Magicard chunk encoded on every core with the GIL released.
fn magicard_encoded(
    py: Python<'_>,
    cards: &[CardArrays<'_>],
    front: &RasterArgs<'_>,
    back: &RasterArgs<'_>,
    job: &MagicardArgs,
) -> PyResult<dialect::batch::EncodedCards> {
    let (fs, bs, js) = (front.settings()?, back.settings()?, job.settings());
    let faces = faces_of(cards)?;
    Ok(py.detach(|| dialect::magicard::encode_cards(&faces, &fs, &bs, &js))?)
}

/// A piece of an encoded stream (a few cards), held in the core's pooled memory and read
/// through the buffer protocol (`memoryview(part)`) without a copy: a Magicard card is 1.7 MB
/// of uncompressed pages, and copying every batch into fresh `bytes` cost as much as a fifth
/// of encoding it. The memory goes back to the pool when the piece is dropped.
#[pyclass(frozen, name = "EncodedPart", module = "ektpcore._ektpcore")]
pub struct EncodedPart {
    data: Vec<u8>,
}

impl Drop for EncodedPart {
    fn drop(&mut self) {
        dialect::batch::recycle(std::mem::take(&mut self.data));
    }
}

#[pymethods]
impl EncodedPart {
    fn __len__(&self) -> usize {
        self.data.len()
    }

    /// A read-only view of the bytes.
    ///
    /// # Safety
    /// `view` is the buffer CPython asks to fill. The bytes are never changed (the class is
    /// frozen) and live as long as the object, which the view holds a reference to.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: std::os::raw::c_int,
    ) -> PyResult<()> {
        let data = &slf.get().data;
        let len = isize::try_from(data.len()).map_err(|_| {
            EktpError::InvalidArgument("an encoded part too large for a buffer".into())
        })?;
        // SAFETY: see above; CPython checks `flags` (a writable view is refused).
        let filled = unsafe {
            pyo3::ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                data.as_ptr() as *mut std::ffi::c_void,
                len,
                1,
                flags,
            )
        };
        if filled == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }
}

/// A stream's pieces, and each card's `(bytes, replies)` in order.
type PartsOut = (Vec<EncodedPart>, Vec<(usize, usize)>);

/// Rasterises and encodes a chunk of cards for a Magicard, as [`magicard_encode_cards`], and
/// hands the stream over in pieces without copying it; and each card's `(bytes, replies)`.
#[pyfunction]
pub fn magicard_encode_parts<'py>(
    py: Python<'py>,
    cards: Vec<CardArrays<'py>>,
    front: RasterArgs<'py>,
    back: RasterArgs<'py>,
    job: MagicardArgs,
) -> PyResult<PartsOut> {
    let encoded = magicard_encoded(py, &cards, &front, &back, &job)?;
    let spans = encoded
        .cards()
        .iter()
        .map(|c| (c.bytes, c.replies))
        .collect();
    let parts = encoded
        .into_parts()
        .into_iter()
        .map(|data| EncodedPart { data })
        .collect();
    Ok((parts, spans))
}

/// Magicard job settings as a dict.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct MagicardArgs {
    ribbon: String,
}

impl MagicardArgs {
    fn settings(&self) -> dialect::magicard::JobSettings {
        dialect::magicard::JobSettings {
            ribbon: self.ribbon.clone(),
        }
    }
}

/// The faces of a chunk of cards, borrowed from their arrays.
fn faces_of<'a>(cards: &'a [CardArrays<'_>]) -> PyResult<Vec<dialect::batch::CardFaces<'a>>> {
    cards
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
        .collect::<PyResult<Vec<_>>>()
}

/// Encoded cards as one `bytes`, with each card's length and replies.
fn bytes_of<'py>(
    py: Python<'py>,
    encoded: &dialect::batch::EncodedCards,
) -> PyResult<EncodedOut<'py>> {
    let data = PyBytes::new_with(py, encoded.len(), |buf| {
        let mut at = 0;
        for part in encoded.parts() {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        Ok(())
    })?;
    let cards = encoded
        .cards()
        .iter()
        .map(|c| (c.bytes, c.replies))
        .collect();
    Ok((data, cards))
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
pub fn evolis_encode_panels<'py>(
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

/// A part of an Evolis job and the replies it draws in ACK/NACK mode: the handshake (`Pem;4`,
/// `Srs`), the start (`Pr`, `Pmi`), the status query (`Rst`), the chip phase (`Pneab;E`,
/// `Sis`/`Sic`), the reject (`Ser`) and the end (padding).
#[pyfunction]
#[pyo3(signature = (part, job, station=None))]
pub fn evolis_job_part<'py>(
    py: Python<'py>,
    part: &str,
    job: EvolisArgs,
    station: Option<&str>,
) -> PyResult<(Bound<'py, PyBytes>, usize)> {
    use dialect::evolis;
    let mut out = Vec::new();
    let replies = match (part, station) {
        ("handshake", _) => evolis::handshake(&mut out),
        ("start", _) => evolis::job_start(&job.settings(), &mut out),
        ("status", _) => evolis::status_query(&mut out),
        ("end", _) => {
            evolis::job_end(&job.settings(), &mut out);
            0
        }
        ("reject", _) => evolis::reject(&mut out),
        ("chip", Some("contact")) => evolis::chip_phase(dialect::ChipStation::Contact, &mut out),
        ("chip", Some("contactless")) => {
            evolis::chip_phase(dialect::ChipStation::Contactless, &mut out)
        }
        _ => {
            return Err(EktpError::InvalidArgument(format!(
                "unknown job part {part:?} (station {station:?})"
            ))
            .into())
        }
    };
    Ok((PyBytes::new(py, &out), replies))
}

/// The built-in dialects through the trait a station relies on.
fn builtin(name: &str) -> PyResult<Box<dyn dialect::Dialect>> {
    match name {
        "evolis" => Ok(Box::new(dialect::Evolis::default())),
        "magicard" => Ok(Box::new(dialect::Magicard::default())),
        other => Err(EktpError::InvalidArgument(format!("no dialect {other:?}")).into()),
    }
}

/// What a printer's reply says, as a status-model name (`ready`, `jam`, `cover_open`, ...).
#[pyfunction]
pub fn dialect_condition(dialect_name: &str, reply: &str) -> PyResult<&'static str> {
    Ok(builtin(dialect_name)?.condition(reply).name())
}

/// A dialect's status query and the replies it draws.
#[pyfunction]
pub fn dialect_status_query<'py>(
    py: Python<'py>,
    dialect_name: &str,
) -> PyResult<(Bound<'py, PyBytes>, usize)> {
    let mut out = Vec::new();
    let replies = builtin(dialect_name)?.status_query(&mut out);
    Ok((PyBytes::new(py, &out), replies))
}

type DecodedCommand = (usize, String, Vec<String>, Option<Py<PyBytes>>);
type DecodedCardOut<'py> = (
    PanelArrays<'py>,
    Option<PanelArrays<'py>>,
    Option<&'static str>,
    bool,
    u8,
);

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
pub fn evolis_parse_prefix(
    py: Python<'_>,
    stream: &[u8],
) -> PyResult<(Vec<DecodedCommand>, usize)> {
    let (commands, used) = dialect::evolis::parse_prefix(stream)?;
    Ok((commands_out(py, commands), used))
}

/// Decodes an Evolis stream: `(commands, ribbon, cards)`; a malformed stream raises
/// `StreamDecodeError` with the byte offset.
#[pyfunction]
pub fn evolis_decode<'py>(py: Python<'py>, stream: &[u8]) -> PyResult<DecodedJobOut<'py>> {
    let job = py.detach(|| dialect::evolis::decode(stream))?;
    Ok(job_out(py, job))
}

/// Decodes a Magicard stream: `(commands, ribbon, cards)`; a malformed stream raises
/// `StreamDecodeError` with the byte offset.
#[pyfunction]
pub fn magicard_decode<'py>(py: Python<'py>, stream: &[u8]) -> PyResult<DecodedJobOut<'py>> {
    let job = py.detach(|| dialect::magicard::decode(stream))?;
    Ok(job_out(py, job))
}

/// The complete Magicard commands at the start of `stream` (a page cut off by the end is left
/// for later, whole) and the bytes they take.
#[pyfunction]
pub fn magicard_parse_prefix(
    py: Python<'_>,
    stream: &[u8],
) -> PyResult<(Vec<DecodedCommand>, usize)> {
    let (commands, used) = dialect::magicard::parse_prefix(stream)?;
    Ok((commands_out(py, commands), used))
}

/// Encodes one Magicard card (front page, and back page when given) from ready panels.
#[pyfunction]
#[pyo3(signature = (front, back, job))]
pub fn magicard_encode_panels<'py>(
    py: Python<'py>,
    front: PanelInput<'py>,
    back: Option<PanelInput<'py>>,
    job: MagicardArgs,
) -> PyResult<Bound<'py, PyBytes>> {
    let f = panels_from(&front)?;
    let b = back.as_ref().map(panels_from).transpose()?;
    let mut out = Vec::new();
    let card = dialect::magicard::Card {
        front: &f,
        back: b.as_ref(),
    };
    dialect::magicard::encode_card(&card, &job.settings(), &mut out)?;
    Ok(PyBytes::new(py, &out))
}

/// A Magicard simple command: 9 x `05`, `01`, the text, `1C 03`.
#[pyfunction]
pub fn magicard_command<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyBytes>> {
    if !text.bytes().all(|b| (0x20..0x7F).contains(&b)) || text.starts_with(',') {
        return Err(EktpError::InvalidArgument(format!(
            "a Magicard command is printable ASCII not starting with a comma, got {text:?}"
        ))
        .into());
    }
    let mut out = Vec::new();
    dialect::magicard::simple_command(&mut out, text);
    Ok(PyBytes::new(py, &out))
}

/// The panels a dialect's ribbon has for the front and the back, each `(colour, k, o)`;
/// an unknown ribbon raises `InvalidArgumentError`.
#[pyfunction]
pub fn dialect_ribbon(dialect_name: &str, ribbon: &str) -> PyResult<(RibbonSide, RibbonSide)> {
    let r = match dialect_name {
        "evolis" => dialect::evolis::ribbon(ribbon)?,
        "magicard" => dialect::magicard::ribbon(ribbon)?.0,
        other => {
            return Err(EktpError::InvalidArgument(format!("no dialect {other:?}")).into());
        }
    };
    let side = |p: dialect::PanelSet| (p.colour, p.k, p.o);
    Ok((side(r.front), side(r.back)))
}

type RibbonSide = (bool, bool, bool);
type DecodedJobOut<'py> = (
    Vec<DecodedCommand>,
    Option<String>,
    Vec<DecodedCardOut<'py>>,
);

fn job_out(py: Python<'_>, job: dialect::DecodedJob) -> DecodedJobOut<'_> {
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
    (commands, job.ribbon, cards)
}
