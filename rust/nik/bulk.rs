//! Bulk NIK work: whole columns in, columns out. Every entry point takes plain slices (numpy
//! buffers borrowed by the binding layer, with the GIL released) and never fails on a bad
//! element: each element gets its own error code. Inputs past [`PARALLEL_MIN`] elements are
//! split into chunks that rayon spreads over the cores.

use rayon::prelude::*;

use super::{
    civil_from_unix_days, prepare_ucs4, prepare_utf8, unix_days, NikError, NikErrorKind, NikFields,
    Reference, Rules,
};
use crate::error::EktpError;

/// Below this many elements the work runs on the calling thread: spawning would cost more
/// than it saves.
pub const PARALLEL_MIN: usize = 1 << 16;
const CHUNK: usize = 1 << 14;

/// `datetime64[D]`'s "not a time" value.
pub const NAT: i64 = i64::MIN;

/// The columns of a bulk parse. `values[i]` is the NIK as an integer when `errors[i] == 0`
/// and -1 otherwise (no NIK is negative, and -1 cannot be mistaken for a real one).
/// `positions[i]` is the 0-based character position of the fault, or -1 when there is none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BulkResult {
    pub values: Vec<i64>,
    pub errors: Vec<u8>,
    pub positions: Vec<i8>,
}

impl BulkResult {
    /// Runs a bulk parse into freshly allocated columns of `n` elements.
    pub fn collect(n: usize, parse: impl FnOnce(BulkOut<'_>)) -> Self {
        let mut r = BulkResult {
            values: vec![0; n],
            errors: vec![0; n],
            positions: vec![0; n],
        };
        parse(BulkOut {
            values: &mut r.values,
            errors: &mut r.errors,
            positions: &mut r.positions,
        });
        r
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Output columns a bulk parse writes into, every element overwritten. The caller owns the
/// memory: the binding layer hands in numpy arrays, whose allocator asks for huge pages, so
/// the write does not stall on a page fault every 4 KiB.
pub struct BulkOut<'a> {
    pub values: &'a mut [i64],
    pub errors: &'a mut [u8],
    pub positions: &'a mut [i8],
}

impl BulkOut<'_> {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[inline(always)]
fn store(r: Result<u64, NikError>, v: &mut i64, e: &mut u8, p: &mut i8) {
    match r {
        Ok(x) => {
            *v = x as i64;
            *e = 0;
            *p = -1;
        }
        Err(err) => {
            *v = -1;
            *e = err.kind.code();
            *p = err.position.map_or(-1, |x| x as i8);
        }
    }
}

/// Splits `out` into chunks (in parallel when there are many elements) and lets
/// `fill(start, values, errors, positions)` write each chunk.
fn for_chunks<F>(out: BulkOut<'_>, fill: F)
where
    F: Fn(usize, &mut [i64], &mut [u8], &mut [i8]) + Sync,
{
    let n = out.len();
    assert!(
        out.errors.len() == n && out.positions.len() == n,
        "output columns differ in length"
    );
    if n < PARALLEL_MIN {
        fill(0, out.values, out.errors, out.positions);
    } else {
        out.values
            .par_chunks_mut(CHUNK)
            .zip(out.errors.par_chunks_mut(CHUNK))
            .zip(out.positions.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, ((v, e), p))| fill(c * CHUNK, v, e, p));
    }
}

/// Runs `parse(i)` for every index of `out`.
fn run<F>(out: BulkOut<'_>, parse: F)
where
    F: Fn(usize) -> Result<u64, NikError> + Sync,
{
    for_chunks(out, |start, v, e, p| {
        for (i, ((v, e), p)) in v.iter_mut().zip(e).zip(p).enumerate() {
            store(parse(start + i), v, e, p);
        }
    });
}

/// Runs `parse(item)` over a slice aligned with `out`: iterating the items directly lets the
/// compiler drop the per-element bounds checks that indexing costs in the hottest loops.
fn run_items<T, F>(items: &[T], out: BulkOut<'_>, parse: F)
where
    T: Sync,
    F: Fn(&T) -> Result<u64, NikError> + Sync,
{
    assert_eq!(items.len(), out.len(), "output length");
    for_chunks(out, |start, v, e, p| {
        let items = &items[start..start + v.len()];
        for (((x, v), e), p) in items.iter().zip(v).zip(e).zip(p) {
            store(parse(x), v, e, p);
        }
    });
}

/// How many elements a fixed-width buffer holds.
pub fn fixed_width_len(buf_len: usize, width: usize) -> usize {
    buf_len.checked_div(width).unwrap_or(0)
}

/// Parses a buffer of fixed-width byte strings (numpy `S{width}`), one byte per character.
/// Trailing NUL bytes are padding, as numpy reads them.
/// `out` must hold [`fixed_width_len`] elements.
pub fn parse_fixed_bytes(buf: &[u8], width: usize, rules: &Rules<'_>, out: BulkOut<'_>) {
    assert_eq!(
        out.len(),
        fixed_width_len(buf.len(), width),
        "output length"
    );
    if width == 16 {
        // numpy's `S16`, the common case: one 16-byte array per element.
        let (items, _) = buf.as_chunks::<16>();
        return run_items(items, out, |b| {
            if b[15] == 0 {
                return Err(NikError::bare(NikErrorKind::Length));
            }
            rules.parse16(b)
        });
    }
    run(out, |i| {
        let s = &buf[i * width..(i + 1) * width];
        // The element is 16 characters exactly when byte 15 is not padding and every byte
        // after it is.
        if width < 16 || s[15] == 0 || s[16..].iter().any(|&b| b != 0) {
            return Err(NikError::bare(NikErrorKind::Length));
        }
        rules.parse16(s[..16].try_into().expect("16 bytes"))
    })
}

/// Parses a buffer of fixed-width UCS-4 strings (numpy `U{width}`), trailing NULs as padding.
pub fn parse_fixed_ucs4(buf: &[u32], width: usize, rules: &Rules<'_>, out: BulkOut<'_>) {
    assert_eq!(
        out.len(),
        fixed_width_len(buf.len(), width),
        "output length"
    );
    run(out, |i| {
        let s = &buf[i * width..(i + 1) * width];
        let len = s.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
        rules.parse16(&prepare_ucs4(&s[..len])?)
    })
}

/// Checks NIKs held as integers.
pub fn parse_ints(values: &[i64], rules: &Rules<'_>, out: BulkOut<'_>) {
    run_items(values, out, |&v| rules.parse_int(v))
}

/// An element reduced to 16 one-byte characters while Python objects could still be read, or
/// the element's error. Lists of `str` are copied into these under the GIL, then checked
/// without it.
pub type Prepared = Result<[u8; 16], NikError>;

/// Checks elements prepared by [`super::prepare_utf8`] or the binding layer.
pub fn parse_prepared(items: &[Prepared], rules: &Rules<'_>, out: BulkOut<'_>) {
    run_items(items, out, |item| item.and_then(|b| rules.parse16(&b)))
}

/// Parses an Arrow-style UTF-8 column: `offsets` (n + 1 of them) into `data`, with an optional
/// validity mask (false = null). Offsets that run backwards or past the data are an unusable
/// argument, reported before any element is read. `out` holds `offsets.len() - 1` elements.
pub fn parse_utf8_offsets<O>(
    offsets: &[O],
    data: &[u8],
    valid: Option<&[bool]>,
    rules: &Rules<'_>,
    out: BulkOut<'_>,
) -> Result<(), EktpError>
where
    O: Copy + Into<i64> + Sync,
{
    let n = offsets.len().saturating_sub(1);
    assert_eq!(out.len(), n, "output length");
    if let Some(v) = valid {
        if v.len() != n {
            return Err(EktpError::InvalidArgument(format!(
                "validity mask has {} entries for {n} strings",
                v.len()
            )));
        }
    }
    let ok = offsets
        .windows(2)
        .all(|w| 0 <= w[0].into() && w[0].into() <= w[1].into())
        && offsets
            .last()
            .is_none_or(|&o| o.into() <= data.len() as i64);
    if !ok {
        return Err(EktpError::InvalidArgument(
            "string offsets are not ascending within the data buffer".into(),
        ));
    }
    run(out, |i| {
        if valid.is_some_and(|v| !v[i]) {
            return Err(NikError::bare(NikErrorKind::Missing));
        }
        let s = &data[offsets[i].into() as usize..offsets[i + 1].into() as usize];
        rules.parse16(&prepare_utf8(s)?)
    });
    Ok(())
}

/// The decomposition columns of NIKs given as integers. Elements that are not valid NIKs
/// (such as the -1 of a failed parse) get zeros and `NAT`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decomposed {
    pub province: Vec<u8>,
    pub regency: Vec<u8>,
    pub district: Vec<u8>,
    /// ISO/IEC 5218: 1 male, 2 female, 0 unknown.
    pub sex: Vec<u8>,
    /// Days since 1970-01-01, or [`NAT`].
    pub birth_date: Vec<i64>,
}

fn fields_of(v: i64) -> Option<NikFields> {
    Rules::default()
        .parse_int(v)
        .ok()
        .map(NikFields::from_value)
}

/// Splits valid NIKs into their fields; the birth year's century is resolved against
/// `reference`. A 29 February whose resolved year is not a leap year gets `NAT`.
pub fn decompose(values: &[i64], reference: Reference) -> Decomposed {
    let column = |f: &(dyn Fn(&NikFields) -> u8 + Sync)| -> Vec<u8> {
        values
            .par_iter()
            .with_min_len(CHUNK)
            .map(|&v| fields_of(v).map_or(0, |x| f(&x)))
            .collect()
    };
    Decomposed {
        province: column(&|f| f.province),
        regency: column(&|f| f.regency),
        district: column(&|f| f.district),
        sex: column(&|f| f.sex() as u8),
        birth_date: values
            .par_iter()
            .with_min_len(CHUNK)
            .map(|&v| {
                fields_of(v)
                    .and_then(|f| {
                        let year = reference.resolve_year(f.year, f.month, f.birth_day());
                        unix_days(year, f.month, f.birth_day())
                    })
                    .unwrap_or(NAT)
            })
            .collect(),
    }
}

/// Bit flags of a NIK cross-check against a record's own birth date and sex. A mismatch is a
/// warning, not an error: a corrected birth date keeps its original NIK.
pub struct Mismatch;

impl Mismatch {
    pub const BIRTH_DAY: u8 = 1;
    pub const BIRTH_MONTH: u8 = 2;
    pub const BIRTH_YEAR: u8 = 4;
    pub const SEX: u8 = 8;
    /// The NIK itself is not valid, so nothing was compared.
    pub const NIK_INVALID: u8 = 128;
}

/// Compares each NIK with the record's birth date (days since 1970-01-01, [`NAT`] when
/// unknown) and sex (ISO/IEC 5218, 0 when unknown). The year is compared on its last two
/// digits, all a NIK holds.
pub fn crosscheck(values: &[i64], birth_dates: &[i64], sexes: &[u8]) -> Result<Vec<u8>, EktpError> {
    if birth_dates.len() != values.len() || sexes.len() != values.len() {
        return Err(EktpError::InvalidArgument(format!(
            "columns differ in length: {} NIKs, {} birth dates, {} sexes",
            values.len(),
            birth_dates.len(),
            sexes.len()
        )));
    }
    Ok((0..values.len())
        .into_par_iter()
        .with_min_len(CHUNK)
        .map(|i| {
            let Some(f) = fields_of(values[i]) else {
                return Mismatch::NIK_INVALID;
            };
            let mut flags = 0;
            if let Some((y, m, d)) = (birth_dates[i] != NAT)
                .then(|| civil_from_unix_days(birth_dates[i]))
                .flatten()
            {
                if d != f.birth_day() {
                    flags |= Mismatch::BIRTH_DAY;
                }
                if m != f.month {
                    flags |= Mismatch::BIRTH_MONTH;
                }
                if y.rem_euclid(100) as u8 != f.year {
                    flags |= Mismatch::BIRTH_YEAR;
                }
            }
            if sexes[i] != 0 && sexes[i] != f.sex() as u8 {
                flags |= Mismatch::SEX;
            }
            flags
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(buf: &[u8], width: usize) -> BulkResult {
        let n = fixed_width_len(buf.len(), width);
        BulkResult::collect(n, |o| parse_fixed_bytes(buf, width, &Rules::default(), o))
    }

    fn ints(values: &[i64]) -> BulkResult {
        BulkResult::collect(values.len(), |o| parse_ints(values, &Rules::default(), o))
    }

    fn utf8<O: Copy + Into<i64> + Sync>(
        offsets: &[O],
        data: &[u8],
        valid: Option<&[bool]>,
    ) -> Result<BulkResult, EktpError> {
        let mut result = Ok(());
        let r = BulkResult::collect(offsets.len().saturating_sub(1), |o| {
            result = parse_utf8_offsets(offsets, data, valid, &Rules::default(), o)
        });
        result.map(|()| r)
    }

    fn s16(items: &[&str]) -> Vec<u8> {
        items
            .iter()
            .flat_map(|s| {
                let mut b = s.as_bytes().to_vec();
                b.resize(16, 0);
                b
            })
            .collect()
    }

    #[test]
    fn fixed_bytes_reports_per_element() {
        let buf = s16(&["3271014508990001", "327101450899", "32710145089900x1"]);
        let r = bytes(&buf, 16);
        assert_eq!(r.values, vec![3271014508990001, -1, -1]);
        assert_eq!(
            r.errors,
            vec![0, NikErrorKind::Length as u8, NikErrorKind::NonDigit as u8]
        );
        assert_eq!(r.positions, vec![-1, -1, 14]);
    }

    #[test]
    fn wider_and_narrower_byte_strings() {
        let mut buf = b"3271014508990001".to_vec();
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(b"327101450899000123");
        let r = bytes(&buf, 18);
        assert_eq!(r.errors, vec![0, NikErrorKind::Length as u8]);
        let r = bytes(b"3271014508", 10);
        assert_eq!(r.errors, vec![NikErrorKind::Length as u8]);
        assert!(bytes(b"", 0).is_empty());
        assert!(bytes(b"123", 0).is_empty());
    }

    #[test]
    fn ucs4_counts_code_points() {
        let mut buf: Vec<u32> = "3271014508990001".chars().map(|c| c as u32).collect();
        let mut wide: Vec<u32> = "327101450899000".chars().map(|c| c as u32).collect();
        wide.push(0xFF11); // full-width 1
        buf.extend(wide);
        let r = BulkResult::collect(2, |o| parse_fixed_ucs4(&buf, 16, &Rules::default(), o));
        assert_eq!(r.errors, vec![0, NikErrorKind::NonDigit as u8]);
        assert_eq!(r.positions[1], 15);
    }

    #[test]
    fn utf8_offsets_with_nulls_and_bad_offsets() {
        let data = "3271014508990001٣271014508990001".as_bytes();
        let offsets: Vec<i32> = vec![0, 16, 16, data.len() as i32];
        let valid = [true, false, true];
        let r = utf8(&offsets, data, Some(&valid)).unwrap();
        assert_eq!(
            r.errors,
            vec![0, NikErrorKind::Missing as u8, NikErrorKind::NonDigit as u8]
        );
        assert_eq!(r.positions, vec![-1, -1, 0]);
        assert!(utf8(&[0i64, 40], data, None).is_err());
        assert!(utf8(&[5i64, 2], data, None).is_err());
        assert!(utf8(&[0i32, 16], data, Some(&[])).is_err());
    }

    #[test]
    fn parallel_and_serial_paths_agree() {
        let n = PARALLEL_MIN + 123;
        let values: Vec<i64> = (0..n as i64)
            .map(|i| 3_271_014_508_990_001 + i * 7_919_000_001)
            .collect();
        let par = ints(&values);
        for (i, &v) in values.iter().enumerate() {
            let mut one = ints(&[v]);
            assert_eq!(
                (one.values.pop(), one.errors.pop(), one.positions.pop()),
                (
                    Some(par.values[i]),
                    Some(par.errors[i]),
                    Some(par.positions[i])
                )
            );
        }
    }

    #[test]
    fn decompose_and_crosscheck() {
        let reference = Reference::from_unix_days(unix_days(2026, 11, 28).unwrap()).unwrap();
        let d = decompose(&[3271014508990001, -1, 3271010102000001], reference);
        assert_eq!(d.province, vec![32, 0, 32]);
        assert_eq!(d.regency, vec![71, 0, 71]);
        assert_eq!(d.district, vec![1, 0, 1]);
        assert_eq!(d.sex, vec![2, 0, 1]);
        assert_eq!(d.birth_date[0], unix_days(1999, 8, 5).unwrap());
        assert_eq!(d.birth_date[1], NAT);
        assert_eq!(d.birth_date[2], unix_days(2000, 2, 1).unwrap());

        let flags = crosscheck(
            &[3271014508990001, 3271014508990001, 3271014508990001, -1],
            &[
                unix_days(1999, 8, 5).unwrap(),
                unix_days(1998, 9, 5).unwrap(),
                NAT,
                NAT,
            ],
            &[2, 1, 0, 0],
        )
        .unwrap();
        assert_eq!(
            flags,
            vec![
                0,
                Mismatch::BIRTH_MONTH | Mismatch::BIRTH_YEAR | Mismatch::SEX,
                0,
                128
            ]
        );
        assert!(crosscheck(&[1], &[], &[]).is_err());
    }
}
