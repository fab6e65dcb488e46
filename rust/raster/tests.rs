use super::*;

fn view<'a>(h: usize, w: usize, rgb: Option<&'a [u8]>, black: Option<&'a [u8]>) -> Face<'a> {
    Face {
        height: h,
        width: w,
        rgb,
        black,
    }
}

fn face(h: usize, w: usize, rgb: [u8; 3]) -> Vec<u8> {
    rgb.iter().copied().cycle().take(h * w * 3).collect()
}

#[test]
fn white_prints_no_ink_and_black_prints_k_only() {
    let (h, w) = (4, 16);
    let mut rgb = face(h, w, [255, 255, 255]);
    // One black pixel at row 1, column 2.
    rgb[(w + 2) * 3..(w + 2) * 3 + 3].copy_from_slice(&[0, 0, 0]);
    let mut s = Settings::new(5);
    s.black = BlackMode::NearBlack(40);
    s.rotation = 0;
    s.overlay = Overlay::None;
    let f = view(h, w, Some(&rgb), None);
    let p = rasterize(&f, &s).unwrap();
    assert_eq!((p.lines, p.dots), (4, 16));
    assert!(p.y.iter().chain(&p.m).chain(&p.c).all(|&v| v == 0));
    let k = p.k.unwrap();
    assert_eq!(k.len(), 4 * 2);
    assert_eq!(k[2], 0b0010_0000, "row 1, dot 2, MSB first");
    assert_eq!(k.iter().filter(|&&b| b != 0).count(), 1);
    assert!(p.o.is_none());
}

#[test]
fn separation_is_subtractive_and_cut_to_depth() {
    let rgb = face(2, 2, [255, 0, 128]);
    let mut s = Settings::new(5);
    s.black = BlackMode::None;
    s.rotation = 0;
    let p = rasterize(&view(2, 2, Some(&rgb), None), &s).unwrap();
    assert!(p.c.iter().all(|&v| v == 0)); // red full: no cyan
    assert!(p.m.iter().all(|&v| v == 31)); // green none: full magenta
    assert!(p.y.iter().all(|&v| v == 127 >> 3)); // blue half: half yellow
    assert!(p.k.is_none());
    assert_eq!(
        p.o.unwrap(),
        vec![0xC0, 0xC0],
        "full overlay, padding bits clear"
    );
}

#[test]
fn rotation_turns_the_face_clockwise() {
    // A 2x3 face with one red pixel at (0, 0): turned 90 degrees clockwise it lands on
    // line 0, dot 1 (the face's height less one).
    let mut rgb = face(2, 3, [255, 255, 255]);
    rgb[..3].copy_from_slice(&[255, 0, 0]);
    let mut s = Settings::new(8);
    s.black = BlackMode::None;
    s.overlay = Overlay::None;
    let p = rasterize(&view(2, 3, Some(&rgb), None), &s).unwrap();
    assert_eq!((p.lines, p.dots), (3, 2));
    assert_eq!(p.m, vec![0, 255, 0, 0, 0, 0]);
    for rotation in [0u16, 180, 270] {
        s.rotation = rotation;
        let q = rasterize(&view(2, 3, Some(&rgb), None), &s).unwrap();
        assert_eq!(q.m.iter().filter(|&&v| v == 255).count(), 1);
    }
}

#[test]
fn the_black_layer_clears_colour_under_text_and_halftones_grey() {
    let (h, w) = (8, 8);
    let rgb = face(h, w, [0, 0, 255]);
    let grey = vec![128u8; h * w];
    for method in [
        Halftone::Threshold(200),
        Halftone::FloydSteinberg,
        Halftone::Ordered,
    ] {
        let mut s = Settings::new(6);
        s.rotation = 0;
        s.halftone = method;
        let p = rasterize(&view(h, w, Some(&rgb), Some(&grey)), &s).unwrap();
        let k = p.k.unwrap();
        let inked: u32 = k.iter().map(|b| b.count_ones()).sum();
        match method {
            Halftone::Threshold(_) => assert_eq!(inked, 64),
            _ => assert!((24..=40).contains(&inked), "{method:?}: {inked} of 64"),
        }
        // Wherever K prints, no colour.
        for i in 0..h * w {
            if k[i / 8] & (0x80 >> (i % 8)) != 0 {
                assert_eq!((p.y[i], p.m[i], p.c[i]), (0, 0, 0));
            }
        }
    }
}

#[test]
fn an_overlay_mask_leaves_the_chip_area_clear() {
    let (h, w) = (4, 8);
    let rgb = face(h, w, [200, 200, 200]);
    let mut mask = vec![1u8; h * w];
    mask[w + 3] = 0;
    let mut s = Settings::new(5);
    s.rotation = 0;
    s.overlay = Overlay::Mask(mask);
    let p = rasterize(&view(h, w, Some(&rgb), None), &s).unwrap();
    assert_eq!(p.o.unwrap(), vec![0xFF, 0b1110_1111, 0xFF, 0xFF]);
}

#[test]
fn wrong_shapes_and_settings_are_refused() {
    let rgb = face(2, 2, [0, 0, 0]);
    let f = view(2, 3, Some(&rgb), None);
    assert!(rasterize(&f, &Settings::new(5))
        .unwrap_err()
        .to_string()
        .contains("has 18 bytes"));
    let f = view(2, 2, Some(&rgb), None);
    assert!(rasterize(&f, &Settings::new(4)).is_err());
    let mut s = Settings::new(5);
    s.rotation = 45;
    assert!(rasterize(&f, &s).is_err());
    let no_colour = view(2, 2, None, None);
    assert!(rasterize(&no_colour, &Settings::new(5)).is_err());
}

#[test]
fn a_black_only_side_turns_like_the_reference() {
    // Whole groups of 64 lines, a last group of one tile, lines and dots short of a tile or
    // a byte, and the thresholds at both ends.
    let sizes = [
        (648usize, 1016usize),
        (40, 33),
        (37, 45),
        (13, 70),
        (8, 8),
        (650, 17),
    ];
    for ((h, w), threshold) in sizes
        .into_iter()
        .flat_map(|hw| [(hw, 128u8), (hw, 0), (hw, 255)])
    {
        let black: Vec<u8> = (0..h * w).map(|i| ((i * 7919) % 251) as u8).collect();
        let mut s = Settings::new(5);
        s.colour = false;
        s.overlay = Overlay::None;
        s.halftone = Halftone::Threshold(threshold);
        // Into buffers holding another face's K: every byte must be rewritten.
        let mut p = Panels {
            k: Some(vec![0xA5; w * h.div_ceil(8)]),
            ..Panels::default()
        };
        rasterize_into(&view(h, w, None, Some(&black)), &s, &mut p).unwrap();
        let stride = h.div_ceil(8);
        let k = p.k.unwrap();
        for l in 0..w {
            for d in 0..stride * 8 {
                let inked = d < h && black[(h - 1 - d) * w + l] < threshold;
                let bit = k[l * stride + d / 8] & (0x80 >> (d % 8)) != 0;
                assert_eq!(
                    bit, inked,
                    "K at line {l}, dot {d} of {h}x{w}, threshold {threshold}"
                );
            }
        }
        assert!(p.y.is_empty());
    }
}

#[test]
fn bands_put_together_are_the_whole_panels() {
    let (h, w) = (37usize, 70usize);
    let rgb: Vec<u8> = (0..h * w * 3).map(|i| ((i * 7919) % 253) as u8).collect();
    let black: Vec<u8> = (0..h * w).map(|i| ((i * 104_729) % 251) as u8).collect();
    for halftone in [Halftone::Threshold(100), Halftone::FloydSteinberg] {
        let mut s = Settings::new(6);
        s.halftone = halftone;
        let face = view(h, w, Some(&rgb), Some(&black));
        let whole = rasterize(&face, &s).unwrap();
        for band in [1, 7, 16, 33, w, 1000] {
            let (mut y, mut m, mut c) = (Vec::new(), Vec::new(), Vec::new());
            let mut firsts = Vec::new();
            let mut out = Panels::default();
            rasterize_bands(&face, &s, &mut out, band, |first, p| {
                firsts.push(first);
                y.extend_from_slice(&p.y);
                m.extend_from_slice(&p.m);
                c.extend_from_slice(&p.c);
                Ok::<(), EktpError>(())
            })
            .unwrap();
            assert_eq!(
                (y.len(), &y, &m, &c),
                (whole.y.len(), &whole.y, &whole.m, &whole.c)
            );
            assert_eq!((&out.k, &out.o), (&whole.k, &whole.o), "band {band}");
            // Error diffusion needs the whole face: one band.
            let expected: Vec<usize> = match halftone {
                Halftone::Threshold(_) => (0..w).step_by(band).collect(),
                _ => vec![0],
            };
            assert_eq!(firsts, expected, "band {band}");
        }
    }
}

#[test]
fn the_turned_fast_path_matches_a_plain_reference_on_odd_sizes() {
    for (h, w) in [(37usize, 45usize), (648, 1016), (8, 8), (1, 70)] {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        };
        let rgb: Vec<u8> = (0..h * w * 3).map(|_| next()).collect();
        let black: Vec<u8> = (0..h * w).map(|_| next()).collect();
        // Linear curves on 32 lines or more take the vector path (32 x 16 tiles) where the
        // CPU has it; the gamma curve, the edges and small faces the scalar one.
        let cases = [
            (None, false, true, 128u8),
            (Some(30u8), true, true, 128),
            (Some(30), false, true, 128),
            (None, true, true, 128),
            (None, false, false, 128),
            (Some(0), false, true, 0),
            (Some(255), false, true, 255),
        ];
        for (near, gamma, with_layer, threshold) in cases {
            let mut s = Settings::new(6);
            s.halftone = Halftone::Threshold(threshold);
            if let Some(t) = near {
                s.black = BlackMode::NearBlack(t);
            }
            if gamma {
                for (i, v) in s.curve.iter_mut().enumerate() {
                    *v = ((i * i) / 255) as u8;
                }
            }
            let layer = with_layer.then_some(&black[..]);
            let p = rasterize(&view(h, w, Some(&rgb), layer), &s).unwrap();
            let (lines, dots) = (w, h);
            let stride = dots.div_ceil(8);
            let k = p.k.as_ref().unwrap();
            for l in 0..lines {
                for d in 0..dots {
                    let i = (h - 1 - d) * w + l;
                    let px = &rgb[3 * i..3 * i + 3];
                    let dark = near.is_some_and(|t| px.iter().all(|&c| c <= t));
                    let inked = (with_layer && black[i] < threshold) || dark;
                    let bit = k[l * stride + d / 8] & (0x80 >> (d % 8)) != 0;
                    assert_eq!(bit, inked, "K at line {l}, dot {d} of {h}x{w}");
                    let want = |c: u8| {
                        if inked {
                            0
                        } else {
                            s.curve[usize::from(255 - c)] >> 2
                        }
                    };
                    let at = l * dots + d;
                    assert_eq!(
                        (p.y[at], p.m[at], p.c[at]),
                        (want(px[2]), want(px[1]), want(px[0])),
                        "colour at line {l}, dot {d} of {h}x{w}"
                    );
                }
            }
        }
    }
}

#[test]
fn reused_buffers_hold_nothing_of_the_previous_face() {
    // The fast path writes every byte without clearing first: a face rasterised into
    // buffers full of another face's panels must come out as from fresh buffers.
    for (h, w) in [(648usize, 1016usize), (37, 45), (20, 33), (8, 8)] {
        let dark = face(h, w, [0, 0, 0]);
        let ink = vec![0u8; h * w];
        let light = face(h, w, [250, 120, 30]);
        let paper = vec![255u8; h * w];
        for s in [Settings::new(5), Settings::new(8)] {
            let mut reused = Panels::default();
            rasterize_into(&view(h, w, Some(&dark), Some(&ink)), &s, &mut reused).unwrap();
            rasterize_into(&view(h, w, Some(&light), Some(&paper)), &s, &mut reused).unwrap();
            let fresh = rasterize(&view(h, w, Some(&light), Some(&paper)), &s).unwrap();
            assert!(reused == fresh, "{h}x{w} at {} bits", s.depth);
        }
    }
}
