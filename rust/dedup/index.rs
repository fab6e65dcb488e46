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

/// Checksum of an index file's payload: XXH3-64 over the little-endian bytes, computed over
/// fixed blocks in parallel and then over the block digests, so a 100-million-entry file is
/// verified at memory speed on every core.
pub fn checksum(values: &[i64]) -> u64 {
    const BLOCK: usize = 1 << 17; // values per block (1 MiB)
    let digests: Vec<u8> = values
        .par_chunks(BLOCK)
        .flat_map_iter(|block| xxh3_64(&le_bytes(block)).to_le_bytes())
        .collect();
    xxh3_64(&digests) ^ values.len() as u64
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
