//! Demographic duplicates: records with different NIKs that are probably the same person.
//!
//! The approach is Fellegi-Sunter record linkage, in the shape Splink popularised:
//!
//! 1. **Blocking.** Several cheap keys (birth date + sex; a phonetic key of the name + birth
//!    year; mother's name + birth place; the name + birth day and month) each group the
//!    records; every pair
//!    inside a group is a candidate, and the rules are unioned. A group larger than
//!    `max_block` (a common name, SIAK's placeholder birth dates 1 July and 31 December) is not
//!    expanded in full: its members are sorted by name and each is paired with its next
//!    `window` neighbours only, and the group is reported.
//! 2. **Comparison.** Each candidate pair gets a level per field: names by Jaro-Winkler and
//!    Levenshtein on the canonical form ([`crate::names`]), birth dates exact / day-month
//!    swapped / one digit off / same year, sex, birth place and mother's name.
//! 3. **Scoring.** The levels' weights (log2 of m/u) add up to the pair's score; pairs at or
//!    above the threshold are matches, and matches are joined into clusters (connected
//!    components, by union-find).
//!
//! Everything runs over whole columns inside Rust; no comparison crosses into Python.

use rapidfuzz::distance::{jaro_winkler, levenshtein};
use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::EktpError;
use crate::names::parse_name;
use crate::nik::{civil_from_unix_days, NAT};

/// "No value" in a level column: the field was missing on either side and weighs nothing.
pub const MISSING: u8 = 255;

/// The fields of the records to link, one column each, all of the same length.
pub struct People<'a> {
    /// Names as written; they are normalised here.
    pub name: &'a [Option<String>],
    /// Birth dates as days since 1970-01-01, [`NAT`] when unknown.
    pub birth: &'a [i64],
    /// ISO/IEC 5218 sex codes, 0 when unknown.
    pub sex: &'a [u8],
    /// Birth places as written, or `None`.
    pub place: &'a [Option<String>],
    /// Mothers' names as written, or `None`.
    pub mother: &'a [Option<String>],
    /// NIKs (-1 when unknown or invalid): pairs sharing a NIK are exact duplicates, found by
    /// NIK dedup, and are not reported here.
    pub nik: &'a [i64],
}

/// The weight of each comparison level, as log2(m/u): positive for agreement, negative for
/// disagreement. Index = level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights {
    /// exact key, close (JW >= 0.92 or one edit), fuzzy (JW >= 0.80), different
    pub name: [f64; 4],
    /// Term-frequency adjustment for an exact name: the weight is at most
    /// `log2(records / records with that name) - name_frequency_offset` (and at least the
    /// weight of a close name), so *Siti* or *Ridwan* alone says less than a rare full name.
    pub name_frequency_offset: f64,
    /// exact, day and month swapped, one digit off, same year, different
    pub birth: [f64; 5],
    /// An exact birth date that is one of SIAK's placeholders (1 July, 31 December) says
    /// little: this replaces `birth[0]` for it.
    pub birth_placeholder: f64,
    /// same, different
    pub sex: [f64; 2],
    /// exact, close (JW >= 0.90), different
    pub place: [f64; 3],
    /// exact key, close (JW >= 0.90), different
    pub mother: [f64; 3],
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            name: [8.0, 5.0, -2.0, -7.0],
            name_frequency_offset: 3.0,
            birth: [7.0, 4.0, 0.5, -3.0, -6.0],
            birth_placeholder: 3.0,
            sex: [1.0, -6.0],
            place: [3.0, 2.0, -6.5],
            mother: [5.0, 3.0, -6.5],
        }
    }
}

/// How candidates are generated and matches decided.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub weights: Weights,
    /// Pairs scoring at least this are matches.
    pub threshold: f64,
    /// Groups larger than this are compared by sorted neighbourhood only.
    pub max_block: usize,
    /// Neighbours each member of an oversized group is compared with.
    pub window: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            weights: Weights::default(),
            threshold: 10.0,
            max_block: 400,
            window: 20,
        }
    }
}

/// A blocking group that was too large to expand in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OversizedBlock {
    pub rule: &'static str,
    pub size: usize,
}

/// The matches: pairs of record indices (`left < right`), their score and field levels, a
/// cluster label per record (the smallest record index of its cluster), and the groups that
/// were capped.
#[derive(Clone, Debug, Default)]
pub struct Matches {
    pub left: Vec<u32>,
    pub right: Vec<u32>,
    pub score: Vec<f32>,
    /// Levels per pair, in field order name, birth, sex, place, mother.
    pub levels: [Vec<u8>; 5],
    pub cluster: Vec<i64>,
    pub candidates: usize,
    pub oversized: Vec<OversizedBlock>,
}

/// One record's fields, normalised for blocking and comparison.
pub struct Prepared {
    canonical: String,
    /// The name key (canonical words sorted): what term frequencies count.
    pub key: String,
    phonetic: String,
    birth_days: i64,
    birth: Option<(i32, u8, u8)>,
    sex: u8,
    place: String,
    mother: String,
    nik: i64,
}

/// Consonant skeleton per word: first letter kept, later vowels and h dropped, repeats once,
/// four letters at most. *Santoso* and *Santosa* both give `snts`.
fn phonetic(key: &str) -> String {
    let mut out = String::new();
    for word in key.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        let mut last = '\0';
        let mut n = 0;
        for (i, c) in word.chars().enumerate() {
            if n == 4 {
                break;
            }
            if i > 0 && ("aiueoh".contains(c) || c == last) {
                last = c;
                continue;
            }
            out.push(c);
            last = c;
            n += 1;
        }
    }
    out
}

fn normalise_place(raw: &str) -> String {
    parse_name(raw).key
}

/// Normalises every record's fields (in parallel), after checking the columns agree in length.
pub fn prepare(p: &People<'_>) -> Result<Vec<Prepared>, EktpError> {
    let n = p.name.len();
    let lens = [
        p.birth.len(),
        p.sex.len(),
        p.place.len(),
        p.mother.len(),
        p.nik.len(),
    ];
    if lens.iter().any(|&l| l != n) {
        return Err(EktpError::InvalidArgument(format!(
            "columns differ in length: {n} names, then {lens:?}"
        )));
    }
    if n > u32::MAX as usize {
        return Err(EktpError::InvalidArgument(format!(
            "{n} records are more than one call takes"
        )));
    }
    Ok((0..n)
        .into_par_iter()
        .map(|i| {
            let parts = p.name[i].as_deref().map(parse_name).unwrap_or_default();
            let mother = p.mother[i]
                .as_deref()
                .map(|m| parse_name(m).key)
                .unwrap_or_default();
            Prepared {
                phonetic: phonetic(&parts.key),
                canonical: parts.canonical,
                key: parts.key,
                birth_days: p.birth[i],
                sex: p.sex[i],
                nik: p.nik[i],
                birth: (p.birth[i] != NAT)
                    .then(|| civil_from_unix_days(p.birth[i]))
                    .flatten(),
                place: p.place[i]
                    .as_deref()
                    .map(normalise_place)
                    .unwrap_or_default(),
                mother,
            }
        })
        .collect())
}

fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut buf = Vec::with_capacity(64);
    for p in parts {
        buf.extend_from_slice(p);
        buf.push(0x1F);
    }
    xxh3_64(&buf)
}

type Rule = (&'static str, fn(&Prepared) -> Option<u64>);

/// The blocking rules, unioned. Their order is their number in [`rule_keys`].
const RULES: [Rule; 4] = [
    ("birth date + sex", |r| {
        r.birth
            .map(|_| hash_parts(&[&r.birth_days.to_le_bytes(), &[r.sex]]))
    }),
    ("phonetic name + birth year", |r| {
        match (r.birth, r.phonetic.is_empty()) {
            (Some((y, _, _)), false) => {
                Some(hash_parts(&[r.phonetic.as_bytes(), &y.to_le_bytes()]))
            }
            _ => None,
        }
    }),
    ("mother's name + birth place", |r| {
        (!r.mother.is_empty() && !r.place.is_empty())
            .then(|| hash_parts(&[r.mother.as_bytes(), r.place.as_bytes()]))
    }),
    // Catches a wrong birth year, which breaks the two date rules above.
    ("name + birth day and month", |r| {
        match (r.birth, r.key.is_empty()) {
            (Some((_, m, d)), false) => Some(hash_parts(&[r.key.as_bytes(), &[m, d]])),
            _ => None,
        }
    }),
];

/// How many blocking rules there are.
pub const RULE_COUNT: usize = RULES.len();

/// The name of blocking rule `rule`.
pub fn rule_name(rule: usize) -> &'static str {
    RULES[rule].0
}

/// Each record's key under blocking rule `rule`, or `None` where the rule does not apply.
pub fn rule_keys(records: &[Prepared], rule: usize) -> Vec<Option<u64>> {
    records.par_iter().map(RULES[rule].1).collect()
}

/// Candidate pairs among records sharing a key, packed `left << 32 | right` (indices into
/// `records`). `keyed` holds `(key, index)` for the records the rule applies to.
pub fn group_pairs(
    mut keyed: Vec<(u64, u32)>,
    records: &[Prepared],
    rule: usize,
    config: &Config,
) -> (Vec<u64>, Vec<OversizedBlock>) {
    keyed.par_sort_unstable();
    let mut groups: Vec<&[(u64, u32)]> = keyed
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|g| g.len() > 1)
        .collect();
    let oversized = groups
        .iter()
        .filter(|g| g.len() > config.max_block)
        .map(|g| OversizedBlock {
            rule: rule_name(rule),
            size: g.len(),
        })
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
    let pairs = groups
        .par_iter()
        .flat_map_iter(|g| {
            let mut members: Vec<u32> = g.iter().map(|&(_, i)| i).collect();
            let window = if g.len() > config.max_block {
                // Ties broken by index, so the same group always gives the same pairs.
                members.sort_by(|&a, &b| {
                    (&records[a as usize].canonical, a).cmp(&(&records[b as usize].canonical, b))
                });
                config.window
            } else {
                members.len()
            };
            let mut out = Vec::new();
            for (x, &a) in members.iter().enumerate() {
                for &b in members[x + 1..].iter().take(window) {
                    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                    out.push((lo as u64) << 32 | hi as u64);
                }
            }
            out
        })
        .collect();
    (pairs, oversized)
}

fn jw(a: &str, b: &str) -> f64 {
    jaro_winkler::similarity(a.bytes(), b.bytes())
}

fn name_level(a: &Prepared, b: &Prepared) -> u8 {
    if a.key.is_empty() || b.key.is_empty() {
        return MISSING;
    }
    if a.key == b.key {
        return 0;
    }
    let sim = jw(&a.canonical, &b.canonical).max(jw(&a.key, &b.key));
    if sim >= 0.92 || levenshtein::distance(a.canonical.bytes(), b.canonical.bytes()) <= 1 {
        1
    } else if sim >= 0.80 {
        2
    } else {
        3
    }
}

fn digits(y: i32, m: u8, d: u8) -> [u8; 8] {
    let s = format!("{d:02}{m:02}{:04}", y.rem_euclid(10_000));
    s.as_bytes().try_into().expect("8 digits")
}

fn birth_level(a: Option<(i32, u8, u8)>, b: Option<(i32, u8, u8)>) -> u8 {
    let (Some((ya, ma, da)), Some((yb, mb, db))) = (a, b) else {
        return MISSING;
    };
    if (ya, ma, da) == (yb, mb, db) {
        0
    } else if ya == yb && ma == db && da == mb {
        1
    } else if digits(ya, ma, da)
        .iter()
        .zip(digits(yb, mb, db))
        .filter(|(x, y)| **x != *y)
        .count()
        == 1
    {
        2
    } else if ya == yb {
        3
    } else {
        4
    }
}

fn text_level(a: &str, b: &str) -> u8 {
    if a.is_empty() || b.is_empty() {
        MISSING
    } else if a == b {
        0
    } else if jw(a, b) >= 0.90 {
        1
    } else {
        2
    }
}

fn weight(w: &[f64], level: u8) -> f64 {
    if level == MISSING {
        0.0
    } else {
        w[level as usize]
    }
}

/// The weight of an exact name shared by `frequency` of `records` records: at most
/// `log2(records / frequency) - name_frequency_offset`, never below a close name's weight.
pub fn exact_name_weight(w: &Weights, frequency: u64, records: u64) -> f64 {
    let f = frequency.max(1) as f64;
    w.name[0]
        .min((records.max(1) as f64 / f).log2() - w.name_frequency_offset)
        .max(w.name[1])
}

/// Scores one candidate pair: `None` when the records share a valid NIK (an exact duplicate,
/// not a demographic one) or score below the threshold. `name_weight` is the weight an exact
/// name would get ([`exact_name_weight`] of the name's frequency).
pub fn score_pair(
    a: &Prepared,
    b: &Prepared,
    name_weight: f64,
    config: &Config,
) -> Option<(f32, [u8; 5])> {
    if a.nik >= 0 && a.nik == b.nik {
        return None;
    }
    let w = &config.weights;
    let levels = [
        name_level(a, b),
        birth_level(a.birth, b.birth),
        match (a.sex, b.sex) {
            (0, _) | (_, 0) => MISSING,
            (x, y) => (x != y) as u8,
        },
        text_level(&a.place, &b.place),
        text_level(&a.mother, &b.mother),
    ];
    let placeholder = matches!(a.birth, Some((_, 7, 1)) | Some((_, 12, 31)));
    let birth_weight = if levels[1] == 0 && placeholder {
        w.birth_placeholder
    } else {
        weight(&w.birth, levels[1])
    };
    let name_weight = if levels[0] == 0 {
        name_weight
    } else {
        weight(&w.name, levels[0])
    };
    let score = name_weight
        + birth_weight
        + weight(&w.sex, levels[2])
        + weight(&w.place, levels[3])
        + weight(&w.mother, levels[4]);
    (score >= config.threshold).then_some((score as f32, levels))
}

/// Finds the pairs and clusters of records that are probably the same person.
pub fn find_matches(people: &People<'_>, config: &Config) -> Result<Matches, EktpError> {
    let records = prepare(people)?;
    let n = records.len();
    let mut oversized = Vec::new();
    let mut pairs: Vec<u64> = Vec::new();
    for rule in 0..RULE_COUNT {
        let keyed = rule_keys(&records, rule)
            .into_iter()
            .enumerate()
            .filter_map(|(i, k)| k.map(|k| (k, i as u32)))
            .collect();
        let (p, o) = group_pairs(keyed, &records, rule, config);
        pairs.extend(p);
        oversized.extend(o);
    }
    pairs.par_sort_unstable();
    pairs.dedup();
    let candidates = pairs.len();
    let mut frequency: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for r in &records {
        *frequency.entry(r.key.as_str()).or_default() += 1;
    }
    let scored: Vec<(u64, f32, [u8; 5])> = pairs
        .par_iter()
        .filter_map(|&pair| {
            let (a, b) = (
                &records[(pair >> 32) as usize],
                &records[(pair & 0xFFFF_FFFF) as usize],
            );
            let name_weight =
                exact_name_weight(&config.weights, frequency[a.key.as_str()], n as u64);
            score_pair(a, b, name_weight, config).map(|(s, l)| (pair, s, l))
        })
        .collect();
    let mut m = Matches {
        candidates,
        oversized,
        ..Default::default()
    };
    for (pair, score, levels) in &scored {
        m.left.push((pair >> 32) as u32);
        m.right.push((pair & 0xFFFF_FFFF) as u32);
        m.score.push(*score);
        for (col, &l) in m.levels.iter_mut().zip(levels) {
            col.push(l);
        }
    }
    m.cluster = clusters(n, &m.left, &m.right);
    Ok(m)
}

/// Connected components of the match graph; each record is labelled with the smallest record
/// index of its component.
pub fn clusters(n: usize, left: &[u32], right: &[u32]) -> Vec<i64> {
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            parent[x as usize] = parent[parent[x as usize] as usize];
            x = parent[x as usize];
        }
        x
    }
    for (&a, &b) in left.iter().zip(right) {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            // The smaller index becomes the root, so the label is the component's minimum.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            parent[hi as usize] = lo;
        }
    }
    (0..n as u32).map(|i| find(&mut parent, i) as i64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nik::unix_days;

    fn day(y: i32, m: u8, d: u8) -> i64 {
        unix_days(y, m, d).unwrap()
    }

    #[test]
    fn phonetic_keys_forgive_vowels() {
        assert_eq!(phonetic("budi santoso"), "bd snts");
        assert_eq!(phonetic("budi santosa"), "bd snts");
        assert_eq!(phonetic(""), "");
    }

    #[test]
    fn birth_levels() {
        let a = Some((1980, 3, 4));
        assert_eq!(birth_level(a, a), 0);
        assert_eq!(birth_level(a, Some((1980, 4, 3))), 1);
        assert_eq!(birth_level(a, Some((1981, 3, 4))), 2);
        assert_eq!(birth_level(a, Some((1980, 5, 20))), 3);
        assert_eq!(birth_level(a, Some((1990, 5, 20))), 4);
        assert_eq!(birth_level(a, None), MISSING);
    }

    #[test]
    fn clusters_are_connected_components_labelled_by_minimum() {
        assert_eq!(clusters(6, &[3, 1, 4], &[5, 3, 5]), vec![0, 1, 2, 1, 1, 1]);
    }

    #[test]
    fn finds_the_same_person_under_two_niks() {
        let name = |s: &str| Some(s.to_string());
        let names = [
            name("H. Moehammad Soeharto"),
            name("Muhamad Suharto"),
            name("Siti Aminah"),
            name("Budi"),
        ];
        let birth = [day(1950, 6, 8), day(1950, 8, 6), day(1950, 6, 8), NAT];
        let sex = [1, 1, 2, 1];
        let place = [name("Kemusuk"), name("Kemusuk"), name("Bogor"), None];
        let mother = [name("Sukirah"), name("Soekirah"), name("Sukirah"), None];
        let nik = [1, 2, 3, -1];
        let people = People {
            name: &names,
            birth: &birth,
            sex: &sex,
            place: &place,
            mother: &mother,
            nik: &nik,
        };
        let m = find_matches(&people, &Config::default()).unwrap();
        assert_eq!((m.left.clone(), m.right.clone()), (vec![0], vec![1]));
        assert_eq!(m.levels[0][0], 0);
        assert_eq!(m.levels[1][0], 1); // day and month swapped
        assert_eq!(m.cluster, vec![0, 0, 2, 3]);
        assert_eq!(m.candidates, 1);
        // The same NIK twice is an exact duplicate, not a demographic one.
        let nik_same = [7, 7, 3, -1];
        let people = People {
            nik: &nik_same,
            ..people
        };
        assert!(find_matches(&people, &Config::default())
            .unwrap()
            .left
            .is_empty());
    }

    #[test]
    fn oversized_blocks_are_capped_and_reported() {
        let n = 1000;
        let names: Vec<Option<String>> = (0..n).map(|i| Some(format!("orang{i}"))).collect();
        let birth = vec![day(1970, 7, 1); n];
        let sex = vec![1u8; n];
        let none: Vec<Option<String>> = vec![None; n];
        let nik: Vec<i64> = (0..n as i64).collect();
        let people = People {
            name: &names,
            birth: &birth,
            sex: &sex,
            place: &none,
            mother: &none,
            nik: &nik,
        };
        let config = Config {
            max_block: 100,
            window: 5,
            ..Config::default()
        };
        let m = find_matches(&people, &config).unwrap();
        assert!(m.candidates <= n * 5 * RULES.len());
        assert!(m.oversized.contains(&OversizedBlock {
            rule: "birth date + sex",
            size: n
        }));
        assert!(find_matches(
            &People {
                sex: &sex[..10],
                ..people
            },
            &config
        )
        .is_err());
    }
}
