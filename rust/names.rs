//! Indonesian personal names reduced to a canonical form, so that the spellings one person
//! appears under compare equal: *H. Moehammad Soeharto, S.H.* and *Muhamad Suharto* both
//! become `muhamad suharto`.
//!
//! The rules, in order:
//! 1. Compatibility decomposition, diacritics dropped, lower case; apostrophes vanish
//!    (*Ma'ruf* → *maruf*), other punctuation separates words.
//! 2. Titles are set aside: salutations and religious titles before the name (*Bapak, Ibu, H.,
//!    Hj., Pdt.*), academic titles before it (*Drs., Ir., Dr., Prof.*) and degrees after it
//!    (*S.H., S.Pd., M.M., M.Kes.*), after a comma or at the end.
//! 3. *bin / binti* (also *bintu, bt, b.*) splits the name from the patronym, which is kept
//!    apart: it tells two people with the same given name apart.
//! 4. The Muhammad family (*M., Muh., Moh., Mhd., Mohamad, Mochammad, ...*) becomes one
//!    word; *Abd.* becomes *abdul*, *Noor* becomes *nur*.
//! 5. Pre-1972 spellings fold to the modern ones, longest pattern first: oe→u, dj→j, tj→c,
//!    nj→ny, sj→sy, ch→kh. Then y→j (old *j* is modern *y*: *Jusuf* and *Yusuf* meet at
//!    `jusuf`), ie→i, doubled letters once, and kh→h before a consonant (*Achmad, Akhmad,
//!    Ahmad*).
//!
//! The canonical form keeps word order (for string similarity); the key sorts the words (for
//! blocking and for equality regardless of order).

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// A name taken apart by [`parse_name`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameParts {
    /// Folded words in their original order, space-separated.
    pub canonical: String,
    /// The same words sorted: equal for the same words in any order.
    pub key: String,
    /// Titles and degrees found, as written (lower case, without dots).
    pub titles: Vec<String>,
    /// The folded patronym after *bin/binti*, or empty.
    pub patronym: String,
}

const PREFIX_TITLES: &[&str] = &[
    "bapak", "bpk", "bp", "pak", "ibu", "bu", "ny", "nyonya", "nn", "nona", "sdr", "sdri",
    "saudara", "saudari", "tn", "tuan", "h", "hj", "haji", "hajjah", "hajah", "kh", "pdt", "fr",
    "sr", "drs", "dra", "ir", "dr", "drg", "drh", "prof", "ust", "ustadz", "ustad", "almarhum",
    "alm", "almh",
];

const DEGREES: &[&str] = &[
    "sh", "se", "spd", "ssi", "st", "skom", "ssos", "sag", "sip", "skm", "sked", "sfarm", "sp",
    "spdi", "sthi", "shi", "sei", "ssit", "stp", "spt", "shut", "sikom", "sgz", "skep", "ners",
    "mm", "msi", "mpd", "mh", "mkes", "mt", "mba", "mag", "msc", "phd", "amd", "amk", "apt", "bsc",
    "ma", "mkom", "mpdi", "mhi", "mkn", "mak", "mars", "spog", "spa", "spb", "sppd", "sppk",
    "sprad", "spm", "spkk", "spjp", "spot", "spthtkl", "spn", "spkj", "span", "llm", "mpa", "mp",
    "msn", "mph",
];

const PATRONYM_MARKERS: &[&str] = &["bin", "binti", "bintu", "bt"];

const MUHAMMAD: &[&str] = &[
    "m",
    "mhd",
    "muh",
    "moh",
    "mohd",
    "muhd",
    "moch",
    "mochd",
    "mohamad",
    "mohammad",
    "mohammed",
    "mohamed",
    "muhamad",
    "muhammad",
    "muhammed",
    "muhamed",
    "mochamad",
    "mochammad",
    "mukhamad",
    "mukhammad",
    "mohamat",
    "muhamat",
    "mokhamad",
    "mokhammad",
];

/// A raw word: its letters (lower case, no diacritics, no apostrophes) and whether it was
/// written with a dot, which marks abbreviations (*H.*, *S.H.*, *b.*).
struct Word {
    text: String,
    dotted: bool,
    after_comma: bool,
}

fn words(raw: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut dotted, mut after_comma) = (false, false);
    let flush = |cur: &mut String, dotted: &mut bool, after_comma: bool, out: &mut Vec<Word>| {
        if !cur.is_empty() {
            out.push(Word {
                text: std::mem::take(cur),
                dotted: *dotted,
                after_comma,
            });
        }
        *dotted = false;
    };
    for c in raw
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
    {
        match c {
            '\'' | '\u{2019}' | '\u{2018}' | '`' | '\u{00B4}' => {}
            '.' => {
                // "S.H." is one word; "A.Rahman" is two.
                dotted = true;
                if !cur.is_empty() && !is_degree_prefix(&cur) {
                    flush(&mut cur, &mut dotted, after_comma, &mut out);
                    if let Some(last) = out.last_mut() {
                        last.dotted = true;
                    }
                }
            }
            ',' | ';' => {
                flush(&mut cur, &mut dotted, after_comma, &mut out);
                after_comma = true;
            }
            c if c.is_alphanumeric() => cur.push(c),
            _ => flush(&mut cur, &mut dotted, after_comma, &mut out),
        }
    }
    flush(&mut cur, &mut dotted, after_comma, &mut out);
    out
}

/// True while the letters so far could begin a dotted degree (S.H., S.Pd., M.Kes.,
/// Sp.P.D.): keep reading through the dot.
fn is_degree_prefix(cur: &str) -> bool {
    DEGREES
        .iter()
        .any(|d| d.starts_with(cur) && d.len() > cur.len())
}

fn fold_word(word: &str) -> String {
    if MUHAMMAD.contains(&word) {
        return "muhamad".into();
    }
    let mut word = match word {
        "abd" => "abdul".to_string(),
        "noor" | "nor" => "nur".to_string(),
        other => other.to_string(),
    };
    // Each pass can expose a pattern for the next (ty → tj → c); a few passes reach the fixed
    // point, which makes normalising twice the same as normalising once.
    for _ in 0..4 {
        let next = fold_pass(&word);
        if next == word {
            break;
        }
        word = next;
    }
    word
}

fn fold_pass(word: &str) -> String {
    let mut s = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(c) = rest.chars().next() {
        let pair = rest.get(..2);
        let replaced = match pair {
            Some("oe") => Some("u"),
            Some("dj") => Some("j"),
            Some("tj") => Some("c"),
            Some("nj") => Some("ny"),
            Some("sj") => Some("sy"),
            Some("ch") => Some("kh"),
            _ => None,
        };
        match replaced {
            Some(r) => {
                s.push_str(r);
                rest = &rest[2..];
            }
            None => {
                s.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    let s = s.replace('y', "j").replace("ie", "i");
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && chars[i - 1] == c {
            continue; // doubled letter
        }
        // kh before a consonant (or at the end) is a plain h: Akhmad, Achmad, Ahmad.
        if c == 'k' && chars.get(i + 1) == Some(&'h') {
            let next = chars.get(i + 2);
            if next.is_none_or(|n| !"aiueo".contains(*n)) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Takes a name apart; see the module documentation for the rules. The canonical form is a
/// fixed point: taking it apart again changes nothing (a folded word can turn into a title,
/// as *Irr* becomes *ir*, so the rules are applied until they stop changing the name).
pub fn parse_name(raw: &str) -> NameParts {
    let mut parts = parse_once(raw);
    for _ in 0..3 {
        let again = parse_once(&parts.canonical);
        if again.canonical == parts.canonical {
            break;
        }
        parts.titles.extend(again.titles);
        if parts.patronym.is_empty() {
            parts.patronym = again.patronym;
        }
        parts.canonical = again.canonical;
        parts.key = again.key;
    }
    parts
}

fn parse_once(raw: &str) -> NameParts {
    let ws = words(raw);
    let mut titles = Vec::new();
    let mut start = 0;
    // Leading titles, but never the last word: "Haji" alone is a name.
    while start + 1 < ws.len() && PREFIX_TITLES.contains(&ws[start].text.as_str()) {
        titles.push(ws[start].text.clone());
        start += 1;
    }
    let mut end = ws.len();
    let mut degrees = Vec::new();
    while end > start + 1 {
        let w = &ws[end - 1];
        let degree =
            DEGREES.contains(&w.text.as_str()) && (w.dotted || w.after_comma || w.text.len() >= 2);
        if !(degree || (w.after_comma && PREFIX_TITLES.contains(&w.text.as_str()))) {
            break;
        }
        degrees.push(w.text.clone());
        end -= 1;
    }
    titles.extend(degrees.into_iter().rev());
    let body: Vec<&Word> = ws[start..end]
        .iter()
        .filter(|w| !w.text.is_empty())
        .collect();
    let split =
        body.iter().enumerate().skip(1).find(|(_, w)| {
            PATRONYM_MARKERS.contains(&w.text.as_str()) || (w.text == "b" && w.dotted)
        });
    let (name, patronym) = match split {
        Some((i, _)) => (&body[..i], &body[i + 1..]),
        None => (&body[..], &body[body.len()..]),
    };
    let folded: Vec<String> = name.iter().map(|w| fold_word(&w.text)).collect();
    let mut sorted = folded.clone();
    sorted.sort_unstable();
    NameParts {
        canonical: folded.join(" "),
        key: sorted.join(" "),
        titles,
        patronym: patronym
            .iter()
            .map(|w| fold_word(&w.text))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The canonical form alone.
pub fn normalize_name(raw: &str) -> String {
    parse_name(raw).canonical
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_reforms_meet() {
        for (a, b) in [
            ("Soeharto", "Suharto"),
            ("Djoko", "Joko"),
            ("Tjahjono", "Cahyono"),
            ("Njoman", "Nyoman"),
            ("Sjamsul", "Syamsul"),
            ("Chairul", "Khairul"),
            ("Jusuf", "Yusuf"),
            ("Achmad", "Ahmad"),
            ("Akhmad", "Ahmad"),
        ] {
            assert_eq!(normalize_name(a), normalize_name(b), "{a} / {b}");
        }
    }

    #[test]
    fn muhammad_family_titles_and_patronyms() {
        let p = parse_name("H. Moch. Ridwan bin Abd. Rahman, S.H., M.M.");
        assert_eq!(p.canonical, "muhamad ridwan");
        assert_eq!(p.patronym, "abdul rahman");
        assert_eq!(p.titles, vec!["h", "sh", "mm"]);
        assert_eq!(normalize_name("Mohammad Ridwan"), "muhamad ridwan");
        assert_eq!(normalize_name("M. Ridwan"), "muhamad ridwan");
        assert_eq!(
            normalize_name("Hj. Siti Nurhaliza, S.Pd."),
            "siti nurhaliza"
        );
        assert_eq!(normalize_name("Dra. Sri Wahyuni M.Kes"), "sri wahjuni");
        assert_eq!(normalize_name("Ma'ruf Amin"), "maruf amin");
        assert_eq!(normalize_name("  BUDI   santoso "), "budi santoso");
    }

    #[test]
    fn the_canonical_form_is_a_fixed_point() {
        assert_eq!(
            normalize_name("IRR:0"),
            normalize_name(&normalize_name("IRR:0"))
        );
    }

    #[test]
    fn key_ignores_word_order_and_lone_titles_stay() {
        assert_eq!(
            parse_name("Santoso Budi").key,
            parse_name("Budi Santoso").key
        );
        assert_eq!(normalize_name("Haji"), "haji");
        assert_eq!(normalize_name(""), "");
        assert_eq!(normalize_name("José"), "jose");
    }
}
