//! Printer command languages ("dialects"): each an encoder from raster panels to the bytes a
//! printer takes, and the exact inverse decoder. The decoder is what tests, virtual printers
//! and driver developers use to see what a stream says: it parses by declared lengths,
//! returns every command and every panel bit for bit, and refuses malformed input with the
//! byte offset of the fault, never a panic or a hang.

pub mod evolis;

#[cfg(test)]
mod tests;

use std::fmt;

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

/// A malformed stream: what is wrong and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for DecodeError {}

/// Where a card waits for its chip to be personalised before it is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChipStation {
    /// The contact (smart-card) station.
    Contact,
    /// The contactless station.
    Contactless,
}
