//! History replayed against the tables: what the ledger's tables must hold if every change
//! went through the ledger, since each change appends a history row in the same transaction.
//!
//! [`RecordReplay`] reads the record history (in order, a chunk at a time) and then checks
//! the `records` rows (each record's state is its last history row's, a queued record waits
//! in that row's batch) and the `cards` rows (each card is a printing in the history, with its
//! blank, valid exactly while no later row took the card back). [`BlankReplay`] does the same
//! for the blank-card history, `blanks` and `blank_lots`. Anything the history does not
//! explain is a [`Finding`] naming the table and the row.
//!
//! The rules of the lifecycle (which state prints, which take a card back) are given by the
//! caller, so they are written once, in `ektpcore.lifecycle`.

use super::rows::{FastMap, FastSet, Rows};

/// Something the history does not explain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The table of the row concerned.
    pub table: &'static str,
    /// The row's key in that table (an id, a serial, a history row's sequence number).
    pub row: String,
    /// The history row that says otherwise, when there is one.
    pub seq: Option<i64>,
    pub problem: String,
}

/// Findings kept per replay; past this many only the count goes on.
pub const MAX_FINDINGS: usize = 1000;

#[derive(Default)]
struct Findings {
    kept: Vec<Finding>,
    total: usize,
}

impl Findings {
    fn add(&mut self, table: &'static str, row: impl ToString, seq: Option<i64>, problem: String) {
        self.total += 1;
        if self.kept.len() < MAX_FINDINGS {
            self.kept.push(Finding {
                table,
                row: row.to_string(),
                seq,
                problem,
            });
        }
    }
}

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

fn shown(value: Option<&[u8]>) -> String {
    value.map_or_else(|| "none".to_owned(), |v| text(v).into_owned())
}

fn shown_int(value: Option<i64>) -> String {
    value.map_or_else(|| "none".to_owned(), |v| v.to_string())
}

/// Interned short texts (states, batches): compared and stored as numbers.
#[derive(Default)]
struct Symbols {
    ids: FastMap<Box<[u8]>, u32>,
    texts: Vec<Box<[u8]>>,
}

impl Symbols {
    fn id(&mut self, text: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = self.texts.len() as u32;
        self.texts.push(text.into());
        self.ids.insert(text.into(), id);
        id
    }

    fn find(&self, text: &[u8]) -> Option<u32> {
        self.ids.get(text).copied()
    }

    fn text(&self, id: u32) -> &[u8] {
        &self.texts[id as usize]
    }

    fn show(&self, id: Option<u32>) -> String {
        shown(id.map(|i| self.text(i)))
    }
}

/// Where the fields of a history row are (column indices of the rows fed).
#[derive(Clone, Copy, Debug)]
pub struct HistoryColumns {
    pub seq: usize,
    /// The record id (record history) or the blank's serial (blank history).
    pub key: usize,
    pub source: usize,
    pub target: usize,
    pub batch: usize,
    /// The blank serial (record history) or the record id (blank history).
    pub other: usize,
}

/// What one key's history says so far.
struct Trail {
    first_seq: i64,
    last_seq: i64,
    state: u32,
    batch: Option<u32>,
    /// Record history: the valid card's blank. Blank history: the last record named.
    other: Option<i64>,
    /// Record history: every (blank, seq) printed on.
    printed: Vec<(i64, i64)>,
}

/// A cell that must be an integer and is not stands as this (it matches nothing real).
const NOT_A_NUMBER: i64 = i64::MIN;

/// Reads a history in order and remembers, per key, what the tables must say.
struct Trails {
    columns: HistoryColumns,
    label: &'static str,
    table: &'static str,
    symbols: Symbols,
    trails: FastMap<i64, Trail>,
    findings: Findings,
    rows: usize,
}

impl Trails {
    fn new(columns: HistoryColumns, label: &'static str, table: &'static str) -> Trails {
        Trails {
            columns,
            label,
            table,
            symbols: Symbols::default(),
            trails: FastMap::default(),
            findings: Findings::default(),
            rows: 0,
        }
    }

    /// Feeds the rows of `chunk` in order; `step` updates a trail with one row (the trail is
    /// new when the row is the key's first).
    fn feed(&mut self, chunk: &Rows, mut step: impl FnMut(&mut Symbols, &mut Trail, &Rows, usize)) {
        let c = self.columns;
        let (label, table) = (self.label, self.table);
        for row in 0..chunk.len() {
            self.rows += 1;
            let seq = chunk.int(row, c.seq).unwrap_or(NOT_A_NUMBER);
            let (Some(key), Some(target)) = (chunk.int(row, c.key), chunk.get(row, c.target))
            else {
                let what = "names nothing it is about, or no state".to_owned();
                self.findings.add(table, seq, Some(seq), what);
                continue;
            };
            let source = chunk.get(row, c.source);
            let target = self.symbols.id(target);
            match self.trails.get_mut(&key) {
                None => {
                    if source.is_some() {
                        let what =
                            format!("is the first {label} about {key}, but does not take it in");
                        self.findings.add(table, seq, Some(seq), what);
                    }
                    let mut trail = Trail {
                        first_seq: seq,
                        last_seq: seq,
                        state: target,
                        batch: None,
                        other: None,
                        printed: Vec::new(),
                    };
                    step(&mut self.symbols, &mut trail, chunk, row);
                    self.trails.insert(key, trail);
                }
                Some(trail) => {
                    let previous = self.symbols.text(trail.state);
                    if source != Some(previous) {
                        let what = format!(
                            "moves {key} from {}, but its previous row (seq {}) left it {}",
                            shown(source),
                            trail.last_seq,
                            text(previous)
                        );
                        self.findings.add(table, seq, Some(seq), what);
                    }
                    trail.last_seq = seq;
                    trail.state = target;
                    step(&mut self.symbols, trail, chunk, row);
                }
            }
        }
    }
}

/// The lifecycle's rules the record replay needs (state names as stored).
#[derive(Clone, Debug, Default)]
pub struct RecordRules {
    pub queued: Vec<u8>,
    pub printed: Vec<u8>,
    /// Targets that take a record's valid card back when it comes from a card-holding state.
    pub releasing: Vec<Vec<u8>>,
    /// States in which a record may hold a card.
    pub holding: Vec<Vec<u8>>,
}

/// Replays the record history against `records` and `cards`.
pub struct RecordReplay {
    trails: Trails,
    queued: u32,
    printed: u32,
    releasing: Vec<u32>,
    holding: Vec<u32>,
}

impl RecordReplay {
    pub fn new(columns: HistoryColumns, rules: RecordRules) -> RecordReplay {
        let mut trails = Trails::new(columns, "history row", "history");
        let queued = trails.symbols.id(&rules.queued);
        let printed = trails.symbols.id(&rules.printed);
        let releasing = rules
            .releasing
            .iter()
            .map(|s| trails.symbols.id(s))
            .collect();
        let holding = rules.holding.iter().map(|s| trails.symbols.id(s)).collect();
        RecordReplay {
            trails,
            queued,
            printed,
            releasing,
            holding,
        }
    }

    pub fn feed(&mut self, chunk: &Rows) {
        let c = self.trails.columns;
        let (printed, releasing, holding) = (self.printed, &self.releasing, &self.holding);
        self.trails.feed(chunk, |symbols, trail, rows, row| {
            trail.batch = rows.get(row, c.batch).map(|b| symbols.id(b));
            if trail.state == printed {
                if rows.get(row, c.other).is_some() {
                    let blank = rows.int(row, c.other).unwrap_or(NOT_A_NUMBER);
                    let seq = rows.int(row, c.seq).unwrap_or(NOT_A_NUMBER);
                    trail.other = Some(blank);
                    if !trail.printed.iter().any(|&(b, _)| b == blank) {
                        trail.printed.push((blank, seq));
                    }
                }
            } else if releasing.contains(&trail.state) {
                let source = rows.get(row, c.source).and_then(|s| symbols.find(s));
                if source.is_some_and(|s| holding.contains(&s)) {
                    trail.other = None;
                }
            }
        });
    }

    /// Checks `records` (id, state, batch) and `cards` (record id, serial, valid) against the
    /// history fed; returns the findings and their total count (past [`MAX_FINDINGS`] only
    /// counted).
    pub fn check(mut self, records: &Rows, cards: &Rows) -> (Vec<Finding>, usize) {
        let t = &mut self.trails;
        let mut seen: FastSet<i64> = FastSet::default();
        seen.reserve(records.len());
        for row in 0..records.len() {
            let Some(id) = records.int(row, 0) else {
                let what = "a record whose id is not a number".into();
                t.findings
                    .add("records", shown(records.get(row, 0)), None, what);
                continue;
            };
            seen.insert(id);
            let Some(trail) = t.trails.get(&id) else {
                let what = "no history row took this record in (added outside the ledger)";
                t.findings.add("records", id, None, what.into());
                continue;
            };
            let state = records.get(row, 1);
            let expected = t.symbols.text(trail.state);
            if state != Some(expected) {
                let what = format!(
                    "state is {}, its last history row (seq {}) says {}",
                    shown(state),
                    trail.last_seq,
                    text(expected)
                );
                t.findings.add("records", id, Some(trail.last_seq), what);
            } else if trail.state == self.queued {
                let batch = records.get(row, 2);
                let expected = trail.batch.map(|b| t.symbols.text(b));
                if batch != expected {
                    let what = format!(
                        "waits in batch {}, its last history row (seq {}) queued it in {}",
                        shown(batch),
                        trail.last_seq,
                        shown(expected)
                    );
                    t.findings.add("records", id, Some(trail.last_seq), what);
                }
            }
        }
        let mut missing: Vec<(i64, i64)> = t
            .trails
            .iter()
            .filter(|(id, _)| !seen.contains(id))
            .map(|(&id, trail)| (trail.first_seq, id))
            .collect();
        missing.sort_unstable();
        for (seq, id) in missing {
            let what = format!("missing: history rows from seq {seq} on are about it");
            t.findings.add("records", id, Some(seq), what);
        }
        // Cards: every printing in the history has its card row, and no other card exists.
        let mut matched: FastSet<(i64, i64)> = FastSet::default();
        matched.reserve(cards.len());
        for row in 0..cards.len() {
            let serial = cards.int(row, 1);
            let shown_serial = shown(cards.get(row, 1));
            let record = cards.int(row, 0);
            let trail = record.and_then(|r| t.trails.get(&r));
            let printed = trail.and_then(|tr| {
                serial.and_then(|b| tr.printed.iter().find(|&&(p, _)| p == b).map(|&(_, s)| s))
            });
            let (Some(trail), Some(record), Some(serial), Some(seq)) =
                (trail, record, serial, printed)
            else {
                let what = format!(
                    "a card of record {} that no history row printed on this blank",
                    shown(cards.get(row, 0))
                );
                t.findings.add("cards", shown_serial, None, what);
                continue;
            };
            if !matched.insert((record, serial)) {
                let what = format!("a second card row for record {record}");
                t.findings.add("cards", serial, Some(seq), what);
                continue;
            }
            let valid = match cards.get(row, 2) {
                Some(b"1") => true,
                Some(b"0") => false,
                other => {
                    let what = format!("valid is {}, neither 0 nor 1", shown(other));
                    t.findings.add("cards", serial, Some(seq), what);
                    continue;
                }
            };
            let expected = trail.other == Some(serial);
            if valid != expected {
                let what = if expected {
                    format!("marked invalid, but record {record}'s history keeps it valid")
                } else {
                    format!("marked valid, but record {record}'s history took it back or printed another")
                };
                t.findings.add("cards", serial, Some(trail.last_seq), what);
            }
        }
        let mut unmatched: Vec<(i64, i64, i64)> = Vec::new();
        for (&id, trail) in &t.trails {
            for &(blank, seq) in &trail.printed {
                if !matched.contains(&(id, blank)) {
                    unmatched.push((seq, id, blank));
                }
            }
        }
        unmatched.sort_unstable();
        for (seq, id, blank) in unmatched {
            let what =
                format!("missing: history row {seq} printed record {id}'s card on this blank");
            t.findings.add("cards", blank, Some(seq), what);
        }
        let findings = std::mem::take(&mut t.findings);
        (findings.kept, findings.total)
    }

    /// Rows fed so far.
    pub fn rows(&self) -> usize {
        self.trails.rows
    }
}

/// Replays the blank-card history against `blanks` and `blank_lots`.
pub struct BlankReplay {
    trails: Trails,
}

impl BlankReplay {
    pub fn new(columns: HistoryColumns) -> BlankReplay {
        BlankReplay {
            trails: Trails::new(columns, "blank history row", "blank_history"),
        }
    }

    pub fn feed(&mut self, chunk: &Rows) {
        let c = self.trails.columns;
        self.trails.feed(chunk, |symbols, trail, rows, row| {
            // A movement names its batch and record only when it changes them.
            if let Some(batch) = rows.get(row, c.batch) {
                trail.batch = Some(symbols.id(batch));
            }
            if rows.get(row, c.other).is_some() {
                trail.other = Some(rows.int(row, c.other).unwrap_or(NOT_A_NUMBER));
            }
        });
    }

    /// Checks `blanks` (serial, lot id, state, batch, record id), `lots` (id, first serial,
    /// last serial, complete) and, when given, that every record the blank history names is
    /// one of `records` (ids in the first column).
    pub fn check(
        mut self,
        blanks: &Rows,
        lots: &Rows,
        records: Option<&FastMap<i64, usize>>,
    ) -> (Vec<Finding>, usize) {
        let t = &mut self.trails;
        let lot_rows = lots.index(0);
        let mut held: FastMap<usize, i64> = FastMap::default();
        let mut seen: FastSet<i64> = FastSet::default();
        seen.reserve(blanks.len());
        for row in 0..blanks.len() {
            let Some(serial) = blanks.int(row, 0) else {
                let what = "a blank whose serial is not a number".into();
                t.findings
                    .add("blanks", shown(blanks.get(row, 0)), None, what);
                continue;
            };
            seen.insert(serial);
            let lot = blanks.int(row, 1).and_then(|l| lot_rows.get(&l).copied());
            match lot {
                Some(lot)
                    if lots.int(lot, 1).is_some_and(|first| first <= serial)
                        && lots.int(lot, 2).is_some_and(|last| serial <= last) =>
                {
                    *held.entry(lot).or_default() += 1;
                }
                _ => {
                    let what = format!("not within its lot {}", shown(blanks.get(row, 1)));
                    t.findings.add("blanks", serial, None, what);
                }
            }
            let Some(trail) = t.trails.get(&serial) else {
                let what = "no history row received this blank (added outside the ledger)";
                t.findings.add("blanks", serial, None, what.into());
                continue;
            };
            let state = blanks.get(row, 2);
            let batch = blanks.get(row, 3);
            let record = blanks.get(row, 4);
            let problem = if state != Some(t.symbols.text(trail.state)) {
                Some(("state", shown(state), t.symbols.show(Some(trail.state))))
            } else if batch != trail.batch.map(|b| t.symbols.text(b)) {
                Some(("batch", shown(batch), t.symbols.show(trail.batch)))
            } else if blanks.int(row, 4) != trail.other
                || (record.is_some() != trail.other.is_some())
            {
                Some(("record", shown(record), shown_int(trail.other)))
            } else {
                None
            };
            if let Some((what, found, expected)) = problem {
                let problem = format!(
                    "{what} is {found}, its history (last row seq {}) says {expected}",
                    trail.last_seq
                );
                t.findings
                    .add("blanks", serial, Some(trail.last_seq), problem);
            }
        }
        let mut missing: Vec<(i64, i64)> = t
            .trails
            .iter()
            .filter(|(serial, _)| !seen.contains(serial))
            .map(|(&serial, trail)| (trail.first_seq, serial))
            .collect();
        missing.sort_unstable();
        for (seq, serial) in missing {
            let what = format!("missing: blank history rows from seq {seq} on are about it");
            t.findings.add("blanks", serial, Some(seq), what);
        }
        for lot in 0..lots.len() {
            let id = shown(lots.get(lot, 0));
            let (first, last) = (lots.int(lot, 1), lots.int(lot, 2));
            let complete = lots.get(lot, 3) != Some(b"0");
            let count = held.get(&lot).copied().unwrap_or(0);
            match (first, last) {
                (Some(first), Some(last)) if !complete || count == last - first + 1 => {}
                (Some(first), Some(last)) => {
                    let what = format!(
                        "holds {count} blanks of its {} ({first}..{last})",
                        last - first + 1
                    );
                    t.findings.add("blank_lots", id, None, what);
                }
                _ => t.findings.add(
                    "blank_lots",
                    id,
                    None,
                    "its serial range is not a range".into(),
                ),
            }
        }
        if let Some(records) = records {
            let mut absent: Vec<(i64, i64)> = t
                .trails
                .iter()
                .filter(|(_, trail)| trail.other.is_some_and(|r| !records.contains_key(&r)))
                .map(|(&serial, trail)| (trail.last_seq, serial))
                .collect();
            absent.sort_unstable();
            for (seq, serial) in absent {
                let what = "its history names a record the records table does not hold";
                t.findings.add("blanks", serial, Some(seq), what.into());
            }
        }
        let findings = std::mem::take(&mut t.findings);
        (findings.kept, findings.total)
    }

    pub fn rows(&self) -> usize {
        self.trails.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD_COLS: HistoryColumns = HistoryColumns {
        seq: 0,
        key: 1,
        source: 2,
        target: 3,
        batch: 4,
        other: 5,
    };

    fn rules() -> RecordRules {
        RecordRules {
            queued: b"QUEUED".to_vec(),
            printed: b"PRINTED".to_vec(),
            releasing: vec![b"PRINT_READY".to_vec(), b"CANCELLED".to_vec()],
            holding: vec![b"PRINTED".to_vec(), b"ISSUED".to_vec()],
        }
    }

    fn rows(width: usize, text: &[&str]) -> Rows {
        let cells: Vec<Option<&[u8]>> = text
            .iter()
            .map(|t| (*t != "-").then_some(t.as_bytes()))
            .collect();
        Rows::from_cells(width, &cells)
    }

    fn history() -> Rows {
        rows(
            6,
            &[
                "1",
                "1",
                "-",
                "PRINT_READY",
                "-",
                "-", //
                "2",
                "2",
                "-",
                "PRINT_READY",
                "-",
                "-", //
                "3",
                "1",
                "PRINT_READY",
                "QUEUED",
                "B1",
                "-", //
                "4",
                "2",
                "PRINT_READY",
                "QUEUED",
                "B1",
                "-", //
                "5",
                "1",
                "QUEUED",
                "PRINTED",
                "B1",
                "100", //
                "6",
                "1",
                "PRINTED",
                "PRINT_READY",
                "-",
                "-", //
                "7",
                "1",
                "PRINT_READY",
                "QUEUED",
                "B2",
                "-", //
                "8",
                "1",
                "QUEUED",
                "PRINTED",
                "B2",
                "101", //
            ],
        )
    }

    fn replay() -> RecordReplay {
        let mut r = RecordReplay::new(RECORD_COLS, rules());
        let h = history();
        r.feed(&h);
        r
    }

    #[test]
    fn a_ledger_that_went_through_the_history_has_no_findings() {
        let records = rows(3, &["1", "PRINTED", "B2", "2", "QUEUED", "B1"]);
        let cards = rows(3, &["1", "100", "0", "1", "101", "1"]);
        let (findings, total) = replay().check(&records, &cards);
        assert_eq!((findings, total), (vec![], 0));
    }

    #[test]
    fn edited_states_batches_and_cards_are_named() {
        let records = rows(
            3,
            &["1", "ISSUED", "B2", "2", "QUEUED", "B9", "3", "QUEUED", "-"],
        );
        let cards = rows(3, &["1", "100", "1", "2", "102", "1"]);
        let (findings, total) = replay().check(&records, &cards);
        let named: Vec<(&str, &str, Option<i64>)> = findings
            .iter()
            .map(|f| (f.table, f.row.as_str(), f.seq))
            .collect();
        assert_eq!(
            named,
            vec![
                ("records", "1", Some(8)),
                ("records", "2", Some(4)),
                ("records", "3", None),
                ("cards", "100", Some(8)),
                ("cards", "102", None),
                ("cards", "101", Some(8)),
            ],
            "{findings:#?}"
        );
        assert_eq!(total, 6);
        assert!(findings[0].problem.contains("ISSUED"));
    }

    #[test]
    fn a_deleted_record_and_broken_continuity_are_named() {
        let mut r = RecordReplay::new(RECORD_COLS, rules());
        let h = rows(
            6,
            &[
                "1", "1", "-", "A", "-", "-", "2", "1", "B", "C", "-", "-", "3", "2", "A", "B",
                "-", "-",
            ],
        );
        r.feed(&h);
        let (findings, _) = r.check(&rows(3, &["2", "B", "-"]), &rows(3, &[]));
        let named: Vec<(&str, &str)> = findings.iter().map(|f| (f.table, f.row.as_str())).collect();
        assert_eq!(
            named,
            vec![("history", "2"), ("history", "3"), ("records", "1")]
        );
    }

    #[test]
    fn blanks_follow_their_history_and_lots() {
        let cols = HistoryColumns {
            seq: 0,
            key: 1,
            source: 2,
            target: 3,
            batch: 4,
            other: 5,
        };
        let h = rows(
            6,
            &[
                "1",
                "10",
                "-",
                "IN_STOCK",
                "-",
                "-", //
                "2",
                "11",
                "-",
                "IN_STOCK",
                "-",
                "-", //
                "3",
                "10",
                "IN_STOCK",
                "ALLOCATED",
                "B1",
                "-", //
                "4",
                "10",
                "ALLOCATED",
                "USED",
                "B1",
                "1", //
                "5",
                "11",
                "IN_STOCK",
                "ALLOCATED",
                "B1",
                "-", //
                "6",
                "11",
                "ALLOCATED",
                "IN_STOCK",
                "-",
                "-", //
            ],
        );
        let lots = rows(4, &["1", "10", "11", "1"]);
        let records = rows(1, &["1"]);
        let good = rows(
            5,
            &[
                "10", "1", "USED", "B1", "1", "11", "1", "IN_STOCK", "B1", "-",
            ],
        );
        let mut r = BlankReplay::new(cols);
        r.feed(&h);
        assert_eq!(r.check(&good, &lots, Some(&records.index(0))).1, 0);
        let bad = rows(
            5,
            &[
                "10", "1", "USED", "B1", "2", "12", "1", "IN_STOCK", "-", "-",
            ],
        );
        let mut r = BlankReplay::new(cols);
        r.feed(&h);
        let (findings, _) = r.check(&bad, &lots, Some(&rows(1, &["2"]).index(0)));
        let named: Vec<(&str, &str)> = findings.iter().map(|f| (f.table, f.row.as_str())).collect();
        assert_eq!(
            named,
            vec![
                ("blanks", "10"),
                ("blanks", "12"),
                ("blanks", "12"),
                ("blanks", "11"),
                ("blank_lots", "1"),
                ("blanks", "10"),
            ],
            "{findings:#?}"
        );
    }
}
