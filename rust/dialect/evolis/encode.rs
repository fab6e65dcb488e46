//! The Evolis encoder: job framing, panel downloads (run lengths for Y, M and C, line codes
//! for K and O), and the fused raster-and-encode path a batch runs on every core. Its mirror
//! image is [`super::decode`].

use super::{invalid, Card, JobSettings, CR, DOTS, ESC, LINES, LINE_BYTES};
use crate::dialect::batch;
pub use crate::dialect::batch::{CardFaces, EncodedCards};
use crate::dialect::{ChipStation, PanelSet};
use crate::error::EktpError;
use crate::raster::{self, Face, Panels, Settings};

/// Appends `ESC name;p1;...;pn CR`.
pub fn command(out: &mut Vec<u8>, name: &str, params: &[&str]) {
    out.push(ESC);
    out.extend_from_slice(name.as_bytes());
    for p in params {
        out.push(b';');
        out.extend_from_slice(p.as_bytes());
    }
    out.push(CR);
}

/// What a station sends first: ACK/NACK replies (`Pem;4`), so that every command is answered
/// and a card is printed only when its `Se` is acknowledged, then a software reset (`Srs`),
/// which clears an error whose cause the operator has removed. Returns the replies.
pub fn handshake(out: &mut Vec<u8>) -> usize {
    command(out, "Pem", &["4"]);
    command(out, "Srs", &[]);
    2
}

/// The commands that open a job: ribbon and feeder. Returns the replies (in ACK/NACK mode).
pub fn job_start(settings: &JobSettings, out: &mut Vec<u8>) -> usize {
    command(out, "Pr", &[&settings.ribbon]);
    command(out, "Pmi", &[&settings.feeder.to_string(), "s"]);
    2
}

/// The status query (`Rst`), answered with one reply in any mode.
pub fn status_query(out: &mut Vec<u8>) -> usize {
    command(out, "Rst", &[]);
    1
}

/// The padding that closes a job.
pub fn job_end(settings: &JobSettings, out: &mut Vec<u8>) {
    out.resize(out.len() + settings.padding, 0);
}

/// The first half of a two-phase card: keep it in the printer and move it to `station`.
pub fn chip_phase(station: ChipStation, out: &mut Vec<u8>) -> usize {
    command(out, "Pneab", &["E"]);
    command(
        out,
        match station {
            ChipStation::Contact => "Sis",
            ChipStation::Contactless => "Sic",
        },
        &[],
    );
    2
}

/// Ejects the card at the chip station into the reject tray.
pub fn reject(out: &mut Vec<u8>) -> usize {
    command(out, "Ser", &[]);
    1
}

/// Checks that a side fills the Evolis canvas.
fn check_geometry(p: &Panels, side: &str) -> Result<(), EktpError> {
    if p.lines != LINES || p.dots != DOTS {
        return Err(invalid(format!(
            "Evolis panels are {LINES} lines of {DOTS} dots; the {side} has {} of {}",
            p.lines, p.dots
        )));
    }
    Ok(())
}

/// Checks the panels' shapes; whether the side has colour. (Levels are checked while the
/// panels are encoded, line by line, so a batch reads each panel once.)
fn check_panels(p: &Panels, side: &str) -> Result<bool, EktpError> {
    check_geometry(p, side)?;
    let colour = [&p.y, &p.m, &p.c];
    let present = colour.iter().filter(|v| !v.is_empty()).count();
    if present != 0 && present != 3 {
        return Err(invalid(format!(
            "the {side} has some colour panels but not all three"
        )));
    }
    for (name, mono) in [("K", &p.k), ("O", &p.o)] {
        if let Some(bits) = mono {
            if bits.len() != LINES * LINE_BYTES {
                return Err(invalid(format!(
                    "the {side}'s {name} panel has {} bytes; a two-level panel has {}",
                    bits.len(),
                    LINES * LINE_BYTES
                )));
            }
        }
    }
    if present == 0 {
        return Ok(false);
    }
    for v in colour {
        if v.len() != LINES * DOTS {
            return Err(invalid(format!(
                "the {side}'s colour panels have {} dots; a panel has {}",
                v.len(),
                LINES * DOTS
            )));
        }
    }
    Ok(true)
}

/// Encodes one card (`Ss` ... `Se;1`) at `depth` colour bits; returns its commands, each
/// answered in ACK/NACK mode.
pub fn encode_card(
    card: &Card<'_>,
    depth: u8,
    settings: &JobSettings,
    out: &mut Vec<u8>,
) -> Result<usize, EktpError> {
    encode_card_with(card, depth, settings, out, &mut Vec::new())
}

/// [`encode_card`] with a scratch buffer for the panel payloads, which a batch keeps from
/// card to card.
pub fn encode_card_with(
    card: &Card<'_>,
    depth: u8,
    settings: &JobSettings,
    out: &mut Vec<u8>,
    payload: &mut Vec<u8>,
) -> Result<usize, EktpError> {
    if !(5..=8).contains(&depth) {
        return Err(invalid(format!("colour depth is 5 to 8 bits, got {depth}")));
    }
    let mut sides = vec![("front", card.front)];
    if let Some(back) = card.back {
        sides.push(("back", back));
    }
    let ribbon = super::ribbon(&settings.ribbon)?;
    for (i, (name, panels)) in sides.iter().enumerate() {
        check_panels(panels, name)?;
        ribbon.check(i == 1, PanelSet::of_panels(panels))?;
    }
    let start = out.len();
    command(out, "Ss", &[]);
    let mut commands = 2; // Ss and Se
    for (i, (name, panels)) in sides.iter().enumerate() {
        command(out, if i == 0 { "Sr" } else { "Sv" }, &[]);
        commands += 1;
        if !panels.y.is_empty() {
            for (letter, values) in [("y", &panels.y), ("m", &panels.m), ("c", &panels.c)] {
                payload.clear();
                let levels = colour_payload(values, depth, settings.compress, payload);
                colour_download(out, start, name, letter, levels, depth, settings, payload)?;
            }
            commands += 3;
        }
        commands += mono_panels(out, panels, settings.compress, payload);
    }
    command(out, "Se", &["1"]);
    Ok(commands)
}

/// Lines per band when a card is rasterised and encoded in one pass: the band's three colour
/// panels (3 x 64 x 648 bytes) stay in the core's L2 cache between the two.
const BAND: usize = 64;

/// What one worker keeps from card to card for [`encode_faces_with`].
#[derive(Debug, Default)]
pub struct Scratch {
    front: Panels,
    back: Panels,
    /// Yellow, magenta and cyan payloads of the side being encoded.
    colour: [Vec<u8>; 3],
    mono: Vec<u8>,
}

/// Rasterises and encodes one card (`Ss` ... `Se;1`) from its faces, at the front settings'
/// colour depth; returns its commands, each answered in ACK/NACK mode.
///
/// The same stream as [`raster::rasterize`] followed by [`encode_card`], in one pass: colour
/// comes from the raster stage a band of lines at a time and is compressed while it is still
/// in the cache, so the panels never travel to memory and back — with every core encoding,
/// that traffic, not arithmetic, is what bounds a batch.
pub fn encode_faces_with(
    front: (&Face<'_>, &Settings),
    back: Option<(&Face<'_>, &Settings)>,
    settings: &JobSettings,
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) -> Result<usize, EktpError> {
    let depth = front.1.depth;
    if !(5..=8).contains(&depth) {
        return Err(invalid(format!("colour depth is 5 to 8 bits, got {depth}")));
    }
    let ribbon = super::ribbon(&settings.ribbon)?;
    ribbon.check(false, PanelSet::of_settings(front.1, front.0.rgb.is_some()))?;
    if let Some((face, s)) = back {
        ribbon.check(true, PanelSet::of_settings(s, face.rgb.is_some()))?;
    }
    let start = out.len();
    command(out, "Ss", &[]);
    let Scratch {
        front: front_panels,
        back: back_panels,
        colour,
        mono,
    } = scratch;
    let sides = [
        Some(("front", front, front_panels)),
        back.map(|b| ("back", b, back_panels)),
    ];
    let mut commands = 2; // Ss and Se
    for (i, (name, (face, raster_settings), panels)) in sides.into_iter().flatten().enumerate() {
        command(out, if i == 0 { "Sr" } else { "Sv" }, &[]);
        commands += 1;
        let mut levels = [0u8; 3];
        for payload in colour.iter_mut() {
            payload.clear();
        }
        let banded = raster::rasterize_bands(face, raster_settings, panels, BAND, |first, p| {
            if first == 0 {
                check_geometry(p, name)?;
            }
            if !p.y.is_empty() {
                for ((values, payload), level) in [&p.y, &p.m, &p.c]
                    .into_iter()
                    .zip(&mut *colour)
                    .zip(&mut levels)
                {
                    *level |= colour_payload(values, depth, settings.compress, payload);
                }
            }
            Ok::<(), EktpError>(())
        });
        if let Err(e) = banded {
            out.truncate(start);
            return Err(e);
        }
        if !panels.y.is_empty() {
            for ((letter, payload), level) in ["y", "m", "c"].into_iter().zip(&*colour).zip(levels)
            {
                colour_download(out, start, name, letter, level, depth, settings, payload)?;
            }
            commands += 3;
        }
        commands += mono_panels(out, panels, settings.compress, mono);
    }
    command(out, "Se", &["1"]);
    Ok(commands)
}

/// Raster and payload buffers a worker keeps from card to card.
static SCRATCH: std::sync::Mutex<Vec<Scratch>> = std::sync::Mutex::new(Vec::new());

/// Rasterises and encodes cards (`Ss` ... `Se;1` each, in order; no job start or end) on every
/// core ([`batch::encode_batch`]).
pub fn encode_cards(
    cards: &[CardFaces<'_>],
    front: &Settings,
    back: &Settings,
    settings: &JobSettings,
) -> Result<EncodedCards, EktpError> {
    batch::encode_batch(cards, (front, back), settings, &SCRATCH, encode_faces_with)
}

/// Writes a side's colour download, or refuses the card (truncating `out` to `start`, so
/// nothing of it is left behind) when a level is over the depth.
#[allow(clippy::too_many_arguments)]
fn colour_download(
    out: &mut Vec<u8>,
    start: usize,
    side: &str,
    letter: &str,
    levels: u8,
    depth: u8,
    settings: &JobSettings,
    payload: &[u8],
) -> Result<(), EktpError> {
    if u32::from(levels) >= 1 << depth {
        out.truncate(start);
        return Err(invalid(format!(
            "the {side} has colour levels over the {} of {depth} bits",
            1u32 << depth
        )));
    }
    let compressed = settings.compress && depth <= 7;
    download(out, letter, 1 << depth, payload, compressed);
    Ok(())
}

/// The K and O downloads of a side that has them; returns how many.
fn mono_panels(out: &mut Vec<u8>, panels: &Panels, compress: bool, payload: &mut Vec<u8>) -> usize {
    let mut written = 0;
    for (letter, bits) in [("k", &panels.k), ("o", &panels.o)] {
        if let Some(bits) = bits {
            mono_panel(out, letter, bits, compress, payload);
            written += 1;
        }
    }
    written
}

fn download(out: &mut Vec<u8>, letter: &str, levels: usize, payload: &[u8], compressed: bool) {
    out.push(ESC);
    if compressed {
        out.extend_from_slice(format!("Dbc;{letter};{levels};{};", payload.len()).as_bytes());
    } else {
        out.extend_from_slice(format!("Db;{letter};{levels};").as_bytes());
    }
    out.extend_from_slice(payload);
    out.push(CR);
}

/// Appends whole colour lines to a panel's payload: run lengths where the depth allows
/// compression, packed levels otherwise. Returns the OR of the levels, which bounds the
/// highest one: the caller checks it against the depth. (A line of 648 dots packs to whole
/// bytes at every depth, so a panel's payload can be built a band of lines at a time.)
fn colour_payload(values: &[u8], depth: u8, compress: bool, payload: &mut Vec<u8>) -> u8 {
    if compress && depth <= 7 {
        values
            .chunks_exact(DOTS)
            .fold(0u8, |acc, line| acc | rle_colour_line(line, depth, payload))
    } else {
        pack_colour(values, depth, payload);
        values.iter().fold(0u8, |acc, &x| acc | x)
    }
}

fn mono_panel(out: &mut Vec<u8>, letter: &str, bits: &[u8], compress: bool, payload: &mut Vec<u8>) {
    if compress {
        payload.clear();
        for line in bits.chunks_exact(LINE_BYTES) {
            // One pass without an early exit, which the compiler vectorises: most lines are
            // all white (K) or all varnished (O).
            let (any, all) = line
                .iter()
                .fold((0u8, 0xFFu8), |(any, all), &b| (any | b, all & b));
            if any == 0 {
                payload.push(0x00);
            } else if all == 0xFF {
                payload.push(0xFF);
            } else {
                let n = line.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                payload.push(n as u8);
                payload.extend_from_slice(&line[..n]);
            }
        }
        download(out, letter, 2, payload, true);
    } else {
        download(out, letter, 2, bits, false);
    }
}

/// The longest run one colour token holds at `depth` bits.
fn max_run(depth: u8) -> usize {
    match depth {
        5 => 767,
        6 => 511,
        _ => 255,
    }
}

/// 64-bit words of a line's neighbour mask, with room for the bit one past the line.
const MASK_WORDS: usize = (DOTS + 1).div_ceil(64);

/// The neighbour mask of a line (bit `i`: `line[i] == line[i + 1]`; the last dot's bit and
/// the bits past the line are clear) and the OR of its levels.
///
/// Finding where runs start and end is the encoder's work; comparing every dot with the next
/// sixteen at a time, once, turns it into a few bit scans per token instead of a byte loop.
fn neighbour_mask(line: &[u8], mask: &mut [u64; MASK_WORDS]) -> u8 {
    debug_assert!(line.len() <= DOTS);
    *mask = [0; MASK_WORDS];
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of x86-64.
    let (wide, mut any) = unsafe { sse2::neighbour_mask(line, mask) };
    #[cfg(not(target_arch = "x86_64"))]
    let (wide, mut any) = (0, 0u8);
    let n = line.len();
    for i in wide..n {
        any |= line[i];
        if i + 1 < n && line[i] == line[i + 1] {
            mask[i / 64] |= 1 << (i % 64);
        }
    }
    any
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use super::MASK_WORDS;
    use std::arch::x86_64::*;

    /// [`super::neighbour_mask`] sixteen dots at a time, for the positions whose block of next
    /// neighbours lies inside `line`; returns how many positions that is and their OR.
    #[target_feature(enable = "sse2")]
    pub(super) fn neighbour_mask(line: &[u8], mask: &mut [u64; MASK_WORDS]) -> (usize, u8) {
        let wide = line.len().saturating_sub(1) / 16 * 16;
        let mut acc = _mm_setzero_si128();
        for i in (0..wide).step_by(16) {
            let here = &line[i..i + 17];
            // SAFETY: `here` is 17 bytes; each load reads 16 of them.
            let (a, b) = unsafe {
                (
                    _mm_loadu_si128(here.as_ptr().cast()),
                    _mm_loadu_si128(here[1..].as_ptr().cast()),
                )
            };
            acc = _mm_or_si128(acc, a);
            let bits = _mm_movemask_epi8(_mm_cmpeq_epi8(a, b)) as u16;
            mask[i / 64] |= u64::from(bits) << (i % 64);
        }
        let mut lanes = [0u8; 16];
        // SAFETY: `lanes` is 16 bytes.
        unsafe { _mm_storeu_si128(lanes.as_mut_ptr().cast(), acc) };
        (wide, lanes.iter().fold(0, |a, &v| a | v))
    }
}

/// Run-length encodes one line; returns the OR of its levels.
///
/// A token starts at every dot that differs from the one before it (and at the first): from
/// the neighbour mask those starts are one shift and a NOT away, and each token is the distance
/// to the next start — a single dot goes out as its level, more as a run. Walking the starts
/// bit by bit keeps the loop free of data-dependent branches, so a photo's irregular mix of
/// single dots and short runs costs a few cycles a token.
pub(super) fn rle_colour_line(line: &[u8], depth: u8, out: &mut Vec<u8>) -> u8 {
    let mut mask = [0u64; MASK_WORDS];
    let any = neighbour_mask(line, &mut mask);
    if any == 0 {
        out.extend_from_slice(&[0x80, 0x00]);
        return 0;
    }
    if u32::from(any) >= 1 << depth {
        return any; // refused by the caller; what was written is dropped
    }
    let limit = max_run(depth);
    // The count's extra bits, by count / 256 (runs never exceed `limit`).
    let flags: [u8; 4] = match depth {
        5 => [0, 0x20, 0x60, 0],
        6 => [0, 0x40, 0, 0],
        _ => [0; 4],
    };
    let n = line.len();
    // A token takes at most as many bytes as the dots it covers; one byte of slack lets a
    // literal write its unused count byte too.
    let mut buf = [0u8; DOTS + 2];
    let mut used = 0;
    let mut prev = 0; // where the pending token starts
    let mut carry = 1u64; // dot 0 is no start: its token is the pending one
    for (w, &eq) in mask.iter().enumerate() {
        // Starts: dots whose previous neighbour differs; dot `n` ends the last token.
        let mut starts = !((eq << 1) | carry);
        carry = eq >> 63;
        let base = w * 64;
        if base + 64 > n {
            let keep = n + 1 - base.min(n + 1);
            starts &= if keep >= 64 {
                u64::MAX
            } else {
                (1u64 << keep) - 1
            };
        }
        while starts != 0 {
            let next = base + starts.trailing_zeros() as usize;
            starts &= starts - 1;
            let mut len = next - prev;
            let v = line[prev];
            while len > limit {
                // Only at 6 and 7 bits can a line hold a longer run: whole tokens, then the rest.
                buf[used] = 0x80 | flags[limit >> 8] | v;
                buf[used + 1] = (limit & 0xFF) as u8;
                used += 2;
                len -= limit;
            }
            let run = len > 1;
            buf[used] = if run { 0x80 | flags[len >> 8] | v } else { v };
            buf[used + 1] = (len & 0xFF) as u8;
            used += 1 + usize::from(run);
            prev = next;
        }
    }
    out.extend_from_slice(&buf[..used]);
    any
}

fn pack_colour(values: &[u8], depth: u8, out: &mut Vec<u8>) {
    let (mut acc, mut bits) = (0u32, 0u32);
    let depth = u32::from(depth);
    for &v in values {
        acc = (acc << depth) | u32::from(v);
        bits += depth;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push((acc << (8 - bits)) as u8);
    }
}
