//! Secure messaging as ICAO Doc 9303 Part 11 defines it (§9.7 key derivation, §9.8 messages):
//! the 3DES session with the ISO/IEC 9797-1 retail MAC and the AES session with CMAC, both
//! sides of the exchange (the terminal wraps commands and unwraps responses, a chip does the
//! reverse), and the challenge-response that opens a session (Basic Access Control's, and the
//! same exchange over AES for issuer keys).
//!
//! Every primitive comes from RustCrypto (`des`, `aes`, `cbc`, `retail-mac`, `cmac`, `sha1`,
//! `sha2`); this module only arranges them as the standard does. Key material lives in
//! zeroizing buffers, never appears in `Debug` output, and is wiped when a session ends — on
//! request, when it is dropped, and on the first response that fails to verify (the send
//! sequence counter can no longer be trusted then, so the session cannot go on).

use std::collections::VecDeque;
use std::fmt;

use aes::{Aes128, Aes192, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use cmac::{Cmac, Mac};
use des::{Des, TdesEde2};
use retail_mac::RetailMac;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::apdu::{Command, Response};
use super::tlv;
use crate::error::EktpError;

/// The cipher suite of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Two-key 3DES-CBC with the retail MAC (ISO/IEC 9797-1 MAC algorithm 3): BAC's suite.
    Tdes,
    /// AES-CBC with CMAC truncated to 8 bytes, with a 128-, 192- or 256-bit key.
    Aes128,
    Aes192,
    Aes256,
}

impl Algorithm {
    pub fn parse(name: &str) -> Result<Algorithm, EktpError> {
        match name.to_ascii_lowercase().as_str() {
            "3des" | "tdes" => Ok(Algorithm::Tdes),
            "aes128" | "aes-128" => Ok(Algorithm::Aes128),
            "aes192" | "aes-192" => Ok(Algorithm::Aes192),
            "aes256" | "aes-256" => Ok(Algorithm::Aes256),
            _ => Err(EktpError::InvalidArgument(format!(
                "secure messaging algorithm {name:?}: expected 3des, aes128, aes192 or aes256"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Tdes => "3des",
            Algorithm::Aes128 => "aes128",
            Algorithm::Aes192 => "aes192",
            Algorithm::Aes256 => "aes256",
        }
    }

    pub fn block_size(self) -> usize {
        match self {
            Algorithm::Tdes => 8,
            _ => 16,
        }
    }

    pub fn key_len(self) -> usize {
        match self {
            Algorithm::Tdes | Algorithm::Aes128 => 16,
            Algorithm::Aes192 => 24,
            Algorithm::Aes256 => 32,
        }
    }
}

/// Sets odd parity on every byte (bits 8..2 kept, bit 1 chosen), as DES keys are written.
pub fn adjust_parity(key: &mut [u8]) {
    for b in key {
        *b = (*b & 0xFE) | u8::from((*b >> 1).count_ones() % 2 == 0);
    }
}

/// The key derivation function of 9303-11 §9.7.1: `KDF(K, c)` with `c` = 1 for the
/// encryption key, 2 for the MAC key, 3 for a PACE password key.
pub fn kdf(seed: &[u8], counter: u32, alg: Algorithm) -> Zeroizing<Vec<u8>> {
    let mut d = Zeroizing::new(Vec::with_capacity(seed.len() + 4));
    d.extend_from_slice(seed);
    d.extend_from_slice(&counter.to_be_bytes());
    let mut key = Zeroizing::new(match alg {
        Algorithm::Tdes | Algorithm::Aes128 => Sha1::digest(&*d)[..16].to_vec(),
        Algorithm::Aes192 => Sha256::digest(&*d)[..24].to_vec(),
        Algorithm::Aes256 => Sha256::digest(&*d).to_vec(),
    });
    if alg == Algorithm::Tdes {
        adjust_parity(&mut key);
    }
    key
}

/// BAC's key seed: the first 16 bytes of SHA-1 over the MRZ information (document number,
/// birth date, expiry date, each with its check digit).
pub fn bac_seed(mrz_information: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(Sha1::digest(mrz_information)[..16].to_vec())
}

/// The ICAO 9303-3 check digit of an MRZ field: weights 7, 3, 1 over `0-9`, `A-Z`, `<`.
pub fn check_digit(field: &str) -> Result<u8, EktpError> {
    let mut sum = 0u32;
    for (i, c) in field.bytes().enumerate() {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'<' => 0,
            _ => {
                return Err(EktpError::InvalidArgument(format!(
                    "MRZ character {:?} at position {i}: only 0-9, A-Z and < are allowed",
                    c as char
                )))
            }
        };
        sum += u32::from(v) * [7, 3, 1][i % 3];
    }
    Ok((sum % 10) as u8)
}

/// ISO/IEC 9797-1 padding method 2: `80` then zeros to the block size, always (an aligned
/// input gains a whole block).
pub fn pad(data: &[u8], block: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity((data.len() / block + 1) * block);
    pad_into(data, block, &mut out);
    out
}

fn pad_into(data: &[u8], block: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(data);
    out.push(0x80);
    while !out.len().is_multiple_of(block) {
        out.push(0);
    }
}

/// Removes method-2 padding: trailing zeros, then exactly one `80`.
pub fn unpad(data: &[u8]) -> Result<&[u8], EktpError> {
    let end = data.iter().rposition(|&b| b != 0);
    match end {
        Some(i) if data[i] == 0x80 => Ok(&data[..i]),
        _ => Err(EktpError::SecureMessaging(
            "decrypted data is not padded with ISO/IEC 9797-1 method 2".into(),
        )),
    }
}

/// The IV of one CBC operation.
#[derive(Clone, Copy)]
enum Iv<'a> {
    /// Zero: the authentication cryptograms, and every 3DES message.
    Zero,
    /// Derived from the send sequence counter: `E(KS_enc, SSC)` for AES messages; 3DES
    /// messages ignore it and use zero.
    Counter(&'a [u8]),
}

/// The block operations a session needs, over one key pair.
trait Suite: Send + Sync {
    /// CBC-encrypts `buf` (a whole number of blocks) in place.
    fn encrypt(&self, iv: Iv<'_>, buf: &mut [u8]);
    fn decrypt(&self, iv: Iv<'_>, buf: &mut [u8]) -> Result<(), EktpError>;
    /// The 8-byte MAC of already padded data.
    fn mac(&self, padded: &[u8]) -> [u8; 8];
}

struct TdesSuite {
    enc: TdesEde2,
    mac: RetailMac<Des>,
}

impl Suite for TdesSuite {
    fn encrypt(&self, _iv: Iv<'_>, buf: &mut [u8]) {
        let n = buf.len();
        cbc::Encryptor::inner_iv_init(self.enc.clone(), &Default::default())
            .encrypt_padded::<NoPadding>(buf, n)
            .expect("whole blocks");
    }

    fn decrypt(&self, _iv: Iv<'_>, buf: &mut [u8]) -> Result<(), EktpError> {
        cbc::Decryptor::inner_iv_init(self.enc.clone(), &Default::default())
            .decrypt_padded::<NoPadding>(buf)
            .map(|_| ())
            .map_err(|_| EktpError::SecureMessaging("ciphertext is not whole blocks".into()))
    }

    fn mac(&self, padded: &[u8]) -> [u8; 8] {
        let mut m = self.mac.clone();
        m.update(padded);
        m.finalize().into_bytes().into()
    }
}

/// AES-CBC with CMAC, one type per key size (CMAC's bounds are on concrete block sizes).
macro_rules! aes_suite {
    ($name:ident, $cipher:ty) => {
        struct $name {
            enc: $cipher,
            mac: Cmac<$cipher>,
        }

        impl $name {
            fn iv(&self, iv: Iv<'_>) -> aes::Block {
                let mut block = aes::Block::default();
                if let Iv::Counter(ssc) = iv {
                    block.copy_from_slice(ssc);
                    self.enc.encrypt_block(&mut block);
                }
                block
            }
        }

        impl Suite for $name {
            fn encrypt(&self, iv: Iv<'_>, buf: &mut [u8]) {
                let n = buf.len();
                cbc::Encryptor::inner_iv_init(self.enc.clone(), &self.iv(iv))
                    .encrypt_padded::<NoPadding>(buf, n)
                    .expect("whole blocks");
            }

            fn decrypt(&self, iv: Iv<'_>, buf: &mut [u8]) -> Result<(), EktpError> {
                cbc::Decryptor::inner_iv_init(self.enc.clone(), &self.iv(iv))
                    .decrypt_padded::<NoPadding>(buf)
                    .map(|_| ())
                    .map_err(|_| {
                        EktpError::SecureMessaging("ciphertext is not whole blocks".into())
                    })
            }

            fn mac(&self, padded: &[u8]) -> [u8; 8] {
                let mut m = self.mac.clone();
                m.update(padded);
                let full = m.finalize().into_bytes();
                full[..8].try_into().expect("CMAC is 16 bytes")
            }
        }
    };
}

aes_suite!(Aes128Suite, Aes128);
aes_suite!(Aes192Suite, Aes192);
aes_suite!(Aes256Suite, Aes256);

fn suite(alg: Algorithm, enc: &[u8], mac: &[u8]) -> Result<Box<dyn Suite>, EktpError> {
    let bad = || {
        EktpError::InvalidArgument(format!(
            "{} session keys are {} bytes each",
            alg.name(),
            alg.key_len()
        ))
    };
    if enc.len() != alg.key_len() || mac.len() != alg.key_len() {
        return Err(bad());
    }
    Ok(match alg {
        Algorithm::Tdes => Box::new(TdesSuite {
            enc: TdesEde2::new_from_slice(enc).map_err(|_| bad())?,
            mac: RetailMac::<Des>::new_from_slice(mac).map_err(|_| bad())?,
        }),
        Algorithm::Aes128 => Box::new(Aes128Suite {
            enc: Aes128::new_from_slice(enc).map_err(|_| bad())?,
            mac: Cmac::<Aes128>::new_from_slice(mac).map_err(|_| bad())?,
        }),
        Algorithm::Aes192 => Box::new(Aes192Suite {
            enc: Aes192::new_from_slice(enc).map_err(|_| bad())?,
            mac: Cmac::<Aes192>::new_from_slice(mac).map_err(|_| bad())?,
        }),
        Algorithm::Aes256 => Box::new(Aes256Suite {
            enc: Aes256::new_from_slice(enc).map_err(|_| bad())?,
            mac: Cmac::<Aes256>::new_from_slice(mac).map_err(|_| bad())?,
        }),
    })
}

/// An encryption key and a MAC key for one algorithm: a chip's access keys, or a session's.
/// Zeroized on drop; `Debug` shows the algorithm only.
#[derive(Clone)]
pub struct KeyPair {
    pub alg: Algorithm,
    enc: Zeroizing<Vec<u8>>,
    mac: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({}, <keys hidden>)", self.alg.name())
    }
}

impl KeyPair {
    pub fn new(alg: Algorithm, enc: &[u8], mac: &[u8]) -> Result<KeyPair, EktpError> {
        suite(alg, enc, mac)?; // checks the lengths
        Ok(KeyPair {
            alg,
            enc: Zeroizing::new(enc.to_vec()),
            mac: Zeroizing::new(mac.to_vec()),
        })
    }

    /// `K_enc = KDF(seed, 1)`, `K_mac = KDF(seed, 2)`.
    pub fn from_seed(alg: Algorithm, seed: &[u8]) -> KeyPair {
        KeyPair {
            alg,
            enc: kdf(seed, 1, alg),
            mac: kdf(seed, 2, alg),
        }
    }

    pub fn enc(&self) -> &[u8] {
        &self.enc
    }

    pub fn mac(&self) -> &[u8] {
        &self.mac
    }

    fn suite(&self) -> Box<dyn Suite> {
        suite(self.alg, &self.enc, &self.mac).expect("lengths checked at construction")
    }
}

/// One secure-messaging session: a suite, the send sequence counter, and whether it is
/// still open. The terminal side wraps commands and unwraps responses; a chip (the virtual
/// chip of the tests) unwraps commands and wraps responses. Both advance the counter before
/// every message, so the two sides stay in step message by message.
pub struct Session {
    alg: Algorithm,
    suite: Option<Box<dyn Suite>>,
    ssc: Zeroizing<Vec<u8>>,
    /// Counters set aside by [`Session::wrap_script`] for the responses still to come.
    ahead: VecDeque<Zeroizing<Vec<u8>>>,
    closed_because: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Session({}, {})", self.alg.name(), self.state())
    }
}

impl Session {
    /// A session over `keys` starting from `ssc` (the block size: 8 bytes for 3DES, 16 for
    /// AES).
    pub fn new(keys: &KeyPair, ssc: &[u8]) -> Result<Session, EktpError> {
        if ssc.len() != keys.alg.block_size() {
            return Err(EktpError::InvalidArgument(format!(
                "a {} send sequence counter is {} bytes, not {}",
                keys.alg.name(),
                keys.alg.block_size(),
                ssc.len()
            )));
        }
        Ok(Session {
            alg: keys.alg,
            suite: Some(keys.suite()),
            ssc: Zeroizing::new(ssc.to_vec()),
            ahead: VecDeque::new(),
            closed_because: None,
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub fn is_open(&self) -> bool {
        self.suite.is_some()
    }

    /// "open", or "closed: <why>".
    pub fn state(&self) -> String {
        match &self.closed_because {
            None if self.suite.is_some() => "open".into(),
            None => "closed".into(),
            Some(why) => format!("closed: {why}"),
        }
    }

    /// The counter's current value (tests compare it with the ICAO walk-through).
    pub fn ssc(&self) -> &[u8] {
        &self.ssc
    }

    /// Ends the session: the keys and the counter are wiped.
    pub fn close(&mut self, why: Option<&str>) {
        self.suite = None;
        self.ssc.zeroize();
        self.ahead.clear();
        if self.closed_because.is_none() {
            self.closed_because = why.map(str::to_string);
        }
    }

    fn live(&self) -> Result<&dyn Suite, EktpError> {
        self.suite.as_deref().ok_or_else(|| {
            EktpError::SecureMessaging(format!("the secure-messaging session is {}", self.state()))
        })
    }

    fn increment(&mut self) -> Zeroizing<Vec<u8>> {
        for b in self.ssc.iter_mut().rev() {
            *b = b.wrapping_add(1);
            if *b != 0 {
                break;
            }
        }
        self.ssc.clone()
    }

    /// Any failure closes the session before it is reported.
    fn fail<T>(&mut self, err: EktpError) -> Result<T, EktpError> {
        let why = err.to_string();
        self.close(Some(&why));
        Err(EktpError::SecureMessaging(format!(
            "{why}; the secure-messaging session is closed"
        )))
    }

    // -- terminal side ------------------------------------------------------------------

    /// Protects one command (9303-11 §9.8.4).
    pub fn wrap(&mut self, cmd: &Command) -> Result<Vec<u8>, EktpError> {
        self.live()?;
        if !self.ahead.is_empty() {
            return Err(EktpError::SecureMessaging(format!(
                "{} responses of a wrapped script are still expected",
                self.ahead.len()
            )));
        }
        cmd.check()?;
        let ssc = self.increment();
        Ok(protect(self.live()?, self.alg, &ssc, cmd))
    }

    /// Protects a whole script ahead of sending it: command `i` takes counter `SSC + 2i + 1`
    /// and its response `SSC + 2i + 2`, which [`Session::unwrap`] then uses in order. This
    /// is what makes a card's script buildable in one call, before the first byte is sent.
    pub fn wrap_script(&mut self, cmds: &[Command]) -> Result<Vec<Vec<u8>>, EktpError> {
        self.live()?;
        for cmd in cmds {
            cmd.check()?;
        }
        let mut out = Vec::with_capacity(cmds.len());
        for cmd in cmds {
            let ssc = self.increment();
            out.push(protect(self.live()?, self.alg, &ssc, cmd));
            let reply = self.increment();
            self.ahead.push_back(reply);
        }
        Ok(out)
    }

    /// Verifies and decrypts a protected response (9303-11 §9.8.5). A response without
    /// the MAC, with a wrong one, or malformed closes the session.
    pub fn unwrap(&mut self, apdu: &[u8]) -> Result<Response, EktpError> {
        self.live()?;
        let ssc = match self.ahead.pop_front() {
            Some(ssc) => ssc,
            None => self.increment(),
        };
        let result = verify_response(self.live()?, &ssc, apdu);
        result.or_else(|e| self.fail(e))
    }

    // -- chip side -----------------------------------------------------------------------

    /// A chip's reading of a protected command: checks the MAC, decrypts the data, recovers
    /// Ne from DO'97'. Failure closes the session (a chip then answers `6987`/`6988` in the
    /// clear).
    pub fn unwrap_command(&mut self, apdu: &[u8]) -> Result<Command, EktpError> {
        self.live()?;
        let ssc = self.increment();
        let result = verify_command(self.live()?, &ssc, apdu);
        result.or_else(|e| self.fail(e))
    }

    /// A chip's protected response: DO'87' with the encrypted data, DO'99' with the status,
    /// DO'8E' with the MAC.
    pub fn wrap_response(&mut self, resp: &Response) -> Result<Vec<u8>, EktpError> {
        self.live()?;
        let ssc = self.increment();
        let suite = self.live()?;
        let bs = self.alg.block_size();
        let mut body = Vec::with_capacity(resp.data.len() + 32);
        if !resp.data.is_empty() {
            encrypted_do(suite, bs, &ssc, 0x87, &resp.data, &mut body);
        }
        body.extend_from_slice(&[0x99, 0x02]);
        body.extend_from_slice(&resp.sw.to_be_bytes());
        let mut n = Vec::with_capacity(ssc.len() + body.len() + bs);
        n.extend_from_slice(&ssc);
        pad_into(&body, bs, &mut n);
        // `pad_into` appended after the counter: the counter is one block, so the padding
        // of `SSC ‖ body` is the padding of `body`.
        let cc = suite.mac(&n);
        body.extend_from_slice(&[0x8E, 0x08]);
        body.extend_from_slice(&cc);
        body.extend_from_slice(&resp.sw.to_be_bytes());
        Ok(body)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close(None);
    }
}

/// `tag L [01] C`: the padded, encrypted data object (`01` only in DO'87').
fn encrypted_do(suite: &dyn Suite, bs: usize, ssc: &[u8], tag: u8, data: &[u8], out: &mut Vec<u8>) {
    let mut c = Zeroizing::new(pad(data, bs));
    suite.encrypt(Iv::Counter(ssc), &mut c);
    let indicator = usize::from(tag == 0x87);
    out.push(tag);
    tlv::write_len(c.len() + indicator, out);
    if indicator == 1 {
        out.push(0x01);
    }
    out.extend_from_slice(&c);
}

fn protect(suite: &dyn Suite, alg: Algorithm, ssc: &[u8], cmd: &Command) -> Vec<u8> {
    let bs = alg.block_size();
    let cla = cmd.cla | 0x0C;
    let mut dos = Vec::with_capacity(cmd.data.len() + 40);
    if !cmd.data.is_empty() {
        // Odd INS carries BER-TLV data: DO'85' (no padding indicator), even INS DO'87'.
        let tag = if cmd.ins & 1 == 1 { 0x85 } else { 0x87 };
        encrypted_do(suite, bs, ssc, tag, &cmd.data, &mut dos);
    }
    if let Some(ne) = cmd.ne {
        if cmd.extended() {
            dos.extend_from_slice(&[0x97, 0x02]);
            dos.extend_from_slice(&((ne & 0xFFFF) as u16).to_be_bytes());
        } else {
            dos.extend_from_slice(&[0x97, 0x01, (ne & 0xFF) as u8]);
        }
    }
    let mut n = Vec::with_capacity(ssc.len() + bs + dos.len() + bs);
    n.extend_from_slice(ssc);
    // N = pad(SSC ‖ pad(header) ‖ DOs): the counter and the padded header are whole
    // blocks, so that is the counter, the padded header, then the padded DOs.
    pad_into(&[cla, cmd.ins, cmd.p1, cmd.p2], bs, &mut n);
    pad_into(&dos, bs, &mut n);
    let cc = suite.mac(&n);
    dos.extend_from_slice(&[0x8E, 0x08]);
    dos.extend_from_slice(&cc);
    // Le' is always sent (00, or 0000 when the command or its protected body is extended).
    let extended = cmd.extended() || dos.len() > 255;
    let protected = Command::new(
        cla,
        cmd.ins,
        cmd.p1,
        cmd.p2,
        dos,
        Some(if extended { 65_536 } else { 256 }),
    );
    protected
        .to_bytes()
        .expect("lengths checked before wrapping")
}

/// The data objects of a protected message, as offsets into its body.
struct Dos {
    crypto: Option<(u8, tlv::Header)>,
    le_or_sw: Option<tlv::Header>,
    mac_at: usize,
    mac: [u8; 8],
}

fn split_dos(body: &[u8], status_tag: u8, offset: usize) -> Result<Dos, EktpError> {
    let bad = |what: String, at: usize| EktpError::ChipDecode {
        what,
        offset: offset + at,
    };
    let mut dos = Dos {
        crypto: None,
        le_or_sw: None,
        mac_at: 0,
        mac: [0; 8],
    };
    let mut pos = 0;
    let mut seen_mac = false;
    while pos < body.len() {
        let h = tlv::read_header(body, pos).map_err(|e| match e {
            EktpError::ChipDecode { what, offset: at } => bad(what, at),
            other => other,
        })?;
        if seen_mac {
            return Err(bad("data after the MAC object DO'8E'".into(), pos));
        }
        match h.tag {
            0x85 | 0x87 if dos.crypto.is_none() && dos.le_or_sw.is_none() => {
                dos.crypto = Some((h.tag as u8, h));
            }
            t if t == u32::from(status_tag) && dos.le_or_sw.is_none() => dos.le_or_sw = Some(h),
            0x8E if h.len == 8 => {
                dos.mac_at = pos;
                dos.mac.copy_from_slice(&body[h.start..h.end()]);
                seen_mac = true;
            }
            0x8E => return Err(bad(format!("DO'8E' of {} bytes, not 8", h.len), pos)),
            t => return Err(bad(format!("unexpected data object {t:02X}"), pos)),
        }
        pos = h.end();
    }
    if !seen_mac {
        return Err(EktpError::SecureMessaging(
            "the message has no MAC (DO'8E')".into(),
        ));
    }
    Ok(dos)
}

fn check_mac(
    suite: &dyn Suite,
    bs: usize,
    ssc: &[u8],
    header: Option<[u8; 4]>,
    covered: &[u8],
    mac: &[u8; 8],
) -> Result<(), EktpError> {
    let mut n = Vec::with_capacity(ssc.len() + 2 * bs + covered.len());
    n.extend_from_slice(ssc);
    if let Some(h) = header {
        pad_into(&h, bs, &mut n);
    }
    pad_into(covered, bs, &mut n);
    let expected = suite.mac(&n);
    if bool::from(expected.ct_eq(mac)) {
        Ok(())
    } else {
        Err(EktpError::SecureMessaging("the MAC does not verify".into()))
    }
}

fn decrypt_do(
    suite: &dyn Suite,
    ssc: &[u8],
    tag: u8,
    value: &[u8],
    bs: usize,
) -> Result<Vec<u8>, EktpError> {
    let cipher = if tag == 0x87 {
        match value.split_first() {
            Some((0x01, rest)) => rest,
            _ => {
                return Err(EktpError::SecureMessaging(
                    "DO'87' does not start with the padding indicator 01".into(),
                ))
            }
        }
    } else {
        value
    };
    if cipher.is_empty() || !cipher.len().is_multiple_of(bs) {
        return Err(EktpError::SecureMessaging(format!(
            "encrypted data of {} bytes is not whole {bs}-byte blocks",
            cipher.len()
        )));
    }
    let mut plain = Zeroizing::new(cipher.to_vec());
    suite.decrypt(Iv::Counter(ssc), &mut plain)?;
    Ok(unpad(&plain)?.to_vec())
}

fn verify_response(suite: &dyn Suite, ssc: &[u8], apdu: &[u8]) -> Result<Response, EktpError> {
    let raw = Response::parse(apdu)?;
    if raw.data.is_empty() {
        return Err(EktpError::SecureMessaging(format!(
            "the chip answered {:04X} ({}) without secure messaging",
            raw.sw,
            super::apdu::status_meaning(raw.sw)
        )));
    }
    let bs = suite_block(ssc);
    let dos = split_dos(&raw.data, 0x99, 0)?;
    check_mac(suite, bs, ssc, None, &raw.data[..dos.mac_at], &dos.mac)?;
    let status = dos.le_or_sw.ok_or_else(|| {
        EktpError::SecureMessaging("the response has no status object DO'99'".into())
    })?;
    let sw_bytes = &raw.data[status.start..status.end()];
    if sw_bytes.len() != 2 {
        return Err(EktpError::SecureMessaging(format!(
            "DO'99' of {} bytes, not 2",
            sw_bytes.len()
        )));
    }
    let sw = u16::from_be_bytes([sw_bytes[0], sw_bytes[1]]);
    if sw != raw.sw {
        return Err(EktpError::SecureMessaging(format!(
            "the protected status {sw:04X} differs from the plain one {:04X}",
            raw.sw
        )));
    }
    let data = match dos.crypto {
        Some((tag, h)) => decrypt_do(suite, ssc, tag, &raw.data[h.start..h.end()], bs)?,
        None => Vec::new(),
    };
    Ok(Response { data, sw })
}

fn verify_command(suite: &dyn Suite, ssc: &[u8], apdu: &[u8]) -> Result<Command, EktpError> {
    let outer = Command::parse(apdu)?;
    if outer.cla & 0x0C != 0x0C {
        return Err(EktpError::SecureMessaging(format!(
            "CLA {:02X} does not announce secure messaging",
            outer.cla
        )));
    }
    let bs = suite_block(ssc);
    // The body starts after a 1-byte Lc, or after `00` and a 2-byte Lc.
    let body_at = if apdu.get(4) == Some(&0) { 7 } else { 5 };
    let dos = split_dos(&outer.data, 0x97, body_at)?;
    let header = [outer.cla, outer.ins, outer.p1, outer.p2];
    check_mac(
        suite,
        bs,
        ssc,
        Some(header),
        &outer.data[..dos.mac_at],
        &dos.mac,
    )?;
    let data = match dos.crypto {
        Some((tag, h)) => decrypt_do(suite, ssc, tag, &outer.data[h.start..h.end()], bs)?,
        None => Vec::new(),
    };
    let ne = match dos.le_or_sw {
        None => None,
        Some(h) => {
            let v = &outer.data[h.start..h.end()];
            Some(match v {
                [0] => 256,
                [b] => u32::from(*b),
                [0, 0] => 65_536,
                [hi, lo] => u32::from(u16::from_be_bytes([*hi, *lo])),
                _ => {
                    return Err(EktpError::SecureMessaging(format!(
                        "DO'97' of {} bytes",
                        v.len()
                    )))
                }
            })
        }
    };
    Ok(Command::new(
        outer.cla & !0x0C,
        outer.ins,
        outer.p1,
        outer.p2,
        data,
        ne,
    ))
}

/// The block size is the counter's size.
fn suite_block(ssc: &[u8]) -> usize {
    ssc.len()
}

// -- opening a session: the challenge-response of 9303-11 §9.7.2 ------------------------------

/// The terminal's half of a mutual authentication: its random numbers, kept until the chip
/// answers. Zeroized on drop.
pub struct Challenge {
    keys: KeyPair,
    rnd_ic: [u8; 8],
    rnd_ifd: [u8; 8],
    k_ifd: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Challenge(<hidden>)")
    }
}

/// The cryptogram `E ‖ M`: `E` encrypts the 32 bytes unpadded under IV 0, `M` is the MAC of
/// `pad(E)`.
fn cryptogram(keys: &KeyPair, s: &[u8]) -> Vec<u8> {
    let suite = keys.suite();
    let mut e = s.to_vec();
    suite.encrypt(Iv::Zero, &mut e);
    let m = suite.mac(&pad(&e, keys.alg.block_size()));
    e.extend_from_slice(&m);
    e
}

fn open_cryptogram(keys: &KeyPair, data: &[u8]) -> Result<Zeroizing<Vec<u8>>, EktpError> {
    if data.len() != 40 {
        return Err(EktpError::SecureMessaging(format!(
            "an authentication cryptogram is 40 bytes, not {}",
            data.len()
        )));
    }
    let suite = keys.suite();
    let (e, m) = data.split_at(32);
    let expected = suite.mac(&pad(e, keys.alg.block_size()));
    if !bool::from(expected.ct_eq(m)) {
        return Err(EktpError::SecureMessaging(
            "the authentication cryptogram's MAC does not verify".into(),
        ));
    }
    let mut plain = Zeroizing::new(e.to_vec());
    suite.decrypt(Iv::Zero, &mut plain)?;
    Ok(plain)
}

/// The session both sides derive: keys from `K.IFD ⊕ K.IC`; the counter from the random
/// numbers for 3DES (BAC's `RND.IC[4..8) ‖ RND.IFD[4..8)`), zero for AES (as after PACE).
fn session_from(
    alg: Algorithm,
    k_ifd: &[u8],
    k_ic: &[u8],
    rnd_ic: &[u8],
    rnd_ifd: &[u8],
) -> Result<Session, EktpError> {
    let seed: Zeroizing<Vec<u8>> =
        Zeroizing::new(k_ifd.iter().zip(k_ic).map(|(a, b)| a ^ b).collect());
    let keys = KeyPair::from_seed(alg, &seed);
    let ssc = match alg {
        Algorithm::Tdes => [&rnd_ic[4..8], &rnd_ifd[4..8]].concat(),
        _ => vec![0u8; 16],
    };
    Session::new(&keys, &ssc)
}

impl Challenge {
    /// Starts an authentication with the chip's challenge `rnd_ic` (from GET CHALLENGE) and
    /// the terminal's own random `rnd_ifd` and key half `k_ifd` (16 bytes). Returns the
    /// challenge state and the EXTERNAL AUTHENTICATE data `E_IFD ‖ M_IFD`.
    pub fn start(
        keys: &KeyPair,
        rnd_ic: [u8; 8],
        rnd_ifd: [u8; 8],
        k_ifd: [u8; 16],
    ) -> (Challenge, Vec<u8>) {
        let s = Zeroizing::new([&rnd_ifd[..], &rnd_ic[..], &k_ifd[..]].concat());
        let data = cryptogram(keys, &s);
        (
            Challenge {
                keys: keys.clone(),
                rnd_ic,
                rnd_ifd,
                k_ifd: Zeroizing::new(k_ifd.to_vec()),
            },
            data,
        )
    }

    /// Checks the chip's answer `E_IC ‖ M_IC` (its MAC, then the echo of `RND.IFD`) and
    /// opens the session.
    pub fn finish(self, response: &[u8]) -> Result<Session, EktpError> {
        let r = open_cryptogram(&self.keys, response)?;
        if r[..8] != self.rnd_ic || r[8..16] != self.rnd_ifd {
            return Err(EktpError::SecureMessaging(
                "the chip's answer does not echo the challenge".into(),
            ));
        }
        session_from(
            self.keys.alg,
            &self.k_ifd,
            &r[16..32],
            &self.rnd_ic,
            &self.rnd_ifd,
        )
    }
}

/// The chip's half: checks the terminal's cryptogram against the challenge it issued and
/// answers with its own, opening its side of the session.
pub fn chip_answer(
    keys: &KeyPair,
    rnd_ic: [u8; 8],
    k_ic: [u8; 16],
    request: &[u8],
) -> Result<(Vec<u8>, Session), EktpError> {
    let s = open_cryptogram(keys, request)?;
    if s[8..16] != rnd_ic {
        return Err(EktpError::SecureMessaging(
            "the terminal's cryptogram does not answer this chip's challenge".into(),
        ));
    }
    let rnd_ifd = &s[..8];
    let k_ifd = &s[16..32];
    let r = Zeroizing::new([&rnd_ic[..], rnd_ifd, &k_ic[..]].concat());
    let answer = cryptogram(keys, &r);
    let session = session_from(keys.alg, k_ifd, &k_ic, &rnd_ic, rnd_ifd)?;
    Ok((answer, session))
}
