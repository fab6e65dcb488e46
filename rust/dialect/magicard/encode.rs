//! The Magicard encoder: one page per printed side, its tags, and its planes written
//! bit-planar from ektpcore's panels. Its mirror image is [`super::decode`].

use super::{
    back_format, invalid, Card, JobSettings, COLOUR_PLANE, COMMAND_GUARD, DEPTH, DOTS, ETX, FS,
    GUARD, K_PLANE, LINES, LINE_BYTES, PAGE_GUARD, PLANE_END, ROW_BYTES, SOH,
};
use crate::dialect::batch::{self, CardFaces, EncodedCards};
use crate::dialect::{Condition, PanelSet, Ribbon};
use crate::error::EktpError;
use crate::raster::{self, Face, Overlay, Panels, Settings};

/// Appends a simple command: 9 bytes `0x05`, `0x01`, `text`, `0x1C 0x03` (e.g. `REQ,STA,MSR,`).
pub fn simple_command(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&[GUARD; COMMAND_GUARD]);
    out.push(SOH);
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&[FS, ETX]);
}

/// The status query: the total of cards printed (`REQ,STA,TCQ,`), one reply. The public
/// sources name no error or state key, so the counter is what a Magicard says: a card is
/// printed when it goes up.
pub fn status_query(out: &mut Vec<u8>) -> usize {
    simple_command(out, "REQ,STA,TCQ,");
    1
}

/// What a reply says (`01 STA,<key><value>,` with or without its `03`): a well-formed `STA`
/// reply is a printer that answers (ready); anything else is a printer someone must look at.
pub fn condition(reply: &str) -> Condition {
    let body = reply.trim_start_matches('\u{1}').trim_end_matches('\u{3}');
    if body.starts_with("STA,") && body.ends_with(',') {
        Condition::Ready
    } else {
        Condition::NeedsAction
    }
}

/// The overcoat panel `OVRON` stands for: every one of the 642 dots of every line.
pub fn full_overlay() -> Vec<u8> {
    let mut line = [0xFFu8; LINE_BYTES];
    line[LINE_BYTES - 1] = 0xFF << (LINE_BYTES * 8 - DOTS);
    line.repeat(LINES)
}

/// Mask of the bits of a line's last panel byte that lie past its 642 dots.
const PAST_END: u8 = 0xFF >> (DOTS % 8);

/// Checks one side's panels; returns the panels it prints.
fn check_side(p: &Panels, side: &str) -> Result<PanelSet, EktpError> {
    if p.lines != LINES || p.dots != DOTS {
        return Err(invalid(format!(
            "Magicard panels are {LINES} lines of {DOTS} dots; the {side} has {} of {}",
            p.lines, p.dots
        )));
    }
    let set = PanelSet::of_panels(p);
    if set.colour && [&p.y, &p.m, &p.c].iter().any(|v| v.len() != LINES * DOTS) {
        return Err(invalid(format!(
            "the {side}'s colour panels must be three of {} dots",
            LINES * DOTS
        )));
    }
    if let Some(k) = &p.k {
        if k.len() != LINES * LINE_BYTES {
            return Err(invalid(format!(
                "the {side}'s K panel has {} bytes; a Magicard K panel has {}",
                k.len(),
                LINES * LINE_BYTES
            )));
        }
        if k.chunks_exact(LINE_BYTES)
            .any(|l| l[LINE_BYTES - 1] & PAST_END != 0)
        {
            return Err(invalid(format!(
                "the {side}'s K panel has bits set past the {DOTS} dots of a line"
            )));
        }
    }
    if let Some(o) = &p.o {
        if *o != full_overlay() {
            return Err(overcoat_error(side));
        }
    }
    if !(set.colour || set.k) {
        return Err(invalid(format!(
            "a Magicard side prints colour or K; the {side} has {}",
            set.describe()
        )));
    }
    Ok(set)
}

fn overcoat_error(side: &str) -> EktpError {
    invalid(format!(
        "the Magicard overcoat is all or nothing (OVRON, OVROFF); the {side}'s O panel leaves \
         dots clear"
    ))
}

/// What a card's pages say besides their panels.
struct Pages<'a> {
    code: &'static str,
    /// The back's format (`BAC`) when the card is two-sided.
    back: Option<&'static str>,
    ribbon: &'a Ribbon,
}

/// The ribbon and the back format of a card whose sides print `front` and `back`.
fn plan(
    settings: &JobSettings,
    front: PanelSet,
    back: Option<PanelSet>,
) -> Result<(Ribbon, &'static str, Option<&'static str>), EktpError> {
    let (ribbon, code) = super::ribbon(&settings.ribbon)?;
    ribbon.check(false, front)?;
    let format = match back {
        None => None,
        Some(b) => {
            ribbon.check(true, b)?;
            Some(back_format(b).ok_or_else(|| {
                invalid(format!(
                    "a Magicard back prints CKO, KO, C, CO or K; this one prints {}",
                    b.describe()
                ))
            })?)
        }
    };
    Ok((ribbon, code, format))
}

/// Appends a page's header: guard, `0x01`, its tags, `0x1C`.
fn header(out: &mut Vec<u8>, pages: &Pages<'_>, page: u8, set: PanelSet) {
    out.extend_from_slice(&[GUARD; PAGE_GUARD]);
    out.push(SOH);
    let mut tag = |t: &str| {
        out.push(b',');
        out.extend_from_slice(t.as_bytes());
    };
    tag(pages.code);
    tag(if pages.back.is_some() {
        "DPXON"
    } else {
        "DPXOFF"
    });
    if let (1, Some(format)) = (page, pages.back) {
        tag(&format!("BAC{format}"));
    }
    tag(&format!("PAG{page}"));
    tag(if set.o { "OVRON" } else { "OVROFF" });
    tag(&format!("HGT{LINES}"));
    tag(&format!("WID{DOTS}"));
    tag(match (set.colour, set.k) {
        (true, true) => "IMFBGRK",
        (true, false) => "IMFBGR",
        _ => "IMFK",
    });
    if set.colour {
        for letter in ["B", "G", "R"] {
            tag(&format!("SZ{letter}{COLOUR_PLANE}"));
        }
    }
    if set.k {
        tag(&format!("SZK{K_PLANE}"));
    }
    let _ = pages.ribbon;
    out.push(FS);
}

/// Eight dots' bit `j`, the first dot in the most significant bit: each byte's bit 0 of
/// `x >> j` lands at bit `7 - i` of the product's top byte (no two partial products meet, so
/// nothing carries).
#[inline(always)]
fn gather(x: u64) -> u8 {
    ((x & 0x0101_0101_0101_0101).wrapping_mul(0x8040_2010_0804_0201) >> 56) as u8
}

/// Writes one line of a colour panel (642 levels) as its six bit rows; returns the OR of
/// the levels, for the caller's 6-bit check.
pub(crate) fn colour_row(line: &[u8], rows: &mut [u8]) -> u8 {
    debug_assert_eq!(line.len(), DOTS);
    debug_assert_eq!(rows.len(), ROW_BYTES * DEPTH as usize);
    let mut any = 0u64;
    let whole = DOTS / 8;
    for g in 0..=whole {
        let x = if g < whole {
            u64::from_le_bytes(line[g * 8..g * 8 + 8].try_into().expect("8 bytes"))
        } else {
            line[g * 8..]
                .iter()
                .rev()
                .fold(0u64, |acc, &v| (acc << 8) | u64::from(v))
        };
        any |= x;
        for j in 0..DEPTH as usize {
            rows[j * ROW_BYTES + g] = gather(x >> j);
        }
    }
    for j in 0..DEPTH as usize {
        rows[j * ROW_BYTES + whole + 1..(j + 1) * ROW_BYTES].fill(0);
    }
    any.to_le_bytes().iter().fold(0, |a, &b| a | b)
}

/// Writes colour lines into a plane region of whole rows; refuses levels over 6 bits.
fn colour_lines(values: &[u8], plane: &mut [u8], side: &str) -> Result<(), EktpError> {
    let rows = ROW_BYTES * DEPTH as usize;
    let any = values
        .chunks_exact(DOTS)
        .zip(plane.chunks_exact_mut(rows))
        .fold(0u8, |acc, (line, out)| acc | colour_row(line, out));
    if any >> DEPTH != 0 {
        return Err(invalid(format!(
            "the {side} has colour levels over the 64 of 6 bits"
        )));
    }
    Ok(())
}

/// Writes the K plane from a packed K panel.
fn k_plane(k: &[u8], plane: &mut [u8]) {
    for (line, row) in k
        .chunks_exact(LINE_BYTES)
        .zip(plane.chunks_exact_mut(ROW_BYTES))
    {
        row[..LINE_BYTES].copy_from_slice(line);
        row[LINE_BYTES..].fill(0);
    }
}

fn plane_end(out: &mut Vec<u8>, letter: u8) {
    out.extend_from_slice(&[FS, letter, PLANE_END]);
}

/// Reserves `n` bytes at the end of `out`; returns where they start.
fn reserve(out: &mut Vec<u8>, n: usize) -> usize {
    let at = out.len();
    out.resize(at + n, 0);
    at
}

/// Appends one page from ready panels.
fn page(
    out: &mut Vec<u8>,
    pages: &Pages<'_>,
    number: u8,
    p: &Panels,
    set: PanelSet,
    side: &str,
) -> Result<(), EktpError> {
    header(out, pages, number, set);
    if set.colour {
        for (values, letter) in [(&p.y, b'B'), (&p.m, b'G'), (&p.c, b'R')] {
            let at = reserve(out, COLOUR_PLANE);
            colour_lines(values, &mut out[at..], side)?;
            plane_end(out, letter);
        }
    }
    if let Some(k) = &p.k {
        let at = reserve(out, K_PLANE);
        k_plane(k, &mut out[at..]);
        plane_end(out, b'K');
    }
    out.push(ETX);
    Ok(())
}

/// Encodes one card: its front page and, when it has a back, its back page.
pub fn encode_card(
    card: &Card<'_>,
    settings: &JobSettings,
    out: &mut Vec<u8>,
) -> Result<(), EktpError> {
    let front = check_side(card.front, "front")?;
    let back = card.back.map(|b| check_side(b, "back")).transpose()?;
    let (ribbon, code, format) = plan(settings, front, back)?;
    let pages = Pages {
        code,
        back: format,
        ribbon: &ribbon,
    };
    let start = out.len();
    let written = page(out, &pages, 1, card.front, front, "front").and_then(|()| match card.back {
        Some(b) => page(out, &pages, 2, b, back.unwrap_or_default(), "back"),
        None => Ok(()),
    });
    if written.is_err() {
        out.truncate(start);
    }
    written
}

/// Lines per band when a side is rasterised and encoded in one pass.
const BAND: usize = 64;

/// The panels a raster side prints, refusing an overlay mask (the overcoat is a tag).
fn side_set(face: &Face<'_>, s: &Settings, side: &str) -> Result<PanelSet, EktpError> {
    if let Overlay::Mask(_) = s.overlay {
        return Err(overcoat_error(side));
    }
    if s.depth != DEPTH {
        return Err(invalid(format!(
            "Magicard colour is {DEPTH} bits a dot; the {side}'s settings ask for {}",
            s.depth
        )));
    }
    let set = PanelSet::of_settings(s, face.rgb.is_some());
    if !(set.colour || set.k) {
        return Err(invalid(format!(
            "a Magicard side prints colour or K; the {side}'s settings print {}",
            set.describe()
        )));
    }
    Ok(set)
}

/// Rasterises one side straight into its page: colour a band of lines at a time, written
/// bit-planar into the reserved planes while the band is in the cache.
fn face_page(
    out: &mut Vec<u8>,
    pages: &Pages<'_>,
    number: u8,
    (face, s): (&Face<'_>, &Settings),
    set: PanelSet,
    panels: &mut Panels,
    side: &str,
) -> Result<(), EktpError> {
    header(out, pages, number, set);
    let colour_at = if set.colour {
        let at = reserve(out, 3 * (COLOUR_PLANE + 3));
        for (i, letter) in [b'B', b'G', b'R'].into_iter().enumerate() {
            let end = at + (i + 1) * (COLOUR_PLANE + 3);
            out[end - 3..end].copy_from_slice(&[FS, letter, PLANE_END]);
        }
        Some(at)
    } else {
        None
    };
    let rows = ROW_BYTES * DEPTH as usize;
    raster::rasterize_bands(face, s, panels, BAND, |first, p| {
        if first == 0 && (p.lines != LINES || p.dots != DOTS) {
            return Err(invalid(format!(
                "Magicard panels are {LINES} lines of {DOTS} dots; the {side} has {} of {}",
                p.lines, p.dots
            )));
        }
        if let Some(at) = colour_at {
            let n = p.y.len() / DOTS;
            for (i, values) in [&p.y, &p.m, &p.c].into_iter().enumerate() {
                let plane = at + i * (COLOUR_PLANE + 3) + first * rows;
                colour_lines(values, &mut out[plane..plane + n * rows], side)?;
            }
        }
        Ok::<(), EktpError>(())
    })?;
    if let Some(k) = &panels.k {
        let at = reserve(out, K_PLANE);
        k_plane(k, &mut out[at..]);
        plane_end(out, b'K');
    }
    out.push(ETX);
    Ok(())
}

/// Raster buffers a worker keeps from card to card.
#[derive(Debug, Default)]
pub struct Scratch {
    front: Panels,
    back: Panels,
}

/// Rasterises and encodes one card from its faces: the same bytes as
/// [`raster::rasterize`] followed by [`encode_card`], in one pass.
pub fn encode_faces_with(
    front: (&Face<'_>, &Settings),
    back: Option<(&Face<'_>, &Settings)>,
    settings: &JobSettings,
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) -> Result<(), EktpError> {
    let front_set = side_set(front.0, front.1, "front")?;
    let back_set = back.map(|(f, s)| side_set(f, s, "back")).transpose()?;
    let (ribbon, code, format) = plan(settings, front_set, back_set)?;
    let pages = Pages {
        code,
        back: format,
        ribbon: &ribbon,
    };
    let start = out.len();
    let mut written = face_page(
        out,
        &pages,
        1,
        front,
        front_set,
        &mut scratch.front,
        "front",
    );
    if let (Ok(()), Some(b)) = (&written, back) {
        let set = back_set.unwrap_or_default();
        written = face_page(out, &pages, 2, b, set, &mut scratch.back, "back");
    }
    if written.is_err() {
        out.truncate(start);
    }
    written
}

static SCRATCH: std::sync::Mutex<Vec<Scratch>> = std::sync::Mutex::new(Vec::new());

/// Rasterises and encodes cards (one or two pages each, in order) on every core.
pub fn encode_cards(
    cards: &[CardFaces<'_>],
    front: &Settings,
    back: &Settings,
    settings: &JobSettings,
) -> Result<EncodedCards, EktpError> {
    // A Magicard answers nothing while it takes pages.
    batch::encode_batch(
        cards,
        (front, back),
        settings,
        &SCRATCH,
        |f, b, j, out, s| encode_faces_with(f, b, j, out, s).map(|()| 0),
    )
}
