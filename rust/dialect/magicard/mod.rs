//! The Magicard card-printer language (Tango 2e, Rio 2e, Enduro, Avalon and their rebrands),
//! as the selphy_print project documents it (`backend_magicard.c`, read for its facts only).
//!
//! A side of a card is one **page**: 64 bytes `0x05`, `0x01`, comma-led ASCII tags
//! (`,LC8,DPXON,...`), `0x1C`, the image planes in the order of the size tags (`SZB`, `SZG`,
//! `SZR`, `SZK`), each followed by `0x1C <B|G|R|K> 0x3A`, and `0x03`. The planes named blue,
//! green and red carry yellow, magenta and cyan. Colour is 6 bits a dot, K one bit; a plane is
//! 1016 rows of 84 bytes (672 dots) per bit, colour rows bit-planar (the row's bit 0 of every
//! dot, then bit 1, ... bit 5), the first dot in a byte's most significant bit. The image is
//! 642 dots wide (`WID642`): ektpcore puts it in the first 642 dots of a row and leaves the
//! rest clear. The overcoat is a tag (`OVRON`/`OVROFF`), not a plane, so O is all or nothing.
//! Simple commands are 9 bytes `0x05`, `0x01`, the command text, `0x1C 0x03` (`REQ,STA,MSR,`
//! asks for the serial number).
//!
//! Ribbons are forced with `LC1` (YMCKO), `LC3` (mono), `LC6` (KO) and `LC8` (YMCKOK). A
//! two-sided card is its front page (`DPXON`, `BAC<back format>`, `PAG1`) and its back page
//! (`DPXON`, `PAG2`). The public sources say nothing of moving a card to the chip encoder in
//! which direction (`CHP` UP/DOWN), so this dialect writes no two-phase chip jobs.

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use decode::*;
pub use encode::*;

use super::{PanelSet, Ribbon};
use crate::error::EktpError;
use crate::raster::Panels;

/// Rows per plane (`HGT1016`).
pub const LINES: usize = 1016;
/// Printed dots per row (`WID642`).
pub const DOTS: usize = 642;
/// Bytes per plane row: 672 dots.
pub const ROW_BYTES: usize = 84;
/// Bytes per K or O line in ektpcore's panels (642 dots, packed).
pub const LINE_BYTES: usize = DOTS.div_ceil(8);
/// Colour bits per dot.
pub const DEPTH: u8 = 6;
/// Bytes of a colour plane: 1016 rows of 6 bit rows of 84 bytes.
pub const COLOUR_PLANE: usize = LINES * ROW_BYTES * DEPTH as usize;
/// Bytes of the K plane.
pub const K_PLANE: usize = LINES * ROW_BYTES;

pub(crate) const GUARD: u8 = 0x05;
/// Guard bytes before a page and before a simple command.
pub(crate) const PAGE_GUARD: usize = 64;
pub(crate) const COMMAND_GUARD: usize = 9;
pub(crate) const SOH: u8 = 0x01;
pub(crate) const FS: u8 = 0x1C;
pub(crate) const ETX: u8 = 0x03;
pub(crate) const PLANE_END: u8 = 0x3A;
/// Longest header or command text the decoder reads (the backend's own bound is 2048).
pub(crate) const MAX_TEXT: usize = 2048;

/// Job settings: the ribbon, which decides the panels of each side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSettings {
    /// `ymcko` (`LC1`), `k` (`LC3`), `ko` (`LC6`) or `ymckok` (`LC8`).
    pub ribbon: String,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            ribbon: "ymckok".to_string(),
        }
    }
}

/// One card to print: its sides' panels.
#[derive(Clone, Copy, Debug)]
pub struct Card<'a> {
    pub front: &'a Panels,
    pub back: Option<&'a Panels>,
}

/// The ribbons and their `LC` codes: (name, code, front, back).
const RIBBONS: [(&str, &str, PanelSet, PanelSet); 4] = [
    ("ymcko", "LC1", PanelSet::COLOUR_K_O, PanelSet::COLOUR_K_O),
    ("k", "LC3", PanelSet::K, PanelSet::K),
    ("ko", "LC6", PanelSet::K_O, PanelSet::K_O),
    ("ymckok", "LC8", PanelSet::COLOUR_K_O, PanelSet::K),
];

/// A Magicard ribbon by name, and its `LC` tag.
pub fn ribbon(name: &str) -> Result<(Ribbon, &'static str), EktpError> {
    RIBBONS
        .iter()
        .find(|r| r.0 == name)
        .map(|&(n, code, front, back)| {
            (
                Ribbon {
                    name: n.to_string(),
                    front,
                    back,
                },
                code,
            )
        })
        .ok_or_else(|| {
            invalid(format!(
                "unknown Magicard ribbon {name:?}: ymcko (LC1), k (LC3), ko (LC6) or ymckok (LC8)"
            ))
        })
}

/// The ribbon an `LC` tag forces.
pub(crate) fn ribbon_of_code(code: &str) -> Option<Ribbon> {
    RIBBONS
        .iter()
        .find(|r| r.1 == code)
        .and_then(|r| ribbon(r.0).ok())
        .map(|(r, _)| r)
}

/// The back formats of `BAC`, by the panels they print.
pub(crate) fn back_format(p: PanelSet) -> Option<&'static str> {
    match (p.colour, p.k, p.o) {
        (true, true, true) => Some("CKO"),
        (false, true, true) => Some("KO"),
        (true, false, false) => Some("C"),
        (true, false, true) => Some("CO"),
        (false, true, false) => Some("K"),
        _ => None,
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> EktpError {
    EktpError::InvalidArgument(message.into())
}

/// The refusal of a chip phase or reject.
pub fn no_chip_phase() -> EktpError {
    invalid(
        "the public Magicard sources name the smart-encoder feed (CHP UP/DOWN) without saying \
         which way is which; ektpcore writes no two-phase chip jobs for Magicard",
    )
}
