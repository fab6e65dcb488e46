//! The ledger's audit history is hash-chained: each row's hash is SHA-256 over the previous
//! row's hash and the row's own canonical bytes. Editing, inserting or deleting a row breaks
//! every hash after it, so [`first_break`] finds the first row that no longer fits.
//!
//! The chain is computed here, in bulk, so that appending 10^5 rows or verifying 10^6 costs
//! milliseconds rather than a Python loop.

use sha2::{Digest, Sha256};

pub mod acting;
pub mod json;
pub mod replay;
pub mod rows;

/// The hash before the first row: 32 zero bytes.
pub const GENESIS: [u8; 32] = [0; 32];

/// The chain link of one row.
pub fn link(previous: &[u8; 32], payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(previous);
    h.update((payload.len() as u64).to_le_bytes());
    h.update(payload);
    h.finalize().into()
}

/// Hashes of rows appended after `previous`, in order.
pub fn chain(previous: &[u8; 32], payloads: &[&[u8]]) -> Vec<[u8; 32]> {
    chain_by(previous, payloads, link)
}

/// The index of the first row whose stored hash does not match the chain from `previous`, or
/// `None` when every row fits.
pub fn first_break(previous: &[u8; 32], payloads: &[&[u8]], stored: &[[u8; 32]]) -> Option<usize> {
    first_break_by(previous, payloads, stored, link)
}

/// [`chain`] with another link function (the keyed chain of a sealed ledger, see
/// [`crate::keys::KeyRing::chain`]).
pub fn chain_by(
    previous: &[u8; 32],
    payloads: &[&[u8]],
    link: impl Fn(&[u8; 32], &[u8]) -> [u8; 32],
) -> Vec<[u8; 32]> {
    let mut prev = *previous;
    payloads
        .iter()
        .map(|p| {
            prev = link(&prev, p);
            prev
        })
        .collect()
}

/// [`first_break`] with another link function.
pub fn first_break_by(
    previous: &[u8; 32],
    payloads: &[&[u8]],
    stored: &[[u8; 32]],
    link: impl Fn(&[u8; 32], &[u8]) -> [u8; 32],
) -> Option<usize> {
    if payloads.len() != stored.len() {
        return Some(payloads.len().min(stored.len()));
    }
    let mut prev = *previous;
    for (i, (p, s)) in payloads.iter().zip(stored).enumerate() {
        prev = link(&prev, p);
        if prev != *s {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_change_breaks_the_chain_at_that_row() {
        let rows: Vec<Vec<u8>> = (0..50).map(|i| format!("row {i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
        let hashes = chain(&GENESIS, &refs);
        assert_eq!(first_break(&GENESIS, &refs, &hashes), None);
        let mut edited = refs.clone();
        edited[17] = b"row 17, edited";
        assert_eq!(first_break(&GENESIS, &edited, &hashes), Some(17));
        let mut deleted = refs.clone();
        deleted.remove(30);
        let mut kept = hashes.clone();
        kept.remove(30);
        assert_eq!(first_break(&GENESIS, &deleted, &kept), Some(30));
        assert_eq!(first_break(&GENESIS, &refs[..10], &hashes), Some(10));
        // Appending continues the same chain.
        let tail = chain(&hashes[24], &refs[25..]);
        assert_eq!(tail, hashes[25..].to_vec());
    }
}
