//! Personalisation scripts: a card's files become the command sequence that writes them —
//! CREATE FILE (optional), SELECT, UPDATE BINARY in chunks — and the sequence that reads them
//! back for verification. The commands are plain; a [`super::sm::Session`] protects them.
//!
//! Chunk sizes are the caller's (see `docs/chip.md`): 255 bytes in the clear, at most 239 per
//! protected short UPDATE BINARY (DO'87' takes an `81 xx` length above 127 bytes and the
//! ciphertext must stay within one short body), more with extended APDUs.

use super::apdu::Command;
use crate::error::EktpError;

/// The highest offset an even-INS READ/UPDATE BINARY can address (P1 bit 8 is the SFI flag).
pub const MAX_EVEN_OFFSET: usize = 0x7FFF;

/// One elementary file to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub fid: u16,
    pub content: Vec<u8>,
}

/// How the files are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Send CREATE FILE before writing each file (a blank chip has none).
    pub create: bool,
    /// Data bytes per UPDATE BINARY.
    pub write_chunk: usize,
    /// Data bytes per READ BINARY when reading back.
    pub read_chunk: usize,
}

impl Layout {
    pub fn check(&self, files: &[File]) -> Result<(), EktpError> {
        if self.write_chunk == 0 || self.write_chunk > 65_535 {
            return Err(EktpError::InvalidArgument(format!(
                "write chunk {} is not 1..=65535 bytes",
                self.write_chunk
            )));
        }
        if self.read_chunk == 0 || self.read_chunk > 65_536 {
            return Err(EktpError::InvalidArgument(format!(
                "read chunk {} is not 1..=65536 bytes",
                self.read_chunk
            )));
        }
        for f in files {
            if f.content.is_empty() || f.content.len() > MAX_EVEN_OFFSET + 1 {
                return Err(EktpError::InvalidArgument(format!(
                    "file {:04X}: {} bytes; a file is 1..=32768 bytes (offsets past 7FFF need \
                     odd-INS commands, which this chip profile does not use)",
                    f.fid,
                    f.content.len()
                )));
            }
        }
        Ok(())
    }
}

/// `SELECT EF` under the current DF, no FCI returned: `00 A4 02 0C 02 <fid>`.
pub fn select_ef(fid: u16) -> Command {
    Command::new(0x00, 0xA4, 0x02, 0x0C, fid.to_be_bytes().to_vec(), None)
}

/// `CREATE FILE` of a transparent EF with its size and id, in the FCP form of the open
/// reference applets: `00 E0 00 00 06 63 04 <size:2> <fid:2>`.
pub fn create_file(fid: u16, size: usize) -> Command {
    let mut data = vec![0x63, 0x04];
    data.extend_from_slice(&(size as u16).to_be_bytes());
    data.extend_from_slice(&fid.to_be_bytes());
    Command::new(0x00, 0xE0, 0x00, 0x00, data, None)
}

fn offset_p1p2(offset: usize) -> (u8, u8) {
    ((offset >> 8) as u8 & 0x7F, offset as u8)
}

/// The commands that write `files`.
pub fn write_script(layout: &Layout, files: &[File]) -> Result<Vec<Command>, EktpError> {
    layout.check(files)?;
    let mut cmds = Vec::new();
    for f in files {
        if layout.create {
            cmds.push(create_file(f.fid, f.content.len()));
        }
        cmds.push(select_ef(f.fid));
        for (i, chunk) in f.content.chunks(layout.write_chunk).enumerate() {
            let (p1, p2) = offset_p1p2(i * layout.write_chunk);
            cmds.push(Command::new(0x00, 0xD6, p1, p2, chunk.to_vec(), None));
        }
    }
    Ok(cmds)
}

/// The commands that read `files` back: SELECT, then READ BINARY over the file's length.
/// The answers, concatenated per file, must equal the contents written.
pub fn read_script(layout: &Layout, files: &[File]) -> Result<Vec<Command>, EktpError> {
    layout.check(files)?;
    let mut cmds = Vec::new();
    for f in files {
        cmds.push(select_ef(f.fid));
        let mut offset = 0;
        while offset < f.content.len() {
            let n = layout.read_chunk.min(f.content.len() - offset);
            let (p1, p2) = offset_p1p2(offset);
            cmds.push(Command::new(0x00, 0xB0, p1, p2, Vec::new(), Some(n as u32)));
            offset += n;
        }
    }
    Ok(cmds)
}
