//! Printer command languages ("dialects"): each an encoder from raster panels to the bytes a
//! printer takes, and the exact inverse decoder. The decoder is what tests, virtual printers
//! and driver developers use to see what a stream says: it parses by declared lengths,
//! returns every command and every panel bit for bit, and refuses malformed input with the
//! byte offset of the fault ([`EktpError::StreamDecode`]), never a panic or a hang.

pub mod evolis;

#[cfg(test)]
mod tests;

/// One command of a stream, as decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Byte offset of the command's first byte in the stream.
    pub offset: usize,
    /// The command letters, e.g. `Pr`, `Ss`, `Dbc`.
    pub name: String,
    /// Its parameters, in order, as text.
    pub params: Vec<String>,
    /// A binary payload (panel downloads), undecoded.
    pub payload: Option<Vec<u8>>,
}

/// Where a card waits for its chip to be personalised before it is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChipStation {
    /// The contact (smart-card) station.
    Contact,
    /// The contactless station.
    Contactless,
}

use crate::error::EktpError;
use crate::raster::Panels;

/// What every printer dialect provides: the bytes that open and close a job, one card from
/// its panels, the two halves of a chip job, and the exact inverse decoder. A new printer
/// language is one more implementation over the same [`Panels`].
pub trait Dialect {
    /// The name the Python registry knows it by.
    fn name(&self) -> &'static str;
    /// Panel geometry: `(lines, dots)`.
    fn canvas(&self) -> (usize, usize);
    fn job_start(&self, out: &mut Vec<u8>);
    fn job_end(&self, out: &mut Vec<u8>);
    /// One card, front and optional back, colour at `depth` bits.
    fn encode_card(
        &self,
        front: &Panels,
        back: Option<&Panels>,
        depth: u8,
        out: &mut Vec<u8>,
    ) -> Result<(), EktpError>;
    /// Moves the card to a chip station before it is printed.
    fn chip_phase(&self, station: ChipStation, out: &mut Vec<u8>);
    /// Ejects the card at the chip station to the reject tray.
    fn reject(&self, out: &mut Vec<u8>);
    /// Cards and commands back from a stream.
    fn decode(&self, stream: &[u8]) -> Result<evolis::DecodedJob, EktpError>;
}

/// The Evolis language as a [`Dialect`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evolis {
    pub settings: evolis::JobSettings,
}

impl Dialect for Evolis {
    fn name(&self) -> &'static str {
        "evolis"
    }

    fn canvas(&self) -> (usize, usize) {
        (evolis::LINES, evolis::DOTS)
    }

    fn job_start(&self, out: &mut Vec<u8>) {
        evolis::job_start(&self.settings, out);
    }

    fn job_end(&self, out: &mut Vec<u8>) {
        evolis::job_end(&self.settings, out);
    }

    fn encode_card(
        &self,
        front: &Panels,
        back: Option<&Panels>,
        depth: u8,
        out: &mut Vec<u8>,
    ) -> Result<(), EktpError> {
        evolis::encode_card(&evolis::Card { front, back }, depth, &self.settings, out)
    }

    fn chip_phase(&self, station: ChipStation, out: &mut Vec<u8>) {
        evolis::chip_phase(station, out);
    }

    fn reject(&self, out: &mut Vec<u8>) {
        evolis::reject(out);
    }

    fn decode(&self, stream: &[u8]) -> Result<evolis::DecodedJob, EktpError> {
        evolis::decode(stream)
    }
}
