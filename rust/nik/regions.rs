//! Region codes a NIK can carry: the built-in province table, the regencies retired by the 2022
//! Papua split, and [`RegionSet`], the user's own Kemendagri table reduced to bitmaps.
//!
//! Province codes change rarely (the last change, in 2022, added 93-96), so they are built in.
//! Regency and kecamatan codes change every year or two; ektpcore never hard-codes them and
//! checks them only against a table the user loads at run time.

use crate::error::EktpError;

/// Indonesia's 38 provinces (Kepmendagri 300.2.2-2138/2025), by Kemendagri code.
pub const PROVINCES: [(u8, &str); 38] = [
    (11, "Aceh"),
    (12, "Sumatera Utara"),
    (13, "Sumatera Barat"),
    (14, "Riau"),
    (15, "Jambi"),
    (16, "Sumatera Selatan"),
    (17, "Bengkulu"),
    (18, "Lampung"),
    (19, "Kepulauan Bangka Belitung"),
    (21, "Kepulauan Riau"),
    (31, "DKI Jakarta"),
    (32, "Jawa Barat"),
    (33, "Jawa Tengah"),
    (34, "DI Yogyakarta"),
    (35, "Jawa Timur"),
    (36, "Banten"),
    (51, "Bali"),
    (52, "Nusa Tenggara Barat"),
    (53, "Nusa Tenggara Timur"),
    (61, "Kalimantan Barat"),
    (62, "Kalimantan Tengah"),
    (63, "Kalimantan Selatan"),
    (64, "Kalimantan Timur"),
    (65, "Kalimantan Utara"),
    (71, "Sulawesi Utara"),
    (72, "Sulawesi Tengah"),
    (73, "Sulawesi Selatan"),
    (74, "Sulawesi Tenggara"),
    (75, "Gorontalo"),
    (76, "Sulawesi Barat"),
    (81, "Maluku"),
    (82, "Maluku Utara"),
    (91, "Papua"),
    (92, "Papua Barat"),
    (93, "Papua Selatan"),
    (94, "Papua Tengah"),
    (95, "Papua Pegunungan"),
    (96, "Papua Barat Daya"),
];

/// `PROVINCE_OK[pp]` is true for the 38 province codes: one load in the hot loop. It has 256
/// entries so that any `u8` indexes it without a bounds check, garbage from non-digits included.
pub(crate) const PROVINCE_OK: [bool; 256] = {
    let mut ok = [false; 256];
    let mut i = 0;
    while i < PROVINCES.len() {
        ok[PROVINCES[i].0 as usize] = true;
        i += 1;
    }
    ok
};

/// Regencies of Papua (91) and Papua Barat (92) that the 2022 split moved to the new provinces
/// 93-96: `(old code, name, new code)`, codes as 4-digit `PPKK` numbers. A NIK never changes,
/// so NIKs first issued there still start with the old code, which no current table lists.
/// Most of their kecamatan were renumbered too, so only the regency part can be recognised.
pub const RETIRED_PAPUA_REGENCIES: [(u16, &str, u16); 26] = [
    (9101, "Merauke", 9301),
    (9102, "Jayawijaya", 9501),
    (9104, "Nabire", 9401),
    (9107, "Puncak Jaya", 9402),
    (9108, "Paniai", 9403),
    (9109, "Mimika", 9404),
    (9112, "Pegunungan Bintang", 9502),
    (9113, "Yahukimo", 9503),
    (9114, "Tolikara", 9504),
    (9116, "Boven Digoel", 9302),
    (9117, "Mappi", 9303),
    (9118, "Asmat", 9304),
    (9121, "Mamberamo Tengah", 9505),
    (9122, "Yalimo", 9506),
    (9123, "Lanny Jaya", 9507),
    (9124, "Nduga", 9508),
    (9125, "Puncak", 9405),
    (9126, "Dogiyai", 9406),
    (9127, "Intan Jaya", 9407),
    (9128, "Deiyai", 9408),
    (9201, "Sorong", 9601),
    (9204, "Sorong Selatan", 9602),
    (9205, "Raja Ampat", 9603),
    (9209, "Tambrauw", 9604),
    (9210, "Maybrat", 9605),
    (9271, "Kota Sorong", 9671),
];

/// The name of a province code, if it is one of the 38.
pub fn province_name(code: u8) -> Option<&'static str> {
    PROVINCES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// The retired-regency entry for a `PPKK` code, if the 2022 Papua split retired it.
pub fn retired_regency(code: u16) -> Option<(u16, &'static str, u16)> {
    RETIRED_PAPUA_REGENCIES
        .iter()
        .copied()
        .find(|(c, _, _)| *c == code)
}

/// How a NIK's region code matched a [`RegionSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionMatch {
    /// The province, regency and kecamatan are all in the table.
    Current,
    /// The regency is one the 2022 Papua split retired; the kecamatan cannot be checked.
    Historical,
    /// Not found; the position (0 province, 2 regency, 4 kecamatan) of the first level missing.
    Unknown(u8),
}

/// A region table (Kemendagri codes) reduced to bitmaps over every possible code, so that a
/// lookup in the bulk loop is one shift and one load. The district bitmap covers all 10^6
/// six-digit codes in 122 KiB.
#[derive(Clone, Debug)]
pub struct RegionSet {
    provinces: [bool; 100],
    regencies: Vec<u64>,
    districts: Vec<u64>,
    len: usize,
}

fn bit_get(bits: &[u64], i: u32) -> bool {
    bits[(i >> 6) as usize] >> (i & 63) & 1 == 1
}

fn bit_set(bits: &mut [u64], i: u32) {
    bits[(i >> 6) as usize] |= 1 << (i & 63);
}

impl RegionSet {
    /// Builds the set from codes given as plain digit strings without dots: 2 digits for a
    /// province, 4 for a regency, 6 for a kecamatan. Longer codes (villages) are ignored, since
    /// a NIK holds no village. A code implies its parents, so a table listing only kecamatan
    /// still knows their regencies and provinces.
    pub fn from_codes<'a, I>(codes: I) -> Result<Self, EktpError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut set = RegionSet {
            provinces: [false; 100],
            regencies: vec![0; 10_000usize.div_ceil(64)],
            districts: vec![0; 1_000_000usize.div_ceil(64)],
            len: 0,
        };
        for code in codes {
            if !code.bytes().all(|b| b.is_ascii_digit()) || code.is_empty() {
                return Err(EktpError::InvalidArgument(format!(
                    "region code {code:?} is not a string of digits"
                )));
            }
            let prefix = |n: usize| code[..n].parse::<u32>().expect("checked digits");
            match code.len() {
                2 => set.provinces[prefix(2) as usize] = true,
                4 => {
                    set.provinces[prefix(2) as usize] = true;
                    bit_set(&mut set.regencies, prefix(4));
                }
                6.. => {
                    set.provinces[prefix(2) as usize] = true;
                    bit_set(&mut set.regencies, prefix(4));
                    bit_set(&mut set.districts, prefix(6));
                }
                n => {
                    return Err(EktpError::InvalidArgument(format!(
                        "region code {code:?} has {n} digits; expected 2, 4, 6 or more"
                    )))
                }
            }
            set.len += 1;
        }
        Ok(set)
    }

    /// How many codes the set was built from.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when the kecamatan is in the table: the one bitmap load of the fast path.
    #[inline(always)]
    pub fn is_current(&self, province: u8, regency: u8, district: u8) -> bool {
        let code = province as u32 * 10_000 + regency as u32 * 100 + district as u32;
        bit_get(&self.districts, code)
    }

    /// Looks up a NIK's region fields.
    #[inline]
    pub fn lookup(&self, province: u8, regency: u8, district: u8) -> RegionMatch {
        let reg = province as u32 * 100 + regency as u32;
        if bit_get(&self.districts, reg * 100 + district as u32) {
            return RegionMatch::Current;
        }
        if matches!(province, 91 | 92) && retired_regency(reg as u16).is_some() {
            return RegionMatch::Historical;
        }
        if !self.provinces[province as usize] {
            RegionMatch::Unknown(0)
        } else if !bit_get(&self.regencies, reg) {
            RegionMatch::Unknown(2)
        } else {
            RegionMatch::Unknown(4)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_38_distinct_provinces() {
        assert_eq!(PROVINCE_OK.iter().filter(|ok| **ok).count(), 38);
        assert_eq!(province_name(32), Some("Jawa Barat"));
        assert_eq!(province_name(20), None);
    }

    #[test]
    fn retired_regencies_moved_to_new_papua_provinces() {
        for (old, _, new) in RETIRED_PAPUA_REGENCIES {
            assert!(matches!(old / 100, 91 | 92));
            assert!(matches!(new / 100, 93..=96));
        }
    }

    #[test]
    fn lookup_reports_first_missing_level() {
        let set = RegionSet::from_codes(["32", "3271", "327101", "3271011001"]).unwrap();
        assert_eq!(set.len(), 4);
        assert_eq!(set.lookup(32, 71, 1), RegionMatch::Current);
        assert_eq!(set.lookup(32, 71, 2), RegionMatch::Unknown(4));
        assert_eq!(set.lookup(32, 72, 1), RegionMatch::Unknown(2));
        assert_eq!(set.lookup(33, 71, 1), RegionMatch::Unknown(0));
        assert_eq!(set.lookup(91, 2, 3), RegionMatch::Historical);
        assert_eq!(set.lookup(91, 3, 3), RegionMatch::Unknown(0));
    }

    #[test]
    fn children_imply_parents() {
        let set = RegionSet::from_codes(["327101"]).unwrap();
        assert_eq!(set.lookup(32, 71, 1), RegionMatch::Current);
        assert_eq!(set.lookup(32, 71, 9), RegionMatch::Unknown(4));
    }

    #[test]
    fn malformed_codes_are_refused() {
        assert!(RegionSet::from_codes(["32.71"]).is_err());
        assert!(RegionSet::from_codes(["327"]).is_err());
        assert!(RegionSet::from_codes([""]).is_err());
    }
}
