//! Who acted: every chained row's actor and role held to what the audit gave that user at the
//! row's time.
//!
//! Once a ledger has users, each history, blank-history and audit row names the signed-in user
//! who wrote it and the role it held. A writer who can change the database could put any name
//! and role there; `verify()` replays the users from the audit (in Python, a handful of rows),
//! which gives each actor and role the spans of time it was allowed, and this module checks
//! every row against them as the chains are read, chunk by chunk: per row a hash lookup of its
//! actor and role (the previous row's, most often) and a comparison of time stamps, a million
//! rows in milliseconds rather than the interpreter's second.
//!
//! Stamps are the ledger's ISO 8601 text in UTC, which sort as the moments they name, so they
//! are compared as bytes, as the stores and Python compare them.
//!
//! Which user an actor's name means (NFKC and case folding) is decided in Python, once per
//! distinct actor and role: [`Acting::feed`] checks a chunk's rows until one whose actor and
//! role has not been given its spans, [`Acting::learn`] gives them, and the feed goes on from
//! that row. [`first_outside`] is the same in one call, for spans known in advance.

use crate::ledger::rows::{FastMap, Rows};

/// Where a chained table's rows, as read, hold what this check reads.
#[derive(Clone, Copy, Debug)]
pub struct ActingColumns {
    pub seq: usize,
    pub at: usize,
    pub actor: usize,
    pub role: usize,
}

/// A span of time an actor held a role: from, until (`None`: still), both included.
pub type Span = (Vec<u8>, Option<Vec<u8>>);

/// An actor's name and a role, as a row gives them.
pub type Who = (Vec<u8>, Vec<u8>);

/// A row held to the audit: its sequence number, stamp, actor and role.
struct Held<'r> {
    seq: i64,
    at: &'r [u8],
    actor: &'r [u8],
    role: &'r [u8],
}

/// The first row of one actor and role that no span of theirs covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outside {
    pub actor: Vec<u8>,
    pub role: Vec<u8>,
    pub seq: i64,
    pub at: Vec<u8>,
}

#[derive(Debug)]
struct Pair {
    actor: Vec<u8>,
    role: Vec<u8>,
    /// `None` until [`Acting::learn`] gives them.
    spans: Option<Vec<Span>>,
    /// The pair's first row checked (its sequence number orders the findings).
    first_seq: i64,
    outside: Option<(i64, Vec<u8>)>,
}

impl Pair {
    fn covers(&self, at: &[u8]) -> bool {
        self.spans.as_deref().is_some_and(|spans| {
            spans
                .iter()
                .any(|(lo, hi)| lo.as_slice() <= at && hi.as_deref().is_none_or(|hi| at <= hi))
        })
    }
}

/// Holds one chained table's rows to the actors' spans. Rows stamped before `since` (the first
/// user's creation: development mode's, whose actors declared themselves) and rows of the
/// `skip` actor and role (the ledger's own, in the audit) are not held to anything.
#[derive(Debug)]
pub struct Acting {
    columns: ActingColumns,
    since: Vec<u8>,
    skip: Option<Who>,
    index: FastMap<Who, usize>,
    pairs: Vec<Pair>,
}

impl Acting {
    pub fn new(columns: ActingColumns, since: &[u8], skip: Option<(&[u8], &[u8])>) -> Acting {
        Acting {
            columns,
            since: since.to_vec(),
            skip: skip.map(|(a, r)| (a.to_vec(), r.to_vec())),
            index: FastMap::default(),
            pairs: Vec::new(),
        }
    }

    /// Row `row`'s sequence number, stamp, actor and role, when it is to be held to the
    /// audit; `None` for a row before `since`, the skipped actor's, or one lacking a cell
    /// (a NOT NULL column: the chain check names such a row).
    fn held<'r>(&self, rows: &'r Rows, row: usize) -> Option<Held<'r>> {
        let c = self.columns;
        let at = rows.get(row, c.at)?;
        if at < self.since.as_slice() {
            return None;
        }
        let (actor, role) = (rows.get(row, c.actor)?, rows.get(row, c.role)?);
        if let Some((a, r)) = &self.skip {
            if a.as_slice() == actor && r.as_slice() == role {
                return None;
            }
        }
        let seq = rows.int(row, c.seq)?;
        Some(Held {
            seq,
            at,
            actor,
            role,
        })
    }

    /// The pair of `actor` and `role`, added (without spans) when new.
    fn pair_of(&mut self, actor: &[u8], role: &[u8]) -> usize {
        let key = (actor.to_vec(), role.to_vec());
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        self.index.insert(key, self.pairs.len());
        self.pairs.push(Pair {
            actor: actor.to_vec(),
            role: role.to_vec(),
            spans: None,
            first_seq: i64::MAX,
            outside: None,
        });
        self.pairs.len() - 1
    }

    fn is(&self, pair: usize, actor: &[u8], role: &[u8]) -> bool {
        let p = &self.pairs[pair];
        p.actor == actor && p.role == role
    }

    /// The actor and role of pair `pair`.
    pub fn pair(&self, pair: usize) -> Option<(&[u8], &[u8])> {
        self.pairs
            .get(pair)
            .map(|p| (p.actor.as_slice(), p.role.as_slice()))
    }

    /// Gives pair `pair` its spans (none: the audit never let that actor act so).
    pub fn learn(&mut self, pair: usize, spans: Vec<Span>) {
        if let Some(p) = self.pairs.get_mut(pair) {
            p.spans = Some(spans);
        }
    }

    /// Checks the rows of the table from row `start` of `rows` on (chunks in order). Stops
    /// at a row whose actor and role has not been given its spans, and returns that row and
    /// its pair: [`Acting::learn`] them, then feed again from that row. `None`: every row
    /// from `start` on was checked.
    pub fn feed(&mut self, rows: &Rows, start: usize) -> Option<(usize, usize)> {
        let mut last = usize::MAX;
        for row in start..rows.len() {
            let Some(held) = self.held(rows, row) else {
                continue;
            };
            if last == usize::MAX || !self.is(last, held.actor, held.role) {
                last = self.pair_of(held.actor, held.role);
            }
            let pair = &mut self.pairs[last];
            if pair.spans.is_none() {
                return Some((row, last));
            }
            pair.first_seq = pair.first_seq.min(held.seq);
            if pair.outside.is_none() && !pair.covers(held.at) {
                pair.outside = Some((held.seq, held.at.to_vec()));
            }
        }
        None
    }

    /// The first row outside its spans of each actor and role, ordered by the pair's first
    /// row checked.
    pub fn outside(&self) -> Vec<Outside> {
        let mut found: Vec<(i64, Outside)> = self
            .pairs
            .iter()
            .filter_map(|p| {
                p.outside.as_ref().map(|(seq, at)| {
                    let row = Outside {
                        actor: p.actor.clone(),
                        role: p.role.clone(),
                        seq: *seq,
                        at: at.clone(),
                    };
                    (p.first_seq, row)
                })
            })
            .collect();
        found.sort_by_key(|(first, row)| (*first, row.seq));
        found.into_iter().map(|(_, row)| row).collect()
    }
}

/// The whole check in one call: `rows` of one table held to `spans` (by actor and role; a pair
/// not given is held to none). The first row outside of each pair, as [`Acting::outside`].
pub fn first_outside(
    columns: ActingColumns,
    since: &[u8],
    skip: Option<(&[u8], &[u8])>,
    spans: Vec<(Who, Vec<Span>)>,
    rows: &[&Rows],
) -> Vec<Outside> {
    let mut acting = Acting::new(columns, since, skip);
    for ((actor, role), spans) in spans {
        let pair = acting.pair_of(&actor, &role);
        acting.learn(pair, spans);
    }
    for chunk in rows {
        let mut from = 0;
        // A pair not given is held to no span: every row of it is outside.
        while let Some((row, pair)) = acting.feed(chunk, from) {
            acting.learn(pair, Vec::new());
            from = row;
        }
    }
    acting.outside()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const COLUMNS: ActingColumns = ActingColumns {
        seq: 0,
        at: 1,
        actor: 2,
        role: 3,
    };

    fn rows(cells: &[(i64, &str, &str, &str)]) -> Rows {
        let seqs: Vec<String> = cells.iter().map(|c| c.0.to_string()).collect();
        let flat: Vec<Option<&[u8]>> = cells
            .iter()
            .zip(&seqs)
            .flat_map(|(c, s)| {
                [
                    Some(s.as_bytes()),
                    Some(c.1.as_bytes()),
                    Some(c.2.as_bytes()),
                    Some(c.3.as_bytes()),
                ]
            })
            .collect();
        Rows::from_cells(4, &flat)
    }

    fn span(lo: &str, hi: Option<&str>) -> Span {
        (lo.as_bytes().to_vec(), hi.map(|h| h.as_bytes().to_vec()))
    }

    fn pair(actor: &str, role: &str) -> Who {
        (actor.as_bytes().to_vec(), role.as_bytes().to_vec())
    }

    #[test]
    fn rows_inside_their_spans_pass_and_the_first_outside_is_named() {
        let table = rows(&[
            (1, "2026-01-01", "ani", "OPERATOR"),
            (2, "2026-02-01", "ani", "OPERATOR"),
            (3, "2026-03-05", "ani", "OPERATOR"), // after her operator span ended
            (4, "2026-03-06", "ani", "SUPERVISOR"),
            (5, "2026-04-01", "ani", "OPERATOR"), // also outside, but later
        ]);
        let spans = vec![
            (
                pair("ani", "OPERATOR"),
                vec![span("2026-01-01", Some("2026-03-01"))],
            ),
            (pair("ani", "SUPERVISOR"), vec![span("2026-03-01", None)]),
        ];
        let found = first_outside(COLUMNS, b"2026-01-01", None, spans, &[&table]);
        assert_eq!(
            found,
            vec![Outside {
                actor: b"ani".to_vec(),
                role: b"OPERATOR".to_vec(),
                seq: 3,
                at: b"2026-03-05".to_vec(),
            }]
        );
    }

    #[test]
    fn rows_before_the_first_user_and_the_ledgers_own_are_not_held() {
        let table = rows(&[
            (1, "2025-12-31", "anyone", "SUPERVISOR"),
            (2, "2026-01-02", "ektpcore", "SYSTEM"),
            (3, "2026-01-03", "ektpcore", "OPERATOR"), // the name alone is not the ledger
        ]);
        let skip = Some((&b"ektpcore"[..], &b"SYSTEM"[..]));
        let found = first_outside(COLUMNS, b"2026-01-01", skip, vec![], &[&table]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].seq, found[0].role.as_slice()),
            (3, &b"OPERATOR"[..])
        );
    }

    #[test]
    fn findings_come_in_the_order_of_each_pairs_first_row_across_chunks() {
        let first = rows(&[
            (1, "2026-01-01", "budi", "SUPERVISOR"),
            (2, "2026-01-01", "ani", "OPERATOR"),
        ]);
        let second = rows(&[
            (3, "2026-05-01", "ani", "OPERATOR"),
            (4, "2026-05-01", "budi", "SUPERVISOR"),
            (5, "2026-05-02", "ghost", "SUPERVISOR"),
        ]);
        let until = |who: &str, role: &str| {
            (
                pair(who, role),
                vec![span("2026-01-01", Some("2026-02-01"))],
            )
        };
        let spans = vec![until("ani", "OPERATOR"), until("budi", "SUPERVISOR")];
        let found = first_outside(COLUMNS, b"2026-01-01", None, spans, &[&first, &second]);
        let seqs: Vec<(i64, &[u8])> = found.iter().map(|o| (o.seq, o.actor.as_slice())).collect();
        assert_eq!(
            seqs,
            vec![(4, &b"budi"[..]), (3, &b"ani"[..]), (5, &b"ghost"[..])]
        );
    }

    #[test]
    fn a_feed_stops_at_each_new_pair_and_goes_on_once_it_is_learnt() {
        let table = rows(&[
            (1, "2026-01-02", "ani", "OPERATOR"),
            (2, "2026-01-02", "ani", "OPERATOR"),
            (3, "2026-01-02", "budi", "OPERATOR"),
            (4, "2026-01-02", "ani", "OPERATOR"),
        ]);
        let mut acting = Acting::new(COLUMNS, b"2026-01-01", None);
        let (row, ani) = acting.feed(&table, 0).unwrap();
        assert_eq!(
            (row, acting.pair(ani)),
            (0, Some((&b"ani"[..], &b"OPERATOR"[..])))
        );
        acting.learn(ani, vec![span("2026-01-01", None)]);
        let (row, budi) = acting.feed(&table, row).unwrap();
        assert_eq!(
            (row, acting.pair(budi)),
            (2, Some((&b"budi"[..], &b"OPERATOR"[..])))
        );
        acting.learn(budi, vec![]);
        assert_eq!(acting.feed(&table, row), None);
        let found = acting.outside();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].actor.as_slice(), found[0].seq), (&b"budi"[..], 3));
    }

    #[test]
    fn span_ends_are_included_and_stamps_compare_as_text() {
        let table = rows(&[
            (1, "2026-01-01T00:00:00.000000+00:00", "ani", "OPERATOR"),
            (2, "2026-02-01T00:00:00.000000+00:00", "ani", "OPERATOR"),
            (3, "2026-02-01T00:00:00.000001+00:00", "ani", "OPERATOR"),
        ]);
        let spans = vec![(
            pair("ani", "OPERATOR"),
            vec![span(
                "2026-01-01T00:00:00.000000+00:00",
                Some("2026-02-01T00:00:00.000000+00:00"),
            )],
        )];
        let found = first_outside(COLUMNS, b"2026", None, spans, &[&table]);
        assert_eq!(found.iter().map(|o| o.seq).collect::<Vec<_>>(), vec![3]);
    }

    fn day(d: u8) -> String {
        format!("2026-01-{d:02}")
    }

    proptest! {
        /// Fed in chunks, pairs learnt as they first appear (as verify() does), or in one
        /// call with every span known: both name, for each actor and role, its first row
        /// that no span covers, ordered by the pair's first row held, as read one by one.
        #[test]
        fn chunked_and_whole_agree_with_a_row_by_row_reading(
            cells in prop::collection::vec((0u8..3, 0u8..2, 1u8..29), 0..120),
            given in prop::collection::vec(
                prop::collection::vec((1u8..29, prop::option::of(0u8..10)), 0..3), 6),
            cuts in prop::collection::vec(0usize..120, 0..4),
            since in 1u8..10,
            skipping in any::<bool>(),
        ) {
            let names = ["ani", "budi", "ektpcore"];
            let roles = ["OPERATOR", "SYSTEM"];
            let stamps: Vec<String> = cells.iter().map(|c| day(c.2)).collect();
            let table: Vec<(i64, &str, &str, &str)> = cells
                .iter()
                .zip(&stamps)
                .enumerate()
                .map(|(i, (c, at))| (i as i64 + 1, at.as_str(), names[c.0 as usize], roles[c.1 as usize]))
                .collect();
            let spans_of = |a: usize, r: usize| -> Vec<Span> {
                given[a * 2 + r]
                    .iter()
                    .map(|&(lo, len)| span(&day(lo), len.map(|l| day(lo + l)).as_deref()))
                    .collect()
            };
            let skip = skipping.then_some((&b"ektpcore"[..], &b"SYSTEM"[..]));
            let since = day(since);

            // Row by row.
            let mut expected: Vec<(i64, Outside)> = Vec::new();
            let mut firsts: Vec<(Who, i64)> = Vec::new();
            for &(seq, at, actor, role) in &table {
                let skipped = skipping && (actor, role) == ("ektpcore", "SYSTEM");
                if at < since.as_str() || skipped {
                    continue;
                }
                let who = pair(actor, role);
                if !firsts.iter().any(|(w, _)| *w == who) {
                    firsts.push((who.clone(), seq));
                }
                let (a, r) = (names.iter().position(|n| *n == actor).unwrap(), roles.iter().position(|n| *n == role).unwrap());
                let covered = spans_of(a, r).iter().any(|(lo, hi)| {
                    lo.as_slice() <= at.as_bytes() && hi.as_deref().is_none_or(|h| at.as_bytes() <= h)
                });
                if !covered && !expected.iter().any(|(_, o)| (o.actor.clone(), o.role.clone()) == who) {
                    let first = firsts.iter().find(|(w, _)| *w == who).unwrap().1;
                    let (actor, role) = who;
                    expected.push((first, Outside { actor, role, seq, at: at.as_bytes().to_vec() }));
                }
            }
            expected.sort_by_key(|(first, o)| (*first, o.seq));
            let expected: Vec<Outside> = expected.into_iter().map(|(_, o)| o).collect();

            // In one call.
            let mut all = Vec::new();
            for (a, name) in names.iter().enumerate() {
                for (r, role) in roles.iter().enumerate() {
                    all.push((pair(name, role), spans_of(a, r)));
                }
            }
            let whole = rows(&table);
            prop_assert_eq!(&first_outside(COLUMNS, since.as_bytes(), skip, all, &[&whole]), &expected);

            // In chunks, learning each pair where the feed first meets it.
            let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(table.len())).collect();
            bounds.extend([0, table.len()]);
            bounds.sort_unstable();
            let mut acting = Acting::new(COLUMNS, since.as_bytes(), skip);
            for edge in bounds.windows(2) {
                let chunk = rows(&table[edge[0]..edge[1]]);
                let mut from = 0;
                while let Some((row, new)) = acting.feed(&chunk, from) {
                    prop_assert!(row >= from);
                    let (actor, role) = acting.pair(new).unwrap();
                    let a = names.iter().position(|n| n.as_bytes() == actor).unwrap();
                    let r = roles.iter().position(|n| n.as_bytes() == role).unwrap();
                    acting.learn(new, spans_of(a, r));
                    from = row;
                }
            }
            prop_assert_eq!(acting.outside(), expected);
        }
    }
}
