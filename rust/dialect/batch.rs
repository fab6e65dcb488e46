//! Encoding a batch on every core, for any dialect: cards go in shares that idle cores take as
//! they come, each share encoded card after card into one buffer, with raster and output
//! buffers pooled from batch to batch.

use std::sync::Mutex;

use crate::error::EktpError;
use crate::raster::{Face, Settings};

/// One card's faces: front, and back if it prints.
pub type CardFaces<'a> = (Face<'a>, Option<Face<'a>>);

/// Buffers of finished work, kept for the next: raster panels and payloads (a worker takes
/// one set per share of cards and puts it back when the share is done), and the output
/// buffers of encoded chunks (back when the chunk's bytes have been taken). The next batch
/// starts with memory that is already mapped instead of faulting in fresh pages on every core,
/// and most offices encode batch after batch. Both pools are capped; an output buffer that
/// grew unusually large is let go.
static OUTPUTS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// Buffers each pool keeps at most.
const POOLED: usize = 64;
/// The largest output buffer the pool keeps.
const KEEP_OUTPUT: usize = 32 << 20;
/// Cards per share: small enough that a core held up (by another process, say) leaves the
/// rest of a chunk to the others, large enough that each share's buffer bookkeeping is noise.
const SHARE: usize = 2;

/// Takes a buffer set from a pool, or a fresh one. (A poisoned pool only means a panic while
/// another batch handed its buffers back: the buffers are still good.)
pub(crate) fn pooled<T: Default>(pool: &std::sync::Mutex<Vec<T>>) -> T {
    pool.lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop()
        .unwrap_or_default()
}

/// Gives buffers back to a pool, up to its cap.
pub(crate) fn give_back<T>(pool: &std::sync::Mutex<Vec<T>>, items: impl IntoIterator<Item = T>) {
    let mut pool = pool.lock().unwrap_or_else(|e| e.into_inner());
    for item in items {
        if pool.len() >= POOLED {
            break;
        }
        pool.push(item);
    }
}

/// One encoded card: its bytes in the stream and the replies the printer sends for them (what
/// a station counts, so it never parses a card it just encoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CardSpan {
    pub bytes: usize,
    pub replies: usize,
}

/// Cards encoded by [`encode_batch`]: their stream is [`EncodedCards::parts`] in order. When
/// dropped, the output buffers go back to the pool for the next batch.
#[derive(Debug)]
pub struct EncodedCards {
    parts: Vec<Vec<u8>>,
    cards: Vec<CardSpan>,
}

impl EncodedCards {
    /// Each card's bytes and replies, in order.
    pub fn cards(&self) -> &[CardSpan] {
        &self.cards
    }

    /// The stream, in pieces to concatenate.
    pub fn parts(&self) -> impl Iterator<Item = &[u8]> {
        self.parts.iter().map(Vec::as_slice)
    }

    /// The stream's length in bytes.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stream's pieces, to hand on without a copy; give each back with [`recycle`] when
    /// it has been sent.
    pub fn into_parts(mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.parts)
    }
}

/// Gives a piece of an encoded stream back to the pool, for the next batch.
pub fn recycle(part: Vec<u8>) {
    if part.capacity() <= KEEP_OUTPUT {
        give_back(&OUTPUTS, [part]);
    }
}

impl Drop for EncodedCards {
    fn drop(&mut self) {
        let kept = self.parts.drain(..).filter(|p| p.capacity() <= KEEP_OUTPUT);
        give_back(&OUTPUTS, kept);
    }
}

/// One side to encode: its face and raster settings.
pub type Side<'a, 'b> = (&'a Face<'b>, &'a Settings);

/// Rasterises and encodes `cards` on every core with `encode(front, back, job, out, scratch)`
/// (which returns the replies the card draws), one card after another within a share;
/// `scratch` comes from `pool` and goes back to it. A side given without an RGB face prints no
/// colour, whatever the settings allow.
pub fn encode_batch<S, J, F>(
    cards: &[CardFaces<'_>],
    (front, back): (&Settings, &Settings),
    job: &J,
    pool: &Mutex<Vec<S>>,
    encode: F,
) -> Result<EncodedCards, EktpError>
where
    S: Default + Send,
    J: Sync,
    F: Fn(Side<'_, '_>, Option<Side<'_, '_>>, &J, &mut Vec<u8>, &mut S) -> Result<usize, EktpError>
        + Sync,
{
    use rayon::prelude::*;
    let (front_mono, back_mono) = (mono(front), mono(back));
    let shares = cards
        .par_chunks(SHARE)
        .map(|share| {
            let mut scratch: S = pooled(pool);
            let mut out: Vec<u8> = pooled(&OUTPUTS);
            out.clear();
            let mut spans = Vec::with_capacity(share.len());
            let encoded = share.iter().try_for_each(|(f, b)| {
                let fs = if f.rgb.is_some() { front } else { &front_mono };
                let back_side = b
                    .as_ref()
                    .map(|b| (b, if b.rgb.is_some() { back } else { &back_mono }));
                let before = out.len();
                let replies = encode((f, fs), back_side, job, &mut out, &mut scratch)?;
                spans.push(CardSpan {
                    bytes: out.len() - before,
                    replies,
                });
                Ok(())
            });
            give_back(pool, [scratch]);
            encoded.map(|()| (out, spans))
        })
        .collect::<Result<Vec<_>, EktpError>>()?;
    let (parts, spans): (Vec<_>, Vec<_>) = shares.into_iter().unzip();
    Ok(EncodedCards {
        parts,
        cards: spans.into_iter().flatten().collect(),
    })
}

/// The same settings without colour panels.
pub(crate) fn mono(s: &Settings) -> Settings {
    Settings {
        colour: false,
        ..s.clone()
    }
}
