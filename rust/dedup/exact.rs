//! Keep-first exact dedup: for every element, the index of the first element with the same
//! key.
//!
//! 1. The keys are radix-partitioned on hashed bits (the opening pass of an MSD radix sort),
//!    carrying their indices, by a stable scatter: inside each partition the elements stay in
//!    input order, and hashing spreads the clustered NIK values (38 province prefixes) evenly.
//! 2. Each partition (about 16,384 keys, sized for L2) is resolved with a small open-addressing
//!    table: the first time a key is met its index is its own first occurrence; every later
//!    time the table gives the first one.
//! 3. The scatter is replayed to write the answers back in input order.
//!
//! No step misses the cache on every element, as one big hash table would, and each key moves
//! once, where a full sort moves it many times. Partitions are independent, so rayon spreads
//! them over the cores.

use rayon::prelude::*;

use crate::error::EktpError;

/// The first occurrence reported for a key outside `0..limit`: such keys (a failed NIK parse
/// yields -1) are not deduplicated.
pub const INVALID_KEY: i64 = -1;

/// Keys per partition the partition count aims for: 16,384 keys and their 128 KiB table stay
/// in L2, and a few hundred partitions keep the scatter's write streams few (measured best of
/// 1,024 to 16,384 at 10^7 keys).
const KEYS_PER_PARTITION: usize = 16384;
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Raw pointer that rayon tasks may share to write disjoint elements.
#[derive(Clone, Copy)]
struct SharedOut<T>(*mut T);
// SAFETY: every index is written by exactly one task (each input index lives in exactly one
// partition and one chunk), so no two threads ever touch the same element.
unsafe impl<T> Send for SharedOut<T> {}
unsafe impl<T> Sync for SharedOut<T> {}

impl<T> SharedOut<T> {
    /// # Safety
    /// `i` is in bounds and no other thread writes element `i`.
    unsafe fn write(self, i: usize, value: T) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.0.add(i).write(value) }
    }
}

/// Asks the kernel to back a large buffer with huge pages (Linux, where transparent huge pages
/// are in `madvise` mode). The scatter writes to thousands of partitions at once; with 4 KiB
/// pages nearly every write would miss the TLB. Elsewhere, or if the kernel declines, nothing
/// changes but speed.
fn advise_huge_pages<T>(buf: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = buf.capacity() * std::mem::size_of::<T>();
        if bytes < 2 * HUGE {
            return;
        }
        let start = (buf.as_mut_ptr() as usize).next_multiple_of(HUGE);
        let end = (buf.as_mut_ptr() as usize + bytes) / HUGE * HUGE;
        if end > start {
            // SAFETY: the range lies inside the vector's own allocation; madvise only changes
            // how the kernel backs it, not its contents or validity.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
}

/// Writes into `first_index[i]` the index of the first element equal to `keys[i]`, or
/// [`INVALID_KEY`] when `keys[i]` is outside `0..limit`, and into `is_first[i]` whether
/// element `i` is that first element. Returns how many keys were outside `0..limit`. Inputs of
/// more than `u32::MAX` elements are refused.
pub fn first_occurrences(
    keys: &[i64],
    limit: i64,
    first_index: &mut [i64],
    is_first: &mut [bool],
) -> Result<usize, EktpError> {
    let n = keys.len();
    if first_index.len() != n || is_first.len() != n {
        return Err(EktpError::InvalidArgument(format!(
            "output has {} elements for {n} keys",
            first_index.len()
        )));
    }
    if n > u32::MAX as usize {
        return Err(EktpError::InvalidArgument(format!(
            "{n} keys are more than one call takes (at most {})",
            u32::MAX
        )));
    }
    // At most 4,096 partitions: more write streams than that thrash the TLB and the write
    // buffers during the scatter (measured at 10^8 keys); past ~7*10^7 keys the partitions
    // simply grow beyond L2.
    let bits = (n / KEYS_PER_PARTITION).max(1).ilog2().min(12);
    let partitions = 1usize << bits;
    // One predicate for the histogram, the scatter and the replay: the unsafe scatter relies on
    // all three agreeing on which keys take a slot.
    let is_key = |k: i64| (0..limit).contains(&k);
    let partition_of = |k: i64| {
        if bits == 0 {
            0
        } else {
            ((k as u64).wrapping_mul(GOLDEN) >> (64 - bits)) as usize
        }
    };

    // 1. Histogram per chunk, in parallel.
    let threads = rayon::current_num_threads().max(1);
    let chunk = n.div_ceil(threads * 4).max(1 << 14);
    let counts: Vec<Vec<u32>> = keys
        .par_chunks(chunk)
        .map(|c| {
            let mut h = vec![0u32; partitions];
            for &k in c {
                if is_key(k) {
                    h[partition_of(k)] += 1;
                }
            }
            h
        })
        .collect();

    // 2. Offsets, partition-major then chunk order: the scatter is stable.
    let mut starts = vec![0usize; partitions + 1];
    let mut offsets: Vec<Vec<usize>> = vec![vec![0; partitions]; counts.len()];
    let mut total = 0usize;
    for p in 0..partitions {
        starts[p] = total;
        for (c, h) in counts.iter().enumerate() {
            offsets[c][p] = total;
            total += h[p] as usize;
        }
    }
    starts[partitions] = total;

    // 3. Stable scatter of (key, index) into partitions.
    let mut part_keys: Vec<u64> = Vec::with_capacity(total);
    let mut part_index: Vec<u32> = Vec::with_capacity(total);
    advise_huge_pages(&mut part_keys);
    advise_huge_pages(&mut part_index);
    let (pk, pi) = (
        SharedOut(part_keys.as_mut_ptr()),
        SharedOut(part_index.as_mut_ptr()),
    );
    keys.par_chunks(chunk)
        .zip(offsets.par_iter())
        .enumerate()
        .for_each(|(c, (ks, offs))| {
            let mut offs = offs.clone();
            for (j, &k) in ks.iter().enumerate() {
                if is_key(k) {
                    let p = partition_of(k);
                    let slot = &mut offs[p];
                    debug_assert!(*slot < starts[p + 1], "scatter overran partition {p}");
                    // SAFETY: the offsets give each (chunk, partition) its own range of the
                    // `total` reserved slots.
                    unsafe {
                        pk.write(*slot, k as u64);
                        pi.write(*slot, (c * chunk + j) as u32);
                    }
                    *slot += 1;
                }
            }
        });
    // SAFETY: step 3 wrote every one of the `total` slots exactly once.
    unsafe {
        part_keys.set_len(total);
        part_index.set_len(total);
    }

    // 4. Resolve each partition with a cache-resident table of slot numbers (0 = empty),
    //    writing, slot by slot, the input index of the key's first occurrence.
    let mut part_first: Vec<u32> = Vec::with_capacity(total);
    advise_huge_pages(&mut part_first);
    part_first.resize(total, 0);
    let firsts = SharedOut(part_first.as_mut_ptr());
    (0..partitions)
        .into_par_iter()
        .for_each_init(Vec::new, |table: &mut Vec<u32>, p| {
            let (lo, hi) = (starts[p], starts[p + 1]);
            let size = ((hi - lo) * 2).next_power_of_two().max(16);
            table.clear();
            table.resize(size, 0);
            let mask = size - 1;
            for pos in lo..hi {
                let k = part_keys[pos];
                // The partition used the top bits of the hash; the table uses the bits below.
                let mut s = (k.wrapping_mul(GOLDEN) >> 16) as usize & mask;
                let first = loop {
                    match table[s] {
                        0 => {
                            table[s] = (pos - lo + 1) as u32;
                            break part_index[pos];
                        }
                        t if part_keys[lo + t as usize - 1] == k => {
                            break part_index[lo + t as usize - 1];
                        }
                        _ => s = (s + 1) & mask,
                    }
                };
                // SAFETY: slot `pos` belongs to partition `p` alone.
                unsafe { firsts.write(pos, first) };
            }
        });

    // 5. Back to input order by replaying the scatter: each element finds its slot again, so
    //    the outputs are written in order and only `part_first` is read out of order.
    let invalid = first_index
        .par_chunks_mut(chunk)
        .zip(is_first.par_chunks_mut(chunk))
        .zip(keys.par_chunks(chunk))
        .zip(offsets.par_iter())
        .enumerate()
        .map(|(c, (((out, firsts), ks), offs))| {
            let mut offs = offs.clone();
            let mut invalid = 0;
            for (j, ((o, f), &k)) in out.iter_mut().zip(firsts.iter_mut()).zip(ks).enumerate() {
                if is_key(k) {
                    let slot = &mut offs[partition_of(k)];
                    *slot += 1;
                    *o = part_first[*slot - 1] as i64;
                    *f = *o == (c * chunk + j) as i64;
                } else {
                    *o = INVALID_KEY;
                    *f = false;
                    invalid += 1;
                }
            }
            invalid
        })
        .sum();
    Ok(invalid)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// The obvious version: a hash map from key to first index.
    fn reference(keys: &[i64], limit: i64) -> Vec<i64> {
        let mut seen = HashMap::new();
        keys.iter()
            .enumerate()
            .map(|(i, &k)| {
                if (0..limit).contains(&k) {
                    *seen.entry(k).or_insert(i as i64)
                } else {
                    INVALID_KEY
                }
            })
            .collect()
    }

    fn run(keys: &[i64], limit: i64) -> Vec<i64> {
        let mut out = vec![0; keys.len()];
        let mut first = vec![false; keys.len()];
        let invalid = first_occurrences(keys, limit, &mut out, &mut first).unwrap();
        assert_eq!(
            invalid,
            keys.iter().filter(|k| !(0..limit).contains(*k)).count()
        );
        for (i, (&o, &f)) in out.iter().zip(&first).enumerate() {
            assert_eq!(f, o == i as i64);
        }
        out
    }

    #[test]
    fn keeps_the_first_in_input_order() {
        assert_eq!(
            run(&[5, 3, 5, -1, 3, 5, 7, 35, 35], 35),
            vec![0, 1, 0, -1, 1, 0, 6, -1, -1]
        );
        assert_eq!(run(&[], 35), Vec::<i64>::new());
    }

    #[test]
    fn large_inputs_use_many_partitions() {
        let keys: Vec<i64> = (0..300_000i64)
            .map(|i| (i * 7919) % 250_007 * 1_000_003)
            .collect();
        assert!(run(&keys, i64::MAX) == reference(&keys, i64::MAX));
    }

    #[test]
    fn refuses_mismatched_output() {
        assert!(first_occurrences(&[1, 2], i64::MAX, &mut [0], &mut [false; 2]).is_err());
        assert!(first_occurrences(&[1, 2], i64::MAX, &mut [0; 2], &mut [false]).is_err());
    }

    proptest! {
        #[test]
        fn equals_a_hash_map_reference(keys in prop::collection::vec(-2i64..40, 0..3000)) {
            prop_assert!(run(&keys, 35) == reference(&keys, 35));
        }

        #[test]
        fn any_key_values(keys in prop::collection::vec(any::<i64>(), 0..500)) {
            let mut doubled = keys.clone();
            doubled.extend(keys.iter().rev());
            prop_assert!(run(&doubled, i64::MAX) == reference(&doubled, i64::MAX));
        }
    }
}
