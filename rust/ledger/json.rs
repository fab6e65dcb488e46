//! Lists of values written as the JSON text SQLite's `json_each` reads: how the ledger hands a
//! statement many values in one parameter (`id IN (SELECT value FROM json_each(?))`, a
//! history append's columns). Written here because Python's `json.dumps` took a twentieth of a
//! simulated campaign: a value costs it ~50 ns through the encoder's generic dispatch.

use std::fmt::Write as _;

/// One value of a list: the only kinds the ledger sends this way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Int(i64),
    Text(&'a str),
    Null,
}

/// Appends `cell` to `out` as JSON. Text is escaped as RFC 8259 requires (quote, backslash and
/// the control characters below U+0020) and kept as UTF-8 otherwise, as `json.dumps(...,
/// ensure_ascii=False)` writes it.
pub fn write_cell(out: &mut String, cell: Cell<'_>) {
    match cell {
        Cell::Int(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::Null => out.push_str("null"),
        Cell::Text(s) => {
            out.push('"');
            let mut start = 0;
            for (i, b) in s.bytes().enumerate() {
                let escaped = match b {
                    b'"' => "\\\"",
                    b'\\' => "\\\\",
                    b'\n' => "\\n",
                    b'\r' => "\\r",
                    b'\t' => "\\t",
                    0x08 => "\\b",
                    0x0C => "\\f",
                    0x00..=0x1F => "",
                    _ => continue,
                };
                out.push_str(&s[start..i]);
                if escaped.is_empty() {
                    let _ = write!(out, "\\u{b:04x}");
                } else {
                    out.push_str(escaped);
                }
                start = i + 1;
            }
            out.push_str(&s[start..]);
            out.push('"');
        }
    }
}

/// `columns` (each `rows` long) as one JSON array: of the values themselves when there is one
/// column, else of each row's values as an array.
pub fn write_rows(columns: &[Vec<Cell<'_>>], rows: usize) -> String {
    let mut out = String::with_capacity(rows * (2 + 8 * columns.len()) + 2);
    out.push('[');
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        if let [only] = columns {
            write_cell(&mut out, only[r]);
            continue;
        }
        out.push('[');
        for (c, column) in columns.iter().enumerate() {
            if c > 0 {
                out.push(',');
            }
            write_cell(&mut out, column[r]);
        }
        out.push(']');
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_column_is_a_flat_array_and_several_are_rows() {
        let ids = vec![Cell::Int(3), Cell::Int(-7), Cell::Null];
        assert_eq!(write_rows(std::slice::from_ref(&ids), 3), "[3,-7,null]");
        let names = vec![Cell::Text("a"), Cell::Null, Cell::Text("")];
        assert_eq!(
            write_rows(&[ids, names], 3),
            r#"[[3,"a"],[-7,null],[null,""]]"#
        );
        assert_eq!(write_rows(&[vec![]], 0), "[]");
    }

    #[test]
    fn text_is_escaped_as_json_requires_and_kept_as_utf8_otherwise() {
        let mut out = String::new();
        write_cell(
            &mut out,
            Cell::Text("Siti \"Ani\" \\ é 中\n\t\u{1}\u{1f}\u{7f}"),
        );
        assert_eq!(
            out,
            "\"Siti \\\"Ani\\\" \\\\ é 中\\n\\t\\u0001\\u001f\u{7f}\""
        );
    }
}
