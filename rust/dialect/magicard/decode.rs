//! The Magicard decoder: the exact inverse of [`super::encode`]. Pages and simple commands are
//! split by their guards, planes read by the lengths their size tags declare, and panels
//! rebuilt bit for bit; anything else is refused with the byte offset where it stops making
//! sense.

use super::{
    back_format, encode::full_overlay, ribbon_of_code, COLOUR_PLANE, COMMAND_GUARD, DEPTH, DOTS,
    ETX, FS, GUARD, K_PLANE, LINES, LINE_BYTES, MAX_TEXT, PAGE_GUARD, PLANE_END, ROW_BYTES, SOH,
};
use crate::dialect::{fail, whole, Command, DecodedCard, DecodedJob, PanelSet, Ribbon, Scan};
use crate::error::EktpError;
use crate::raster::Panels;

/// Splits a stream into commands: `JOB` for a page header (its tags as parameters), `B`, `G`,
/// `R`, `K` for its planes (payloads), `END` for the page's end, and simple commands by their
/// text (`REQ` with parameters `STA`, `MSR`, ...).
pub fn parse(stream: &[u8]) -> Result<Vec<Command>, EktpError> {
    whole(scan(stream)?)
}

/// The complete commands at the start of `stream` and the bytes they take; a command cut off
/// by the end is left for later (what a printer reading a socket does).
pub fn parse_prefix(stream: &[u8]) -> Result<(Vec<Command>, usize), EktpError> {
    let (commands, used, _) = scan(stream)?;
    Ok((commands, used))
}

fn scan(stream: &[u8]) -> Result<Scan, EktpError> {
    let mut out = Vec::new();
    let mut pos = 0;
    // Planes still to come in the open page: (letter, length).
    let mut planes: Vec<(u8, usize)> = Vec::new();
    let mut in_page = false;
    // Where the open page starts, and its first command: a cut inside a page gives back the
    // whole page, so a reader resumes at a page's start.
    let (mut page_start, mut page_first) = (0, 0);
    while pos < stream.len() {
        let start = if in_page { page_start } else { pos };
        let keep = if in_page { page_first } else { out.len() };
        let cut = |mut out: Vec<Command>, at: usize, message: String| {
            out.truncate(keep);
            Ok((out, start, Some((at, message))))
        };
        if in_page {
            if let Some(&(letter, len)) = planes.first() {
                let end = pos + len;
                if end + 3 > stream.len() {
                    return cut(out, pos, format!("plane {} is cut short", letter as char));
                }
                if stream[end..end + 3] != [FS, letter, PLANE_END] {
                    return fail(
                        end,
                        format!(
                            "plane {} must end with 1C {:02X} 3A",
                            letter as char, letter
                        ),
                    );
                }
                out.push(Command {
                    offset: pos,
                    name: (letter as char).to_string(),
                    params: Vec::new(),
                    payload: Some(stream[pos..end].to_vec()),
                });
                planes.remove(0);
                pos = end + 3;
                continue;
            }
            if stream[pos] != ETX {
                return fail(
                    pos,
                    format!("a page ends with 03, found {:02X}", stream[pos]),
                );
            }
            out.push(Command {
                offset: pos,
                name: "END".into(),
                params: Vec::new(),
                payload: None,
            });
            in_page = false;
            pos += 1;
            continue;
        }
        let guards = stream[pos..].iter().take_while(|&&b| b == GUARD).count();
        if guards == 0 {
            return fail(
                pos,
                format!(
                    "expected the 05 guard of a page or command, found {:02X}",
                    stream[pos]
                ),
            );
        }
        pos += guards;
        let Some(&b) = stream.get(pos) else {
            return cut(out, start, "the stream ends in a guard".into());
        };
        if b != SOH {
            return fail(pos, format!("01 must follow the guard, found {b:02X}"));
        }
        pos += 1;
        let text_start = pos;
        let Some(len) = stream[pos..]
            .iter()
            .take(MAX_TEXT + 1)
            .position(|&b| b == FS)
        else {
            if stream.len() - pos > MAX_TEXT {
                return fail(pos, format!("no 1C within {MAX_TEXT} bytes of text"));
            }
            return cut(out, start, "the text is not closed by 1C".into());
        };
        let text = &stream[pos..pos + len];
        if let Some(i) = text.iter().position(|&c| !(0x20..0x7F).contains(&c)) {
            return fail(pos + i, format!("byte {:02X} in a command's text", text[i]));
        }
        let text = String::from_utf8_lossy(text).into_owned();
        pos += len + 1;
        if let Some(tag_text) = text.strip_prefix(',') {
            if guards != PAGE_GUARD {
                return fail(
                    start,
                    format!("a page starts with 64 guard bytes, not {guards}"),
                );
            }
            let tags: Vec<String> = tag_text.split(',').map(str::to_string).collect();
            planes = plane_sizes(&tags, text_start)?;
            (page_start, page_first) = (start, out.len());
            out.push(Command {
                offset: start,
                name: "JOB".into(),
                params: tags,
                payload: None,
            });
            in_page = true;
        } else {
            if guards != COMMAND_GUARD {
                return fail(
                    start,
                    format!("a command starts with 9 guard bytes, not {guards}"),
                );
            }
            match stream.get(pos) {
                Some(&ETX) => pos += 1,
                Some(&other) => {
                    return fail(
                        pos,
                        format!("a command ends with 1C 03, found 1C {other:02X}"),
                    )
                }
                None => return cut(out, start, "the command is not closed by 03".into()),
            }
            let mut pieces = text.split(',').map(str::to_string);
            let name = pieces.next().unwrap_or_default();
            out.push(Command {
                offset: start,
                name,
                params: pieces.collect(),
                payload: None,
            });
        }
    }
    if in_page {
        out.truncate(page_first);
        let message = "the stream ends inside a page".to_string();
        return Ok((out, page_start, Some((stream.len(), message))));
    }
    Ok((out, stream.len(), None))
}

/// The planes a page's tags declare, in order, with their lengths.
fn plane_sizes(tags: &[String], at: usize) -> Result<Vec<(u8, usize)>, EktpError> {
    let mut planes = Vec::new();
    for tag in tags {
        let Some(rest) = tag.strip_prefix("SZ") else {
            continue;
        };
        let (letter, number) = rest.split_at(rest.len().min(1));
        let (letter, want) = match letter {
            "B" | "G" | "R" => (letter.as_bytes()[0], COLOUR_PLANE),
            "K" => (b'K', K_PLANE),
            _ => return fail(at, format!("unknown plane size tag {tag}")),
        };
        let len: usize = match number.parse() {
            Ok(n) => n,
            Err(_) => return fail(at, format!("{tag}: the size is not a number")),
        };
        if len != want {
            return fail(
                at,
                format!(
                    "{tag}: a {LINES}-row plane of {} is {want} bytes",
                    if letter == b'K' { "K" } else { "colour" }
                ),
            );
        }
        if planes.iter().any(|&(l, _)| l == letter) {
            return fail(at, format!("plane {} declared twice", letter as char));
        }
        planes.push((letter, len));
    }
    Ok(planes)
}

/// What a page's tags say.
#[derive(Default)]
struct Tags {
    ribbon: Option<Ribbon>,
    code: Option<String>,
    duplex: bool,
    back: Option<String>,
    page: u8,
    overcoat: bool,
    format: Option<String>,
}

fn read_tags(cmd: &Command) -> Result<Tags, EktpError> {
    let at = cmd.offset;
    let mut t = Tags {
        page: 1,
        ..Tags::default()
    };
    for tag in &cmd.params {
        let (name, value) = tag.split_at(tag.len().min(3));
        match name {
            "LC1" | "LC3" | "LC6" | "LC8" if value.is_empty() => {
                t.ribbon = ribbon_of_code(name);
                t.code = Some(name.to_string());
            }
            "DPX" => t.duplex = on_off(tag, value, at)?,
            "OVR" => t.overcoat = on_off(tag, value, at)?,
            "BAC" => t.back = Some(value.to_string()),
            "PAG" => {
                t.page = match value {
                    "1" => 1,
                    "2" => 2,
                    _ => return fail(at, format!("{tag}: a page is 1 or 2")),
                }
            }
            "HGT" if value != "1016" => {
                return fail(at, format!("{tag}: ektpcore reads pages of {LINES} rows"))
            }
            "WID" if value != "642" => {
                return fail(at, format!("{tag}: ektpcore reads pages {DOTS} dots wide"))
            }
            "IMF" => t.format = Some(value.to_string()),
            _ => {}
        }
    }
    Ok(t)
}

fn on_off(tag: &str, value: &str, at: usize) -> Result<bool, EktpError> {
    match value {
        "ON" => Ok(true),
        "OFF" => Ok(false),
        _ => fail(at, format!("{tag}: ON or OFF")),
    }
}

/// A colour plane back to one level per dot; bits past the 642 dots must be clear.
fn colour_values(plane: &[u8], at: usize) -> Result<Vec<u8>, EktpError> {
    let mut out = vec![0u8; LINES * DOTS];
    let rows = ROW_BYTES * DEPTH as usize;
    for (l, (row, line)) in plane
        .chunks_exact(rows)
        .zip(out.chunks_exact_mut(DOTS))
        .enumerate()
    {
        for j in 0..DEPTH as usize {
            let bits = &row[j * ROW_BYTES..(j + 1) * ROW_BYTES];
            if bits[LINE_BYTES - 1] & PAST != 0 || bits[LINE_BYTES..].iter().any(|&b| b != 0) {
                return fail(
                    at + l * rows + j * ROW_BYTES,
                    format!("row {l}, bit {j}: dots past the {DOTS} of a line are set"),
                );
            }
            for (d, v) in line.iter_mut().enumerate() {
                *v |= ((bits[d / 8] >> (7 - d % 8)) & 1) << j;
            }
        }
    }
    Ok(out)
}

const PAST: u8 = 0xFF >> (DOTS % 8);

/// The K plane back to a packed panel; bits past the 642 dots must be clear.
fn k_values(plane: &[u8], at: usize) -> Result<Vec<u8>, EktpError> {
    let mut out = Vec::with_capacity(LINES * LINE_BYTES);
    for (l, row) in plane.chunks_exact(ROW_BYTES).enumerate() {
        if row[LINE_BYTES - 1] & PAST != 0 || row[LINE_BYTES..].iter().any(|&b| b != 0) {
            return fail(
                at + l * ROW_BYTES,
                format!("K row {l}: dots past the {DOTS} of a line are set"),
            );
        }
        out.extend_from_slice(&row[..LINE_BYTES]);
    }
    Ok(out)
}

/// A page being read: its tags, its panels, where it started.
struct Page {
    tags: Tags,
    panels: Panels,
    offset: usize,
}

/// Decodes a stream: commands, then cards (a front page and, for a two-sided card, its back
/// page) with every panel rebuilt bit for bit.
pub fn decode(stream: &[u8]) -> Result<DecodedJob, EktpError> {
    let commands = parse(stream)?;
    let mut ribbon: Option<String> = None;
    let mut cards: Vec<DecodedCard> = Vec::new();
    let mut page: Option<Page> = None;
    // A two-sided card's front, waiting for its back: (front, its tags, offset).
    let mut pending: Option<(Panels, Tags, usize)> = None;
    for cmd in &commands {
        let at = cmd.offset;
        match cmd.name.as_str() {
            "JOB" => {
                let tags = read_tags(cmd)?;
                let Some(r) = &tags.ribbon else {
                    return fail(at, "a page names its ribbon (LC1, LC3, LC6 or LC8)");
                };
                ribbon.get_or_insert_with(|| r.name.clone());
                page = Some(Page {
                    tags,
                    panels: Panels {
                        lines: LINES,
                        dots: DOTS,
                        ..Panels::default()
                    },
                    offset: at,
                });
            }
            "B" | "G" | "R" | "K" => {
                let Some(p) = page.as_mut() else {
                    return fail(at, "a plane outside a page");
                };
                let data = cmd.payload.as_deref().unwrap_or_default();
                match cmd.name.as_str() {
                    "B" => p.panels.y = colour_values(data, at)?,
                    "G" => p.panels.m = colour_values(data, at)?,
                    "R" => p.panels.c = colour_values(data, at)?,
                    _ => p.panels.k = Some(k_values(data, at)?),
                }
            }
            "END" => {
                let Some(Page {
                    tags,
                    mut panels,
                    offset,
                }) = page.take()
                else {
                    return fail(at, "a page end without a page");
                };
                if tags.overcoat {
                    panels.o = Some(full_overlay());
                }
                let set = PanelSet::of_panels(&panels);
                let format = match (set.colour, set.k) {
                    (true, true) => "BGRK",
                    (true, false) => "BGR",
                    (false, true) => "K",
                    (false, false) => {
                        return fail(offset, "a page without colour or K planes");
                    }
                };
                if tags.format.as_deref() != Some(format) {
                    return fail(
                        offset,
                        format!(
                            "the page's planes make IMF{format}, its tags say {:?}",
                            tags.format
                        ),
                    );
                }
                let Some(r) = tags.ribbon.clone() else {
                    return fail(offset, "a page names its ribbon (LC1, LC3, LC6 or LC8)");
                };
                match (tags.page, pending.take()) {
                    (1, None) => {
                        r.check(false, set).map_err(|e| at_offset(e, offset))?;
                        if tags.duplex {
                            if tags.back.as_deref().is_none_or(|b| !is_back_format(b)) {
                                return fail(offset, "a two-sided front names its back (BAC)");
                            }
                            pending = Some((panels, tags, offset));
                        } else {
                            if tags.back.is_some() {
                                return fail(offset, "BAC on a one-sided card (DPXOFF)");
                            }
                            cards.push(card(panels, None));
                        }
                    }
                    (2, Some((front, front_tags, _))) => {
                        if !tags.duplex || tags.back.is_some() || tags.code != front_tags.code {
                            return fail(
                                offset,
                                "a back page says DPXON, no BAC and its front's ribbon",
                            );
                        }
                        r.check(true, set).map_err(|e| at_offset(e, offset))?;
                        if back_format(set) != front_tags.back.as_deref() {
                            return fail(
                                offset,
                                format!(
                                    "the back prints {}, its front said BAC{}",
                                    set.describe(),
                                    front_tags.back.unwrap_or_default()
                                ),
                            );
                        }
                        cards.push(card(front, Some(panels)));
                    }
                    (1, Some((_, _, front_at))) => {
                        return fail(front_at, "a two-sided card's front without its back page");
                    }
                    _ => return fail(offset, "a back page (PAG2) without its front"),
                }
            }
            _ => {}
        }
    }
    if let Some((_, _, at)) = pending {
        return fail(at, "the stream ends between a card's front and its back");
    }
    Ok(DecodedJob {
        commands,
        ribbon,
        cards,
    })
}

fn is_back_format(b: &str) -> bool {
    matches!(b, "CKO" | "KO" | "C" | "CO" | "K")
}

/// A ribbon refusal found while decoding, as a decode error at the page.
fn at_offset(e: EktpError, offset: usize) -> EktpError {
    EktpError::StreamDecode {
        offset,
        message: e.to_string(),
    }
}

fn card(front: Panels, back: Option<Panels>) -> DecodedCard {
    let depth = if front.y.is_empty() && back.as_ref().is_none_or(|b| b.y.is_empty()) {
        0
    } else {
        DEPTH
    };
    DecodedCard {
        front,
        back,
        chip: None,
        rejected: false,
        depth,
    }
}
