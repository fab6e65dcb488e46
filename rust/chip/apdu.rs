//! ISO/IEC 7816-4 command and response APDUs.
//!
//! A command is kept as what it means (`Nc` data bytes, `Ne` expected bytes) and the case and
//! short/extended form follow from that when it is encoded: extended as soon as `Nc > 255` or
//! `Ne > 256`, and then Lc and Le are both extended (ISO does not let them mix). Case 4E with
//! `Ne = 256` is written `0100`: a two-byte `0000` means 65,536.

use crate::error::EktpError;

/// A command APDU. `ne` is the number of response bytes expected, 1..=65,536; `None` sends no
/// Le field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Vec<u8>,
    pub ne: Option<u32>,
}

impl Command {
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8, data: Vec<u8>, ne: Option<u32>) -> Self {
        Command {
            cla,
            ins,
            p1,
            p2,
            data,
            ne,
        }
    }

    /// Whether the encoding needs the extended length fields.
    pub fn extended(&self) -> bool {
        self.data.len() > 255 || self.ne.is_some_and(|ne| ne > 256)
    }

    /// Checks the lengths ISO allows: at most 65,535 data bytes, Ne in 1..=65,536.
    pub fn check(&self) -> Result<(), EktpError> {
        if self.data.len() > 65_535 {
            return Err(EktpError::InvalidArgument(format!(
                "an APDU carries at most 65535 data bytes, not {}",
                self.data.len()
            )));
        }
        if let Some(ne) = self.ne {
            if !(1..=65_536).contains(&ne) {
                return Err(EktpError::InvalidArgument(format!(
                    "Ne (expected response length) is 1..=65536, not {ne}"
                )));
            }
        }
        Ok(())
    }

    /// The encoded size.
    pub fn encoded_len(&self) -> usize {
        let ext = self.extended();
        let lc = match (self.data.is_empty(), ext) {
            (true, _) => 0,
            (false, false) => 1,
            (false, true) => 3,
        };
        let le = match (self.ne, ext, self.data.is_empty()) {
            (None, _, _) => 0,
            (Some(_), false, _) => 1,
            (Some(_), true, true) => 3,
            (Some(_), true, false) => 2,
        };
        4 + lc + self.data.len() + le
    }

    /// Appends the encoding to `out` (see [`Command::check`] for what is refused).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EktpError> {
        self.check()?;
        let ext = self.extended();
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let nc = self.data.len();
        if nc > 0 {
            if ext {
                out.push(0);
                out.extend_from_slice(&(nc as u16).to_be_bytes());
            } else {
                out.push(nc as u8);
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(ne) = self.ne {
            if ext {
                if nc == 0 {
                    out.push(0);
                }
                // 65,536 is written 0000; every other value as itself.
                out.extend_from_slice(&((ne & 0xFFFF) as u16).to_be_bytes());
            } else {
                out.push((ne & 0xFF) as u8); // 256 is written 00
            }
        }
        Ok(())
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, EktpError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out)?;
        Ok(out)
    }

    /// Parses a command APDU (the chip's side of the exchange). Every length field must
    /// account for the bytes exactly. Extended fields are taken for any length (a terminal
    /// may always send them); [`Command::encode`] writes the short form where it suffices.
    pub fn parse(apdu: &[u8]) -> Result<Command, EktpError> {
        let bad = |what: &str, offset: usize| EktpError::ChipDecode {
            what: format!("command APDU: {what}"),
            offset,
        };
        if apdu.len() < 4 {
            return Err(bad("shorter than the 4-byte header", apdu.len()));
        }
        let mut cmd = Command::new(apdu[0], apdu[1], apdu[2], apdu[3], Vec::new(), None);
        let body = &apdu[4..];
        let short_ne = |b: u8| if b == 0 { 256 } else { u32::from(b) };
        let long = |hi: u8, lo: u8| u32::from(u16::from_be_bytes([hi, lo]));
        let ext_ne = |hi: u8, lo: u8| match long(hi, lo) {
            0 => 65_536,
            n => n,
        };
        match body.len() {
            0 => {}
            1 => cmd.ne = Some(short_ne(body[0])),
            _ if body[0] != 0 => {
                let nc = usize::from(body[0]);
                match body.len() - 1 {
                    n if n == nc => {}
                    n if n == nc + 1 => cmd.ne = Some(short_ne(body[nc + 1])),
                    _ => return Err(bad(&format!("Lc {nc} does not match the body"), 4)),
                }
                cmd.data = body[1..=nc].to_vec();
            }
            3 => cmd.ne = Some(ext_ne(body[1], body[2])),
            n if n > 3 => {
                let nc = long(body[1], body[2]) as usize;
                if nc == 0 {
                    return Err(bad("extended Lc of 0", 5));
                }
                match n - 3 {
                    m if m == nc => {}
                    m if m == nc + 2 => cmd.ne = Some(ext_ne(body[3 + nc], body[4 + nc])),
                    _ => return Err(bad(&format!("extended Lc {nc} does not match the body"), 5)),
                }
                cmd.data = body[3..3 + nc].to_vec();
            }
            _ => return Err(bad("a body of 2 bytes starting 00", 4)),
        }
        Ok(cmd)
    }
}

/// A response APDU: data and the status word `SW1 SW2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Response {
    pub fn parse(apdu: &[u8]) -> Result<Response, EktpError> {
        if apdu.len() < 2 {
            return Err(EktpError::ChipDecode {
                what: "response APDU shorter than its 2-byte status word".into(),
                offset: apdu.len(),
            });
        }
        let (data, sw) = apdu.split_at(apdu.len() - 2);
        Ok(Response {
            data: data.to_vec(),
            sw: u16::from_be_bytes([sw[0], sw[1]]),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_be_bytes());
        out
    }

    pub fn ok(&self) -> bool {
        self.sw == 0x9000
    }
}

/// What a status word means (ISO/IEC 7816-4 and ICAO 9303 usage).
pub fn status_meaning(sw: u16) -> String {
    let [sw1, sw2] = sw.to_be_bytes();
    let fixed = match sw {
        0x9000 => "success",
        0x6282 => "end of file reached before Le bytes",
        0x6300 => "verification failed (authentication cryptogram rejected)",
        0x6581 => "memory failure",
        0x6700 => "wrong length",
        0x6882 => "secure messaging not supported",
        0x6982 => "security status not satisfied",
        0x6983 => "authentication method blocked",
        0x6984 => "reference data not usable",
        0x6985 => "conditions of use not satisfied",
        0x6986 => "command not allowed (no current EF)",
        0x6987 => "expected secure messaging data objects missing",
        0x6988 => "secure messaging data objects incorrect",
        0x6A80 => "incorrect parameters in the data field",
        0x6A81 => "function not supported",
        0x6A82 => "file or application not found",
        0x6A84 => "not enough memory space in the file",
        0x6A86 => "incorrect parameters P1-P2",
        0x6A89 => "file already exists",
        0x6A88 => "referenced data not found",
        0x6B00 => "wrong parameters P1-P2 (offset outside the EF)",
        0x6D00 => "instruction not supported",
        0x6E00 => "class not supported",
        0x6F00 => "no precise diagnosis",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_string();
    }
    match sw1 {
        0x61 => format!("{sw2} more response bytes available (GET RESPONSE)"),
        0x6C => format!("wrong Le: exactly {sw2} bytes are available"),
        0x63 if sw2 & 0xF0 == 0xC0 => format!("verification failed, {} tries left", sw2 & 0x0F),
        0x62 | 0x63 => "warning: state of non-volatile memory may have changed".to_string(),
        0x64..=0x66 => "execution error".to_string(),
        0x67..=0x6F => "checking error".to_string(),
        _ => "unknown status".to_string(),
    }
}
