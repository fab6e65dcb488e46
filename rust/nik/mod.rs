//! The NIK (Nomor Induk Kependudukan), Indonesia's 16-digit personal number:
//!
//! ```text
//! PP KK CC DD MM YY SSSS
//! |  |  |  |  |  |  '- serial, 0001-9999
//! |  |  |  |  |  '---- year of birth, last two digits (no century)
//! |  |  |  |  '------- month of birth
//! |  |  |  '---------- day of birth; women have 40 added (41-71)
//! |  |  '------------- kecamatan (district) where the NIK was first issued
//! |  '---------------- kabupaten (01-69) or kota (71-99)
//! '------------------- province
//! ```
//!
//! There is no check digit, so validation is a set of field rules, each with its own
//! [`NikErrorKind`]. The rules run in a fixed order and the first failure is reported; that
//! order is what makes a single-fault input yield exactly its own reason.

mod bulk;
mod fast16;
mod regions;

pub use bulk::{
    crosscheck, decompose, fixed_width_len, parse_fixed_bytes, parse_fixed_ucs4, parse_ints,
    parse_prepared, parse_utf8_offsets, BulkOut, BulkResult, Decomposed, Mismatch, Prepared, NAT,
};
pub use regions::{
    province_name, retired_regency, RegionMatch, RegionSet, PROVINCES, RETIRED_PAPUA_REGENCIES,
};

use chrono::{Datelike, NaiveDate};

/// Why a NIK was rejected. The discriminants are stable codes: they cross into Python as the
/// `uint8` error column of a bulk parse, and 0 there means valid.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NikErrorKind {
    Missing = 1,
    NotText = 2,
    Length = 3,
    NonDigit = 4,
    Province = 5,
    RegencyZero = 6,
    DistrictZero = 7,
    RegionUnknown = 8,
    Day = 9,
    Month = 10,
    Date = 11,
    SerialZero = 12,
}

impl NikErrorKind {
    pub const ALL: [NikErrorKind; 12] = [
        NikErrorKind::Missing,
        NikErrorKind::NotText,
        NikErrorKind::Length,
        NikErrorKind::NonDigit,
        NikErrorKind::Province,
        NikErrorKind::RegencyZero,
        NikErrorKind::DistrictZero,
        NikErrorKind::RegionUnknown,
        NikErrorKind::Day,
        NikErrorKind::Month,
        NikErrorKind::Date,
        NikErrorKind::SerialZero,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.code() == code)
    }

    /// A short machine-readable name, the same as the Python `NikErrorCode` member in lower case.
    pub fn name(self) -> &'static str {
        match self {
            NikErrorKind::Missing => "missing",
            NikErrorKind::NotText => "not_text",
            NikErrorKind::Length => "length",
            NikErrorKind::NonDigit => "non_digit",
            NikErrorKind::Province => "province",
            NikErrorKind::RegencyZero => "regency_zero",
            NikErrorKind::DistrictZero => "district_zero",
            NikErrorKind::RegionUnknown => "region_unknown",
            NikErrorKind::Day => "day",
            NikErrorKind::Month => "month",
            NikErrorKind::Date => "date",
            NikErrorKind::SerialZero => "serial_zero",
        }
    }

    /// A sentence for people. It never quotes the offending digits: those are personal data.
    pub fn message(self) -> &'static str {
        match self {
            NikErrorKind::Missing => "no value (None or null)",
            NikErrorKind::NotText => "not a string or an integer",
            NikErrorKind::Length => "not exactly 16 characters",
            NikErrorKind::NonDigit => "a character is not an ASCII digit 0-9",
            NikErrorKind::Province => "province code is not one of Indonesia's 38 provinces",
            NikErrorKind::RegencyZero => "regency (kabupaten/kota) code is 00",
            NikErrorKind::DistrictZero => "district (kecamatan) code is 00",
            NikErrorKind::RegionUnknown => "region code is not in the region table",
            NikErrorKind::Day => "day of birth is outside 01-31 (men) and 41-71 (women)",
            NikErrorKind::Month => "month of birth is outside 01-12",
            NikErrorKind::Date => "date of birth does not exist",
            NikErrorKind::SerialZero => "serial number is 0000",
        }
    }
}

/// A rejected NIK: the reason and, where the reason points at one, the 0-based character
/// position of the offending field or character.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NikError {
    pub kind: NikErrorKind,
    pub position: Option<u8>,
}

impl NikError {
    const fn at(kind: NikErrorKind, position: u8) -> Self {
        NikError {
            kind,
            position: Some(position),
        }
    }
    const fn bare(kind: NikErrorKind) -> Self {
        NikError {
            kind,
            position: None,
        }
    }
}

/// Sex as ISO/IEC 5218 codes (1 male, 2 female), the codes the bulk `sex` column uses.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sex {
    Male = 1,
    Female = 2,
}

/// The seven numeric fields of a 16-digit NIK. `day` is the raw field, 41-71 for women.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NikFields {
    pub province: u8,
    pub regency: u8,
    pub district: u8,
    pub day: u8,
    pub month: u8,
    pub year: u8,
    pub serial: u16,
}

/// The largest 16-digit number plus one; every NIK is below it (and below 2^63, so an `i64`
/// holds any NIK exactly, where a `f64` would not above 2^53).
pub const NIK_LIMIT: u64 = 10_000_000_000_000_000;

impl NikFields {
    /// Splits a number below [`NIK_LIMIT`] into its fields, as if written with 16 digits.
    #[inline(always)]
    pub fn from_value(v: u64) -> Self {
        debug_assert!(v < NIK_LIMIT);
        let hi = v / 100_000_000; // PPKKCCDD
        let lo = v % 100_000_000; // MMYYSSSS
        NikFields {
            province: (hi / 1_000_000) as u8,
            regency: (hi / 10_000 % 100) as u8,
            district: (hi / 100 % 100) as u8,
            day: (hi % 100) as u8,
            month: (lo / 1_000_000) as u8,
            year: (lo / 10_000 % 100) as u8,
            serial: (lo % 10_000) as u16,
        }
    }

    /// From the two words of [`digit_pairs`]: lanes PP KK CC DD and MM YY S1 S2.
    #[inline(always)]
    fn from_digit_pairs(a: u64, c: u64) -> Self {
        NikFields {
            province: a as u8,
            regency: (a >> 16) as u8,
            district: (a >> 32) as u8,
            day: (a >> 48) as u8,
            month: c as u8,
            year: (c >> 16) as u8,
            serial: ((c >> 32) as u8) as u16 * 100 + ((c >> 48) as u8) as u16,
        }
    }

    #[inline(always)]
    pub fn value(&self) -> u64 {
        let hi = self.province as u64 * 1_000_000
            + self.regency as u64 * 10_000
            + self.district as u64 * 100
            + self.day as u64;
        let lo = self.month as u64 * 1_000_000 + self.year as u64 * 10_000 + self.serial as u64;
        hi * 100_000_000 + lo
    }

    /// `PPKKCC` as a number.
    pub fn region_code(&self) -> u32 {
        self.province as u32 * 10_000 + self.regency as u32 * 100 + self.district as u32
    }

    /// Female when the day field carries the +40 offset. Only meaningful on a valid NIK.
    pub fn sex(&self) -> Sex {
        if self.day > 40 {
            Sex::Female
        } else {
            Sex::Male
        }
    }

    /// The calendar day of birth, with the +40 offset for women removed.
    pub fn birth_day(&self) -> u8 {
        if self.day > 40 {
            self.day - 40
        } else {
            self.day
        }
    }
}

/// The date a two-digit birth year is resolved against: the birth year is the latest year
/// ending in those digits whose birthday is not after the reference date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reference {
    year: i32,
    month: u8,
    day: u8,
}

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01, numpy's `datetime64[D]` epoch.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

impl Reference {
    pub fn from_date(date: NaiveDate) -> Self {
        Reference {
            year: date.year(),
            month: date.month() as u8,
            day: date.day() as u8,
        }
    }

    /// From days since 1970-01-01, the unit of `datetime64[D]`.
    pub fn from_unix_days(days: i64) -> Option<Self> {
        let ce = i32::try_from(days).ok()?.checked_add(UNIX_EPOCH_CE_DAYS)?;
        NaiveDate::from_num_days_from_ce_opt(ce).map(Self::from_date)
    }

    /// The full year of birth for a two-digit year and a (month, day) birthday.
    #[inline]
    pub fn resolve_year(&self, yy: u8, month: u8, day: u8) -> i32 {
        let mut year = self.year - self.year.rem_euclid(100) + yy as i32;
        if year > self.year || (year == self.year && (month, day) > (self.month, self.day)) {
            year -= 100;
        }
        year
    }
}

/// Days since 1970-01-01 of a calendar date, or `None` when it does not exist.
pub fn unix_days(year: i32, month: u8, day: u8) -> Option<i64> {
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
        .map(|d| (d.num_days_from_ce() - UNIX_EPOCH_CE_DAYS) as i64)
}

/// The calendar from the Unix day number back to (year, month, day).
pub fn civil_from_unix_days(days: i64) -> Option<(i32, u8, u8)> {
    let ce = i32::try_from(days).ok()?.checked_add(UNIX_EPOCH_CE_DAYS)?;
    NaiveDate::from_num_days_from_ce_opt(ce).map(|d| (d.year(), d.month() as u8, d.day() as u8))
}

const fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

const DAYS_IN_MONTH: [u8; 13] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// What a NIK is checked against beyond its own syntax.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rules<'a> {
    /// When set, the century of the birth year is resolved against it and 29 February must
    /// fall in a leap year of that century. When unset, 29 February is accepted when either
    /// candidate year (19YY or 20YY) is a leap year: only YY = 00 tells them apart.
    pub reference: Option<Reference>,
    /// When set, the region code must be in this table (or be a retired Papua regency).
    pub regions: Option<&'a RegionSet>,
}

impl Rules<'_> {
    /// Checks the fields of a 16-digit number.
    #[inline(always)]
    pub fn check(&self, f: &NikFields) -> Result<(), NikError> {
        if self.plainly_valid(f) {
            Ok(())
        } else {
            self.check_in_order(*f)
        }
    }

    /// Every rule in position order; the first one broken is the reason.
    // Taken by value and never inlined: the hot loop then keeps the fields in registers
    // instead of spilling them to the stack for a call it almost never makes.
    #[cold]
    #[inline(never)]
    fn check_in_order(&self, f: NikFields) -> Result<(), NikError> {
        use NikErrorKind as K;
        if !regions::PROVINCE_OK[f.province as usize] {
            return Err(NikError::at(K::Province, 0));
        }
        if f.regency == 0 {
            return Err(NikError::at(K::RegencyZero, 2));
        }
        if f.district == 0 {
            return Err(NikError::at(K::DistrictZero, 4));
        }
        if let Some(set) = self.regions {
            if let RegionMatch::Unknown(pos) = set.lookup(f.province, f.regency, f.district) {
                return Err(NikError::at(K::RegionUnknown, pos));
            }
        }
        if !matches!(f.day, 1..=31 | 41..=71) {
            return Err(NikError::at(K::Day, 6));
        }
        if !matches!(f.month, 1..=12) {
            return Err(NikError::at(K::Month, 8));
        }
        let day = f.birth_day();
        if day > DAYS_IN_MONTH[f.month as usize] {
            return Err(NikError::at(K::Date, 6));
        }
        if f.month == 2 && day == 29 {
            let leap = match self.reference {
                Some(r) => is_leap(r.resolve_year(f.year, 2, 29)),
                // 19YY and 20YY agree on leap years except for YY = 00 (1900 no, 2000 yes),
                // and either is enough when the century is unknown.
                None => f.year.is_multiple_of(4),
            };
            if !leap {
                return Err(NikError::at(K::Date, 6));
            }
        }
        if f.serial == 0 {
            return Err(NikError::at(K::SerialZero, 12));
        }
        Ok(())
    }

    /// Parses exactly 16 bytes, each one character (bytes >= 0x80 stand for non-ASCII
    /// characters and fail as non-digits).
    #[inline(always)]
    pub fn parse16(&self, b: &[u8; 16]) -> Result<u64, NikError> {
        match self.parse16_fast(b) {
            Some(value) => Ok(value),
            None => self.parse16_in_order(b),
        }
    }

    /// [`Self::parse16`] by the ordered checks alone: what decides every element the fast path
    /// does not vouch for, and the reason when it is invalid.
    #[cold]
    #[inline(never)]
    fn parse16_in_order(&self, b: &[u8; 16]) -> Result<u64, NikError> {
        let lo = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
        if !(all_digits(lo) && all_digits(hi)) {
            let pos = b
                .iter()
                .position(|c| !c.is_ascii_digit())
                .expect("a non-digit exists");
            return Err(NikError::at(NikErrorKind::NonDigit, pos as u8));
        }
        let f = NikFields::from_digit_pairs(digit_pairs(lo), digit_pairs(hi));
        self.check_in_order(f)?;
        Ok(f.value())
    }

    /// Parses text given as UTF-8, counting characters (not bytes) for the length rule, so a
    /// full-width or Arabic-Indic digit is one non-digit character.
    pub fn parse_utf8(&self, s: &[u8]) -> Result<u64, NikError> {
        self.parse16(&prepare_utf8(s)?)
    }

    /// Parses text in which every byte is one character (numpy `S` arrays, Python `bytes`).
    pub fn parse_bytes(&self, s: &[u8]) -> Result<u64, NikError> {
        let b: &[u8; 16] = s
            .try_into()
            .map_err(|_| NikError::bare(NikErrorKind::Length))?;
        self.parse16(b)
    }

    /// Checks a NIK held as an integer, read as 16 digits with leading zeros. A negative number
    /// fails on its sign; one with more than 16 digits on length.
    #[inline(always)]
    pub fn parse_int(&self, v: i64) -> Result<u64, NikError> {
        if v < 0 {
            return Err(NikError::at(NikErrorKind::NonDigit, 0));
        }
        let v = v as u64;
        if v >= NIK_LIMIT {
            return Err(NikError::bare(NikErrorKind::Length));
        }
        self.check(&NikFields::from_value(v))?;
        Ok(v)
    }
}

/// True when all eight bytes are ASCII digits '0'..='9'.
#[inline(always)]
fn all_digits(x: u64) -> bool {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    // High nibble 3 gives 0x30..=0x3F; adding 6 carries 0x3A..=0x3F into nibble 4 and never
    // across a byte, so both tests pass only for 0x30..=0x39.
    x & HIGH == THREES && (x.wrapping_add(0x0606_0606_0606_0606) & HIGH) == THREES
}

/// Eight ASCII digits (little-endian, first character in the low byte) to four two-digit
/// numbers, one in the low byte of each 16-bit lane.
#[inline(always)]
fn digit_pairs(x: u64) -> u64 {
    let d = x.wrapping_sub(0x3030_3030_3030_3030);
    (d.wrapping_mul(10) + (d >> 8)) & 0x00FF_00FF_00FF_00FF
}

/// Reduces UTF-8 text to 16 one-byte characters, or fails on length. Every non-ASCII
/// character becomes 0xFF, which then fails the digit test at its character position.
#[inline]
pub fn prepare_utf8(s: &[u8]) -> Result<[u8; 16], NikError> {
    if let Ok(b) = <[u8; 16]>::try_from(s) {
        if b.is_ascii() {
            return Ok(b);
        }
    }
    let mut out = [0u8; 16];
    let mut n = 0usize;
    for &c in s {
        if c & 0xC0 == 0x80 {
            continue; // continuation byte of a multi-byte character
        }
        if n == 16 {
            return Err(NikError::bare(NikErrorKind::Length));
        }
        out[n] = if c < 0x80 { c } else { 0xFF };
        n += 1;
    }
    if n != 16 {
        return Err(NikError::bare(NikErrorKind::Length));
    }
    Ok(out)
}

/// Reduces an integer to the 16 characters it stands for (leading zeros included), or fails
/// the way [`Rules::parse_int`] does: a negative number on its sign, a longer one on length.
pub fn prepare_int(v: i64) -> Result<[u8; 16], NikError> {
    if v < 0 {
        return Err(NikError::at(NikErrorKind::NonDigit, 0));
    }
    if v as u64 >= NIK_LIMIT {
        return Err(NikError::bare(NikErrorKind::Length));
    }
    let mut out = [b'0'; 16];
    let mut x = v as u64;
    for o in out.iter_mut().rev() {
        *o = b'0' + (x % 10) as u8;
        x /= 10;
    }
    Ok(out)
}

/// Reduces 16 Unicode code points (numpy `U` arrays) the same way as [`prepare_utf8`].
#[inline]
pub fn prepare_ucs4(s: &[u32]) -> Result<[u8; 16], NikError> {
    if s.len() != 16 {
        return Err(NikError::bare(NikErrorKind::Length));
    }
    let mut out = [0u8; 16];
    for (o, &c) in out.iter_mut().zip(s) {
        *o = if c < 0x80 { c as u8 } else { 0xFF };
    }
    Ok(out)
}

/// Hides the birth date and serial: the first four and last two characters stay, the rest
/// become `*` (`3271**********01`). Inputs shorter than eight characters are hidden entirely,
/// since there is no middle to keep apart from the ends.
pub fn mask(text: &str) -> String {
    let n = text.chars().count();
    if n < 8 {
        return "*".repeat(n);
    }
    text.chars()
        .enumerate()
        .map(|(i, c)| if i < 4 || i >= n - 2 { c } else { '*' })
        .collect()
}

/// Builds a NIK from its parts (the inverse of decomposition) and validates the result.
pub fn compose(
    region_code: u32,
    year: i32,
    month: u8,
    day: u8,
    sex: Sex,
    serial: u16,
) -> Result<u64, NikError> {
    if region_code >= 1_000_000 {
        return Err(NikError::bare(NikErrorKind::Length));
    }
    if serial > 9999 {
        return Err(NikError::bare(NikErrorKind::Length));
    }
    if unix_days(year, month, day).is_none() {
        return Err(NikError::at(NikErrorKind::Date, 6));
    }
    let f = NikFields {
        province: (region_code / 10_000) as u8,
        regency: (region_code / 100 % 100) as u8,
        district: (region_code % 100) as u8,
        day: day + if sex == Sex::Female { 40 } else { 0 },
        month,
        year: year.rem_euclid(100) as u8,
        serial,
    };
    // With the full year known, 29 February is checked against that very year.
    let rules = Rules {
        reference: Some(Reference {
            year,
            month: 12,
            day: 31,
        }),
        regions: None,
    };
    rules.check(&f)?;
    Ok(f.value())
}

#[cfg(test)]
mod tests;
