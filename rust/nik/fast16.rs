//! The fast path for 16-character NIKs: decide in one pass, without branching on the data,
//! whether every rule plainly holds. `None` never means invalid, only "take the ordered
//! checks" ([`Rules::parse16`] does); those also handle what this path leaves out on purpose:
//! 29 February (its century rules) and retired Papua regencies.
//!
//! On x86-64 a NIK is exactly one SSE2 register, so the digit test, the digit pairs and most
//! range checks run on all sixteen characters at once; SSE2 is part of every x86-64 CPU, so no
//! run-time detection is needed. Elsewhere the SWAR version below does the same on two `u64`s.

use super::regions::PROVINCE_OK;
use super::{digit_pairs, NikFields, Rules};

/// Days per month for the fast path, indexed by `month & 15`: February stops at 28 so that a
/// 29 February always takes the careful path, and months 0 and 13-15 have no days at all.
const DAYS_IN_MONTH_FAST: [u8; 16] = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0, 0, 0];

impl Rules<'_> {
    /// Every rule of [`Rules::check`] on already split fields, as one branch-free expression.
    #[inline(always)]
    pub(super) fn plainly_valid(&self, f: &NikFields) -> bool {
        let day = f.birth_day();
        let region_ok = match self.regions {
            None => true,
            Some(set) => set.is_current(f.province, f.regency, f.district),
        };
        PROVINCE_OK[f.province as usize]
            & (f.regency != 0)
            & (f.district != 0)
            & ((f.day.wrapping_sub(1) < 31) | (f.day.wrapping_sub(41) < 31))
            & (f.month.wrapping_sub(1) < 12)
            & (day <= DAYS_IN_MONTH_FAST[(f.month & 15) as usize])
            & (f.serial != 0)
            & region_ok
    }

    /// The fast path on two `u64` words: portable, and the reference the SIMD path is tested
    /// against.
    #[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
    #[inline(always)]
    pub(super) fn parse16_fast_swar(&self, b: &[u8; 16]) -> Option<u64> {
        let lo = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
        if !(super::all_digits(lo) & super::all_digits(hi)) {
            return None;
        }
        let f = NikFields::from_digit_pairs(digit_pairs(lo), digit_pairs(hi));
        self.plainly_valid(&f).then(|| f.value())
    }

    #[inline(always)]
    pub(super) fn parse16_fast(&self, b: &[u8; 16]) -> Option<u64> {
        #[cfg(target_arch = "x86_64")]
        {
            self.parse16_fast_sse2(b)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self.parse16_fast_swar(b)
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) fn parse16_fast_sse2(&self, b: &[u8; 16]) -> Option<u64> {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86-64 baseline, and the load reads exactly the 16 bytes
        // of `b` (unaligned load, so no alignment requirement).
        unsafe {
            let d = _mm_sub_epi8(
                _mm_loadu_si128(b.as_ptr().cast()),
                _mm_set1_epi8(b'0' as i8),
            );
            // After subtracting '0', a digit is an unsigned byte of at most 9.
            let nine = _mm_set1_epi8(9);
            let digits = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine)) == 0xFFFF;
            // 16-bit lanes: first character (low byte) * 10 + second character.
            let pairs = _mm_add_epi16(
                _mm_mullo_epi16(_mm_and_si128(d, _mm_set1_epi16(0xFF)), _mm_set1_epi16(10)),
                _mm_srli_epi16::<8>(d),
            );
            // Lanes: PP KK CC DD MM YY S1 S2. Regency and kecamatan at least 1, day at most
            // 71, month 1-12; the finer rules follow on the extracted lanes.
            let low = _mm_setr_epi16(0, 1, 1, 1, 1, 0, 0, 0);
            let high = _mm_setr_epi16(99, 99, 99, 71, 12, 99, 99, 99);
            let out = _mm_or_si128(_mm_cmplt_epi16(pairs, low), _mm_cmpgt_epi16(pairs, high));
            let ranges = _mm_movemask_epi8(out) == 0;
            // Serial 0000: lanes S1 and S2 both zero (bits 12-15 of the byte mask).
            let zeros = _mm_movemask_epi8(_mm_cmpeq_epi16(pairs, _mm_setzero_si128()));
            let serial = zeros & 0xF000 != 0xF000;
            let province = _mm_extract_epi16::<0>(pairs) as u32;
            let day_field = _mm_extract_epi16::<3>(pairs) as u32;
            let month = _mm_extract_epi16::<4>(pairs) as u32;
            let day = if day_field > 40 {
                day_field - 40
            } else {
                day_field
            };
            let region_ok = match self.regions {
                None => true,
                Some(set) => set.is_current(
                    province as u8,
                    _mm_extract_epi16::<1>(pairs) as u8,
                    _mm_extract_epi16::<2>(pairs) as u8,
                ),
            };
            let ok = digits
                & ranges
                & serial
                & PROVINCE_OK[province as usize & 0xFF]
                & ((day_field <= 31) | (day_field >= 41))
                & (day <= DAYS_IN_MONTH_FAST[month as usize & 15] as u32)
                & region_ok;
            // Four-digit 32-bit lanes PPKK CCDD MMYY SSSS, then two eight-digit 64-bit lanes.
            let quads = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
            let halves = _mm_add_epi64(
                _mm_mul_epu32(quads, _mm_setr_epi32(10_000, 0, 10_000, 0)),
                _mm_srli_epi64::<32>(quads),
            );
            let high = _mm_cvtsi128_si64(halves) as u64;
            let low = _mm_cvtsi128_si64(_mm_unpackhi_epi64(halves, halves)) as u64;
            let value = high * 100_000_000 + low;
            ok.then_some(value)
        }
    }
}
