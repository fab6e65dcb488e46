//! BER-TLV as ISO/IEC 7816-4 §5.2 uses it: the encoding of every data group on the chip and of
//! the secure-messaging data objects around each APDU.
//!
//! A tag is kept as the big-endian number its bytes spell (`0x5F1F`, `0x7F61`, `0x1F808000`),
//! so a tag written in a profile looks the way it does in a hex dump. Lengths are written in
//! the minimal (DER) form; the decoder also takes longer forms, which BER allows, but never the
//! indefinite form (`80`), which LDS files must not use.

use crate::error::EktpError;

/// A tag's bytes as one big-endian number: `0x61`, `0x5F1F`, `0x1F808000`. At most 4 bytes.
pub type Tag = u32;

/// One data object: a primitive one carries bytes, a constructed one (tag bit 6 set) carries
/// further data objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tlv {
    Primitive { tag: Tag, value: Vec<u8> },
    Constructed { tag: Tag, children: Vec<Tlv> },
}

impl Tlv {
    pub fn tag(&self) -> Tag {
        match self {
            Tlv::Primitive { tag, .. } | Tlv::Constructed { tag, .. } => *tag,
        }
    }

    /// The length of the value field once encoded.
    pub fn value_len(&self) -> usize {
        match self {
            Tlv::Primitive { value, .. } => value.len(),
            Tlv::Constructed { children, .. } => children.iter().map(Tlv::encoded_len).sum(),
        }
    }

    /// The whole data object's encoded size, computed without encoding it: outer lengths
    /// are written before the children, so nested objects are sized inside out.
    pub fn encoded_len(&self) -> usize {
        let n = self.value_len();
        tag_bytes(self.tag()) + len_bytes(n) + n
    }

    /// Appends the encoding to `out`. Fails on a tag that is not a valid BER tag or whose
    /// constructed bit disagrees with the variant.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EktpError> {
        let tag = self.tag();
        check_tag(tag)?;
        let constructed = is_constructed(tag);
        match self {
            Tlv::Primitive { value, .. } => {
                if constructed {
                    return Err(EktpError::InvalidArgument(format!(
                        "tag {tag:02X} is constructed but was given bytes, not data objects"
                    )));
                }
                write_tag(tag, out);
                write_len(value.len(), out);
                out.extend_from_slice(value);
            }
            Tlv::Constructed { children, .. } => {
                if !constructed {
                    return Err(EktpError::InvalidArgument(format!(
                        "tag {tag:02X} is primitive but was given data objects, not bytes"
                    )));
                }
                write_tag(tag, out);
                write_len(self.value_len(), out);
                for child in children {
                    child.encode(out)?;
                }
            }
        }
        Ok(())
    }
}

/// Encodes a sequence of data objects.
pub fn encode_all(items: &[Tlv]) -> Result<Vec<u8>, EktpError> {
    let mut out = Vec::with_capacity(items.iter().map(Tlv::encoded_len).sum());
    for item in items {
        item.encode(&mut out)?;
    }
    Ok(out)
}

/// Whether a tag's first byte marks it constructed (bit 6).
pub fn is_constructed(tag: Tag) -> bool {
    first_byte(tag) & 0x20 != 0
}

fn first_byte(tag: Tag) -> u8 {
    tag.to_be_bytes()[4 - tag_bytes(tag)]
}

/// How many bytes the tag number spells (leading zero bytes are not part of it).
fn tag_bytes(tag: Tag) -> usize {
    (4 - tag.leading_zeros() as usize / 8).max(1)
}

/// Checks that `tag` is a tag the decoder would read back as itself: a first byte whose low
/// five bits are `11111` iff more bytes follow, continuation bits set on every byte but the
/// last.
pub fn check_tag(tag: Tag) -> Result<(), EktpError> {
    let bytes = &tag.to_be_bytes()[4 - tag_bytes(tag)..];
    let bad = |why: &str| Err(EktpError::InvalidArgument(format!("tag {tag:X}: {why}")));
    let first = bytes[0];
    if first == 0x00 || first == 0xFF {
        return bad("00 and FF are padding, not tags");
    }
    let long = first & 0x1F == 0x1F;
    if long != (bytes.len() > 1) {
        return if long {
            bad("the first byte announces more tag bytes")
        } else {
            bad("only a first byte ending in 11111 takes more tag bytes")
        };
    }
    let (last, middle) = bytes[1..].split_last().unwrap_or((&0, &[]));
    if middle.iter().any(|b| b & 0x80 == 0) || (bytes.len() > 1 && last & 0x80 != 0) {
        return bad("bit 8 must be set on every subsequent tag byte but the last");
    }
    Ok(())
}

fn write_tag(tag: Tag, out: &mut Vec<u8>) {
    out.extend_from_slice(&tag.to_be_bytes()[4 - tag_bytes(tag)..]);
}

/// Bytes the minimal length field of `n` takes.
pub fn len_bytes(n: usize) -> usize {
    match n {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        0x100..=0xFFFF => 3,
        0x1_0000..=0xFF_FFFF => 4,
        _ => 5,
    }
}

/// Writes `n` in the minimal length form: `7F`, `81 80`, `82 07CF`, `83 xxxxxx`, `84 xxxxxxxx`.
pub fn write_len(n: usize, out: &mut Vec<u8>) {
    let k = len_bytes(n);
    if k == 1 {
        out.push(n as u8);
    } else {
        out.push(0x80 | (k - 1) as u8);
        out.extend_from_slice(&(n as u64).to_be_bytes()[9 - k..]);
    }
}

/// One data object's header as read from `data[pos..]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub tag: Tag,
    /// Offset of the value field.
    pub start: usize,
    /// Length of the value field.
    pub len: usize,
}

impl Header {
    pub fn end(&self) -> usize {
        self.start + self.len
    }
}

fn malformed(what: String, offset: usize) -> EktpError {
    EktpError::ChipDecode { what, offset }
}

/// Reads the tag and length at `pos`, checking the value fits in `data`.
pub fn read_header(data: &[u8], pos: usize) -> Result<Header, EktpError> {
    let mut i = pos;
    let byte = |i: usize, what: &str| {
        data.get(i)
            .copied()
            .ok_or_else(|| malformed(format!("truncated {what}"), i))
    };
    let first = byte(i, "tag")?;
    if first == 0x00 || first == 0xFF {
        return Err(malformed(format!("{first:02X} is padding, not a tag"), i));
    }
    let mut tag = u32::from(first);
    i += 1;
    if first & 0x1F == 0x1F {
        loop {
            let b = byte(i, "tag")?;
            if tag > 0xFF_FFFF {
                return Err(malformed("tag longer than 4 bytes".into(), pos));
            }
            tag = (tag << 8) | u32::from(b);
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let l = byte(i, "length")?;
    i += 1;
    let len = match l {
        0..=0x7F => usize::from(l),
        0x80 => return Err(malformed("indefinite length (80)".into(), i - 1)),
        0x81..=0x84 => {
            let k = usize::from(l & 0x7F);
            let bytes = data
                .get(i..i + k)
                .ok_or_else(|| malformed("truncated length".into(), i))?;
            i += k;
            bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b))
        }
        _ => return Err(malformed(format!("length form {l:02X}"), i - 1)),
    };
    if data.len() - i < len {
        return Err(malformed(
            format!(
                "tag {tag:02X} declares {len} bytes but {} remain",
                data.len() - i
            ),
            pos,
        ));
    }
    Ok(Header { tag, start: i, len })
}

/// How deep constructed objects may nest. LDS files nest four deep (DG2: 75 / 7F61 / 7F60 /
/// A1); the bound keeps a hostile input of nested headers from exhausting the stack.
pub const MAX_DEPTH: usize = 32;

/// Decodes every data object in `data`, descending into constructed ones. Errors name the
/// byte offset in `data`.
pub fn decode(data: &[u8]) -> Result<Vec<Tlv>, EktpError> {
    decode_range(data, 0, data.len(), 0)
}

fn decode_range(
    data: &[u8],
    mut pos: usize,
    end: usize,
    depth: usize,
) -> Result<Vec<Tlv>, EktpError> {
    let mut items = Vec::new();
    while pos < end {
        let h = read_header(&data[..end], pos)?;
        items.push(if is_constructed(h.tag) {
            if depth == MAX_DEPTH {
                return Err(malformed(
                    format!("data objects nested deeper than {MAX_DEPTH}"),
                    pos,
                ));
            }
            Tlv::Constructed {
                tag: h.tag,
                children: decode_range(data, h.start, h.end(), depth + 1)?,
            }
        } else {
            Tlv::Primitive {
                tag: h.tag,
                value: data[h.start..h.end()].to_vec(),
            }
        });
        pos = h.end();
    }
    Ok(items)
}

/// The value of the first top-level data object with `tag`, without decoding the rest.
pub fn find(data: &[u8], tag: Tag) -> Result<Option<&[u8]>, EktpError> {
    let mut pos = 0;
    while pos < data.len() {
        let h = read_header(data, pos)?;
        if h.tag == tag {
            return Ok(Some(&data[h.start..h.end()]));
        }
        pos = h.end();
    }
    Ok(None)
}
