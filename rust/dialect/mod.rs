//! Printer command languages ("dialects"): each an encoder from raster panels to the bytes a
//! printer takes, and the exact inverse decoder. The decoder is what tests, virtual printers
//! and driver developers use to see what a stream says: it parses by declared lengths,
//! returns every command and every panel bit for bit, and refuses malformed input with the
//! byte offset of the fault ([`EktpError::StreamDecode`]), never a panic or a hang.
//!
//! Each language is a folder: `encode.rs` and `decode.rs` are mirror images over the types of
//! its `mod.rs`, and its tests hold each against the other and against golden streams built
//! from the public sources. The ribbon given to a dialect decides which panels each side may
//! print ([`Ribbon`]); asking for more is [`EktpError::RibbonMismatch`].

pub mod batch;
pub mod evolis;
pub mod magicard;

use crate::error::EktpError;
use crate::raster::{BlackMode, Overlay, Panels, Settings};

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

/// A decoding failure at `offset`.
pub(crate) fn fail<T>(offset: usize, message: impl Into<String>) -> Result<T, EktpError> {
    Err(EktpError::StreamDecode {
        offset,
        message: message.into(),
    })
}

/// What a scanner finds: the complete commands, the bytes they take, and where and why the
/// bytes ran out inside a command.
pub(crate) type Scan = (Vec<Command>, usize, Option<(usize, String)>);

/// A whole stream's commands: one cut by the end of the bytes is an error.
pub(crate) fn whole(scan: Scan) -> Result<Vec<Command>, EktpError> {
    match scan {
        (commands, _, None) => Ok(commands),
        (_, _, Some((at, message))) => fail(at, message),
    }
}

/// The panels one side of a card prints, or a ribbon holds for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PanelSet {
    /// Yellow, magenta and cyan (dye).
    pub colour: bool,
    /// Black resin.
    pub k: bool,
    /// Overlay (varnish, overcoat).
    pub o: bool,
}

impl PanelSet {
    pub const COLOUR_K_O: PanelSet = PanelSet {
        colour: true,
        k: true,
        o: true,
    };
    pub const K_O: PanelSet = PanelSet {
        colour: false,
        k: true,
        o: true,
    };
    pub const K: PanelSet = PanelSet {
        colour: false,
        k: true,
        o: false,
    };

    /// The panels a side holds.
    pub fn of_panels(p: &Panels) -> PanelSet {
        PanelSet {
            colour: !(p.y.is_empty() && p.m.is_empty() && p.c.is_empty()),
            k: p.k.is_some(),
            o: p.o.is_some(),
        }
    }

    /// The panels raster settings ask for (colour only where the face has RGB).
    pub fn of_settings(s: &Settings, has_rgb: bool) -> PanelSet {
        PanelSet {
            colour: s.colour && has_rgb,
            k: s.black != BlackMode::None,
            o: s.overlay != Overlay::None,
        }
    }

    /// Panels in `self` and not in `other`.
    pub fn minus(self, other: PanelSet) -> PanelSet {
        PanelSet {
            colour: self.colour && !other.colour,
            k: self.k && !other.k,
            o: self.o && !other.o,
        }
    }

    pub fn is_empty(self) -> bool {
        !(self.colour || self.k || self.o)
    }

    /// In words: `colour (Y, M, C), K and O`.
    pub fn describe(self) -> String {
        let names: Vec<&str> = [
            (self.colour, "colour (Y, M, C)"),
            (self.k, "K"),
            (self.o, "O"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        match names.as_slice() {
            [] => "no panel".to_string(),
            [one] => one.to_string(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        }
    }
}

/// A ribbon as a dialect knows it: its name and the panels it has for each side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ribbon {
    pub name: String,
    pub front: PanelSet,
    pub back: PanelSet,
}

impl Ribbon {
    /// The panels for one side.
    pub fn side(&self, back: bool) -> PanelSet {
        if back {
            self.back
        } else {
            self.front
        }
    }

    /// Refuses a side that asks for panels the ribbon does not have for it.
    pub fn check(&self, back: bool, wanted: PanelSet) -> Result<(), EktpError> {
        let has = self.side(back);
        let extra = wanted.minus(has);
        if extra.is_empty() {
            return Ok(());
        }
        let side = if back { "back" } else { "front" };
        Err(EktpError::RibbonMismatch(format!(
            "the {} ribbon prints {} on the {side}; the {side} asks for {} too",
            self.name,
            has.describe(),
            extra.describe()
        )))
    }
}

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
    /// Moves the card to a chip station before it is printed (refused by a language whose
    /// public sources do not say how).
    fn chip_phase(&self, station: ChipStation, out: &mut Vec<u8>) -> Result<(), EktpError>;
    /// Ejects the card at the chip station to the reject tray.
    fn reject(&self, out: &mut Vec<u8>) -> Result<(), EktpError>;
    /// Cards and commands back from a stream.
    fn decode(&self, stream: &[u8]) -> Result<DecodedJob, EktpError>;
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

    fn chip_phase(&self, station: ChipStation, out: &mut Vec<u8>) -> Result<(), EktpError> {
        evolis::chip_phase(station, out);
        Ok(())
    }

    fn reject(&self, out: &mut Vec<u8>) -> Result<(), EktpError> {
        evolis::reject(out);
        Ok(())
    }

    fn decode(&self, stream: &[u8]) -> Result<DecodedJob, EktpError> {
        evolis::decode(stream)
    }
}

/// The Magicard language as a [`Dialect`] (6-bit colour only: `depth` must be 6).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Magicard {
    pub settings: magicard::JobSettings,
}

impl Dialect for Magicard {
    fn name(&self) -> &'static str {
        "magicard"
    }

    fn canvas(&self) -> (usize, usize) {
        (magicard::LINES, magicard::DOTS)
    }

    fn job_start(&self, _out: &mut Vec<u8>) {}

    fn job_end(&self, _out: &mut Vec<u8>) {}

    fn encode_card(
        &self,
        front: &Panels,
        back: Option<&Panels>,
        depth: u8,
        out: &mut Vec<u8>,
    ) -> Result<(), EktpError> {
        if depth != magicard::DEPTH {
            return Err(EktpError::InvalidArgument(format!(
                "Magicard colour is {} bits a dot, not {depth}",
                magicard::DEPTH
            )));
        }
        magicard::encode_card(&magicard::Card { front, back }, &self.settings, out)
    }

    fn chip_phase(&self, _station: ChipStation, _out: &mut Vec<u8>) -> Result<(), EktpError> {
        Err(magicard::no_chip_phase())
    }

    fn reject(&self, _out: &mut Vec<u8>) -> Result<(), EktpError> {
        Err(magicard::no_chip_phase())
    }

    fn decode(&self, stream: &[u8]) -> Result<DecodedJob, EktpError> {
        magicard::decode(stream)
    }
}
