use crate::dialect::evolis::{self, Card, JobSettings, DOTS, LINES, LINE_BYTES};
use crate::dialect::ChipStation;
use crate::error::EktpError;
use crate::raster::Panels;
use proptest::prelude::*;

fn panels(depth: u8, seed: u64, colour: bool, k: bool, o: bool) -> Panels {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let levels = 1u64 << depth;
    // Runs of equal values, white lines and noise: every token kind appears.
    let mut colour_panel = || {
        let mut v = vec![0u8; LINES * DOTS];
        for line in 0..LINES {
            if line % 7 == 0 {
                continue;
            }
            let mut d = 0;
            while d < DOTS {
                let run = (next() % 900) as usize + 1;
                let value = (next() % levels) as u8;
                for x in v[line * DOTS + d..line * DOTS + (d + run).min(DOTS)].iter_mut() {
                    *x = value;
                }
                d += run;
            }
        }
        v
    };
    let (y, m, c) = if colour {
        (colour_panel(), colour_panel(), colour_panel())
    } else {
        (vec![], vec![], vec![])
    };
    let mut mono = || {
        let mut b = vec![0u8; LINES * LINE_BYTES];
        for (i, line) in b.chunks_exact_mut(LINE_BYTES).enumerate() {
            match i % 4 {
                0 => {}
                1 => line.fill(0xFF),
                _ => {
                    let n = (next() % 82) as usize;
                    for x in line[..n].iter_mut() {
                        *x = next() as u8;
                    }
                }
            }
        }
        b
    };
    Panels {
        lines: LINES,
        dots: DOTS,
        y,
        m,
        c,
        k: k.then(&mut mono),
        o: o.then(&mut mono),
    }
}

fn roundtrip(depth: u8, compress: bool) {
    let front = panels(depth, 7 + u64::from(depth), true, true, true);
    let back = panels(depth, 99, false, true, false);
    let settings = JobSettings {
        compress,
        ..JobSettings::default()
    };
    let mut out = Vec::new();
    evolis::job_start(&settings, &mut out);
    evolis::chip_phase(ChipStation::Contactless, &mut out);
    let card = Card {
        front: &front,
        back: Some(&back),
    };
    evolis::encode_card(&card, depth, &settings, &mut out).unwrap();
    evolis::encode_card(
        &Card {
            front: &back,
            back: None,
        },
        depth,
        &settings,
        &mut out,
    )
    .unwrap();
    evolis::job_end(&settings, &mut out);
    let job = evolis::decode(&out).unwrap();
    assert_eq!(job.ribbon.as_deref(), Some("ymckok"));
    assert_eq!(job.cards.len(), 2);
    assert_eq!(job.cards[0].front, front);
    assert_eq!(job.cards[0].back.as_ref(), Some(&back));
    assert_eq!(job.cards[0].chip, Some(ChipStation::Contactless));
    assert_eq!(job.cards[0].depth, depth);
    assert_eq!(job.cards[1].front, back);
    assert_eq!(job.cards[1].chip, None);
}

#[test]
fn every_depth_round_trips_compressed_and_raw() {
    for depth in 5..=8 {
        roundtrip(depth, true);
        roundtrip(depth, false);
    }
}

#[test]
fn a_black_card_encodes_like_the_vendor_driver_frames_it() {
    // One all-black K panel: `Dbc;k;2;1016;` and 1016 bytes of 0xFF (the black-line code).
    let p = Panels {
        lines: LINES,
        dots: DOTS,
        k: Some(vec![0xFF; LINES * LINE_BYTES]),
        ..Panels::default()
    };
    let settings = JobSettings {
        ribbon: "k".into(),
        padding: 4,
        ..JobSettings::default()
    };
    let mut out = Vec::new();
    evolis::job_start(&settings, &mut out);
    evolis::encode_card(
        &Card {
            front: &p,
            back: None,
        },
        5,
        &settings,
        &mut out,
    )
    .unwrap();
    evolis::job_end(&settings, &mut out);
    let mut golden = b"\x1bPr;k\r\x1bPmi;F;s\r\x1bSs\r\x1bSr\r\x1bDbc;k;2;1016;".to_vec();
    golden.extend(std::iter::repeat_n(0xFF, 1016));
    golden.extend_from_slice(b"\r\x1bSe;1\r\0\0\0\0");
    assert_eq!(out, golden);
    // Uncompressed, the panel is 82,296 bytes (648 x 1016 / 8), as the captures show.
    let raw = JobSettings {
        compress: false,
        ..settings
    };
    let mut out = Vec::new();
    evolis::encode_card(
        &Card {
            front: &p,
            back: None,
        },
        5,
        &raw,
        &mut out,
    )
    .unwrap();
    let cmds = evolis::parse(&out).unwrap();
    assert_eq!(cmds[2].name, "Db");
    assert_eq!(cmds[2].payload.as_ref().unwrap().len(), 82_296);
}

#[test]
fn colour_runs_use_the_extra_count_bits() {
    // A line of 648 equal dots: at 5 bits one token holds up to 767, at 6 bits 511, at 7 255.
    for (depth, tokens) in [(5u8, 1usize), (6, 2), (7, 3)] {
        let mut p = Panels {
            lines: LINES,
            dots: DOTS,
            y: vec![3; LINES * DOTS],
            m: vec![0; LINES * DOTS],
            c: vec![1; LINES * DOTS],
            ..Panels::default()
        };
        p.c[5] = 2;
        let mut out = Vec::new();
        evolis::encode_card(
            &Card {
                front: &p,
                back: None,
            },
            depth,
            &JobSettings::default(),
            &mut out,
        )
        .unwrap();
        let cmds = evolis::parse(&out).unwrap();
        let y = cmds
            .iter()
            .find(|c| c.params.first().map(String::as_str) == Some("y"))
            .unwrap();
        assert_eq!(y.payload.as_ref().unwrap().len(), LINES * 2 * tokens);
        let m = cmds
            .iter()
            .find(|c| c.params.first().map(String::as_str) == Some("m"))
            .unwrap();
        assert_eq!(m.payload.as_ref().unwrap().len(), LINES * 2, "white lines");
        let job = evolis::decode(&out).unwrap();
        assert_eq!(job.cards[0].front, p);
    }
}

#[test]
fn malformed_streams_name_the_offset() {
    let cases: [(&[u8], usize, &str); 7] = [
        (
            b"\x1bSs\r\x1bDbc;k;2;10;abc",
            16,
            "declares 10 payload bytes",
        ),
        (b"\x1bSs", 0, "not closed by CR"),
        (b"\x1bSs\r\x01", 4, "expected ESC"),
        (b"\x1bSs\r\x1bDb;k;3;", 12, "levels must be"),
        (b"\x1bSs\r\x1bDbc;k;2;1;\x00\x00", 16, "must end with CR"),
        (
            b"\x1bSs\r\x1bSr\r\x1bDbc;k;2;1;\x52\r\x1bSe\r",
            8,
            "byte count 82 over 81",
        ),
        (b"\x1bSs\r\x1bSr\r", 0, "ends inside a card"),
    ];
    for (stream, offset, text) in cases {
        let err = evolis::decode(stream).unwrap_err();
        assert!(
            matches!(err, EktpError::StreamDecode { offset: at, .. } if at == offset),
            "{err:?}"
        );
        assert!(err.to_string().contains(text), "{err}");
    }
}

#[test]
fn a_prefix_parses_up_to_the_first_cut_command() {
    let p = Panels {
        lines: LINES,
        dots: DOTS,
        k: Some(vec![0x0F; LINES * LINE_BYTES]),
        ..Panels::default()
    };
    let mut out = Vec::new();
    evolis::encode_card(
        &Card {
            front: &p,
            back: None,
        },
        5,
        &JobSettings::default(),
        &mut out,
    )
    .unwrap();
    let whole = evolis::parse(&out).unwrap();
    for cut in [0, 3, 8, 20, 30, 500, out.len() - 1, out.len()] {
        let (cmds, used) = evolis::parse_prefix(&out[..cut]).unwrap();
        assert_eq!(cmds, whole[..cmds.len()].to_vec());
        assert!(used <= cut);
        let rest = evolis::parse(&out[used..]).unwrap();
        assert_eq!(cmds.len() + rest.len(), whole.len());
    }
    assert!(
        evolis::parse_prefix(b"\x1bSs\r\x01").is_err(),
        "malformed is still an error"
    );
}

#[test]
fn reject_after_the_chip_station_is_a_rejected_card() {
    let mut out = Vec::new();
    evolis::chip_phase(ChipStation::Contact, &mut out);
    evolis::reject(&mut out);
    let job = evolis::decode(&out).unwrap();
    assert_eq!(job.cards.len(), 1);
    assert!(job.cards[0].rejected);
    assert_eq!(job.cards[0].chip, Some(ChipStation::Contact));
}

/// The colour run-length rule written the plain way, dot by dot: the longest run of equal
/// dots (up to the token's limit) is one token, a lone dot its level, a white line `80 00`.
fn reference_rle(line: &[u8], depth: u8) -> Vec<u8> {
    if line.iter().all(|&v| v == 0) {
        return vec![0x80, 0x00];
    }
    let limit = match depth {
        5 => 767,
        6 => 511,
        _ => 255,
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let mut j = i + 1;
        while j < line.len() && line[j] == line[i] && j - i < limit {
            j += 1;
        }
        let run = j - i;
        if run == 1 {
            out.push(line[i]);
        } else {
            let extra = match (depth, run >> 8) {
                (5, 1) => 0x20,
                (5, 2) => 0x60,
                (6, 1) => 0x40,
                _ => 0,
            };
            out.extend_from_slice(&[0x80 | extra | line[i], (run & 0xFF) as u8]);
        }
        i = j;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The bit-mask encoder writes what the dot-by-dot rule writes: lines made of runs of any
    /// length (past the token limits too) and lone dots, at every compressed depth.
    #[test]
    fn colour_lines_encode_like_the_plain_rule(
        depth in 5u8..=7,
        pieces in proptest::collection::vec((any::<u8>(), prop_oneof![1usize..4, 1usize..800]), 1..200),
        len in 1usize..=DOTS,
    ) {
        let mut line: Vec<u8> = pieces
            .iter()
            .flat_map(|&(v, n)| std::iter::repeat_n(v >> (8 - depth), n))
            .take(len)
            .collect();
        line.resize(len, 0);
        let mut out = Vec::new();
        evolis::rle_colour_line(&line, depth, &mut out);
        prop_assert_eq!(out, reference_rle(&line, depth));
    }

    /// Any bytes: an error or a job, never a panic or a hang.
    #[test]
    fn the_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = evolis::decode(&bytes);
    }

    /// Streams that look like commands with payloads, mutated.
    #[test]
    fn mutated_streams_never_panic(cut in 0usize..3_000, flip in 0usize..3_000, byte in any::<u8>()) {
        let p = Panels { lines: LINES, dots: DOTS, k: Some(vec![0x5A; LINES * LINE_BYTES]),
                         ..Panels::default() };
        let mut out = Vec::new();
        evolis::encode_card(&Card { front: &p, back: None }, 5, &JobSettings::default(), &mut out)
            .unwrap();
        let flip = flip % out.len();
        out[flip] = byte;
        out.truncate(cut.max(1).min(out.len()));
        let _ = evolis::decode(&out);
    }
}

#[test]
fn the_evolis_dialect_round_trips_through_the_trait() {
    use crate::dialect::{Dialect, Evolis};
    let d: &dyn Dialect = &Evolis::default();
    assert_eq!((d.name(), d.canvas()), ("evolis", (LINES, DOTS)));
    let front = panels(6, 3, true, true, true);
    let mut out = Vec::new();
    let mut replies = d.handshake(&mut out);
    replies += d.job_start(&mut out);
    replies += d.encode_card(&front, None, 6, &mut out).unwrap();
    replies += d.chip_phase(ChipStation::Contact, &mut out).unwrap();
    replies += d.reject(&mut out).unwrap();
    replies += d.status_query(&mut out);
    d.job_end(&mut out);
    let job = d.decode(&out).unwrap();
    assert_eq!(job.cards[0].front, front);
    // Every command is answered in ACK/NACK mode: the writers counted them all.
    assert_eq!(job.commands.len(), replies);
}

#[test]
fn evolis_replies_map_onto_the_status_model() {
    use crate::dialect::{Condition, Dialect, Evolis};
    let d = Evolis::default();
    let cases = [
        ("ACK", Condition::Ready),
        ("OK", Condition::Ready),
        ("NACK T", Condition::Jam),
        ("NACK C", Condition::CoverOpen),
        ("NACK R", Condition::RibbonOut),
        ("NACK F", Condition::FeederEmpty),
        ("NACK 1", Condition::NeedsAction),
        ("NACK 2", Condition::NeedsAction),
        ("BUSY", Condition::Busy),
        ("PRINTING", Condition::Printing),
        ("WAR RIBBON LOW", Condition::RibbonLow),
        ("ERR RIBBON ENDED", Condition::RibbonOut),
        ("ERR COVER OPEN", Condition::CoverOpen),
        ("ERR MECHANICAL", Condition::Mechanical),
        ("FEEDER EMPTY", Condition::FeederEmpty),
        ("ERR REJECT BOX FULL", Condition::RejectFull),
        ("SESSION HELD", Condition::SessionHeld),
        ("ERR HEAD TEMP", Condition::NeedsAction),
        ("", Condition::NeedsAction),
    ];
    for (reply, condition) in cases {
        assert_eq!(d.condition(reply), condition, "{reply}");
    }
    let names: std::collections::HashSet<_> = Condition::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(names.len(), Condition::ALL.len());
}

#[test]
fn levels_over_the_depth_are_refused_and_leave_nothing_behind() {
    for compress in [true, false] {
        let mut front = panels(5, 3, true, true, true);
        front.m[LINES * DOTS / 2] = 40; // 5 bits hold 0..=31
        let settings = JobSettings {
            compress,
            ..JobSettings::default()
        };
        let mut out = b"job so far".to_vec();
        let card = Card {
            front: &front,
            back: None,
        };
        let err = evolis::encode_card(&card, 5, &settings, &mut out).unwrap_err();
        assert!(
            err.to_string().contains("levels over the 32 of 5 bits"),
            "{err}"
        );
        assert_eq!(out, b"job so far");
    }
}

/// A card-sized face: a gradient, a block of noise (a photo), bands of black text.
fn card_face(seed: u64) -> (Vec<u8>, Vec<u8>) {
    let (h, w) = (DOTS, LINES);
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    };
    let mut rgb = vec![0u8; h * w * 3];
    for r in 0..h {
        for c in 0..w {
            let px = &mut rgb[3 * (r * w + c)..3 * (r * w + c) + 3];
            if (150..510).contains(&r) && (700..1000).contains(&c) {
                px.copy_from_slice(&[next(), next(), next()]);
            } else {
                px.copy_from_slice(&[
                    (190 + c * 60 / w) as u8,
                    200,
                    if r % 97 == 0 { 8 } else { 230 },
                ]);
            }
        }
    }
    let mut black = vec![255u8; h * w];
    for line in 0..8 {
        for r in 120 + 45 * line..142 + 45 * line {
            for c in 40..380 + 25 * line {
                black[r * w + c] = if (r + c) % 5 == 0 { 100 } else { 0 };
            }
        }
    }
    (rgb, black)
}

/// One pass from faces writes the stream the raster stage and the panel encoder write apart:
/// at every depth, compressed or raw, on and off the fast path, with and without a back.
#[test]
fn encoding_from_faces_equals_rasterising_then_encoding() {
    use crate::raster::{self, BlackMode, Face, Halftone, Overlay, Settings};
    let (rgb, black) = card_face(7);
    let (_, back_black) = card_face(8);
    let front = Face {
        height: DOTS,
        width: LINES,
        rgb: Some(&rgb),
        black: Some(&black),
    };
    let back = Face {
        height: DOTS,
        width: LINES,
        rgb: None,
        black: Some(&back_black),
    };
    let mut scratch = evolis::Scratch::default();
    for (depth, compress, black_mode, halftone, with_back) in [
        (5, true, BlackMode::Layer, Halftone::Threshold(128), true),
        (
            6,
            true,
            BlackMode::NearBlack(20),
            Halftone::Threshold(128),
            true,
        ),
        (7, true, BlackMode::Layer, Halftone::Ordered, false),
        (8, true, BlackMode::None, Halftone::Threshold(128), true),
        (5, false, BlackMode::Layer, Halftone::FloydSteinberg, true),
    ] {
        let mut fs = Settings::new(depth);
        fs.black = black_mode;
        fs.halftone = halftone;
        let mut bs = Settings::new(depth);
        bs.colour = false;
        bs.overlay = Overlay::None;
        let job = JobSettings {
            compress,
            ..JobSettings::default()
        };
        let f = raster::rasterize(&front, &fs).unwrap();
        let b = raster::rasterize(&back, &bs).unwrap();
        let card = Card {
            front: &f,
            back: with_back.then_some(&b),
        };
        let mut apart = Vec::new();
        evolis::encode_card(&card, depth, &job, &mut apart).unwrap();
        let mut fused = Vec::new();
        let back_side = with_back.then_some((&back, &bs));
        evolis::encode_faces_with((&front, &fs), back_side, &job, &mut fused, &mut scratch)
            .unwrap();
        assert!(
            fused == apart,
            "depth {depth}, compress {compress}, {black_mode:?}, {halftone:?}"
        );
    }
}

/// Cards encoded on every core, in shares, come out in order and equal to one card after
/// another; a card the canvas does not fit fails the batch with the reason.
#[test]
fn cards_encoded_in_shares_keep_their_order() {
    use crate::raster::{Face, Overlay, Settings};
    let faces: Vec<(Vec<u8>, Vec<u8>)> = (0..3).map(card_face).collect();
    let face = |i: usize| Face {
        height: DOTS,
        width: LINES,
        rgb: Some(&faces[i % 3].0),
        black: Some(&faces[i % 3].1),
    };
    let back = |i: usize| Face {
        rgb: None,
        ..face(i + 1)
    };
    let fs = Settings::new(5);
    let mut bs = Settings::new(5);
    bs.colour = false;
    bs.overlay = Overlay::None;
    let job = JobSettings::default();
    let cards: Vec<_> = (0..7)
        .map(|i| (face(i), (i % 2 == 0).then(|| back(i))))
        .collect();
    for _ in 0..2 {
        // Twice: the second batch runs on pooled buffers.
        let encoded = evolis::encode_cards(&cards, &fs, &bs, &job).unwrap();
        let together: Vec<u8> = encoded.parts().flatten().copied().collect();
        assert_eq!(together.len(), encoded.len());
        let mut one_by_one = Vec::new();
        let mut scratch = evolis::Scratch::default();
        for (f, b) in &cards {
            let b = b.as_ref().map(|b| (b, &bs));
            evolis::encode_faces_with((f, &fs), b, &job, &mut one_by_one, &mut scratch).unwrap();
        }
        assert!(together == one_by_one);
        // Each card's span: its bytes, and as many replies as it has commands.
        let mut at = 0;
        assert_eq!(encoded.cards().len(), cards.len());
        for span in encoded.cards() {
            let card = &together[at..at + span.bytes];
            assert_eq!(evolis::decode(card).unwrap().commands.len(), span.replies);
            at += span.bytes;
        }
        assert_eq!(at, together.len());
    }
    let small = vec![0u8; 10 * 10 * 3];
    let mut bad = cards.clone();
    bad[5].0 = Face {
        height: 10,
        width: 10,
        rgb: Some(&small),
        black: None,
    };
    let err = evolis::encode_cards(&bad, &fs, &bs, &job).unwrap_err();
    assert!(err.to_string().contains("1016 lines of 648 dots"), "{err}");
}

/// The layout of the vendor driver's capture of a black-ribbon card (Dualys 3): `Pr;k`,
/// `Pmi;F;s`, `Pc;k;=;10`, `Pdt;DU`, `Mr;s`, `Ppws;<time>`, `Ss`, `Sr`,
/// `Dbc;k;2;83312;` with 1016 lines of a count byte 81 and 81 bytes, `Se;1`, zero padding.
/// The decoder reads it, and the encoder writes the same panel download for the same panel.
#[test]
fn the_vendor_capture_layout_decodes_and_re_encodes() {
    let mut next = {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8 | 1 // never a white byte: every line keeps its 81 bytes
        }
    };
    let mut k = vec![0u8; LINES * LINE_BYTES];
    let mut payload = Vec::new();
    for line in k.chunks_exact_mut(LINE_BYTES) {
        line.iter_mut().for_each(|b| *b = next());
        line[0] = 0x7F; // neither all white nor all black
        payload.push(0x51);
        payload.extend_from_slice(line);
    }
    assert_eq!(payload.len(), 83_312);
    let mut capture = Vec::new();
    for c in [
        "Pr;k",
        "Pmi;F;s",
        "Pc;k;=;10",
        "Pdt;DU",
        "Mr;s",
        "Ppws;1281755559",
        "Ss",
        "Sr",
    ] {
        capture.push(0x1B);
        capture.extend_from_slice(c.as_bytes());
        capture.push(0x0D);
    }
    capture.extend_from_slice(b"\x1bDbc;k;2;83312;");
    capture.extend_from_slice(&payload);
    capture.extend_from_slice(b"\r\x1bSe;1\r");
    capture.extend_from_slice(&[0; 64]);
    let job = evolis::decode(&capture).unwrap();
    assert_eq!(job.ribbon.as_deref(), Some("k"));
    let names: Vec<&str> = job.commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["Pr", "Pmi", "Pc", "Pdt", "Mr", "Ppws", "Ss", "Sr", "Dbc", "Se"]
    );
    let front = &job.cards[0].front;
    assert_eq!(front.k.as_deref(), Some(k.as_slice()));
    let settings = JobSettings {
        ribbon: "k".into(),
        ..JobSettings::default()
    };
    let mut out = Vec::new();
    evolis::encode_card(&Card { front, back: None }, 5, &settings, &mut out).unwrap();
    let start = capture.windows(4).position(|w| w == b"\x1bSs\r").unwrap();
    let end = capture.len() - 64;
    assert!(
        out == capture[start..end],
        "the card's bytes differ from the capture's"
    );
}

#[test]
fn the_ribbon_decides_the_panels() {
    let full = panels(5, 1, true, true, true);
    let k_only = panels(5, 2, false, true, false);
    let encode = |front: &Panels, back: Option<&Panels>, ribbon: &str| {
        let settings = JobSettings {
            ribbon: ribbon.into(),
            ..JobSettings::default()
        };
        let mut out = b"job so far".to_vec();
        let r = evolis::encode_card(&Card { front, back }, 5, &settings, &mut out);
        if r.is_err() {
            assert_eq!(out, b"job so far", "nothing of a refused card is written");
        }
        r
    };
    let err = encode(&full, None, "k").unwrap_err();
    assert!(matches!(err, EktpError::RibbonMismatch(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the k ribbon prints K on the front; the front asks for colour (Y, M, C) and O too"
    );
    let err = encode(&full, Some(&full), "ymckok").unwrap_err();
    assert!(err.to_string().contains("prints K on the back"), "{err}");
    assert!(encode(&full, Some(&full), "ymcko").is_ok());
    assert!(encode(&k_only, Some(&k_only), "kb").is_ok());
    let err = encode(&full, None, "ko").unwrap_err();
    assert!(
        err.to_string().contains("asks for colour (Y, M, C) too"),
        "{err}"
    );
    for bad in ["ymckos", "nope"] {
        let err = encode(&k_only, None, bad).unwrap_err();
        assert!(matches!(err, EktpError::InvalidArgument(_)), "{err:?}");
    }
    // Raster settings that contradict the ribbon are refused before anything is rasterised.
    use crate::raster::{Face, Settings};
    let rgb = vec![0u8; DOTS * LINES * 3];
    let face = Face {
        height: DOTS,
        width: LINES,
        rgb: Some(&rgb),
        black: None,
    };
    let settings = JobSettings {
        ribbon: "k".into(),
        ..JobSettings::default()
    };
    let mut scratch = evolis::Scratch::default();
    let mut out = Vec::new();
    let err = evolis::encode_faces_with(
        (&face, &Settings::new(5)),
        None,
        &settings,
        &mut out,
        &mut scratch,
    )
    .unwrap_err();
    assert!(matches!(err, EktpError::RibbonMismatch(_)), "{err:?}");
    assert!(out.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Encode then decode gives every panel back: any depth, compressed or raw, one or two
    /// sides, any mix of panels the ribbon allows.
    #[test]
    fn decode_inverts_encode(
        seed in any::<u64>(),
        depth in 5u8..=8,
        compress in any::<bool>(),
        colour in any::<bool>(),
        k in any::<bool>(),
        o in any::<bool>(),
        two in any::<bool>(),
    ) {
        let front = panels(depth, seed, colour, k || !(colour || o), o);
        let back = panels(depth, seed ^ 0xA5, false, true, false);
        let settings = JobSettings { compress, ..JobSettings::default() };
        let mut out = Vec::new();
        let card = Card { front: &front, back: two.then_some(&back) };
        evolis::encode_card(&card, depth, &settings, &mut out).unwrap();
        let job = evolis::decode(&out).unwrap();
        prop_assert_eq!(&job.cards[0].front, &front);
        prop_assert_eq!(job.cards[0].back.as_ref(), two.then_some(&back));
        prop_assert_eq!(job.cards[0].depth, if colour { depth } else { 0 });
    }
}
