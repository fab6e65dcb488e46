//! Rows of a ledger table as the store hands them over to be checked, and the canonical bytes a
//! history row is chained over.
//!
//! A store returns a whole range of rows as one value, every column cast to text: SQLite as one
//! JSON array of arrays of text or null (`json_group_array`, [`Rows::parse`]), PostgreSQL as
//! its row constructors' text, one row a line (`string_agg` of `ROW(...)`,
//! [`Rows::parse_tuples`]), which the server writes in half the time of the same rows as JSON.
//! Either is read in one pass into one text buffer, so a million rows never become a million
//! interpreter objects, and both stores give the same cells.
//!
//! [`encode`] is the payload of a history row from schema 13 on: the field count, then every
//! field as `0x00` (NULL) or `0x01`, its byte length (u32, big-endian) and its UTF-8 text.
//! No field's text can move into the next and NULL is not the empty text, which the first
//! format ([`encode_legacy`]: the fields joined with `0x1f`, NULL as empty) could not promise;
//! rows written in that format keep it (see `ektpcore.ledger.chain`).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::EktpError;

/// A multiply-rotate hasher (FxHash's) for the replay's integer keys and short texts: the
/// keys come from the ledger's own rows, and SipHash's defence against chosen keys costs a
/// third of a replay over a million rows.
#[derive(Clone, Copy, Default)]
pub struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.write_u64(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(SEED);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
pub type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

const NULL: u32 = u32::MAX;

/// Parsed rows: `width` cells a row, each a byte range of `text` or SQL NULL.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    width: usize,
    cells: Vec<(u32, u32)>,
    text: Vec<u8>,
}

fn bad(what: &str, at: usize) -> EktpError {
    EktpError::InvalidArgument(format!("ledger rows: {what} at byte {at}"))
}

struct Parser<'a> {
    json: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.json.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.json.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), EktpError> {
        if self.peek() != Some(byte) {
            return Err(bad(&format!("expected '{}'", byte as char), self.at));
        }
        self.at += 1;
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, EktpError> {
        let digits = self
            .json
            .get(self.at..self.at + 4)
            .ok_or_else(|| bad("a cut \\u escape", self.at))?;
        let text = std::str::from_utf8(digits).map_err(|_| bad("a bad \\u escape", self.at))?;
        let value = u32::from_str_radix(text, 16).map_err(|_| bad("a bad \\u escape", self.at))?;
        self.at += 4;
        Ok(value)
    }

    /// A JSON string's bytes, unescaped, appended to `out` (text is copied byte for byte: a
    /// damaged database may hold bytes that are not UTF-8, and they must reach the hash as they
    /// are).
    fn string(&mut self, out: &mut Vec<u8>) -> Result<(), EktpError> {
        self.at += 1; // the opening quote
        loop {
            let rest = &self.json[self.at..];
            let stop = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\')
                .ok_or_else(|| bad("an unterminated string", self.at))?;
            out.extend_from_slice(&rest[..stop]);
            self.at += stop + 1;
            if rest[stop] == b'"' {
                return Ok(());
            }
            let escape = *self
                .json
                .get(self.at)
                .ok_or_else(|| bad("a cut escape", self.at))?;
            self.at += 1;
            let plain = match escape {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    let mut code = self.hex4()?;
                    if (0xD800..0xDC00).contains(&code)
                        && self.json.get(self.at..self.at + 2) == Some(b"\\u")
                    {
                        self.at += 2;
                        let low = self.hex4()?;
                        code =
                            0x10000 + ((code - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
                    }
                    let ch = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                    continue;
                }
                _ => return Err(bad("an unknown escape", self.at - 1)),
            };
            out.push(plain);
        }
    }

    /// A bare token (a number, `true`, `false`): its text as written.
    fn token(&mut self, out: &mut Vec<u8>) -> Result<(), EktpError> {
        let rest = &self.json[self.at..];
        let len = rest
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(bad("an unexpected character", self.at));
        }
        out.extend_from_slice(&rest[..len]);
        self.at += len;
        Ok(())
    }
}

impl Rows {
    /// Parses `json`, an array of arrays of `width` strings, numbers or nulls each.
    pub fn parse(json: &[u8], width: usize) -> Result<Rows, EktpError> {
        let mut rows = Rows {
            width,
            cells: Vec::new(),
            text: Vec::with_capacity(json.len()),
        };
        let mut p = Parser { json, at: 0 };
        p.expect(b'[')?;
        if p.peek() == Some(b']') {
            return Ok(rows);
        }
        loop {
            p.expect(b'[')?;
            for column in 0..width {
                if column > 0 {
                    p.expect(b',')?;
                }
                let start = rows.text.len();
                match p.peek() {
                    Some(b'"') => p.string(&mut rows.text)?,
                    Some(b'n') if p.json[p.at..].starts_with(b"null") => {
                        p.at += 4;
                        rows.cells.push((NULL, NULL));
                        continue;
                    }
                    Some(_) => p.token(&mut rows.text)?,
                    None => return Err(bad("a cut row", p.at)),
                }
                let end = rows.text.len();
                let (start, end) = (u32::try_from(start), u32::try_from(end));
                match (start, end) {
                    (Ok(s), Ok(e)) if e < NULL => rows.cells.push((s, e)),
                    _ => return Err(bad("more than 4 GiB of text", p.at)),
                }
            }
            p.expect(b']')?;
            match p.peek() {
                Some(b',') => p.at += 1,
                Some(b']') => {
                    p.at += 1;
                    break;
                }
                _ => return Err(bad("expected ',' or ']'", p.at)),
            }
        }
        if p.peek().is_some() {
            return Err(bad("text after the rows", p.at));
        }
        Ok(rows)
    }

    /// Parses `text`, rows as PostgreSQL writes a row value (`record_out`), one a line:
    /// `(cell,cell,...)` of `width` cells, a NULL cell empty, a cell holding nothing, a space,
    /// `"`, `\`, `(`, `)` or `,` in double quotes with `"` and `\` doubled inside them, any other
    /// cell as it is. No rows is the empty text.
    pub fn parse_tuples(text: &[u8], width: usize) -> Result<Rows, EktpError> {
        let mut rows = Rows {
            width,
            cells: Vec::with_capacity(text.len() / 8),
            text: Vec::with_capacity(text.len()),
        };
        let mut at = 0;
        while at < text.len() {
            if at > 0 {
                if text[at] != b'\n' {
                    return Err(bad("expected a new line", at));
                }
                at += 1;
            }
            if text.get(at) != Some(&b'(') {
                return Err(bad("expected '('", at));
            }
            at += 1;
            for column in 0..width {
                if column > 0 {
                    if text.get(at) != Some(&b',') {
                        return Err(bad("expected ','", at));
                    }
                    at += 1;
                }
                let start = rows.text.len();
                match text.get(at) {
                    Some(b',' | b')') => {
                        rows.cells.push((NULL, NULL));
                        continue;
                    }
                    Some(b'"') => at = quoted(text, at + 1, &mut rows.text)?,
                    Some(_) => {
                        let rest = &text[at..];
                        let len = rest
                            .iter()
                            .position(|&b| matches!(b, b',' | b')' | b'"' | b'\\' | b'\n'))
                            .unwrap_or(rest.len());
                        if matches!(rest.get(len), Some(b'"' | b'\\' | b'\n') | None) {
                            return Err(bad("an unquoted cell cut or holding a quote", at + len));
                        }
                        rows.text.extend_from_slice(&rest[..len]);
                        at += len;
                    }
                    None => return Err(bad("a cut row", at)),
                }
                let end = rows.text.len();
                match (u32::try_from(start), u32::try_from(end)) {
                    (Ok(s), Ok(e)) if e < NULL => rows.cells.push((s, e)),
                    _ => return Err(bad("more than 4 GiB of text", at)),
                }
            }
            if text.get(at) != Some(&b')') {
                return Err(bad("expected ')'", at));
            }
            at += 1;
        }
        Ok(rows)
    }

    /// Rows built from cells directly (tests, and values appended rather than read back).
    pub fn from_cells(width: usize, cells: &[Option<&[u8]>]) -> Rows {
        let mut rows = Rows {
            width,
            ..Rows::default()
        };
        for cell in cells {
            match cell {
                None => rows.cells.push((NULL, NULL)),
                Some(text) => {
                    let start = rows.text.len() as u32;
                    rows.text.extend_from_slice(text);
                    rows.cells.push((start, rows.text.len() as u32));
                }
            }
        }
        rows
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn len(&self) -> usize {
        self.cells.len().checked_div(self.width).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The text of a cell, `None` for NULL.
    pub fn get(&self, row: usize, column: usize) -> Option<&[u8]> {
        let (start, end) = self.cells[row * self.width + column];
        (start != NULL).then(|| &self.text[start as usize..end as usize])
    }

    /// A cell as an integer, when it is one.
    pub fn int(&self, row: usize, column: usize) -> Option<i64> {
        std::str::from_utf8(self.get(row, column)?)
            .ok()?
            .parse()
            .ok()
    }

    /// Where each integer of `column` stands (the last row, if a value repeats); cells that
    /// are not integers are left out.
    pub fn index(&self, column: usize) -> FastMap<i64, usize> {
        let mut index = FastMap::default();
        index.reserve(self.len());
        for row in 0..self.len() {
            if let Some(key) = self.int(row, column) {
                index.insert(key, row);
            }
        }
        index
    }

    /// The first row whose `column` is not the sequence number `first + row`, if any.
    pub fn seq_break(&self, column: usize, first: i64) -> Option<usize> {
        (0..self.len()).find(|&row| self.int(row, column) != Some(first + row as i64))
    }
}

/// A quoted cell of a row value from `at` (just past its opening quote), unescaped into
/// `out` (`""` and `\x` stand for `"` and `x`); where the text goes on after its closing quote.
fn quoted(text: &[u8], mut at: usize, out: &mut Vec<u8>) -> Result<usize, EktpError> {
    loop {
        let rest = &text[at..];
        let stop = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\')
            .ok_or_else(|| bad("an unterminated quoted cell", at))?;
        out.extend_from_slice(&rest[..stop]);
        at += stop + 1;
        match (rest[stop], text.get(at)) {
            (b'\\', Some(&next)) | (b'"', Some(&next @ b'"')) => {
                out.push(next);
                at += 1;
            }
            (b'"', _) => return Ok(at),
            _ => return Err(bad("a cut escape", at)),
        }
    }
}

/// Links stored one after the other, 32 bytes each, as the store returns a chained table's
/// `hash` column; a last piece shorter than a link stands as all-ones (it matches no link).
pub fn links(bytes: &[u8]) -> Vec<[u8; 32]> {
    let mut chunks = bytes.chunks_exact(32);
    let mut out: Vec<[u8; 32]> = chunks
        .by_ref()
        .map(|c| c.try_into().unwrap_or([0xFF; 32]))
        .collect();
    if !chunks.remainder().is_empty() {
        out.push([0xFF; 32]);
    }
    out
}

/// The canonical payload (from schema 13 on) of the fields of one history row, appended to
/// `out`.
pub fn encode<'a>(out: &mut Vec<u8>, fields: impl ExactSizeIterator<Item = Option<&'a [u8]>>) {
    out.extend_from_slice(&(fields.len() as u32).to_be_bytes());
    for value in fields {
        field(out, value);
    }
}

/// One field of the canonical payload: `0x00` for NULL, else `0x01`, the length (u32,
/// big-endian) and the text.
fn field(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            out.extend_from_slice(&(text.len() as u32).to_be_bytes());
            out.extend_from_slice(text);
        }
    }
}

/// The payload of the first format: the fields joined with `0x1f`, NULL as the empty text.
/// Kept to check rows written before schema 13; ambiguous, so never written again.
pub fn encode_legacy<'a>(out: &mut Vec<u8>, fields: impl Iterator<Item = Option<&'a [u8]>>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(0x1f);
        }
        out.extend_from_slice(field.unwrap_or_default());
    }
}

/// The rows of another table a history row also answers for: when the history row's `intake`
/// column is NULL (the row that took its subject in), the `fields` of the subject row whose
/// first column equals the history row's `key` column are chained with it.
pub struct Subject<'a> {
    pub rows: &'a Rows,
    /// `rows.index(0)`, built once for every chunk of history.
    pub index: &'a FastMap<i64, usize>,
    pub key: usize,
    pub intake: usize,
    pub fields: &'a [usize],
}

impl Subject<'_> {
    /// The subject's row for row `row` of `history`: none unless the row is an intake row
    /// whose subject exists.
    fn row(&self, history: &Rows, row: usize) -> Option<usize> {
        if history.get(row, self.intake).is_some() {
            return None;
        }
        self.index.get(&history.int(row, self.key)?).copied()
    }
}

/// Which payload a chain epoch uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Schema 1-9: fields joined with `0x1f` (see [`encode_legacy`]).
    Legacy,
    /// Schema 10 on: [`encode`], with the intake row's subject fields.
    Canonical,
}

/// What a chain's payloads are made of: the chain's `tag`, the cells of `columns`, and (in the
/// canonical format) the subject's fields for intake rows.
pub struct Layout<'a> {
    pub format: Format,
    pub tag: &'a [u8],
    pub columns: &'a [usize],
    pub subject: Option<&'a Subject<'a>>,
}

impl Layout<'_> {
    /// Row `row`'s payload, written over `out`.
    pub fn payload(&self, rows: &Rows, row: usize, out: &mut Vec<u8>) {
        out.clear();
        let cells = self.columns.iter().map(|&c| rows.get(row, c));
        match self.format {
            Format::Legacy => encode_legacy(out, cells),
            Format::Canonical => {
                let extra = self.subject.and_then(|s| s.row(rows, row).map(|r| (s, r)));
                let count = 1 + self.columns.len() + extra.map_or(0, |(s, _)| s.fields.len());
                out.extend_from_slice(&(count as u32).to_be_bytes());
                field(out, Some(self.tag));
                for cell in cells {
                    field(out, cell);
                }
                if let Some((s, r)) = extra {
                    for &c in s.fields {
                        field(out, s.rows.get(r, c));
                    }
                }
            }
        }
    }

    /// The payloads of every row of `rows`.
    pub fn payloads(&self, rows: &Rows) -> Vec<Vec<u8>> {
        (0..rows.len())
            .map(|row| {
                let mut out = Vec::with_capacity(16 + 8 * self.columns.len());
                self.payload(rows, row, &mut out);
                out
            })
            .collect()
    }

    /// The first row whose stored link (`stored`, one per row) breaks the chain of SHA-256
    /// links (see [`super::link`]) from `previous`, or `None`.
    pub fn first_break(
        &self,
        rows: &Rows,
        previous: &[u8; 32],
        stored: &[[u8; 32]],
    ) -> Option<usize> {
        let mut out = Vec::new();
        let mut prev = *previous;
        for (row, link) in stored.iter().enumerate().take(rows.len()) {
            self.payload(rows, row, &mut out);
            prev = super::link(&prev, &out);
            if prev != *link {
                return Some(row);
            }
        }
        (stored.len() != rows.len()).then(|| stored.len().min(rows.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(fields: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, fields.iter().copied());
        out
    }

    /// `a` and `b` hold `rows` rows of the same `width` cells.
    fn assert_same_cells(a: &Rows, b: &Rows, rows: usize, width: usize) {
        assert_eq!((a.len(), b.len()), (rows, rows));
        for row in 0..rows {
            for col in 0..width {
                assert_eq!(a.get(row, col), b.get(row, col), "{row} {col}");
            }
        }
    }

    #[test]
    fn both_stores_json_gives_the_same_cells() {
        let sqlite = br#"[["1","5","a\"b\\c",null,"\u001f"],["2","6","",null,"x"]]"#;
        let postgres =
            b"[[\"1\", \"5\", \"a\\\"b\\\\c\", null, \"\\u001F\"], \n [2, 6, \"\", null, \"x\"]]";
        let (a, b) = (
            Rows::parse(sqlite, 5).unwrap(),
            Rows::parse(postgres, 5).unwrap(),
        );
        assert_same_cells(&a, &b, 2, 5);
        assert_eq!(a.get(0, 2), Some(&b"a\"b\\c"[..]));
        assert_eq!(a.get(0, 4), Some(&b"\x1f"[..]));
        assert_eq!(a.get(0, 3), None);
        assert_eq!(a.get(1, 2), Some(&b""[..]));
        assert_eq!(Rows::parse(b"[]", 3).unwrap().len(), 0);
        assert_eq!(
            Rows::parse("[[\"\\ud83d\\ude00é\"]]".as_bytes(), 1)
                .unwrap()
                .get(0, 0),
            Some("😀é".as_bytes())
        );
    }

    #[test]
    fn row_values_give_the_cells_json_gives() {
        // As PostgreSQL writes ROW(...) cast to text: NULL empty, the empty text and texts
        // with a space, quote, backslash, parenthesis, comma or new line quoted.
        let tuples = b"(1,5,\"a\"\"b\\\\c\",,\x1f)\n(2,6,\"\",,\"x, (y)\nz\")";
        let json = br#"[["1","5","a\"b\\c",null,"\u001f"],["2","6","",null,"x, (y)\nz"]]"#;
        let (a, b) = (
            Rows::parse_tuples(tuples, 5).unwrap(),
            Rows::parse(json, 5).unwrap(),
        );
        assert_same_cells(&a, &b, 2, 5);
        assert_eq!(a.get(1, 4), Some(&b"x, (y)\nz"[..]));
        assert_eq!(Rows::parse_tuples(b"", 3).unwrap().len(), 0);
        assert_eq!(Rows::parse_tuples(b"()", 1).unwrap().get(0, 0), None);
        assert_eq!(
            Rows::parse_tuples("(\"é 😀\")".as_bytes(), 1)
                .unwrap()
                .get(0, 0),
            Some("é 😀".as_bytes())
        );
    }

    #[test]
    fn malformed_row_values_are_refused() {
        for text in [
            &b"(1"[..],
            b"(1,2)",
            b"(1)x",
            b"(1)(2)",
            b"(1)\n",
            b"(\"1)",
            b"(\"1\\",
            b"(a\"b)",
            b"(a\nb)",
            b"1)",
        ] {
            assert!(Rows::parse_tuples(text, 1).is_err(), "{text:?}");
        }
    }

    #[test]
    fn malformed_rows_are_refused() {
        for json in [
            &b"[[\"1\"]"[..],
            b"[[\"1\",\"2\"]]",
            b"[[\"1\"]] x",
            b"[[{}]]",
            b"[\"1\"]",
        ] {
            assert!(
                Rows::parse(json, 1).is_err(),
                "{:?}",
                String::from_utf8_lossy(json)
            );
        }
    }

    #[test]
    fn the_canonical_encoding_keeps_null_empty_and_field_bounds_apart() {
        let cases: [&[Option<&[u8]>]; 5] = [
            &[Some(b"ab"), Some(b"c")],
            &[Some(b"a"), Some(b"bc")],
            &[Some(b"a\x1fb")],
            &[None, Some(b"")],
            &[Some(b""), None],
        ];
        let encoded: Vec<Vec<u8>> = cases.iter().map(|c| canonical(c)).collect();
        for i in 0..encoded.len() {
            for j in 0..i {
                assert_ne!(encoded[i], encoded[j], "{i} {j}");
            }
        }
        // The first format could not tell the first two pairs apart... nor these.
        let mut x = Vec::new();
        encode_legacy(&mut x, [Some(&b"a\x1fb"[..])].into_iter());
        let mut y = Vec::new();
        encode_legacy(&mut y, [Some(&b"a"[..]), Some(&b"b"[..])].into_iter());
        assert_eq!(x, y);
    }

    #[test]
    fn intake_rows_answer_for_their_subject() {
        let history = Rows::from_cells(
            4,
            &[
                Some(b"1"),
                Some(b"7"),
                None,
                Some(b"IN"),
                Some(b"2"),
                Some(b"7"),
                Some(b"IN"),
                Some(b"OUT"),
            ],
        );
        let records = Rows::from_cells(2, &[Some(b"7"), Some(b"3271")]);
        let edited = Rows::from_cells(2, &[Some(b"7"), Some(b"3272")]);
        let cols = [0, 1, 2, 3];
        let with = |rows: &Rows| {
            let index = rows.index(0);
            let subject = Subject {
                rows,
                index: &index,
                key: 1,
                intake: 2,
                fields: &[1],
            };
            let layout = Layout {
                format: Format::Canonical,
                tag: b"h",
                columns: &cols,
                subject: Some(&subject),
            };
            layout.payloads(&history)
        };
        let (a, b) = (with(&records), with(&edited));
        assert_ne!(a[0], b[0]);
        assert_eq!(a[1], b[1]);
        let none = Layout {
            format: Format::Canonical,
            tag: b"h",
            columns: &cols,
            subject: None,
        }
        .payloads(&history);
        assert_ne!(a[0], none[0]);
        assert_eq!(a[1], none[1]);
    }

    #[test]
    fn the_fused_check_finds_what_the_chain_finds() {
        let rows = Rows::from_cells(
            2,
            &[
                Some(b"1"),
                Some(b"a"),
                Some(b"2"),
                None,
                Some(b"3"),
                Some(b"c"),
            ],
        );
        let layout = Layout {
            format: Format::Canonical,
            tag: b"t",
            columns: &[0, 1],
            subject: None,
        };
        let payloads = layout.payloads(&rows);
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let mut links = super::super::chain(&super::super::GENESIS, &refs);
        assert_eq!(
            layout.first_break(&rows, &super::super::GENESIS, &links),
            None
        );
        links[1][0] ^= 1;
        assert_eq!(
            layout.first_break(&rows, &super::super::GENESIS, &links),
            Some(1)
        );
        assert_eq!(
            layout.first_break(&rows, &super::super::GENESIS, &links[..1]),
            Some(1)
        );
    }

    #[test]
    fn seqs_and_links() {
        let rows = Rows::parse(br#"[["1"],["2"],["4"]]"#, 1).unwrap();
        assert_eq!(rows.seq_break(0, 1), Some(2));
        let mut stored = vec![0xAB; 64];
        stored.push(1);
        assert_eq!(links(&stored), vec![[0xAB; 32], [0xAB; 32], [0xFF; 32]]);
    }
}
