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

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use decode::*;
pub use encode::*;

use super::{Condition, PanelSet, Ribbon};
use crate::error::EktpError;
use crate::raster::Panels;

/// Lines per panel.
pub const LINES: usize = 1016;
/// Dots per line.
pub const DOTS: usize = 648;
/// Bytes per two-level line.
pub const LINE_BYTES: usize = DOTS / 8;

pub(crate) const ESC: u8 = 0x1B;
pub(crate) const CR: u8 = 0x0D;
/// Longest command name and parameter the decoder accepts, and most parameters.
pub(crate) const MAX_NAME: usize = 16;
pub(crate) const MAX_PARAM: usize = 256;
pub(crate) const MAX_PARAMS: usize = 32;

/// Job settings: the ribbon (which decides the panels each side may print), how cards are
/// fed, compression, the padding after the job.
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

pub(crate) fn invalid(message: impl Into<String>) -> EktpError {
    EktpError::InvalidArgument(message.into())
}

pub(crate) fn depth_of(levels: usize) -> Option<u8> {
    match levels {
        32 => Some(5),
        64 => Some(6),
        128 => Some(7),
        256 => Some(8),
        _ => None,
    }
}

/// Raw colour payload length at `depth` bits.
pub(crate) fn raw_colour_len(depth: u8) -> usize {
    LINES * DOTS * usize::from(depth) / 8
}

/// What an Evolis ribbon (`Pr;<ribbon>`, programming guide A5013 section 8) has for each side
/// of a card: `ymcko` a full set per side, `ymckok` a full set for the front and a black panel
/// for the back, `ko` black and overlay, and the one-panel resin ribbons (`k`, `kb` black,
/// `kw` white, `kr` red, `kbl` blue, `kgr` green, `kgo` gold, `ksi` silver, `ksc` scratch-off)
/// black only. The half-panel `ymckos` needs partial downloads (`Dbp`), which ektpcore does
/// not write; hologram, thermal and wax ribbons print no card image.
pub fn ribbon(name: &str) -> Result<Ribbon, EktpError> {
    const FULL: PanelSet = PanelSet::COLOUR_K_O;
    let (front, back) =
        match name {
            "ymcko" => (FULL, FULL),
            "ymckok" => (FULL, PanelSet::K),
            "ko" => (PanelSet::K_O, PanelSet::K_O),
            "k" | "kb" | "kw" | "kr" | "kbl" | "kgr" | "kgo" | "ksi" | "ksc" => {
                (PanelSet::K, PanelSet::K)
            }
            "ymckos" => return Err(invalid(
                "the half-panel ribbon ymckos takes partial downloads (Dbp), which ektpcore does \
                 not write; use ymcko",
            )),
            other => {
                return Err(invalid(format!(
                "unknown Evolis ribbon {other:?}: ymcko, ymckok, ko, or a resin ribbon (k, kb, \
                 kw, kr, kbl, kgr, kgo, ksi, ksc)"
            )))
            }
        };
    Ok(Ribbon {
        name: name.to_string(),
        front,
        back,
    })
}

/// What an Evolis reply says. ACK/NACK codes are the programming guide's (A5013 section 5):
/// `T` time-out or mechanical (for a card, a jam), `C` cover open, `R` ribbon, `F` feeder,
/// `1`/`2` a command or parameter refused. Status texts: `OK` and `ERR <reason>` are the
/// guide's and libevolis's; the reasons and the states other than an error (`BUSY`,
/// `PRINTING`, `WAR RIBBON LOW`, `SESSION HELD`) follow libevolis's flag names
/// (`INF_BUSY`, `INF_RIBBON_LOW`, `ERR_COVER_OPEN`, `WAR_FEEDER_EMPTY`, `WAR_HOPPER_FULL`...),
/// whose wire texts the public sources do not give. Anything unknown needs someone to look.
pub fn condition(reply: &str) -> Condition {
    let reply = reply.trim();
    if let Some(code) = reply.strip_prefix("NACK") {
        return match code.trim() {
            "T" => Condition::Jam,
            "C" => Condition::CoverOpen,
            "R" => Condition::RibbonOut,
            "F" => Condition::FeederEmpty,
            _ => Condition::NeedsAction,
        };
    }
    let upper = reply.to_ascii_uppercase();
    let has = |word: &str| upper.contains(word);
    match upper.as_str() {
        "ACK" | "OK" => return Condition::Ready,
        "BUSY" => return Condition::Busy,
        "PRINTING" => return Condition::Printing,
        _ => {}
    }
    if has("SESSION") {
        Condition::SessionHeld
    } else if has("RIBBON") && has("LOW") {
        Condition::RibbonLow
    } else if has("RIBBON") {
        Condition::RibbonOut
    } else if has("COVER") {
        Condition::CoverOpen
    } else if has("JAM") {
        Condition::Jam
    } else if has("MECHANICAL") {
        Condition::Mechanical
    } else if has("FEEDER") {
        Condition::FeederEmpty
    } else if has("REJECT") || has("HOPPER") {
        Condition::RejectFull
    } else {
        Condition::NeedsAction
    }
}
