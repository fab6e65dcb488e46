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

/// What a printer says about itself, as every dialect maps its printer's answers: the one
/// vocabulary a print station acts on (wait, pause for the operator, spoil the card, stop),
/// whichever language the printer speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Condition {
    /// Ready for a card (or the command was taken).
    Ready,
    /// Warming up, cooling, cleaning: ready again by itself.
    Busy,
    /// Printing a card.
    Printing,
    /// An error the printer names no better; someone must look at it.
    NeedsAction,
    /// Still printing, but the ribbon is nearly used up.
    RibbonLow,
    /// The ribbon ended, is missing, or does not fit.
    RibbonOut,
    CoverOpen,
    /// A card jammed: that card is lost.
    Jam,
    /// Another mechanical fault.
    Mechanical,
    FeederEmpty,
    RejectFull,
    /// Another client holds the printer for its own job.
    SessionHeld,
}

impl Condition {
    /// Every condition, in declaration order.
    pub const ALL: [Condition; 12] = [
        Condition::Ready,
        Condition::Busy,
        Condition::Printing,
        Condition::NeedsAction,
        Condition::RibbonLow,
        Condition::RibbonOut,
        Condition::CoverOpen,
        Condition::Jam,
        Condition::Mechanical,
        Condition::FeederEmpty,
        Condition::RejectFull,
        Condition::SessionHeld,
    ];

    /// The name the Python status model uses.
    pub fn name(self) -> &'static str {
        match self {
            Condition::Ready => "ready",
            Condition::Busy => "busy",
            Condition::Printing => "printing",
            Condition::NeedsAction => "needs_action",
            Condition::RibbonLow => "ribbon_low",
            Condition::RibbonOut => "ribbon_out",
            Condition::CoverOpen => "cover_open",
            Condition::Jam => "jam",
            Condition::Mechanical => "mechanical",
            Condition::FeederEmpty => "feeder_empty",
            Condition::RejectFull => "reject_full",
            Condition::SessionHeld => "session_held",
        }
    }
}

/// What every printer dialect provides, and all a print station uses: the handshake and the
/// job's start, one card from its panels with the replies it draws (so the station never
/// parses what it just encoded), the two halves of a chip job, a status query and the
/// meaning of each reply, and the exact inverse decoder. A new printer language is one more
/// implementation over the same [`Panels`]. Functions that write return how many replies
/// the printer sends for what they wrote.
pub trait Dialect {
    /// The name the Python registry knows it by.
    fn name(&self) -> &'static str;
    /// Panel geometry: `(lines, dots)`.
    fn canvas(&self) -> (usize, usize);
    /// Puts the printer in the mode a station drives it in (Evolis: ACK/NACK replies, a
    /// reset that clears an error whose cause is gone).
    fn handshake(&self, out: &mut Vec<u8>) -> usize;
    fn job_start(&self, out: &mut Vec<u8>) -> usize;
    fn job_end(&self, out: &mut Vec<u8>);
    /// One card, front and optional back, colour at `depth` bits.
    fn encode_card(
        &self,
        front: &Panels,
        back: Option<&Panels>,
        depth: u8,
        out: &mut Vec<u8>,
    ) -> Result<usize, EktpError>;
    /// Moves the card to a chip station before it is printed (refused by a language whose
    /// public sources do not say how).
    fn chip_phase(&self, station: ChipStation, out: &mut Vec<u8>) -> Result<usize, EktpError>;
    /// Ejects the card at the chip station to the reject tray.
    fn reject(&self, out: &mut Vec<u8>) -> Result<usize, EktpError>;
    /// Asks the printer how it is.
    fn status_query(&self, out: &mut Vec<u8>) -> usize;
    /// What one reply says.
    fn condition(&self, reply: &str) -> Condition;
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

    fn handshake(&self, out: &mut Vec<u8>) -> usize {
        evolis::handshake(out)
    }

    fn job_start(&self, out: &mut Vec<u8>) -> usize {
        evolis::job_start(&self.settings, out)
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
    ) -> Result<usize, EktpError> {
        evolis::encode_card(&evolis::Card { front, back }, depth, &self.settings, out)
    }

    fn chip_phase(&self, station: ChipStation, out: &mut Vec<u8>) -> Result<usize, EktpError> {
        Ok(evolis::chip_phase(station, out))
    }

    fn reject(&self, out: &mut Vec<u8>) -> Result<usize, EktpError> {
        Ok(evolis::reject(out))
    }

    fn status_query(&self, out: &mut Vec<u8>) -> usize {
        evolis::status_query(out)
    }

    fn condition(&self, reply: &str) -> Condition {
        evolis::condition(reply)
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

    fn handshake(&self, _out: &mut Vec<u8>) -> usize {
        0
    }

    fn job_start(&self, _out: &mut Vec<u8>) -> usize {
        0
    }

    fn job_end(&self, _out: &mut Vec<u8>) {}

    fn encode_card(
        &self,
        front: &Panels,
        back: Option<&Panels>,
        depth: u8,
        out: &mut Vec<u8>,
    ) -> Result<usize, EktpError> {
        if depth != magicard::DEPTH {
            return Err(EktpError::InvalidArgument(format!(
                "Magicard colour is {} bits a dot, not {depth}",
                magicard::DEPTH
            )));
        }
        // A Magicard answers nothing while it takes pages: a card is confirmed by its
        // counter (the status query).
        magicard::encode_card(&magicard::Card { front, back }, &self.settings, out).map(|()| 0)
    }

    fn chip_phase(&self, _station: ChipStation, _out: &mut Vec<u8>) -> Result<usize, EktpError> {
        Err(magicard::no_chip_phase())
    }

    fn reject(&self, _out: &mut Vec<u8>) -> Result<usize, EktpError> {
        Err(magicard::no_chip_phase())
    }

    fn status_query(&self, out: &mut Vec<u8>) -> usize {
        magicard::status_query(out)
    }

    fn condition(&self, reply: &str) -> Condition {
        magicard::condition(reply)
    }

    fn decode(&self, stream: &[u8]) -> Result<DecodedJob, EktpError> {
        magicard::decode(stream)
    }
}
