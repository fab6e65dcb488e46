//! The chip side of card issuance: BER-TLV, ISO/IEC 7816-4 APDUs, ICAO 9303-11 secure
//! messaging and personalisation scripts. Pure functions and plain data, like the rest of the
//! core; the key interface, the virtual chip and the readers are in Python
//! (`ektpcore.chip`), which hands the core byte strings and session handles.
//!
//! Keys never come from this crate: a session is opened from keys the caller's key provider
//! holds (a SAM or HSM in production), and every key buffer here is wiped when dropped.

pub mod apdu;
pub mod perso;
pub mod sm;
pub mod tlv;

#[cfg(test)]
mod tests;
