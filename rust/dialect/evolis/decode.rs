//! The Evolis decoder: the exact inverse of [`super::encode`]. Commands are split by their
//! declared lengths (payloads contain `0x1B` and `0x0D`), panels decompressed bit for bit, and
//! malformed input refused with the byte offset where it stops making sense.

use super::{
    depth_of, raw_colour_len, CR, DOTS, ESC, LINES, LINE_BYTES, MAX_NAME, MAX_PARAM, MAX_PARAMS,
};
use crate::dialect::{fail, whole, ChipStation, Command, DecodedCard, DecodedJob, Scan};
use crate::error::EktpError;
use crate::raster::Panels;

/// Splits a stream into commands, reading binary payloads by their declared or implied
/// length (payloads contain `0x1B` and `0x0D`). Zero padding between commands is skipped.
pub fn parse(stream: &[u8]) -> Result<Vec<Command>, EktpError> {
    whole(scan(stream)?)
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
fn scan(stream: &[u8]) -> Result<Scan, EktpError> {
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
