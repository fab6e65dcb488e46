use super::{
    decode, encode_card, encode_faces_with, full_overlay, parse, parse_prefix, ribbon,
    simple_command, Card, JobSettings, Scratch, COLOUR_PLANE, DOTS, K_PLANE, LINES, LINE_BYTES,
    ROW_BYTES,
};
use crate::error::EktpError;
use crate::raster::{self, Face, Overlay, Panels, Settings};
use proptest::prelude::*;

fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// A side with runs and noise in every colour panel, K lines of every kind, and optionally
/// the full overcoat.
fn panels(seed: u64, colour: bool, k: bool, o: bool) -> Panels {
    let mut next = xorshift(seed);
    let mut colour_panel = || {
        let mut v = vec![0u8; LINES * DOTS];
        let mut i = 0;
        while i < v.len() {
            let run = (next() % 300) as usize + 1;
            let value = (next() % 64) as u8;
            let end = (i + run).min(v.len());
            v[i..end].fill(value);
            i = end;
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
        for line in b.chunks_exact_mut(LINE_BYTES) {
            for x in line.iter_mut() {
                *x = next() as u8;
            }
            line[LINE_BYTES - 1] &= 0xC0; // 642 dots: two bits of the last byte
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
        o: o.then(full_overlay),
    }
}

fn settings(ribbon: &str) -> JobSettings {
    JobSettings {
        ribbon: ribbon.into(),
    }
}

#[test]
fn two_sided_cards_round_trip_on_every_ribbon() {
    for (name, front, back) in [
        ("ymckok", (true, true, true), Some((false, true, false))),
        ("ymcko", (true, true, true), Some((true, false, true))),
        ("ymcko", (true, false, false), None),
        ("ko", (false, true, true), Some((false, true, false))),
        ("k", (false, true, false), None),
    ] {
        let f = panels(3, front.0, front.1, front.2);
        let b = back.map(|(c, k, o)| panels(9, c, k, o));
        let mut out = Vec::new();
        let card = Card {
            front: &f,
            back: b.as_ref(),
        };
        encode_card(&card, &settings(name), &mut out).unwrap();
        encode_card(&card, &settings(name), &mut out).unwrap();
        let job = decode(&out).unwrap();
        assert_eq!(job.ribbon.as_deref(), Some(name));
        assert_eq!(job.cards.len(), 2, "{name}");
        for c in &job.cards {
            assert_eq!(c.front, f, "{name}");
            assert_eq!(c.back, b, "{name}");
            assert_eq!(
                c.depth,
                if front.0 || back.is_some_and(|b| b.0) {
                    6
                } else {
                    0
                }
            );
        }
    }
}

/// The page a K-only one-sided card makes, byte for byte from the format's description:
/// 64 x 05, 01, the tags each led by a comma, 1C, the K plane (1016 rows of 84 bytes, the
/// first dot in the most significant bit), 1C 'K' 3A, 03.
#[test]
fn a_black_only_card_is_the_golden_page() {
    let mut k = vec![0u8; LINES * LINE_BYTES];
    k[0] = 0x80; // the first dot of the first line
    k[LINE_BYTES - 1] = 0x40; // the 642nd dot of the first line
    k[LINES * LINE_BYTES - LINE_BYTES] = 0xFF; // eight dots of the last line
    let p = Panels {
        lines: LINES,
        dots: DOTS,
        k: Some(k),
        ..Panels::default()
    };
    let mut out = Vec::new();
    let card = Card {
        front: &p,
        back: None,
    };
    encode_card(&card, &settings("k"), &mut out).unwrap();
    let mut golden = vec![0x05u8; 64];
    golden.push(0x01);
    golden.extend_from_slice(b",LC3,DPXOFF,PAG1,OVROFF,HGT1016,WID642,IMFK,SZK85344");
    golden.push(0x1C);
    let mut plane = vec![0u8; 1016 * 84];
    plane[0] = 0x80;
    plane[80] = 0x40;
    plane[1015 * 84] = 0xFF;
    golden.extend_from_slice(&plane);
    golden.extend_from_slice(&[0x1C, b'K', 0x3A, 0x03]);
    assert!(out == golden, "the page differs from the golden bytes");
    assert_eq!(decode(&golden).unwrap().cards[0].front, p);
}

/// A two-sided YMCKOK card: colour planes in the blue, green, red order of their size tags,
/// each level's bit 0 in the row's first 84 bytes, bit 5 in its last; the back its own page.
#[test]
fn a_two_sided_colour_card_is_the_golden_pages() {
    let mut front = Panels {
        lines: LINES,
        dots: DOTS,
        y: vec![0; LINES * DOTS],
        m: vec![0; LINES * DOTS],
        c: vec![0; LINES * DOTS],
        k: Some(vec![0; LINES * LINE_BYTES]),
        o: Some(full_overlay()),
    };
    front.y[0] = 0b10_0001; // first dot: bits 0 and 5
    front.m[DOTS + 9] = 0b00_0010; // line 1, dot 9: bit 1
    front.c[DOTS - 1] = 63; // line 0, the last dot: every bit
    let back = Panels {
        lines: LINES,
        dots: DOTS,
        k: Some(vec![0; LINES * LINE_BYTES]),
        ..Panels::default()
    };
    let mut out = Vec::new();
    let card = Card {
        front: &front,
        back: Some(&back),
    };
    encode_card(&card, &settings("ymckok"), &mut out).unwrap();
    let mut golden = vec![0x05u8; 64];
    golden.push(0x01);
    golden.extend_from_slice(
        b",LC8,DPXON,BACK,PAG1,OVRON,HGT1016,WID642,IMFBGRK,SZB512064,SZG512064,SZR512064,\
          SZK85344",
    );
    golden.push(0x1C);
    let row = 6 * 84;
    let mut y = vec![0u8; 1016 * row];
    y[0] = 0x80; // bit 0 row, first dot
    y[5 * 84] = 0x80; // bit 5 row, first dot
    let mut m = vec![0u8; 1016 * row];
    m[row + 84 + 1] = 0x40; // line 1, bit 1 row, byte 1, dot 9
    let mut c = vec![0u8; 1016 * row];
    for bit in 0..6 {
        c[bit * 84 + 80] = 0x40; // dot 641: byte 80, second bit
    }
    for (plane, letter) in [(y, b'B'), (m, b'G'), (c, b'R')] {
        golden.extend_from_slice(&plane);
        golden.extend_from_slice(&[0x1C, letter, 0x3A]);
    }
    golden.extend_from_slice(&vec![0u8; 1016 * 84]);
    golden.extend_from_slice(&[0x1C, b'K', 0x3A, 0x03]);
    golden.extend_from_slice(&[0x05; 64]);
    golden.push(0x01);
    golden.extend_from_slice(b",LC8,DPXON,PAG2,OVROFF,HGT1016,WID642,IMFK,SZK85344");
    golden.push(0x1C);
    golden.extend_from_slice(&vec![0u8; 1016 * 84]);
    golden.extend_from_slice(&[0x1C, b'K', 0x3A, 0x03]);
    assert_eq!(out.len(), golden.len());
    assert!(out == golden, "the pages differ from the golden bytes");
    let job = decode(&golden).unwrap();
    assert_eq!(job.cards[0].front, front);
    assert_eq!(job.cards[0].back.as_ref(), Some(&back));
    assert_eq!((COLOUR_PLANE, K_PLANE), (512_064, 85_344));
}

#[test]
fn simple_commands_frame_and_parse() {
    let mut out = Vec::new();
    simple_command(&mut out, "REQ,STA,MSR,");
    let mut golden = vec![0x05u8; 9];
    golden.push(0x01);
    golden.extend_from_slice(b"REQ,STA,MSR,\x1c\x03");
    assert_eq!(out, golden);
    let cmds = parse(&out).unwrap();
    assert_eq!(cmds[0].name, "REQ");
    assert_eq!(cmds[0].params, ["STA", "MSR", ""]);
}

#[test]
fn the_ribbon_decides_the_panels() {
    let full = panels(1, true, true, true);
    let k_only = panels(2, false, true, false);
    let mut out = Vec::new();
    let on = |front: &Panels, back: Option<&Panels>, r: &str, out: &mut Vec<u8>| {
        encode_card(&Card { front, back }, &settings(r), out)
    };
    let err = on(&full, None, "k", &mut out).unwrap_err();
    assert!(matches!(err, EktpError::RibbonMismatch(_)), "{err:?}");
    assert!(err.to_string().contains("prints K on the front"), "{err}");
    let err = on(&full, Some(&full), "ymckok", &mut out).unwrap_err();
    assert!(err.to_string().contains("back asks for colour"), "{err}");
    assert!(on(&k_only, Some(&k_only), "ko", &mut out).is_ok());
    assert!(ribbon("ymckos").is_err());
    // A partial overcoat cannot be written: OVR is all or nothing.
    let mut holed = full.clone();
    holed.o.as_mut().unwrap()[100] = 0;
    let err = on(&holed, None, "ymcko", &mut out).unwrap_err();
    assert!(err.to_string().contains("all or nothing"), "{err}");
}

#[test]
fn malformed_streams_name_the_offset() {
    let mut page = Vec::new();
    let p = panels(5, false, true, false);
    encode_card(
        &Card {
            front: &p,
            back: None,
        },
        &settings("k"),
        &mut page,
    )
    .unwrap();
    let header = page.iter().position(|&b| b == 0x1C).unwrap();
    let plane_end = header + 1 + K_PLANE;
    let mut bad_end = page.clone();
    bad_end[plane_end + 1] = b'B';
    let mut past = page.clone();
    past[header + 1 + 82] = 1; // a bit past the 642 dots of row 0
    let mut short_guard = page[1..].to_vec();
    short_guard[0] = 0x05;
    let cases: [(&[u8], usize, &str); 5] = [
        (b"\x01,LC3", 0, "expected the 05 guard"),
        (&bad_end, plane_end, "must end with 1C 4B 3A"),
        (&past, header + 1, "dots past the 642"),
        (&short_guard, 0, "64 guard bytes, not 63"),
        (
            &page[..page.len() - 1],
            page.len() - 1,
            "ends inside a page",
        ),
    ];
    for (stream, offset, text) in cases {
        let err = decode(stream).unwrap_err();
        assert!(
            matches!(err, EktpError::StreamDecode { offset: at, .. } if at == offset),
            "{text}: {err:?}"
        );
        assert!(err.to_string().contains(text), "{err}");
    }
}

#[test]
fn a_prefix_gives_back_a_cut_page_whole() {
    let p = panels(5, false, true, false);
    let mut out = Vec::new();
    simple_command(&mut out, "REQ,STA,MSR,");
    let first = out.len();
    encode_card(
        &Card {
            front: &p,
            back: None,
        },
        &settings("k"),
        &mut out,
    )
    .unwrap();
    for cut in [0, 5, first, first + 70, first + 5_000, out.len() - 1] {
        let (cmds, used) = parse_prefix(&out[..cut]).unwrap();
        assert_eq!(used, if cut >= first { first } else { 0 });
        assert_eq!(cmds.len(), usize::from(cut >= first));
    }
    let (cmds, used) = parse_prefix(&out).unwrap();
    assert_eq!((cmds.len(), used), (4, out.len())); // REQ, JOB, K, END
}

/// A card-sized face for the Magicard canvas (642 x 1016): gradient, noise, black text.
fn face(seed: u64) -> (Vec<u8>, Vec<u8>) {
    let (h, w) = (DOTS, LINES);
    let mut next = xorshift(seed);
    let mut rgb = vec![0u8; h * w * 3];
    for (i, px) in rgb.chunks_exact_mut(3).enumerate() {
        let (r, c) = (i / w, i % w);
        if (150..400).contains(&r) && (700..950).contains(&c) {
            px.copy_from_slice(&[next() as u8, next() as u8, next() as u8]);
        } else {
            px.copy_from_slice(&[(190 + c * 60 / w) as u8, 200, 230]);
        }
    }
    let mut black = vec![255u8; h * w];
    for r in 100..130 {
        black[r * w + 40..r * w + 500].fill(0);
    }
    (rgb, black)
}

/// One pass from faces writes what the raster stage and the panel encoder write apart.
#[test]
fn encoding_from_faces_equals_rasterising_then_encoding() {
    let (rgb, black) = face(7);
    let (_, back_black) = face(8);
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
    let fs = Settings::new(6);
    let mut bs = Settings::new(6);
    bs.colour = false;
    bs.overlay = Overlay::None;
    let job = settings("ymckok");
    let f = raster::rasterize(&front, &fs).unwrap();
    let b = raster::rasterize(&back, &bs).unwrap();
    let mut apart = Vec::new();
    encode_card(
        &Card {
            front: &f,
            back: Some(&b),
        },
        &job,
        &mut apart,
    )
    .unwrap();
    let mut fused = Vec::new();
    let mut scratch = Scratch::default();
    encode_faces_with(
        (&front, &fs),
        Some((&back, &bs)),
        &job,
        &mut fused,
        &mut scratch,
    )
    .unwrap();
    assert!(fused == apart);
    // Five bits is not a Magicard depth; an Evolis-sized face is not its canvas.
    let err = encode_faces_with(
        (&front, &Settings::new(5)),
        None,
        &job,
        &mut fused,
        &mut scratch,
    )
    .unwrap_err();
    assert!(err.to_string().contains("6 bits"), "{err}");
    let wide = vec![0u8; 648 * LINES * 3];
    let evolis_face = Face {
        height: 648,
        width: LINES,
        rgb: Some(&wide),
        black: None,
    };
    let before = fused.len();
    let err =
        encode_faces_with((&evolis_face, &fs), None, &job, &mut fused, &mut scratch).unwrap_err();
    assert!(err.to_string().contains("642 dots"), "{err}");
    assert_eq!(
        fused.len(),
        before,
        "nothing of a refused card is left behind"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Encode then decode gives the panels back, for any levels and K bits.
    #[test]
    fn decode_inverts_encode(seed in any::<u64>(), colour in any::<bool>(), two in any::<bool>()) {
        let f = panels(seed, colour, true, colour);
        let b = panels(seed ^ 0x55, false, true, false);
        let mut out = Vec::new();
        let card = Card { front: &f, back: two.then_some(&b) };
        encode_card(&card, &settings("ymckok"), &mut out).unwrap();
        let job = decode(&out).unwrap();
        prop_assert_eq!(&job.cards[0].front, &f);
        prop_assert_eq!(job.cards[0].back.as_ref(), two.then_some(&b));
    }

    /// Any bytes: an error or a job, never a panic or a hang.
    #[test]
    fn the_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode(&bytes);
        let _ = parse_prefix(&bytes);
    }

    /// Encoded pages, mutated and cut.
    #[test]
    fn mutated_streams_never_panic(cut in 0usize..200_000, flip in 0usize..200_000, byte in any::<u8>()) {
        let p = panels(11, false, true, false);
        let mut out = Vec::new();
        encode_card(&Card { front: &p, back: Some(&p) }, &settings("k"), &mut out).unwrap();
        let flip = flip % out.len();
        out[flip] = byte;
        out.truncate(cut.max(1).min(out.len()));
        if let Ok(job) = decode(&out) {
            // What decodes re-encodes to the same bytes.
            let mut again = Vec::new();
            for c in &job.cards {
                encode_card(&Card { front: &c.front, back: c.back.as_ref() }, &settings("k"), &mut again).unwrap();
            }
            prop_assert!(again == out);
        }
    }
}

#[test]
fn row_bytes_hold_the_padded_line() {
    assert_eq!(ROW_BYTES * 8, 672);
    assert_eq!(LINE_BYTES, 81);
}

#[test]
fn a_magicard_answers_only_its_status_requests() {
    use crate::dialect::{Condition, Dialect, Magicard};
    let d = Magicard::default();
    let mut out = Vec::new();
    assert_eq!(d.handshake(&mut out) + d.job_start(&mut out), 0);
    assert!(out.is_empty());
    assert_eq!(d.status_query(&mut out), 1);
    assert!(out.ends_with(b"REQ,STA,TCQ,\x1c\x03"));
    assert_eq!(d.condition("\u{1}STA,TCQ12,"), Condition::Ready);
    assert_eq!(d.condition("\u{1}STA,TCQ12,\u{3}"), Condition::Ready);
    assert_eq!(d.condition("STA"), Condition::NeedsAction);
}
