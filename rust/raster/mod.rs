//! The raster stage: a card face (RGB, plus an optional black layer for text) becomes the
//! panels a dye-sublimation printer prints one after another: yellow, magenta and cyan at a
//! few bits per dot, black (K) and overlay (O) at one bit.
//!
//! Everything a printer dialect needs is decided here, once per face:
//! - **separation**: subtractive inks, `Y = 255 - B`, `M = 255 - G`, `C = 255 - R`, through a
//!   transfer curve (a 256-entry table), then cut to the panel depth (5-8 bits);
//! - **black management**: K from the black layer (text rendered apart, so it prints sharp in
//!   resin), or from near-black pixels; where K prints, the colour panels are left empty;
//! - **overlay**: full, none, or a mask (for example with the chip area left clear);
//! - **halftoning** of grey black layers and masks to one bit: threshold, Floyd-Steinberg
//!   error diffusion, or an 8x8 ordered (Bayer) dither;
//! - **rotation** to the printer's scan direction: printers print lines across the card's
//!   short side, so the landscape face is turned (Evolis: 90 degrees clockwise).
//!
//! Panels are returned in printer order: `lines` lines of `dots` dots. Colour panels hold one
//! byte per dot (the level); K and O are packed eight dots per byte, most significant bit
//! first, a set bit printing.

#[cfg(test)]
mod tests;

use crate::error::EktpError;

/// How black is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlackMode {
    /// No K panel: black is made of Y, M and C.
    None,
    /// K from the black layer (after halftoning); colour is cleared under it.
    Layer,
    /// K where a face pixel is near black (every channel at or under the threshold); colour
    /// is cleared there. The black layer, if any, is added.
    NearBlack(u8),
}

/// How grey is made one-bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halftone {
    /// Dark (value under the threshold, 0 = black) prints.
    Threshold(u8),
    /// Floyd-Steinberg error diffusion, serpentine.
    FloydSteinberg,
    /// 8x8 Bayer ordered dither.
    Ordered,
}

/// The overlay (varnish) panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overlay {
    None,
    Full,
    /// One byte per face pixel (`height x width`): non-zero varnishes. Halftoned like K.
    Mask(Vec<u8>),
}

/// Raster settings for one printer and ribbon.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Bits per colour dot, 5 to 8.
    pub depth: u8,
    /// Transfer curve applied to each ink value (0 = no ink, 255 = full ink) before the cut
    /// to `depth` bits.
    pub curve: [u8; 256],
    pub black: BlackMode,
    pub halftone: Halftone,
    pub overlay: Overlay,
    /// Clockwise turn from the face to the printer's lines: 0, 90, 180 or 270.
    pub rotation: u16,
    /// Whether colour panels are wanted (false for a K-only side).
    pub colour: bool,
}

impl Settings {
    /// Colour at `depth` bits, linear curve, K from the black layer, full overlay, turned 90
    /// degrees clockwise (Evolis' scan direction).
    pub fn new(depth: u8) -> Self {
        let mut curve = [0u8; 256];
        for (i, v) in curve.iter_mut().enumerate() {
            *v = i as u8;
        }
        Settings {
            depth,
            curve,
            black: BlackMode::Layer,
            halftone: Halftone::Threshold(128),
            overlay: Overlay::Full,
            rotation: 90,
            colour: true,
        }
    }
}

/// The panels of one face, in printer order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Panels {
    pub lines: usize,
    pub dots: usize,
    /// Yellow, magenta, cyan: `lines * dots` levels each (empty when not wanted).
    pub y: Vec<u8>,
    pub m: Vec<u8>,
    pub c: Vec<u8>,
    /// Black and overlay: `lines * dots.div_ceil(8)` packed bytes (`None`: no such panel).
    pub k: Option<Vec<u8>>,
    pub o: Option<Vec<u8>>,
}

/// A face as borrowed pixels: `height x width x 3` RGB bytes and an optional `height x width`
/// black layer (0 = black ink, 255 = none, as a greyscale text image).
#[derive(Clone, Copy, Debug)]
pub struct Face<'a> {
    pub height: usize,
    pub width: usize,
    pub rgb: Option<&'a [u8]>,
    pub black: Option<&'a [u8]>,
}

fn invalid(message: impl Into<String>) -> EktpError {
    EktpError::InvalidArgument(message.into())
}

const BAYER8: [[u8; 8]; 8] = {
    // The classic recursive Bayer matrix, scaled to 0..255 thresholds.
    let mut m = [[0u8; 8]; 8];
    let mut y = 0;
    while y < 8 {
        let mut x = 0;
        while x < 8 {
            let (mut v, mut bit, mut xx, mut yy) = (0u32, 0, x as u32, y as u32);
            while bit < 3 {
                let (xb, yb) = (xx & 1, yy & 1);
                v = (v << 2) | ((xb ^ yb) << 1 | yb);
                xx >>= 1;
                yy >>= 1;
                bit += 1;
            }
            // Bits come out reversed: reverse the 6-bit index.
            let mut r = 0u32;
            let mut i = 0;
            while i < 6 {
                r |= ((v >> i) & 1) << (5 - i);
                i += 1;
            }
            m[y][x] = (r * 4 + 2) as u8;
            x += 1;
        }
        y += 1;
    }
    m
};

/// Where face pixel `(row, col)` lands in the printer's lines: `(line, dot)`.
#[inline]
fn turn(rotation: u16, h: usize, w: usize, row: usize, col: usize) -> (usize, usize) {
    match rotation {
        90 => (col, h - 1 - row),
        180 => (h - 1 - row, w - 1 - col),
        270 => (w - 1 - col, row),
        _ => (row, col),
    }
}

/// Halftones a grey image (`0` = full ink) to one bit per pixel, `true` printing.
fn halftone(grey: &[u8], h: usize, w: usize, method: Halftone) -> Vec<bool> {
    match method {
        Halftone::Threshold(t) => grey.iter().map(|&g| g < t).collect(),
        Halftone::Ordered => (0..h * w)
            .map(|i| grey[i] < BAYER8[(i / w) % 8][(i % w) % 8])
            .collect(),
        Halftone::FloydSteinberg => {
            let mut err: Vec<i16> = grey.iter().map(|&g| i16::from(g)).collect();
            let mut out = vec![false; h * w];
            for r in 0..h {
                let forward = r % 2 == 0;
                for k in 0..w {
                    let c = if forward { k } else { w - 1 - k };
                    let i = r * w + c;
                    let old = err[i].clamp(0, 255);
                    let ink = old < 128;
                    out[i] = ink;
                    let e = old - if ink { 0 } else { 255 };
                    let mut spread = |rr: usize, cc: isize, weight: i16| {
                        if cc >= 0 && (cc as usize) < w && rr < h {
                            let j = rr * w + cc as usize;
                            err[j] = (err[j] + e * weight / 16).clamp(-512, 767);
                        }
                    };
                    let dir: isize = if forward { 1 } else { -1 };
                    let ci = c as isize;
                    spread(r, ci + dir, 7);
                    spread(r + 1, ci - dir, 3);
                    spread(r + 1, ci, 5);
                    spread(r + 1, ci + dir, 1);
                }
            }
            out
        }
    }
}

/// Checks a face against the settings; returns the printer geometry `(lines, dots)`.
pub fn geometry(face: &Face<'_>, settings: &Settings) -> Result<(usize, usize), EktpError> {
    let (h, w) = (face.height, face.width);
    if h == 0 || w == 0 {
        return Err(invalid("a face has at least one pixel"));
    }
    if !(5..=8).contains(&settings.depth) {
        return Err(invalid(format!(
            "colour depth is 5 to 8 bits, got {}",
            settings.depth
        )));
    }
    if let Some(rgb) = face.rgb {
        if rgb.len() != h * w * 3 {
            return Err(invalid(format!(
                "an RGB face of {h}x{w} has {} bytes, got {}",
                h * w * 3,
                rgb.len()
            )));
        }
    }
    if let Some(black) = face.black {
        if black.len() != h * w {
            return Err(invalid(format!(
                "a black layer of {h}x{w} has {} bytes, got {}",
                h * w,
                black.len()
            )));
        }
    }
    if let Overlay::Mask(mask) = &settings.overlay {
        if mask.len() != h * w {
            return Err(invalid(format!(
                "an overlay mask of {h}x{w} has {} bytes, got {}",
                h * w,
                mask.len()
            )));
        }
    }
    if face.rgb.is_none() && settings.colour {
        return Err(invalid("colour panels need an RGB face"));
    }
    match settings.rotation {
        0 | 180 => Ok((h, w)),
        90 | 270 => Ok((w, h)),
        r => Err(invalid(format!("rotation is 0, 90, 180 or 270, got {r}"))),
    }
}

fn pack(bits: &[bool], h: usize, w: usize, rotation: u16, lines: usize, dots: usize) -> Vec<u8> {
    let stride = dots.div_ceil(8);
    let mut out = vec![0u8; lines * stride];
    for row in 0..h {
        for col in 0..w {
            if bits[row * w + col] {
                let (l, d) = turn(rotation, h, w, row, col);
                out[l * stride + d / 8] |= 0x80 >> (d % 8);
            }
        }
    }
    out
}

/// Separates one face into panels.
pub fn rasterize(face: &Face<'_>, settings: &Settings) -> Result<Panels, EktpError> {
    let mut panels = Panels::default();
    rasterize_into(face, settings, &mut panels)?;
    Ok(panels)
}

/// `v` resized to `n` bytes, keeping its allocation and (up to `n`) its old contents: for
/// buffers that are about to be written whole.
fn sized(mut v: Vec<u8>, n: usize) -> Vec<u8> {
    v.resize(n, 0);
    v
}

/// A vector of `n` zeros that keeps `v`'s allocation: a batch reuses its panel buffers from
/// card to card instead of asking the system for fresh zeroed pages each time.
fn zeroed(mut v: Vec<u8>, n: usize) -> Vec<u8> {
    v.clear();
    v.resize(n, 0);
    v
}

/// [`rasterize`] into `out`, reusing its buffers.
pub fn rasterize_into(
    face: &Face<'_>,
    settings: &Settings,
    out: &mut Panels,
) -> Result<(), EktpError> {
    rasterize_bands(face, settings, out, usize::MAX, |_, _| Ok(()))
}

/// [`rasterize_into`], handing the colour panels to `take` a band of `band` lines at a time:
/// `take(first_line, &panels)` sees the band's lines in `panels.y`, `m` and `c`. An encoder
/// that compresses each band as it comes keeps the colour panels in the cache instead of
/// writing 2 MB a card to memory and reading them back. After the call `out.k` and `out.o`
/// are whole and the colour buffers hold the last band. Faces off the fast path (another turn,
/// error diffusion) are rasterised whole and handed over as one band.
pub fn rasterize_bands<E: From<EktpError>>(
    face: &Face<'_>,
    settings: &Settings,
    out: &mut Panels,
    band: usize,
    mut take: impl FnMut(usize, &Panels) -> Result<(), E>,
) -> Result<(), E> {
    let (lines, dots) = geometry(face, settings)?;
    let (h, w) = (face.height, face.width);
    let stride = dots.div_ceil(8);
    let shift = 8 - settings.depth;
    // Where K prints: decided per pixel in the main loop for a threshold; error diffusion and
    // ordered dither need their neighbourhood, so they are computed first (face order).
    let threshold = match settings.halftone {
        Halftone::Threshold(t) => t,
        _ => 0,
    };
    let diffused: Option<Vec<bool>> = match (settings.black, settings.halftone, face.black) {
        (BlackMode::None, _, _) | (_, Halftone::Threshold(_), _) | (_, _, None) => None,
        (_, method, Some(black)) => Some(halftone(black, h, w, method)),
    };
    let layer = match settings.black {
        BlackMode::None => None,
        _ => face.black,
    };
    let near: Option<u8> = match settings.black {
        BlackMode::NearBlack(t) => Some(t),
        _ => None,
    };
    let with_k = settings.black != BlackMode::None;
    let rgb = face.rgb.unwrap_or_default();
    let colour = settings.colour;
    // The turned fast path writes every byte, band by band; the general path leaves zeros
    // where nothing prints, so its buffers are cleared first, and takes the face whole.
    let fast = settings.rotation == 90 && diffused.is_none();
    // (A side without colour has nothing to hand over: its K is made in one piece.)
    let band = if fast && colour {
        band.clamp(1, lines)
    } else {
        lines
    };
    let n = if colour { band * dots } else { 0 };
    let buffer = |v: Vec<u8>, len: usize| if fast { sized(v, len) } else { zeroed(v, len) };
    let (mut y, mut m, mut c) = (
        buffer(std::mem::take(&mut out.y), n),
        buffer(std::mem::take(&mut out.m), n),
        buffer(std::mem::take(&mut out.c), n),
    );
    let mut k = buffer(
        out.k.take().unwrap_or_default(),
        if with_k { lines * stride } else { 0 },
    );
    let curve = &settings.curve;
    let o = overlay(
        &settings.overlay,
        h,
        w,
        settings.rotation,
        lines,
        dots,
        out.o.take(),
    );
    if fast {
        let mut whole = Panels {
            lines,
            dots,
            y,
            m,
            c,
            k: None,
            o,
        };
        for first in (0..lines).step_by(band) {
            let last = (first + band).min(lines);
            // The last band may be short: the buffers hold exactly the band's lines.
            let n = if colour { (last - first) * dots } else { 0 };
            for v in [&mut whole.y, &mut whole.m, &mut whole.c] {
                v.resize(n, 0);
            }
            let turned = Turned {
                y: &mut whole.y,
                m: &mut whole.m,
                c: &mut whole.c,
                k: &mut k,
                first,
            };
            turned_90(
                face,
                settings,
                layer,
                near,
                threshold,
                turned,
                first..last,
                dots,
            );
            take(first, &whole)?;
        }
        *out = Panels {
            k: with_k.then_some(k),
            ..whole
        };
        return Ok(());
    }
    // Face index of (line, dot) = start(line) + dot * step. The printer's lines are taken in
    // blocks of 32 and, within a block, dot by dot: for a turned face the 32 pixels read at
    // each step are adjacent in memory (one or two cache lines), and each of the block's lines
    // is written sequentially.
    let (h_i, w_i) = (h as isize, w as isize);
    let start_of = |l: usize| -> (isize, isize) {
        let li = l as isize;
        match settings.rotation {
            90 => ((h_i - 1) * w_i + li, -w_i),
            180 => ((h_i - 1 - li) * w_i + (w_i - 1), -1),
            270 => (w_i - 1 - li, w_i),
            _ => (li * w_i, 1),
        }
    };
    const BLOCK: usize = 32;
    let white = [255u8; 3];
    for l0 in (0..lines).step_by(BLOCK) {
        let l1 = (l0 + BLOCK).min(lines);
        let starts: Vec<(isize, isize)> = (l0..l1).map(start_of).collect();
        for d in 0..dots {
            for (j, &(start, step)) in starts.iter().enumerate() {
                let l = l0 + j;
                let i = (start + d as isize * step) as usize;
                let inked = match (&diffused, layer) {
                    (Some(bits), _) => bits[i],
                    (None, Some(black)) => black[i] < threshold,
                    (None, None) => false,
                };
                let px: &[u8] = if rgb.is_empty() {
                    &white
                } else {
                    &rgb[3 * i..3 * i + 3]
                };
                let dark = near.is_some_and(|t| px[0] <= t && px[1] <= t && px[2] <= t);
                if with_k && (inked || dark) {
                    k[l * stride + d / 8] |= 0x80 >> (d % 8);
                    continue; // black prints in resin; no colour under it
                }
                if colour {
                    let at = l * dots + d;
                    y[at] = curve[usize::from(255 - px[2])] >> shift;
                    m[at] = curve[usize::from(255 - px[1])] >> shift;
                    c[at] = curve[usize::from(255 - px[0])] >> shift;
                }
            }
        }
    }
    *out = Panels {
        lines,
        dots,
        y,
        m,
        c,
        k: with_k.then_some(k),
        o,
    };
    take(0, out)
}

fn overlay(
    overlay: &Overlay,
    h: usize,
    w: usize,
    rotation: u16,
    lines: usize,
    dots: usize,
    reuse: Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let stride = dots.div_ceil(8);
    match overlay {
        Overlay::None => None,
        Overlay::Full => {
            // Every dot varnished, including the padding bits of a partial last byte.
            let mut full = reuse.unwrap_or_default();
            full.clear();
            full.resize(lines * stride, 0xFF);
            if !dots.is_multiple_of(8) {
                let last = 0xFFu8 << (8 - dots % 8);
                for line in full.chunks_exact_mut(stride) {
                    line[stride - 1] = last;
                }
            }
            Some(full)
        }
        Overlay::Mask(mask) => {
            // Non-zero varnishes: as grey, 0 prints.
            let grey: Vec<u8> = mask.iter().map(|&v| if v != 0 { 0 } else { 255 }).collect();
            let bits = halftone(&grey, h, w, Halftone::Threshold(128));
            Some(pack(&bits, h, w, rotation, lines, dots))
        }
    }
}

/// The panels being written by [`turned_90`]: colour from line `first` on, K whole.
struct Turned<'a> {
    y: &'a mut [u8],
    m: &'a mut [u8],
    c: &'a mut [u8],
    k: &'a mut [u8],
    first: usize,
}

/// What every tile of [`turned_90`] needs to know.
struct TurnJob<'a> {
    h: usize,
    w: usize,
    dots: usize,
    stride: usize,
    shift: u8,
    rgb: &'a [u8],
    layer: Option<&'a [u8]>,
    near: Option<u8>,
    threshold: u8,
    with_k: bool,
    colour: bool,
    /// Ink per channel value: the curve and the depth cut folded into one table.
    ink: [u8; 256],
    /// The curve is the identity, so ink is `(255 - v) >> shift`: arithmetic, not a lookup.
    linear: bool,
}

/// The common case, fast: a face turned 90 degrees clockwise (Evolis), K by threshold.
///
/// Printer line `l` is face column `l`, read bottom to top. The work goes in tiles: a tile
/// reads adjacent pixels from each of its face rows (whole cache lines), turns them in small
/// arrays that stay in the L1 cache, and writes each line's dots in one piece. Colour is
/// written without a branch, masked to zero where K prints. On x86-64, a linear curve and at
/// least 32 lines take AVX2 tiles of 32 x 16 where the CPU has it, and a side with K alone
/// an SSE2 loop ([`simd`]); the rest, and every other machine, the scalar tiles.
#[allow(clippy::too_many_arguments)]
fn turned_90(
    face: &Face<'_>,
    settings: &Settings,
    layer: Option<&[u8]>,
    near: Option<u8>,
    threshold: u8,
    mut out: Turned<'_>,
    lines: std::ops::Range<usize>,
    dots: usize,
) {
    let shift = 8 - settings.depth;
    let mut ink = [0u8; 256];
    for (v, slot) in ink.iter_mut().enumerate() {
        *slot = settings.curve[255 - v] >> shift;
    }
    let job = TurnJob {
        h: face.height,
        w: face.width,
        dots,
        stride: dots.div_ceil(8),
        shift,
        rgb: face.rgb.unwrap_or_default(),
        layer,
        near,
        threshold,
        with_k: !out.k.is_empty(),
        colour: !out.y.is_empty(),
        ink,
        linear: settings
            .curve
            .iter()
            .enumerate()
            .all(|(i, &v)| usize::from(v) == i),
    };
    #[cfg(target_arch = "x86_64")]
    {
        // Tiles start every `width`; a last tile that would overhang is moved back to end at
        // the edge, recomputing a few lines or dots (the same values) instead of leaving them
        // to the scalar path. K bytes stay whole only if the dots are a multiple of 8.
        let starts = |from: usize, to: usize, width: usize, overlap: bool| {
            let n = to - from;
            let mut v: Vec<usize> = (from..from + n / width * width).step_by(width).collect();
            if !n.is_multiple_of(width) && n > width && overlap {
                v.push(to - width);
                return (v, to);
            }
            (v, from + n / width * width)
        };
        if let (false, None, Some(black), true) = (job.colour, job.near, job.layer, job.with_k) {
            let (line_starts, lines_done) = starts(lines.start, lines.end, 16, true);
            let bytes = dots / 8;
            // SAFETY: SSE2 is part of x86-64.
            unsafe { simd::k_only(&job, black, out.k, &line_starts, bytes) };
            scalar_region(&job, &mut out, lines.start..lines_done, bytes * 8..dots);
            scalar_region(&job, &mut out, lines_done..lines.end, 0..dots);
            return;
        }
        if (job.linear || !job.colour)
            && lines.len() >= 32
            && std::arch::is_x86_feature_detected!("avx2")
        {
            // 32 lines or more are covered whole.
            let (line_starts, _) = starts(lines.start, lines.end, 32, true);
            let (dot_starts, dots_done) = starts(0, dots, 16, dots.is_multiple_of(8));
            // SAFETY: AVX2 was detected just above.
            unsafe { simd::tiles(&job, &mut out, &line_starts, &dot_starts) };
            scalar_region(&job, &mut out, lines, dots_done..dots);
            return;
        }
    }
    scalar_region(&job, &mut out, lines, 0..dots);
}

/// The scalar path over a rectangle of the printer's lines and dots, in 32 x 32 tiles.
fn scalar_region(
    job: &TurnJob<'_>,
    out: &mut Turned<'_>,
    line_range: std::ops::Range<usize>,
    dot_range: std::ops::Range<usize>,
) {
    const T: usize = 32;
    let TurnJob {
        h,
        w,
        dots,
        stride,
        shift,
        rgb,
        with_k,
        colour,
        ..
    } = *job;
    let mut ty = [[0u8; T]; T];
    let mut tm = [[0u8; T]; T];
    let mut tc = [[0u8; T]; T];
    let mut tk = [[0u8; T / 8]; T];
    for l0 in line_range.clone().step_by(T) {
        let lw = T.min(line_range.end - l0);
        for d0 in dot_range.clone().step_by(T) {
            let dw = T.min(dot_range.end - d0);
            for row in tk.iter_mut() {
                *row = [0; T / 8];
            }
            for dd in 0..dw {
                let d = d0 + dd;
                let at = (h - 1 - d) * w + l0;
                let mut inked = [false; T];
                if let Some(black) = job.layer {
                    for (x, &g) in inked.iter_mut().zip(&black[at..at + lw]) {
                        *x = g < job.threshold;
                    }
                }
                if colour || job.near.is_some() {
                    let px = &rgb[3 * at..3 * (at + lw)];
                    if let Some(t) = job.near {
                        for (x, p) in inked.iter_mut().zip(px.chunks_exact(3)) {
                            *x |= p[0] <= t && p[1] <= t && p[2] <= t;
                        }
                    }
                    if colour && job.linear {
                        // A linear curve is arithmetic the compiler can vectorise.
                        for (j, p) in px.chunks_exact(3).enumerate() {
                            let keep = if with_k && inked[j] { 0 } else { 0xFF };
                            ty[j][dd] = ((255 - p[2]) >> shift) & keep;
                            tm[j][dd] = ((255 - p[1]) >> shift) & keep;
                            tc[j][dd] = ((255 - p[0]) >> shift) & keep;
                        }
                    } else if colour {
                        for (j, p) in px.chunks_exact(3).enumerate() {
                            let keep = if with_k && inked[j] { 0 } else { 0xFF };
                            ty[j][dd] = job.ink[usize::from(p[2])] & keep;
                            tm[j][dd] = job.ink[usize::from(p[1])] & keep;
                            tc[j][dd] = job.ink[usize::from(p[0])] & keep;
                        }
                    }
                }
                if with_k {
                    let bit = 0x80u8 >> (dd % 8);
                    for (row, &x) in tk.iter_mut().zip(&inked) {
                        if x {
                            row[dd / 8] |= bit;
                        }
                    }
                }
            }
            for j in 0..lw {
                let line = (l0 + j - out.first) * dots + d0;
                if colour {
                    out.y[line..line + dw].copy_from_slice(&ty[j][..dw]);
                    out.m[line..line + dw].copy_from_slice(&tm[j][..dw]);
                    out.c[line..line + dw].copy_from_slice(&tc[j][..dw]);
                }
                if with_k {
                    // Regions start on multiples of 16 dots, so tiles start on whole bytes.
                    debug_assert_eq!(d0 % 8, 0);
                    let kb = (l0 + j) * stride + d0 / 8;
                    let n = dw.div_ceil(8);
                    out.k[kb..kb + n].copy_from_slice(&tk[j][..n]);
                }
            }
        }
    }
}

/// The vector paths of [`turned_90`]: AVX2 tiles for colour, SSE2 for a K-only side.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{TurnJob, Turned};
    use std::arch::x86_64::*;

    /// How many face rows ahead of a tile the same columns are prefetched.
    const PREFETCH_ROWS: usize = 32;

    /// Byte shuffles that gather one channel of 16 RGB pixels from three 16-byte loads.
    fn masks() -> [[[i8; 16]; 3]; 3] {
        let mut m = [[[-128i8; 16]; 3]; 3]; // -128: pshufb writes zero
        for (ch, channel) in m.iter_mut().enumerate() {
            for p in 0..16 {
                let src = 3 * p + ch;
                channel[src / 16][p] = (src % 16) as i8;
            }
        }
        m
    }

    /// The sixteen bytes of a register.
    #[target_feature(enable = "sse2")]
    fn lanes(v: __m128i) -> [u8; 16] {
        let mut out = [0u8; 16];
        // SAFETY: `out` is 16 bytes.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), v) };
        out
    }

    /// `x < t` as unsigned bytes, for `t > 0`: `min(x, t - 1) == x`.
    #[target_feature(enable = "sse2")]
    fn below(x: __m128i, t: u8) -> __m128i {
        if t == 0 {
            return _mm_setzero_si128();
        }
        let lim = _mm_set1_epi8((t - 1) as i8);
        _mm_cmpeq_epi8(_mm_min_epu8(x, lim), x)
    }

    /// A K-only side (a back printed in black) by threshold: the K bytes of the lines starting
    /// at each of `line_starts` (16 each) for the first `bytes` bytes of every line.
    ///
    /// Eight face rows make one byte of sixteen lines: each row's sixteen pixels are compared
    /// at once, masked with their bit and OR-ed — no transpose. The eight rows are read side
    /// by side from left to right, a pattern the hardware prefetcher follows (walking down
    /// the columns instead left it waiting on memory).
    ///
    /// # Safety
    /// The CPU must support SSE2 (every x86-64 does).
    #[target_feature(enable = "sse2")]
    pub(super) unsafe fn k_only(
        job: &TurnJob<'_>,
        black: &[u8],
        k: &mut [u8],
        line_starts: &[usize],
        bytes: usize,
    ) {
        let TurnJob {
            h,
            w,
            stride,
            threshold,
            ..
        } = *job;
        let bit: [__m128i; 8] = std::array::from_fn(|i| _mm_set1_epi8((0x80u8 >> i) as i8));
        for b in 0..bytes {
            for &l0 in line_starts {
                let mut acc = _mm_setzero_si128();
                for (i, bit) in bit.iter().enumerate() {
                    let at = (h - 1 - (8 * b + i)) * w + l0;
                    let row = &black[at..at + 16];
                    // SAFETY: `row` is 16 bytes.
                    let g = unsafe { _mm_loadu_si128(row.as_ptr().cast()) };
                    acc = _mm_or_si128(acc, _mm_and_si128(below(g, threshold), *bit));
                }
                for (j, byte) in lanes(acc).into_iter().enumerate() {
                    k[(l0 + j) * stride + b] = byte;
                }
            }
        }
    }

    /// Transposes two 16 x 16 byte matrices at once, one in each 128-bit lane, held as 16
    /// rows: lane `h` of `out[c]` holds column `c` of matrix `h`. An unpack network: bytes of
    /// row pairs, then words of pair pairs, dwords, qwords — each stage doubles the run of one
    /// column's rows that sits together (the unpack instructions work lane by lane).
    #[target_feature(enable = "avx2")]
    fn transpose(x: &[__m256i; 16]) -> [__m256i; 16] {
        let z = _mm256_setzero_si256();
        let mut a = [[z; 2]; 8];
        for i in 0..8 {
            a[i] = [
                _mm256_unpacklo_epi8(x[2 * i], x[2 * i + 1]),
                _mm256_unpackhi_epi8(x[2 * i], x[2 * i + 1]),
            ];
        }
        let mut b = [[z; 4]; 4];
        for g in 0..4 {
            for half in 0..2 {
                b[g][2 * half] = _mm256_unpacklo_epi16(a[2 * g][half], a[2 * g + 1][half]);
                b[g][2 * half + 1] = _mm256_unpackhi_epi16(a[2 * g][half], a[2 * g + 1][half]);
            }
        }
        let mut c = [[[z; 2]; 4]; 2];
        for h in 0..2 {
            for q in 0..4 {
                c[h][q] = [
                    _mm256_unpacklo_epi32(b[2 * h][q], b[2 * h + 1][q]),
                    _mm256_unpackhi_epi32(b[2 * h][q], b[2 * h + 1][q]),
                ];
            }
        }
        let mut out = [z; 16];
        for q in 0..4 {
            for s in 0..2 {
                out[4 * q + 2 * s] = _mm256_unpacklo_epi64(c[0][q][s], c[1][q][s]);
                out[4 * q + 2 * s + 1] = _mm256_unpackhi_epi64(c[0][q][s], c[1][q][s]);
            }
        }
        out
    }

    /// `x < t` as unsigned bytes (see [`below`]).
    #[target_feature(enable = "avx2")]
    fn below_wide(x: __m256i, t: u8) -> __m256i {
        if t == 0 {
            return _mm256_setzero_si256();
        }
        let lim = _mm256_set1_epi8((t - 1) as i8);
        _mm256_cmpeq_epi8(_mm256_min_epu8(x, lim), x)
    }

    /// The tiles of 32 lines (face columns) by 16 dots starting at each of `line_starts` x
    /// `dot_starts` (dot starts are multiples of 8, so K bytes are written whole).
    ///
    /// Per face row of a tile: three pairs of 16-byte loads put pixels 0-15 in the low
    /// 128-bit lane and 16-31 in the high one; byte shuffles split each lane's 48 bytes into
    /// channels; ink and the K mask are computed 32 pixels at a time. Then each plane's 16 rows
    /// are transposed lane by lane and every line's 16 dots stored in one piece.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn tiles(
        job: &TurnJob<'_>,
        out: &mut Turned<'_>,
        line_starts: &[usize],
        dot_starts: &[usize],
    ) {
        let TurnJob {
            h,
            w,
            dots,
            stride,
            shift,
            rgb,
            with_k,
            colour,
            ..
        } = *job;
        let m = masks();
        let load = |v: &[i8; 16]| -> __m256i {
            // SAFETY: 16 bytes read from a 16-byte array.
            _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(v.as_ptr().cast()) })
        };
        let shuffle = [0, 1, 2].map(|ch| [0, 1, 2].map(|r| load(&m[ch][r])));
        let inv = _mm256_set1_epi8(-1);
        let cut = _mm256_set1_epi8((0xFFu8 >> shift) as i8);
        let shift = _mm_cvtsi32_si128(i32::from(shift));
        let z = _mm256_setzero_si256();
        let bit: [__m256i; 8] = std::array::from_fn(|i| _mm256_set1_epi8((0x80u8 >> i) as i8));
        // Down the band's face columns, 16 rows at a time: a band of lines is a strip of face
        // columns, read row after row at a stride the hardware prefetcher does not follow, so
        // each tile asks for the rows it will need two tiles down. (A whole face is one wide
        // band; the rows asked for then wait in the L2 cache.)
        for &d0 in dot_starts {
            for &l0 in line_starts {
                let (mut ys, mut ms, mut cs, mut kb) = ([z; 16], [z; 16], [z; 16], [z; 2]);
                for dd in 0..16 {
                    let at = (h - 1 - (d0 + dd)) * w + l0;
                    if let Some(row) = (h - 1).checked_sub(d0 + dd + PREFETCH_ROWS) {
                        let ahead = row * w + l0;
                        if !rgb.is_empty() {
                            for o in [0, 48, 95] {
                                let p = rgb.as_ptr().wrapping_add(3 * ahead + o);
                                _mm_prefetch::<_MM_HINT_T0>(p.cast());
                            }
                        }
                        if let Some(black) = job.layer {
                            for o in [0, 31] {
                                let p = black.as_ptr().wrapping_add(ahead + o);
                                _mm_prefetch::<_MM_HINT_T0>(p.cast());
                            }
                        }
                    }
                    let mut inked = z;
                    if let Some(black) = job.layer {
                        let row = &black[at..at + 32];
                        // SAFETY: `row` is 32 bytes.
                        let g = unsafe { _mm256_loadu_si256(row.as_ptr().cast()) };
                        inked = below_wide(g, job.threshold);
                    }
                    if colour || job.near.is_some() {
                        let px = &rgb[3 * at..3 * at + 96];
                        // Low lane: pixels 0-15 (bytes 0-47); high lane: pixels 16-31.
                        // SAFETY: `px` is 96 bytes; each load reads 16 at `o` and `48 + o`.
                        let regs = [0, 16, 32].map(|o| unsafe {
                            _mm256_loadu2_m128i(
                                px[48 + o..].as_ptr().cast(),
                                px[o..].as_ptr().cast(),
                            )
                        });
                        let channel = |ch: usize| {
                            let s = &shuffle[ch];
                            _mm256_or_si256(
                                _mm256_or_si256(
                                    _mm256_shuffle_epi8(regs[0], s[0]),
                                    _mm256_shuffle_epi8(regs[1], s[1]),
                                ),
                                _mm256_shuffle_epi8(regs[2], s[2]),
                            )
                        };
                        let (r, g, b) = (channel(0), channel(1), channel(2));
                        if let Some(t) = job.near {
                            let top = _mm256_max_epu8(_mm256_max_epu8(r, g), b);
                            inked = _mm256_or_si256(inked, below_wide(top, t.saturating_add(1)));
                            if t == 255 {
                                inked = inv;
                            }
                        }
                        if colour {
                            let keep = if with_k {
                                _mm256_andnot_si256(inked, inv)
                            } else {
                                inv
                            };
                            let level = |v: __m256i| {
                                let v = _mm256_srl_epi16(_mm256_xor_si256(v, inv), shift);
                                _mm256_and_si256(_mm256_and_si256(v, cut), keep)
                            };
                            ys[dd] = level(b);
                            ms[dd] = level(g);
                            cs[dd] = level(r);
                        }
                    }
                    kb[dd / 8] = _mm256_or_si256(kb[dd / 8], _mm256_and_si256(inked, bit[dd % 8]));
                }
                if colour {
                    for (plane, rows) in
                        [(&mut *out.y, &ys), (&mut *out.m, &ms), (&mut *out.c, &cs)]
                    {
                        let cols = transpose(rows);
                        for (j, col) in cols.iter().enumerate() {
                            let halves = [
                                _mm256_castsi256_si128(*col),
                                _mm256_extracti128_si256::<1>(*col),
                            ];
                            for (half, v) in halves.into_iter().enumerate() {
                                let at = (l0 + 16 * half + j - out.first) * dots + d0;
                                let dst = &mut plane[at..at + 16];
                                // SAFETY: `dst` is 16 bytes.
                                unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), v) };
                            }
                        }
                    }
                }
                if with_k {
                    let mut first = [0u8; 32];
                    let mut second = [0u8; 32];
                    // SAFETY: both arrays are 32 bytes.
                    unsafe {
                        _mm256_storeu_si256(first.as_mut_ptr().cast(), kb[0]);
                        _mm256_storeu_si256(second.as_mut_ptr().cast(), kb[1]);
                    }
                    for j in 0..32 {
                        let at = (l0 + j) * stride + d0 / 8;
                        out.k[at] = first[j];
                        out.k[at + 1] = second[j];
                    }
                }
            }
        }
    }
}
