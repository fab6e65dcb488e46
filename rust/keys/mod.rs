//! The ledger's keys: what keeps citizens' data unreadable and the history unforgeable to
//! someone holding only the database file.
//!
//! One [`KeyRing`] holds every key of a sealed ledger, derived or loaded once and never handed
//! out: the ledger asks it to do the work instead.
//!
//! - **Sealing** (AES-256-GCM): personal fields and free text are stored as
//!   `version ‖ key id ‖ nonce ‖ ciphertext ‖ tag`. The caller's associated data ties a sealed
//!   value to its row, so a value copied to another row does not open. Data keys have ids, so a
//!   new key can be brought in (rotation) while values sealed under older keys still open.
//! - **Blind index** (HMAC-SHA-256 of the NIK's 16 digits, 63 bits kept): the ledger finds and
//!   dedups records by NIK through it, without decrypting the table and without the NIK in
//!   clear. Without the key, the 10^10-odd NIKs a region can have cannot be tried one by one.
//! - **Keyed chain** (HMAC-SHA-256): each history row's link, so a forged row cannot be given a
//!   valid hash without the key.
//! - **Checkpoint signing** (Ed25519): the chain heads the bureau anchors outside the database.
//!
//! The index, chain and signing keys come from the ledger's root secret through HKDF-SHA-256
//! with one label each; data keys are independent random secrets (a leaked data key says
//! nothing about the next one).
//!
//! **Bound to one ledger** ([`KeyRing::bind`]): one key file may serve several ledgers, so the
//! keys a ledger works with are derived (HKDF-SHA-256) from the file's secrets and the
//! ledger's identity. A value, a row or a blind index copied from another ledger sealed with
//! the same file then does not open or match. Values sealed under bound data keys are format
//! 2; format 1 (sealed before ledgers were bound) still opens with the file's data keys.

use aes_gcm::aead::{Aead, KeyInit as AeadKeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use rayon::prelude::*;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::EktpError;
use crate::ledger;

/// The first byte of a sealed value under the key file's data keys as they are (format 1).
pub const SEALED_VERSION: u8 = 1;
/// The first byte of a sealed value under data keys bound to one ledger (format 2).
pub const BOUND_VERSION: u8 = 2;
/// Bytes before the ciphertext: version, key id (big-endian u32), nonce.
pub const SEALED_HEADER: usize = 1 + 4 + 12;
/// Bytes a sealed value adds to its plaintext: the header and GCM's 16-byte tag.
pub const SEALED_OVERHEAD: usize = SEALED_HEADER + 16;

/// Inputs bigger than this are split over the worker threads.
const PARALLEL_FROM: usize = 4096;

/// Every key of one sealed ledger. No method returns key bytes.
pub struct KeyRing {
    index: Hmac<Sha256>,
    chain: Hmac<Sha256>,
    signing: SigningKey,
    data: Vec<(u32, Aes256Gcm)>,
    /// The data keys bound to one ledger (format 2), by the same ids; empty when unbound.
    bound: Vec<(u32, Aes256Gcm)>,
    /// Whether format 1 values open (a ring bound from a ledger's start opens none: such a
    /// value can only come from another ledger).
    format_1: bool,
    current: usize,
    fingerprint: String,
    /// The secrets a bound ring is derived from; `None` in a bound ring (bound once).
    secrets: Option<Secrets>,
}

struct Secrets {
    root: Zeroizing<[u8; 32]>,
    data: Vec<(u32, Zeroizing<[u8; 32]>)>,
}

/// HKDF salts of the bound derivations: each names its use and version.
const BOUND_ROOT_SALT: &[u8] = b"ektpcore ledger keys v2";
const BOUND_DATA_SALT: &[u8] = b"ektpcore ledger data key v2";

fn derive(hkdf: &Hkdf<Sha256>, label: &str) -> Zeroizing<[u8; 32]> {
    derive_info(hkdf, &[label.as_bytes()])
}

fn derive_info(hkdf: &Hkdf<Sha256>, info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    hkdf.expand_multi_info(info, out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA-256 length");
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac_of(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length")
}

fn aead_of(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

fn nonce_of(bytes: &[u8]) -> Nonce<aes_gcm::aead::consts::U12> {
    Nonce::try_from(bytes).expect("a nonce is 12 bytes")
}

fn invalid(message: impl Into<String>) -> EktpError {
    EktpError::InvalidArgument(message.into())
}

impl KeyRing {
    /// A ring from the ledger's root secret and its data keys (`(id, secret)`, 32 bytes each);
    /// `current` names the data key new values are sealed with.
    pub fn new(root: &[u8], data: &[(u32, &[u8])], current: u32) -> Result<Self, EktpError> {
        if root.len() != 32 {
            return Err(invalid(format!(
                "a ledger root key is 32 bytes, not {}",
                root.len()
            )));
        }
        let hkdf = Hkdf::<Sha256>::new(Some(b"ektpcore ledger keys v1"), root);
        let mac = |label: &str| mac_of(derive(&hkdf, label).as_ref());
        let signing = SigningKey::from_bytes(&derive(&hkdf, "checkpoint signing"));
        let fingerprint = hex(&derive(&hkdf, "fingerprint")[..12]);
        let mut keys = Vec::with_capacity(data.len());
        let mut kept = Vec::with_capacity(data.len());
        for (id, secret) in data {
            if secret.len() != 32 {
                return Err(invalid(format!(
                    "data key {id} is 32 bytes, not {}",
                    secret.len()
                )));
            }
            if keys.iter().any(|(known, _)| known == id) {
                return Err(invalid(format!("data key {id} is given twice")));
            }
            let secret = Zeroizing::new(<[u8; 32]>::try_from(*secret).expect("checked: 32 bytes"));
            keys.push((*id, aead_of(&secret)));
            kept.push((*id, secret));
        }
        let current = keys
            .iter()
            .position(|(id, _)| *id == current)
            .ok_or_else(|| invalid(format!("the current data key {current} is not given")))?;
        Ok(KeyRing {
            index: mac("nik blind index"),
            chain: mac("history chain"),
            signing,
            data: keys,
            bound: Vec::new(),
            format_1: true,
            current,
            fingerprint,
            secrets: Some(Secrets {
                root: Zeroizing::new(root.try_into().expect("checked: 32 bytes")),
                data: kept,
            }),
        })
    }

    /// The ring one ledger works with, derived from this one's secrets and the ledger's
    /// identity `ledger`: its data keys always (values are sealed in format 2, and format 1
    /// values still open with the key file's data keys); with `whole`, its blind index,
    /// chain, signing keys and fingerprint too, and no format 1 value opens (a ledger bound
    /// from its start; one sealed before keeps its index and chain, whose values and links
    /// are already stored, and its format 1 values).
    pub fn bind(&self, ledger: &[u8], whole: bool) -> Result<KeyRing, EktpError> {
        let secrets = self
            .secrets
            .as_ref()
            .ok_or_else(|| invalid("this key ring is bound to a ledger already"))?;
        if ledger.is_empty() {
            return Err(invalid("a ledger's identity is not empty"));
        }
        let bound = secrets
            .data
            .iter()
            .map(|(id, secret)| {
                let hkdf = Hkdf::<Sha256>::new(Some(BOUND_DATA_SALT), secret.as_ref());
                (*id, aead_of(&derive_info(&hkdf, &[ledger])))
            })
            .collect();
        let (index, chain, signing, fingerprint) = if whole {
            let hkdf = Hkdf::<Sha256>::new(Some(BOUND_ROOT_SALT), secrets.root.as_ref());
            let one = |label: &str| derive_info(&hkdf, &[label.as_bytes(), b"\0", ledger]);
            (
                mac_of(one("nik blind index").as_ref()),
                mac_of(one("history chain").as_ref()),
                SigningKey::from_bytes(&one("checkpoint signing")),
                hex(&one("fingerprint")[..12]),
            )
        } else {
            (
                self.index.clone(),
                self.chain.clone(),
                self.signing.clone(),
                self.fingerprint.clone(),
            )
        };
        Ok(KeyRing {
            index,
            chain,
            signing,
            data: self.data.clone(),
            bound,
            format_1: !whole,
            current: self.current,
            fingerprint,
            secrets: None,
        })
    }

    /// Whether the ring is bound to a ledger (seals in format 2).
    pub fn is_bound(&self) -> bool {
        !self.bound.is_empty()
    }

    /// Identifies the root secret (not the data keys) without revealing it: a ledger stores
    /// it to refuse the keys of another ledger.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The id of the data key new values are sealed with.
    pub fn current_key(&self) -> u32 {
        self.data[self.current].0
    }

    /// The ids of every data key held, in the order given.
    pub fn key_ids(&self) -> Vec<u32> {
        self.data.iter().map(|(id, _)| *id).collect()
    }

    /// The blind index of each NIK: HMAC-SHA-256 over its 16 digits, the first 63 bits as a
    /// positive integer (0 becomes 1: the ledger's NIK column is positive).
    pub fn blind(&self, niks: &[i64]) -> Vec<i64> {
        let one = |nik: &i64| {
            let mut mac = self.index.clone();
            mac.update(format!("{nik:016}").as_bytes());
            let tag = mac.finalize().into_bytes();
            let head = u64::from_be_bytes(tag[..8].try_into().expect("8 bytes")) >> 1;
            (head as i64).max(1)
        };
        if niks.len() >= PARALLEL_FROM {
            niks.par_iter().map(one).collect()
        } else {
            niks.iter().map(one).collect()
        }
    }

    /// Seals each plaintext with its associated data under the current data key; every value
    /// gets a fresh random nonce.
    pub fn seal(&self, plaintexts: &[&[u8]], aads: &[&[u8]]) -> Result<Vec<Vec<u8>>, EktpError> {
        if plaintexts.len() != aads.len() {
            return Err(invalid("seal takes one associated data per plaintext"));
        }
        let mut nonces = vec![0u8; 12 * plaintexts.len()];
        getrandom::fill(&mut nonces)
            .map_err(|e| invalid(format!("the system gave no random numbers: {e}")))?;
        let (version, (id, cipher)) = if self.is_bound() {
            (BOUND_VERSION, &self.bound[self.current])
        } else {
            (SEALED_VERSION, &self.data[self.current])
        };
        let one = |((plain, aad), nonce): ((&&[u8], &&[u8]), &[u8])| {
            let mut out = Vec::with_capacity(plain.len() + SEALED_OVERHEAD);
            out.push(version);
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(nonce);
            let header = out.clone();
            let aad = [header.as_slice(), aad].concat();
            let sealed = cipher
                .encrypt(
                    &nonce_of(nonce),
                    Payload {
                        msg: plain,
                        aad: &aad,
                    },
                )
                .expect("AES-GCM seals any value the ledger holds");
            out.extend_from_slice(&sealed);
            out
        };
        let items = plaintexts.iter().zip(aads).zip(nonces.chunks_exact(12));
        Ok(if plaintexts.len() >= PARALLEL_FROM {
            items.collect::<Vec<_>>().into_par_iter().map(one).collect()
        } else {
            items.map(one).collect()
        })
    }

    /// Opens each sealed value with its associated data: `None` for one that is malformed,
    /// sealed under a key this ring does not hold, altered, or bound to other data.
    pub fn open(
        &self,
        sealed: &[&[u8]],
        aads: &[&[u8]],
    ) -> Result<Vec<Option<Vec<u8>>>, EktpError> {
        if sealed.len() != aads.len() {
            return Err(invalid("open takes one associated data per sealed value"));
        }
        let one = |(value, aad): (&&[u8], &&[u8])| self.open_one(value, aad);
        let items = sealed.iter().zip(aads);
        Ok(if sealed.len() >= PARALLEL_FROM {
            items.collect::<Vec<_>>().into_par_iter().map(one).collect()
        } else {
            items.map(one).collect()
        })
    }

    fn open_one(&self, value: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let id = sealed_key_id(value)?;
        let keys = if value[0] == BOUND_VERSION {
            &self.bound
        } else if self.format_1 {
            &self.data
        } else {
            return None;
        };
        let (_, cipher) = keys.iter().find(|(known, _)| *known == id)?;
        let (header, body) = value.split_at(SEALED_HEADER);
        let aad = [header, aad].concat();
        cipher
            .decrypt(
                &nonce_of(&header[5..]),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .ok()
    }

    fn chain_link(&self, previous: &[u8; 32], payload: &[u8]) -> [u8; 32] {
        let mut mac = self.chain.clone();
        mac.update(previous);
        mac.update(&(payload.len() as u64).to_le_bytes());
        mac.update(payload);
        mac.finalize().into_bytes().into()
    }

    /// The keyed twin of [`ledger::chain`]: each link is an HMAC under the chain key.
    pub fn chain(&self, previous: &[u8; 32], payloads: &[&[u8]]) -> Vec<[u8; 32]> {
        ledger::chain_by(previous, payloads, |p, x| self.chain_link(p, x))
    }

    /// The keyed twin of [`ledger::first_break`].
    pub fn first_break(
        &self,
        previous: &[u8; 32],
        payloads: &[&[u8]],
        stored: &[[u8; 32]],
    ) -> Option<usize> {
        ledger::first_break_by(previous, payloads, stored, |p, x| self.chain_link(p, x))
    }

    /// An Ed25519 signature of `message` by the ledger's checkpoint key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The public half of the checkpoint key, which anyone may hold to check checkpoints.
    pub fn verify_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }
}

/// The id of the data key a sealed value was sealed with (rotation finds the values still
/// sealed under an old key by it), or `None` for bytes that are no sealed value.
pub fn sealed_key_id(value: &[u8]) -> Option<u32> {
    if value.len() < SEALED_OVERHEAD || !matches!(value[0], SEALED_VERSION | BOUND_VERSION) {
        return None;
    }
    Some(u32::from_be_bytes(value[1..5].try_into().ok()?))
}

/// The format of a sealed value (1: under the key file's data keys; 2: under keys bound to
/// one ledger), or `None` for bytes that are no sealed value.
pub fn sealed_format(value: &[u8]) -> Option<u8> {
    sealed_key_id(value).map(|_| value[0])
}

/// Whether `signature` is `public_key`'s Ed25519 signature of `message` (strict checking:
/// no malleable signatures, no weak keys).
pub fn verify_signature(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(message, &signature).is_ok() && key.verify(message, &signature).is_ok()
}

#[cfg(test)]
mod tests;
