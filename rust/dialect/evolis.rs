//! The Evolis command language (Primacy, Zenius, Pebble, Dualys, Quantum and kin).
//!
//! Every command is `ESC name[;param]* CR` (`0x1B ... 0x0D`). A card is printed by the
//! sequence `Ss` (start), `Sr` (front) and panel downloads, optionally `Sv` (back) and its
//! downloads, and `Se` (print the last panel and eject). A panel is 1016 lines of 648 dots at
//! 300 dpi, downloaded raw (`Db;panel;levels;data`) or compressed
//! (`Dbc;panel;levels;bytes;data`):
//! - K and O (two levels) line by line: `0x00` a white line, `0xFF` a black line, or `N`
//!   (1 to 81) followed by the line's first `N` bytes, the rest white;
//! - Y, M and C (32, 64 or 128 levels) as run lengths: a byte with its top bit clear is one
//!   dot; with it set, the low bits are the dot value and the next byte a repeat count (at 6
//!   bits bit 6 adds 256 to the count, at 5 bits bits 5 and 6 add 256 each); a count of zero at
//!   the start of a line is a white line. 256 levels (8 bits) download raw only.
//!
//! Where the 2003 programming guide and captures of the vendor's own driver disagree, this
//! module follows the captures: `Dbc` has three parameters (panel, levels, byte count), not
//! the guide's four; a raw two-level panel is 648 x 1016 / 8 = 82,296 bytes, not the guide's
//! 84,624; a card ends with `Se;1`; the stream ends with zero padding (which the decoder skips).
//! The bit order of raw colour panels is not documented; they are packed most significant
//! bit first, dot after dot.
//!
//! Two-phase jobs (a chip personalised before printing): `Pneab;E` keeps the card in the
//! printer, `Sis` or `Sic` moves it to the contact or contactless station; after the chip is
//! written the card's print sequence follows, or `Ser` ejects it to the reject tray.

use super::{ChipStation, Command};
use crate::error::EktpError;
use crate::raster::{self, Face, Panels, Settings};

/// Lines per panel.
pub const LINES: usize = 1016;
/// Dots per line.
pub const DOTS: usize = 648;
/// Bytes per two-level line.
pub const LINE_BYTES: usize = DOTS / 8;

const ESC: u8 = 0x1B;
const CR: u8 = 0x0D;
/// Longest command name and parameter the decoder accepts, and most parameters.
const MAX_NAME: usize = 16;
const MAX_PARAM: usize = 256;
const MAX_PARAMS: usize = 32;

/// Job settings: the ribbon, how cards are fed, compression, the padding after the job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSettings {
    /// Ribbon type as the printer names it: `ymcko`, `ymckok` (a second K panel for the back),
    /// `ko`, `k`, ...
    pub ribbon: String,
    /// Insertion mode: `F` feeder, `M` manual, `B` both.
    pub feeder: char,
    /// Compressed downloads (`Dbc`) where the panel depth allows.
    pub compress: bool,
    /// Zero bytes after the job (the vendor's driver pads).
    pub padding: usize,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            ribbon: "ymckok".to_string(),
            feeder: 'F',
            compress: true,
            padding: 64,
        }
    }
}

/// One card to print: its sides' panels, and whether its chip is written first.
#[derive(Clone, Copy, Debug)]
pub struct Card<'a> {
    pub front: &'a Panels,
    pub back: Option<&'a Panels>,
}

fn invalid(message: impl Into<String>) -> EktpError {
    EktpError::InvalidArgument(message.into())
}

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

/// The commands that open a job: ribbon and feeder.
pub fn job_start(settings: &JobSettings, out: &mut Vec<u8>) {
    command(out, "Pr", &[&settings.ribbon]);
    command(out, "Pmi", &[&settings.feeder.to_string(), "s"]);
}

/// The padding that closes a job.
pub fn job_end(settings: &JobSettings, out: &mut Vec<u8>) {
    out.resize(out.len() + settings.padding, 0);
}

/// The first half of a two-phase card: keep it in the printer and move it to `station`.
pub fn chip_phase(station: ChipStation, out: &mut Vec<u8>) {
    command(out, "Pneab", &["E"]);
    command(
        out,
        match station {
            ChipStation::Contact => "Sis",
            ChipStation::Contactless => "Sic",
        },
        &[],
    );
}

/// Ejects the card at the chip station into the reject tray.
pub fn reject(out: &mut Vec<u8>) {
    command(out, "Ser", &[]);
}

fn depth_of(levels: usize) -> Option<u8> {
    match levels {
        32 => Some(5),
        64 => Some(6),
        128 => Some(7),
        256 => Some(8),
        _ => None,
    }
}

/// Raw colour payload length at `depth` bits.
fn raw_colour_len(depth: u8) -> usize {
    LINES * DOTS * usize::from(depth) / 8
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

/// Encodes one card (`Ss` ... `Se;1`) at `depth` colour bits.
pub fn encode_card(
    card: &Card<'_>,
    depth: u8,
    settings: &JobSettings,
    out: &mut Vec<u8>,
) -> Result<(), EktpError> {
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
) -> Result<(), EktpError> {
    if !(5..=8).contains(&depth) {
        return Err(invalid(format!("colour depth is 5 to 8 bits, got {depth}")));
    }
    let mut sides = vec![("front", card.front)];
    if let Some(back) = card.back {
        sides.push(("back", back));
    }
    for (name, panels) in &sides {
        check_panels(panels, name)?;
    }
    let start = out.len();
    command(out, "Ss", &[]);
    for (i, (name, panels)) in sides.iter().enumerate() {
        command(out, if i == 0 { "Sr" } else { "Sv" }, &[]);
        if !panels.y.is_empty() {
            for (letter, values) in [("y", &panels.y), ("m", &panels.m), ("c", &panels.c)] {
                payload.clear();
                let levels = colour_payload(values, depth, settings.compress, payload);
                colour_download(out, start, name, letter, levels, depth, settings, payload)?;
            }
        }
        mono_panels(out, panels, settings.compress, payload);
    }
    command(out, "Se", &["1"]);
    Ok(())
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
/// colour depth.
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
) -> Result<(), EktpError> {
    let depth = front.1.depth;
    if !(5..=8).contains(&depth) {
        return Err(invalid(format!("colour depth is 5 to 8 bits, got {depth}")));
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
    for (i, (name, (face, raster_settings), panels)) in sides.into_iter().flatten().enumerate() {
        command(out, if i == 0 { "Sr" } else { "Sv" }, &[]);
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
        }
        mono_panels(out, panels, settings.compress, mono);
    }
    command(out, "Se", &["1"]);
    Ok(())
}

/// One card's faces: front, and back if it prints.
pub type CardFaces<'a> = (Face<'a>, Option<Face<'a>>);

/// Buffers of finished work, kept for the next: raster panels and payloads (a worker takes
/// one set per share of cards and puts it back when the share is done), and the output
/// buffers of encoded chunks (back when the chunk's bytes have been taken). The next batch
/// starts with memory that is already mapped instead of faulting in fresh pages on every core,
/// and most offices encode batch after batch. Both pools are capped; an output buffer that
/// grew unusually large is let go.
static SCRATCH: std::sync::Mutex<Vec<Scratch>> = std::sync::Mutex::new(Vec::new());
static OUTPUTS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// Buffers each pool keeps at most.
const POOLED: usize = 64;
/// The largest output buffer the pool keeps.
const KEEP_OUTPUT: usize = 32 << 20;
/// Cards per share: small enough that a core held up (by another process, say) leaves the
/// rest of a chunk to the others, large enough that each share's buffer bookkeeping is noise.
const SHARE: usize = 2;

/// Takes a buffer set from a pool, or a fresh one. (A poisoned pool only means a panic while
/// another batch handed its buffers back: the buffers are still good.)
fn pooled<T: Default>(pool: &std::sync::Mutex<Vec<T>>) -> T {
    pool.lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop()
        .unwrap_or_default()
}

/// Gives buffers back to a pool, up to its cap.
fn give_back<T>(pool: &std::sync::Mutex<Vec<T>>, items: impl IntoIterator<Item = T>) {
    let mut pool = pool.lock().unwrap_or_else(|e| e.into_inner());
    for item in items {
        if pool.len() >= POOLED {
            break;
        }
        pool.push(item);
    }
}

/// Cards encoded by [`encode_cards`]: their stream is [`EncodedCards::parts`] in order. When
/// dropped, the output buffers go back to the pool for the next batch.
#[derive(Debug)]
pub struct EncodedCards {
    parts: Vec<Vec<u8>>,
}

impl EncodedCards {
    /// The stream, in pieces to concatenate.
    pub fn parts(&self) -> impl Iterator<Item = &[u8]> {
        self.parts.iter().map(Vec::as_slice)
    }

    /// The stream's length in bytes.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for EncodedCards {
    fn drop(&mut self) {
        let kept = self.parts.drain(..).filter(|p| p.capacity() <= KEEP_OUTPUT);
        give_back(&OUTPUTS, kept);
    }
}

/// Rasterises and encodes cards (`Ss` ... `Se;1` each, in order; no job start or end) on every
/// core: the cards go in shares of [`SHARE`], which idle cores take as they come, and each
/// share is encoded card after card into one buffer with pooled raster buffers.
pub fn encode_cards(
    cards: &[CardFaces<'_>],
    front: &Settings,
    back: &Settings,
    settings: &JobSettings,
) -> Result<EncodedCards, EktpError> {
    use rayon::prelude::*;
    let parts = cards
        .par_chunks(SHARE)
        .map(|share| {
            let mut scratch: Scratch = pooled(&SCRATCH);
            let mut out: Vec<u8> = pooled(&OUTPUTS);
            out.clear();
            let encoded = share.iter().try_for_each(|(f, b)| {
                let back_side = b.as_ref().map(|b| (b, back));
                encode_faces_with((f, front), back_side, settings, &mut out, &mut scratch)
            });
            give_back(&SCRATCH, [scratch]);
            encoded.map(|()| out)
        })
        .collect::<Result<Vec<_>, EktpError>>()?;
    Ok(EncodedCards { parts })
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

/// The K and O downloads of a side that has them.
fn mono_panels(out: &mut Vec<u8>, panels: &Panels, compress: bool, payload: &mut Vec<u8>) {
    for (letter, bits) in [("k", &panels.k), ("o", &panels.o)] {
        if let Some(bits) = bits {
            mono_panel(out, letter, bits, compress, payload);
        }
    }
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

// -- decoding --------------------------------------------------------------------------------

fn fail<T>(offset: usize, message: impl Into<String>) -> Result<T, EktpError> {
    Err(EktpError::StreamDecode {
        offset,
        message: message.into(),
    })
}

/// Splits a stream into commands, reading binary payloads by their declared or implied
/// length (payloads contain `0x1B` and `0x0D`). Zero padding between commands is skipped.
pub fn parse(stream: &[u8]) -> Result<Vec<Command>, EktpError> {
    match scan(stream)? {
        (commands, _, None) => Ok(commands),
        (_, _, Some((at, message))) => fail(at, message),
    }
}

/// The complete commands at the start of `stream` and how many bytes they take: what a
/// printer reading a socket does with what has arrived so far. Only malformed input is an
/// error; a command cut off by the end of the bytes is left for later.
pub fn parse_prefix(stream: &[u8]) -> Result<(Vec<Command>, usize), EktpError> {
    let (commands, used, _) = scan(stream)?;
    Ok((commands, used))
}

/// Commands up to the end or to a command the bytes cut off: the commands, the bytes they
/// take, and where and why the cut happened.
#[allow(clippy::type_complexity)]
fn scan(stream: &[u8]) -> Result<(Vec<Command>, usize, Option<(usize, String)>), EktpError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(step) = next_command(stream, pos)? {
        match step {
            Step::Command(cmd, end) => {
                out.push(cmd);
                pos = end;
            }
            Step::Incomplete(start, at, message) => return Ok((out, start, Some((at, message)))),
        }
    }
    Ok((out, stream.len(), None))
}

enum Step {
    /// A command and the offset after it.
    Command(Command, usize),
    /// The bytes end inside the command starting at the first offset; the second is where
    /// to report it (a cut payload is reported where the payload starts).
    Incomplete(usize, usize, String),
}

/// The command at or after `pos` (zero padding skipped), `None` at the end of the stream.
fn next_command(stream: &[u8], mut pos: usize) -> Result<Option<Step>, EktpError> {
    while stream.get(pos) == Some(&0) {
        pos += 1;
    }
    let Some(&b) = stream.get(pos) else {
        return Ok(None);
    };
    let start = pos;
    let cut = |message: String| Ok(Some(Step::Incomplete(start, start, message)));
    if b == ESC {
        pos += 1;
    } else if !b.is_ascii_alphabetic() {
        return fail(
            pos,
            format!("expected ESC (0x1B) to start a command, found 0x{b:02X}"),
        );
    }
    let name_start = pos;
    while pos < stream.len() && stream[pos].is_ascii_alphabetic() {
        pos += 1;
        if pos - name_start > MAX_NAME {
            return fail(name_start, "command name longer than 16 letters");
        }
    }
    if pos == name_start {
        if pos == stream.len() {
            return cut("the stream ends after ESC".into());
        }
        return fail(pos, "a command name (letters) must follow ESC");
    }
    let name = String::from_utf8_lossy(&stream[name_start..pos]).into_owned();
    let mut params: Vec<String> = Vec::new();
    let mut payload = None;
    loop {
        let Some(&b) = stream.get(pos) else {
            return cut(format!("command {name} is not closed by CR (0x0D)"));
        };
        if b == CR {
            pos += 1;
            break;
        }
        if b != b';' {
            return fail(pos, format!("unexpected byte 0x{b:02X} in command {name}"));
        }
        pos += 1;
        if let Some(len) = payload_len(&name, &params, pos)? {
            let remain = stream.len() - pos;
            if len > remain {
                // A cut payload is reported where the payload starts.
                return Ok(Some(Step::Incomplete(
                    start,
                    pos,
                    format!("{name} declares {len} payload bytes but only {remain} remain"),
                )));
            }
            payload = Some(stream[pos..pos + len].to_vec());
            pos += len;
            match stream.get(pos) {
                Some(&CR) => {
                    pos += 1;
                    break;
                }
                Some(&other) => {
                    return fail(
                        pos,
                        format!("{name} payload must end with CR, found 0x{other:02X}"),
                    )
                }
                None => return cut(format!("{name} payload is not closed by CR")),
            }
        }
        let p_start = pos;
        while pos < stream.len() && stream[pos] != b';' && stream[pos] != CR {
            let c = stream[pos];
            if !(0x20..0x7F).contains(&c) {
                return fail(pos, format!("byte 0x{c:02X} in a parameter of {name}"));
            }
            pos += 1;
            if pos - p_start > MAX_PARAM {
                return fail(p_start, format!("a parameter of {name} is over 256 bytes"));
            }
        }
        params.push(String::from_utf8_lossy(&stream[p_start..pos]).into_owned());
        if params.len() > MAX_PARAMS {
            return fail(p_start, format!("{name} has more than 32 parameters"));
        }
    }
    Ok(Some(Step::Command(
        Command {
            offset: start,
            name,
            params,
            payload,
        },
        pos,
    )))
}

/// For a download command whose parameters are all read, the length of the payload that
/// follows; `None` while more parameters come.
fn payload_len(name: &str, params: &[String], at: usize) -> Result<Option<usize>, EktpError> {
    match (name, params.len()) {
        ("Db", 2) => {
            let levels = params[1].parse::<usize>().ok();
            match levels {
                Some(2) => Ok(Some(LINES * LINE_BYTES)),
                Some(l) => match depth_of(l) {
                    Some(d) => Ok(Some(raw_colour_len(d))),
                    None => fail(
                        at,
                        format!("Db levels must be 2, 32, 64, 128 or 256, got {l}"),
                    ),
                },
                None => fail(at, format!("Db levels {:?} is not a number", params[1])),
            }
        }
        ("Dbc", 3) => match params[2].parse::<usize>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => fail(
                at,
                format!("Dbc byte count {:?} is not a number", params[2]),
            ),
        },
        _ => Ok(None),
    }
}

/// A card as a stream prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedCard {
    pub front: Panels,
    pub back: Option<Panels>,
    /// The station the card visited before printing, if any.
    pub chip: Option<ChipStation>,
    /// Ejected to the reject tray instead of printed.
    pub rejected: bool,
    /// Colour depth of its panels (0 when it has none).
    pub depth: u8,
}

/// A whole stream: its commands and the cards they print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedJob {
    pub commands: Vec<Command>,
    pub ribbon: Option<String>,
    pub cards: Vec<DecodedCard>,
}

fn empty_panels() -> Panels {
    Panels {
        lines: LINES,
        dots: DOTS,
        ..Panels::default()
    }
}

/// Decodes a stream: commands, then cards with every panel decompressed bit for bit.
pub fn decode(stream: &[u8]) -> Result<DecodedJob, EktpError> {
    let commands = parse(stream)?;
    let mut ribbon = None;
    let mut cards = Vec::new();
    let mut pending_chip: Option<ChipStation> = None;
    // (front, back, on the back?, depth, where the card started)
    let mut current: Option<(Panels, Option<Panels>, bool, u8, usize)> = None;
    for cmd in &commands {
        match cmd.name.as_str() {
            "Pr" => ribbon = cmd.params.first().cloned(),
            "Sis" => pending_chip = Some(ChipStation::Contact),
            "Sic" => pending_chip = Some(ChipStation::Contactless),
            "Ser" => {
                if current.is_some() {
                    return fail(cmd.offset, "Ser (reject) inside a print sequence");
                }
                cards.push(DecodedCard {
                    front: empty_panels(),
                    back: None,
                    chip: pending_chip.take(),
                    rejected: true,
                    depth: 0,
                });
            }
            "Ss" => {
                if current.is_some() {
                    return fail(cmd.offset, "Ss inside a sequence that was not ended (Se)");
                }
                current = Some((empty_panels(), None, false, 0, cmd.offset));
            }
            "Sr" | "Sv" => {
                let Some(card) = current.as_mut() else {
                    return fail(cmd.offset, format!("{} outside a print sequence", cmd.name));
                };
                card.2 = cmd.name == "Sv";
                if card.2 && card.1.is_none() {
                    card.1 = Some(empty_panels());
                }
            }
            "Db" | "Dbc" => {
                let Some(card) = current.as_mut() else {
                    return fail(cmd.offset, "panel download outside a print sequence (Ss)");
                };
                let side = if card.2 {
                    card.1.get_or_insert_with(empty_panels)
                } else {
                    &mut card.0
                };
                let depth = store_panel(cmd, side)?;
                if depth > 0 {
                    if card.3 != 0 && card.3 != depth {
                        return fail(cmd.offset, "colour panels of one card at different depths");
                    }
                    card.3 = depth;
                }
            }
            "Se" => {
                let Some((front, back, _, depth, _)) = current.take() else {
                    return fail(cmd.offset, "Se without a sequence start (Ss)");
                };
                for (side, p) in [("front", Some(&front)), ("back", back.as_ref())] {
                    let Some(p) = p else { continue };
                    let n = [&p.y, &p.m, &p.c].iter().filter(|v| !v.is_empty()).count();
                    if n != 0 && n != 3 {
                        return fail(
                            cmd.offset,
                            format!("the card's {side} lacks a colour panel"),
                        );
                    }
                }
                cards.push(DecodedCard {
                    front,
                    back,
                    chip: pending_chip.take(),
                    rejected: false,
                    depth,
                });
            }
            _ => {}
        }
    }
    if let Some((_, _, _, _, start)) = current {
        return fail(start, "the stream ends inside a card (no Se)");
    }
    Ok(DecodedJob {
        commands,
        ribbon,
        cards,
    })
}

/// Decodes one download into `side`; returns its colour depth (0 for two-level panels).
fn store_panel(cmd: &Command, side: &mut Panels) -> Result<u8, EktpError> {
    let at = cmd.offset;
    let letter = cmd.params.first().map(String::as_str).unwrap_or("");
    let levels: usize = cmd.params.get(1).and_then(|l| l.parse().ok()).unwrap_or(0);
    let payload = cmd.payload.as_deref().unwrap_or_default();
    let compressed = cmd.name == "Dbc";
    match letter {
        "k" | "o" => {
            if levels != 2 {
                return fail(at, format!("panel {letter} has two levels, not {levels}"));
            }
            let bits = if compressed {
                unrle_mono(payload, at)?
            } else {
                payload.to_vec()
            };
            let slot = if letter == "k" {
                &mut side.k
            } else {
                &mut side.o
            };
            if slot.is_some() {
                return fail(at, format!("panel {letter} downloaded twice for one side"));
            }
            *slot = Some(bits);
            Ok(0)
        }
        "y" | "m" | "c" => {
            let Some(depth) = depth_of(levels) else {
                return fail(at, format!("colour panel {letter} with {levels} levels"));
            };
            let values = if compressed {
                if depth == 8 {
                    return fail(at, "256-level panels download raw (Db), not compressed");
                }
                unrle_colour(payload, depth, at)?
            } else {
                unpack_colour(payload, depth)
            };
            let slot = match letter {
                "y" => &mut side.y,
                "m" => &mut side.m,
                _ => &mut side.c,
            };
            if !slot.is_empty() {
                return fail(at, format!("panel {letter} downloaded twice for one side"));
            }
            *slot = values;
            Ok(depth)
        }
        other => fail(at, format!("unknown panel {other:?} (y, m, c, k or o)")),
    }
}

fn unrle_mono(data: &[u8], at: usize) -> Result<Vec<u8>, EktpError> {
    let mut out = Vec::with_capacity(LINES * LINE_BYTES);
    let mut pos = 0;
    for line in 0..LINES {
        let Some(&n) = data.get(pos) else {
            return fail(
                at,
                format!("compressed panel ends at line {line} of {LINES}"),
            );
        };
        pos += 1;
        match n {
            0x00 => out.resize(out.len() + LINE_BYTES, 0),
            0xFF => out.resize(out.len() + LINE_BYTES, 0xFF),
            n if usize::from(n) <= LINE_BYTES => {
                let n = usize::from(n);
                let Some(bytes) = data.get(pos..pos + n) else {
                    return fail(
                        at,
                        format!("line {line} declares {n} bytes past the payload"),
                    );
                };
                out.extend_from_slice(bytes);
                out.resize(out.len() + LINE_BYTES - n, 0);
                pos += n;
            }
            n => return fail(at, format!("line {line} has a byte count {n} over 81")),
        }
    }
    if pos != data.len() {
        return fail(
            at,
            format!("{} bytes after the last line", data.len() - pos),
        );
    }
    Ok(out)
}

fn unrle_colour(data: &[u8], depth: u8, at: usize) -> Result<Vec<u8>, EktpError> {
    let mut out = vec![0u8; LINES * DOTS];
    let mut pos = 0;
    let value_mask: u8 = (1u16 << depth).wrapping_sub(1) as u8;
    for line in 0..LINES {
        let row = &mut out[line * DOTS..(line + 1) * DOTS];
        let mut filled = 0;
        while filled < DOTS {
            let Some(&b) = data.get(pos) else {
                return fail(
                    at,
                    format!("compressed panel ends in line {line} of {LINES}"),
                );
            };
            if b & 0x80 == 0 {
                if b > value_mask {
                    return fail(
                        at,
                        format!("dot value {b} over {depth} bits in line {line}"),
                    );
                }
                row[filled] = b;
                filled += 1;
                pos += 1;
                continue;
            }
            let Some(&count) = data.get(pos + 1) else {
                return fail(at, format!("a run in line {line} lacks its count byte"));
            };
            let (value, high) = match depth {
                5 => (
                    b & 0x1F,
                    usize::from((b >> 5) & 1) + usize::from((b >> 6) & 1),
                ),
                6 => (b & 0x3F, usize::from((b >> 6) & 1)),
                _ => (b & 0x7F, 0),
            };
            let run = high * 256 + usize::from(count);
            pos += 2;
            if run == 0 {
                if filled != 0 {
                    return fail(at, format!("a white-line marker inside line {line}"));
                }
                filled = DOTS; // the row is already white
                continue;
            }
            if filled + run > DOTS {
                return fail(at, format!("a run of {run} overflows line {line}"));
            }
            row[filled..filled + run].fill(value);
            filled += run;
        }
    }
    if pos != data.len() {
        return fail(
            at,
            format!("{} bytes after the last line", data.len() - pos),
        );
    }
    Ok(out)
}

fn unpack_colour(data: &[u8], depth: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(LINES * DOTS);
    let (mut acc, mut bits) = (0u32, 0u32);
    let depth = u32::from(depth);
    let mask = (1u32 << depth) - 1;
    for &byte in data {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= depth && out.len() < LINES * DOTS {
            bits -= depth;
            out.push(((acc >> bits) & mask) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    out
}
