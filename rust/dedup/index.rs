//! Sorted, duplicate-free columns of NIKs: the issued-NIK index. Set operations are merges of
//! sorted runs (linear, cache-friendly); membership tests are binary searches, spread over the
//! cores.

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

/// True when `values` is strictly increasing, the invariant of an index.
pub fn is_strictly_increasing(values: &[i64]) -> bool {
    values.par_windows(2).all(|w| w[0] < w[1])
}

/// For each query, whether it is in the sorted set.
pub fn contains(set: &[i64], queries: &[i64], out: &mut [bool]) {
    assert_eq!(queries.len(), out.len(), "output length");
    queries
        .par_iter()
        .with_min_len(4096)
        .zip(out.par_iter_mut())
        .for_each(|(q, o)| *o = set.binary_search(q).is_ok());
}

/// Sorts and deduplicates keys, dropping negative ones (failed parses).
pub fn sorted_unique(keys: &[i64]) -> Vec<i64> {
    let mut v: Vec<i64> = keys.iter().copied().filter(|&k| k >= 0).collect();
    v.par_sort_unstable();
    v.dedup();
    v
}

/// The union of two sorted, duplicate-free columns.
pub fn union(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// `a` without the elements of `b` (both sorted, duplicate-free).
pub fn difference(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j == b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Values per checksum block (1 MiB).
const BLOCK: usize = 1 << 17;

/// Checksum of an index file's payload: XXH3-64 over the little-endian bytes, computed over
/// fixed blocks in parallel and then over the block digests, so a 100-million-entry file is
/// verified at memory speed on every core.
pub fn checksum(values: &[i64]) -> u64 {
    let digests: Vec<u64> = values
        .par_chunks(BLOCK)
        .map(|block| xxh3_64(&le_bytes(block)))
        .collect();
    combine(&digests, values.len())
}

fn combine(digests: &[u64], count: usize) -> u64 {
    let bytes: Vec<u8> = digests.iter().flat_map(|d| d.to_le_bytes()).collect();
    xxh3_64(&bytes) ^ count as u64
}

/// Reads an index payload of `out.len()` values from `file` at `offset` into `out`, one
/// checksum block per task, and returns its [`checksum`] and whether it is strictly
/// increasing: each block is hashed and checked right after it is read, while it is still in
/// cache, so verifying costs little more than copying. A file shorter than that is an
/// `UnexpectedEof` error.
#[cfg(unix)]
pub fn read_verified(
    file: &std::fs::File,
    offset: u64,
    out: &mut [i64],
) -> std::io::Result<(u64, bool)> {
    use std::os::unix::fs::FileExt;

    struct Block {
        digest: u64,
        increasing: bool,
        first: i64,
        last: i64,
    }
    let blocks = out
        .par_chunks_mut(BLOCK)
        .enumerate()
        .map(|(i, block)| -> std::io::Result<Block> {
            // SAFETY: the bytes of initialised i64 memory, borrowed mutably for the read only;
            // every byte pattern is a valid i64.
            let bytes = unsafe {
                std::slice::from_raw_parts_mut(
                    block.as_mut_ptr().cast::<u8>(),
                    std::mem::size_of_val(block),
                )
            };
            file.read_exact_at(bytes, offset + (i * BLOCK * 8) as u64)?;
            let digest = xxh3_64(bytes);
            for v in block.iter_mut() {
                *v = i64::from_le(*v);
            }
            Ok(Block {
                digest,
                // Counting, not stopping at the first fault: the loop vectorises.
                increasing: block.windows(2).filter(|w| w[0] >= w[1]).count() == 0,
                first: block[0],
                last: block[block.len() - 1],
            })
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let digests: Vec<u64> = blocks.iter().map(|b| b.digest).collect();
    let increasing =
        blocks.iter().all(|b| b.increasing) && blocks.windows(2).all(|w| w[0].last < w[1].first);
    Ok((combine(&digests, out.len()), increasing))
}

/// The little-endian bytes of a block: a view on little-endian machines, a copy elsewhere.
fn le_bytes(block: &[i64]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        // SAFETY: any initialised i64 memory is valid as bytes, with the same lifetime.
        std::borrow::Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(block.as_ptr().cast::<u8>(), std::mem::size_of_val(block))
        })
    } else {
        std::borrow::Cow::Owned(block.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn set(v: &[i64]) -> Vec<i64> {
        v.iter()
            .copied()
            .filter(|&k| k >= 0)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    proptest! {
        #[test]
        fn set_operations_match_btreeset(a in prop::collection::vec(-3i64..200, 0..300),
                                         b in prop::collection::vec(-3i64..200, 0..300)) {
            let (sa, sb) = (sorted_unique(&a), sorted_unique(&b));
            prop_assert_eq!(&sa, &set(&a));
            prop_assert!(is_strictly_increasing(&sa));
            let both: Vec<i64> = a.iter().chain(&b).copied().collect();
            prop_assert_eq!(union(&sa, &sb), set(&both));
            let minus: Vec<i64> = sa.iter().copied().filter(|x| !sb.contains(x)).collect();
            prop_assert_eq!(difference(&sa, &sb), minus);
            let mut found = vec![false; b.len()];
            contains(&sa, &b, &mut found);
            prop_assert_eq!(found, b.iter().map(|x| sa.contains(x)).collect::<Vec<_>>());
        }
    }

    fn payload_file(values: &[i64], offset: usize) -> std::fs::File {
        use std::io::{Seek, Write};
        let mut file = temporary_file();
        file.write_all(&vec![0xAB; offset]).unwrap();
        for v in values {
            file.write_all(&v.to_le_bytes()).unwrap();
        }
        file.rewind().unwrap();
        file
    }

    /// A file in the temporary folder, removed as soon as it is open.
    fn temporary_file() -> std::fs::File {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "index-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    #[test]
    fn reading_a_payload_verifies_it_as_checksum_and_order_do() {
        let sorted: Vec<i64> = (0..300_000).map(|i| i * 3 + 1).collect();
        let mut swapped = sorted.clone();
        swapped.swap(BLOCK - 1, BLOCK); // out of order across a block boundary only
        let mut repeated = sorted.clone();
        repeated[200_000] = repeated[199_999]; // inside a block
        for (values, increasing) in [
            (&sorted[..], true),
            (&sorted[..0], true),
            (&sorted[..1], true),
            (&sorted[..BLOCK], true),
            (&swapped[..], false),
            (&repeated[..], false),
        ] {
            let file = payload_file(values, 64);
            let mut out = vec![0; values.len()];
            let (sum, inc) = read_verified(&file, 64, &mut out).unwrap();
            assert_eq!(out, values);
            assert_eq!(sum, checksum(values));
            assert_eq!(inc, increasing);
            assert_eq!(inc, is_strictly_increasing(values));
        }
        let file = payload_file(&sorted[..1000], 64);
        let mut out = vec![0; 1001];
        let err = read_verified(&file, 64, &mut out).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn checksum_sees_any_change() {
        let v: Vec<i64> = (0..300_000).collect();
        let base = checksum(&v);
        let mut w = v.clone();
        w[123_456] += 1;
        assert_ne!(checksum(&w), base);
        assert_ne!(checksum(&v[..v.len() - 1]), base);
        assert_eq!(checksum(&v), base);
        assert!(!is_strictly_increasing(&[1, 1]));
    }
}
