//! Bindings of the chip core (`crate::chip`): byte strings in, byte strings out; keys and
//! sessions as opaque handles whose `repr` shows the algorithm and state only, with no getter
//! for their bytes, and which refuse to be pickled or copied (see `docs/security.md`).

use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::chip::apdu::{self, Command, Response};
use crate::chip::perso::{self, File, Layout};
use crate::chip::sm::{self, Algorithm, Challenge, KeyPair, Session};
use crate::chip::tlv::{self, Tlv};
use crate::error::EktpError;

// -- BER-TLV -----------------------------------------------------------------------------------

fn tlv_from_py(item: &Bound<'_, PyAny>, depth: usize) -> PyResult<Tlv> {
    if depth > tlv::MAX_DEPTH {
        return Err(EktpError::InvalidArgument(format!(
            "data objects nested deeper than {}",
            tlv::MAX_DEPTH
        ))
        .into());
    }
    let (tag, value): (u32, Bound<'_, PyAny>) = item.extract().map_err(|_| {
        PyTypeError::new_err("a data object is a (tag, bytes) or (tag, [data objects]) pair")
    })?;
    if let Ok(bytes) = value.extract::<Vec<u8>>() {
        if !value.is_instance_of::<PyList>() {
            return Ok(Tlv::Primitive { tag, value: bytes });
        }
    }
    let children = value
        .try_iter()?
        .map(|child| tlv_from_py(&child?, depth + 1))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Tlv::Constructed { tag, children })
}

fn tlv_to_py<'py>(py: Python<'py>, item: Tlv) -> PyResult<Bound<'py, PyAny>> {
    Ok(match item {
        Tlv::Primitive { tag, value } => (tag, PyBytes::new(py, &value))
            .into_pyobject(py)?
            .into_any(),
        Tlv::Constructed { tag, children } => {
            let list = PyList::empty(py);
            for child in children {
                list.append(tlv_to_py(py, child)?)?;
            }
            (tag, list).into_pyobject(py)?.into_any()
        }
    })
}

/// Encodes data objects given as `(tag, bytes)` and `(tag, [children])` pairs.
#[pyfunction]
pub fn tlv_encode<'py>(
    py: Python<'py>,
    items: Vec<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let items = items
        .iter()
        .map(|i| tlv_from_py(i, 0))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyBytes::new(py, &tlv::encode_all(&items)?))
}

/// Decodes every data object of `data`, constructed ones into lists.
#[pyfunction]
pub fn tlv_decode<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Vec<Bound<'py, PyAny>>> {
    tlv::decode(data)?
        .into_iter()
        .map(|item| tlv_to_py(py, item))
        .collect()
}

// -- APDUs -------------------------------------------------------------------------------------

type CommandTuple = (u8, u8, u8, u8, Vec<u8>, Option<u32>);

/// Encodes a command APDU; the case and the short or extended form follow from the lengths.
#[pyfunction]
pub fn apdu_encode<'py>(
    py: Python<'py>,
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: Vec<u8>,
    ne: Option<u32>,
) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = Command::new(cla, ins, p1, p2, data, ne).to_bytes()?;
    Ok(PyBytes::new(py, &bytes))
}

/// Parses a command APDU into `(cla, ins, p1, p2, data, ne)`.
#[pyfunction]
pub fn apdu_parse(apdu: &[u8]) -> PyResult<CommandTuple> {
    let c = Command::parse(apdu)?;
    Ok((c.cla, c.ins, c.p1, c.p2, c.data, c.ne))
}

/// What a status word means.
#[pyfunction]
pub fn status_meaning(sw: u16) -> String {
    apdu::status_meaning(sw)
}

/// The ICAO 9303-3 check digit of an MRZ field.
#[pyfunction]
pub fn mrz_check_digit(field: &str) -> PyResult<u8> {
    Ok(sm::check_digit(field)?)
}

// -- keys and sessions -------------------------------------------------------------------------

/// HMAC-SHA-256 by RustCrypto's `hmac`; the tag, which seeds a chip's keys, is wiped when it
/// is dropped (the MAC state zeroizes itself).
fn hmac_sha256(key: &[u8], message: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    Zeroizing::new(mac.finalize().into_bytes().to_vec())
}

/// A master key from which each chip's access keys are diversified (what
/// `SoftwareKeyProvider` holds). The bytes stay in this object, wiped when it is dropped; no
/// getter shows them.
#[pyclass(frozen, name = "MasterKey", module = "ektpcore._ektpcore")]
pub struct PyMasterKey(Zeroizing<Vec<u8>>);

key_holder_methods! {
impl PyMasterKey {
    /// At least 16 bytes; `key` is anything with the buffer protocol (`bytes`, `bytearray`,
    /// `memoryview`), copied once into the handle.
    #[new]
    fn new(py: Python<'_>, key: PyBuffer<u8>) -> PyResult<Self> {
        let bytes = Zeroizing::new(key.to_vec(py)?);
        if bytes.len() < 16 {
            let err = EktpError::InvalidArgument("a master key is at least 16 bytes".into());
            return Err(err.into());
        }
        Ok(PyMasterKey(bytes))
    }

    /// The access keys of the chip `chip_uid`: `seed = HMAC-SHA-256(master, uid)[:16]`, then
    /// `K_enc = KDF(seed, 1)` and `K_mac = KDF(seed, 2)` (9303-11 §9.7.1).
    fn chip_keys(&self, algorithm: &str, chip_uid: &[u8]) -> PyResult<PySmKeys> {
        let alg = Algorithm::parse(algorithm)?;
        let mac = hmac_sha256(&self.0, chip_uid);
        Ok(PySmKeys(KeyPair::from_seed(alg, &mac[..16])))
    }

    fn __repr__(&self) -> &'static str {
        "MasterKey(<hidden>)"
    }
}
}

fn array<const N: usize>(bytes: &[u8], what: &str) -> PyResult<[u8; N]> {
    bytes.try_into().map_err(|_| {
        EktpError::InvalidArgument(format!("{what} is {N} bytes, not {}", bytes.len())).into()
    })
}

/// A key pair (encryption and MAC) for one algorithm: a chip's access keys. No getter shows
/// the key bytes.
#[pyclass(frozen, name = "SmKeys", module = "ektpcore._ektpcore")]
pub struct PySmKeys(KeyPair);

key_holder_methods! {
impl PySmKeys {
    #[new]
    fn new(algorithm: &str, enc: &[u8], mac: &[u8]) -> PyResult<Self> {
        Ok(PySmKeys(KeyPair::new(
            Algorithm::parse(algorithm)?,
            enc,
            mac,
        )?))
    }

    /// `K_enc = KDF(seed, 1)`, `K_mac = KDF(seed, 2)` (9303-11 §9.7.1).
    #[staticmethod]
    fn from_seed(algorithm: &str, seed: &[u8]) -> PyResult<Self> {
        Ok(PySmKeys(KeyPair::from_seed(
            Algorithm::parse(algorithm)?,
            seed,
        )))
    }

    /// BAC's access keys from the MRZ information (number, birth and expiry dates, each
    /// with its check digit).
    #[staticmethod]
    fn from_mrz(mrz_information: &str) -> Self {
        PySmKeys(KeyPair::from_seed(
            Algorithm::Tdes,
            &sm::bac_seed(mrz_information.as_bytes()),
        ))
    }

    #[getter]
    fn algorithm(&self) -> &'static str {
        self.0.alg.name()
    }

    fn __repr__(&self) -> String {
        format!("SmKeys({}, <keys hidden>)", self.0.alg.name())
    }

    /// The terminal's first step: from the chip's challenge and the terminal's random
    /// numbers, the EXTERNAL AUTHENTICATE data and the state to finish with.
    fn authenticate<'py>(
        &self,
        py: Python<'py>,
        rnd_ic: &[u8],
        rnd_ifd: &[u8],
        k_ifd: &[u8],
    ) -> PyResult<(PyChallenge, Bound<'py, PyBytes>)> {
        let (challenge, data) = Challenge::start(
            &self.0,
            array(rnd_ic, "RND.IC")?,
            array(rnd_ifd, "RND.IFD")?,
            array(k_ifd, "K.IFD")?,
        );
        Ok((
            PyChallenge(Mutex::new(Some(challenge))),
            PyBytes::new(py, &data),
        ))
    }

    /// The chip's answer to a terminal's cryptogram: its own cryptogram and its session.
    fn answer<'py>(
        &self,
        py: Python<'py>,
        rnd_ic: &[u8],
        k_ic: &[u8],
        request: &[u8],
    ) -> PyResult<(Bound<'py, PyBytes>, PySession)> {
        let (answer, session) = sm::chip_answer(
            &self.0,
            array(rnd_ic, "RND.IC")?,
            array(k_ic, "K.IC")?,
            request,
        )?;
        Ok((PyBytes::new(py, &answer), PySession::from(session)))
    }
}
}

/// A mutual authentication in progress (the terminal's random numbers, hidden).
#[pyclass(frozen, name = "SmChallenge", module = "ektpcore._ektpcore")]
pub struct PyChallenge(Mutex<Option<Challenge>>);

key_holder_methods! {
impl PyChallenge {
    /// Checks the chip's EXTERNAL AUTHENTICATE answer and opens the session; usable once.
    fn finish(&self, response: &[u8]) -> PyResult<PySession> {
        let challenge =
            self.0.lock().expect("not poisoned").take().ok_or_else(|| {
                EktpError::SecureMessaging("the challenge was already used".into())
            })?;
        Ok(PySession::from(challenge.finish(response)?))
    }

    fn __repr__(&self) -> &'static str {
        "SmChallenge(<hidden>)"
    }
}
}

/// A secure-messaging session. Methods raise `SecureMessagingError` once it is closed; a
/// response that fails to verify closes it.
#[pyclass(frozen, name = "SmSession", module = "ektpcore._ektpcore")]
pub struct PySession(Mutex<Session>);

impl From<Session> for PySession {
    fn from(s: Session) -> Self {
        PySession(Mutex::new(s))
    }
}

impl PySession {
    fn with<T>(&self, f: impl FnOnce(&mut Session) -> Result<T, EktpError>) -> PyResult<T> {
        Ok(f(&mut self.0.lock().expect("not poisoned"))?)
    }
}

key_holder_methods! {
impl PySession {
    /// A session over known session keys from a counter (for keys established elsewhere,
    /// e.g. by a SAM).
    #[new]
    fn new(keys: &PySmKeys, ssc: &[u8]) -> PyResult<Self> {
        Ok(PySession::from(Session::new(&keys.0, ssc)?))
    }

    #[getter]
    fn algorithm(&self) -> PyResult<&'static str> {
        self.with(|s| Ok(s.algorithm().name()))
    }

    #[getter]
    fn is_open(&self) -> PyResult<bool> {
        self.with(|s| Ok(s.is_open()))
    }

    /// "open", or "closed: <why>".
    #[getter]
    fn state(&self) -> PyResult<String> {
        self.with(|s| Ok(s.state()))
    }

    /// The send sequence counter (not secret: it is derived from the exchanged challenges).
    #[getter]
    fn ssc<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.with(|s| Ok(s.ssc().to_vec()))
            .map(|v| PyBytes::new(py, &v))
    }

    fn __repr__(&self) -> PyResult<String> {
        self.with(|s| {
            Ok(format!(
                "SmSession({}, {})",
                s.algorithm().name(),
                s.state()
            ))
        })
    }

    /// Protects one plain command APDU.
    fn wrap<'py>(&self, py: Python<'py>, apdu: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let cmd = Command::parse(apdu)?;
        let out = self.with(|s| s.wrap(&cmd))?;
        Ok(PyBytes::new(py, &out))
    }

    /// Protects a script of plain command APDUs ahead of sending; `unwrap` then takes their
    /// responses in order.
    fn wrap_script<'py>(
        &self,
        py: Python<'py>,
        apdus: Vec<Vec<u8>>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let cmds = apdus
            .iter()
            .map(|a| Command::parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        let out = py.detach(|| self.with(|s| s.wrap_script(&cmds)))?;
        Ok(out.iter().map(|a| PyBytes::new(py, a)).collect())
    }

    /// Verifies and decrypts a protected response: `(data, sw)`.
    fn unwrap<'py>(&self, py: Python<'py>, apdu: &[u8]) -> PyResult<(Bound<'py, PyBytes>, u16)> {
        let r = self.with(|s| s.unwrap(apdu))?;
        Ok((PyBytes::new(py, &r.data), r.sw))
    }

    /// A chip's side: the plain command inside a protected one.
    fn unwrap_command<'py>(&self, py: Python<'py>, apdu: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let cmd = self.with(|s| s.unwrap_command(apdu))?;
        Ok(PyBytes::new(py, &cmd.to_bytes()?))
    }

    /// A chip's side: protects a response.
    fn wrap_response<'py>(
        &self,
        py: Python<'py>,
        data: Vec<u8>,
        sw: u16,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let out = self.with(|s| s.wrap_response(&Response { data, sw }))?;
        Ok(PyBytes::new(py, &out))
    }

    /// Ends the session and wipes its keys.
    #[pyo3(signature = (reason=None))]
    fn close(&self, reason: Option<&str>) -> PyResult<()> {
        self.with(|s| {
            s.close(reason);
            Ok(())
        })
    }
}
}

// -- personalisation scripts -------------------------------------------------------------------

type Script<'py> = (Vec<Bound<'py, PyBytes>>, Vec<Bound<'py, PyBytes>>);
/// A card's write and read-back APDUs.
type Apdus = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// The write and read-back scripts of many cards at once: `files[i]` is card `i`'s
/// `(fid, content)` list; with `sessions`, card `i`'s scripts are protected by
/// `sessions[i]` (wrapped ahead, write script first), in parallel with the GIL released.
#[pyfunction]
#[pyo3(signature = (files, *, create, write_chunk, read_chunk, sessions=None))]
pub fn perso_scripts<'py>(
    py: Python<'py>,
    files: Vec<Vec<(u16, Vec<u8>)>>,
    create: bool,
    write_chunk: usize,
    read_chunk: usize,
    sessions: Option<Vec<Bound<'py, PySession>>>,
) -> PyResult<Vec<Script<'py>>> {
    use rayon::prelude::*;
    let layout = Layout {
        create,
        write_chunk,
        read_chunk,
    };
    if let Some(s) = &sessions {
        if s.len() != files.len() {
            return Err(EktpError::InvalidArgument(format!(
                "{} cards but {} sessions",
                files.len(),
                s.len()
            ))
            .into());
        }
    }
    let cards: Vec<Vec<File>> = files
        .into_iter()
        .map(|fs| {
            fs.into_iter()
                .map(|(fid, content)| File { fid, content })
                .collect()
        })
        .collect();
    let handles: Option<Vec<&PySession>> = sessions
        .as_ref()
        .map(|s| s.iter().map(Bound::get).collect());
    let built = py.detach(|| {
        cards
            .par_iter()
            .enumerate()
            .map(|(i, card)| -> Result<Apdus, EktpError> {
                let write = perso::write_script(&layout, card)?;
                let read = perso::read_script(&layout, card)?;
                match &handles {
                    Some(h) => {
                        let mut s = h[i].0.lock().expect("not poisoned");
                        Ok((s.wrap_script(&write)?, s.wrap_script(&read)?))
                    }
                    None => {
                        let plain = |cmds: Vec<Command>| {
                            cmds.iter()
                                .map(Command::to_bytes)
                                .collect::<Result<Vec<_>, _>>()
                        };
                        Ok((plain(write)?, plain(read)?))
                    }
                }
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(built
        .into_iter()
        .map(|(w, r)| {
            (
                w.iter().map(|a| PyBytes::new(py, a)).collect(),
                r.iter().map(|a| PyBytes::new(py, a)).collect(),
            )
        })
        .collect())
}
