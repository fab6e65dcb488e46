//! The ICAO Doc 9303 Part 11 Appendix D walk-through byte for byte (key derivation, BAC
//! mutual authentication, three protected command/response pairs), ISO 7816-4 APDU cases,
//! BER-TLV forms, and properties over random inputs.

use proptest::prelude::*;

use super::apdu::{Command, Response};
use super::perso::{self, File, Layout};
use super::sm::{self, Algorithm, Challenge, KeyPair, Session};
use super::tlv::{self, Tlv};
use crate::error::EktpError;

fn h(hex: &str) -> Vec<u8> {
    let hex: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn arr<const N: usize>(hex: &str) -> [u8; N] {
    h(hex).try_into().unwrap()
}

// -- ICAO 9303-11 Appendix D ---------------------------------------------------------------

const MRZ_INFORMATION: &[u8] = b"L898902C<369080619406236";

fn icao_access_keys() -> KeyPair {
    KeyPair::from_seed(Algorithm::Tdes, &sm::bac_seed(MRZ_INFORMATION))
}

#[test]
fn d2_key_derivation_from_the_mrz() {
    assert_eq!(
        &sm::bac_seed(MRZ_INFORMATION)[..],
        h("239AB9CB282DAF66231DC5A4DF6BFBAE")
    );
    let keys = icao_access_keys();
    assert_eq!(keys.enc(), h("AB94FDECF2674FDFB9B391F85D7F76F2"));
    assert_eq!(keys.mac(), h("7962D9ECE03D1ACD4C76089DCE131543"));
}

#[test]
fn d1_check_digits_of_the_mrz_information() {
    assert_eq!(sm::check_digit("L898902C<").unwrap(), 3);
    assert_eq!(sm::check_digit("690806").unwrap(), 1);
    assert_eq!(sm::check_digit("940623").unwrap(), 6);
    assert_eq!(sm::check_digit("520727").unwrap(), 3);
    assert_eq!(sm::check_digit("AB2134<<<").unwrap(), 5);
    assert_eq!(sm::check_digit("D23145890734").unwrap(), 9);
    assert!(sm::check_digit("ab").is_err());
}

const RND_IC: &str = "4608F91988702212";
const RND_IFD: &str = "781723860C06C226";
const K_IFD: &str = "0B795240CB7049B01C19B33E32804F0B";
const K_IC: &str = "0B4F80323EB3191CB04970CB4052790B";
const EXT_AUTH_DATA: &str = "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2\
                             5F1448EEA8AD90A7";
const EXT_AUTH_RESPONSE: &str = "46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F\
                                 2F2D235D074D7449";

fn icao_session() -> Session {
    let (challenge, data) =
        Challenge::start(&icao_access_keys(), arr(RND_IC), arr(RND_IFD), arr(K_IFD));
    assert_eq!(data, h(EXT_AUTH_DATA));
    challenge.finish(&h(EXT_AUTH_RESPONSE)).unwrap()
}

#[test]
fn d3_mutual_authentication_terminal_side() {
    let session = icao_session();
    assert_eq!(session.ssc(), h("887022120C06C226"));
    // The session keys are checked through the messages of D.4, which use them.
}

/// The chip's side of the ICAO session, after it answered D.3's authentication.
fn icao_chip() -> Session {
    let request = h(EXT_AUTH_DATA);
    sm::chip_answer(&icao_access_keys(), arr(RND_IC), arr(K_IC), &request)
        .unwrap()
        .1
}

#[test]
fn d3_mutual_authentication_chip_side_answers_as_printed() {
    let (answer, session) = sm::chip_answer(
        &icao_access_keys(),
        arr(RND_IC),
        arr(K_IC),
        &h(EXT_AUTH_DATA),
    )
    .unwrap();
    assert_eq!(answer, h(EXT_AUTH_RESPONSE));
    assert_eq!(session.ssc(), h("887022120C06C226"));
}

#[test]
fn d3_session_keys() {
    let seed: Vec<u8> = h(K_IFD).iter().zip(h(K_IC)).map(|(a, b)| a ^ b).collect();
    assert_eq!(seed, h("0036D272F5C350ACAC50C3F572D23600"));
    let keys = KeyPair::from_seed(Algorithm::Tdes, &seed);
    assert_eq!(keys.enc(), h("979EC13B1CBFE9DCD01AB0FED307EAE5"));
    assert_eq!(keys.mac(), h("F1CB1F1FB5ADF208806B89DC579DC1F8"));
}

struct Exchange {
    plain: &'static str,
    protected: &'static str,
    response: &'static str,
    data: &'static str,
}

const D4: [Exchange; 3] = [
    // D.4.1: SELECT EF.COM.
    Exchange {
        plain: "00A4020C02011E",
        protected: "0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800",
        response: "990290008E08FA855A5D4C50A8ED9000",
        data: "",
    },
    // D.4.2: READ BINARY of the first four bytes.
    Exchange {
        plain: "00B0000004",
        protected: "0CB000000D9701048E08ED6705417E96BA5500",
        response: "8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000",
        data: "60145F01",
    },
    // D.4.3: READ BINARY of the remaining 18 bytes.
    Exchange {
        plain: "00B0000412",
        protected: "0CB000040D9701128E082EA28A70F3C7B53500",
        response: "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08\
                   C8B2787EAEA07D749000",
        data: "04303130365F36063034303030305C026175",
    },
];

#[test]
fn d4_protected_exchanges_terminal_side() {
    let mut session = icao_session();
    for ex in &D4 {
        let cmd = Command::parse(&h(ex.plain)).unwrap();
        assert_eq!(session.wrap(&cmd).unwrap(), h(ex.protected), "{}", ex.plain);
        let resp = session.unwrap(&h(ex.response)).unwrap();
        assert_eq!(
            resp,
            Response {
                data: h(ex.data),
                sw: 0x9000
            }
        );
    }
    assert_eq!(session.ssc(), h("887022120C06C22C"));
}

#[test]
fn d4_protected_exchanges_chip_side() {
    let mut chip = icao_chip();
    for ex in &D4 {
        let cmd = chip.unwrap_command(&h(ex.protected)).unwrap();
        assert_eq!(cmd.to_bytes().unwrap(), h(ex.plain));
        let resp = Response {
            data: h(ex.data),
            sw: 0x9000,
        };
        assert_eq!(chip.wrap_response(&resp).unwrap(), h(ex.response));
    }
}

#[test]
fn d4_script_wrapped_ahead_matches_one_by_one() {
    let mut session = icao_session();
    let cmds: Vec<Command> = D4
        .iter()
        .map(|ex| Command::parse(&h(ex.plain)).unwrap())
        .collect();
    let wrapped = session.wrap_script(&cmds).unwrap();
    for (ex, apdu) in D4.iter().zip(&wrapped) {
        assert_eq!(apdu, &h(ex.protected));
    }
    // A single wrap would take a response's counter: refused until the script is answered.
    assert!(session.wrap(&cmds[0]).is_err());
    for ex in &D4 {
        assert_eq!(session.unwrap(&h(ex.response)).unwrap().data, h(ex.data));
    }
    assert!(session.wrap(&cmds[0]).is_ok());
}

// -- failures tear the session down ---------------------------------------------------------

fn assert_torn_down(session: &mut Session, result: Result<Response, EktpError>) {
    let err = result.unwrap_err();
    assert!(matches!(err, EktpError::SecureMessaging(_)), "{err:?}");
    assert!(!session.is_open());
    assert!(session.ssc().iter().all(|&b| b == 0), "counter wiped");
    let again = session.wrap(&Command::parse(&h("00B0000004")).unwrap());
    assert!(again.unwrap_err().to_string().contains("closed"));
}

/// The ICAO session after sending D.4.1's SELECT, given `answer` instead of the chip's:
/// the session must refuse it and be torn down; returns the error's text.
fn refuse(answer: &[u8]) -> String {
    let mut session = icao_session();
    session
        .wrap(&Command::parse(&h(D4[0].plain)).unwrap())
        .unwrap();
    let result = session.unwrap(answer);
    let text = result.as_ref().map(|_| ()).unwrap_err().to_string();
    assert_torn_down(&mut session, result);
    text
}

#[test]
fn a_wrong_mac_closes_the_session() {
    let mut resp = h(D4[0].response);
    resp[8] ^= 1; // inside DO'8E'
    assert!(refuse(&resp).contains("MAC does not verify"));
}

#[test]
fn a_truncated_response_closes_the_session() {
    let resp = h(D4[0].response);
    assert!(refuse(&resp[..resp.len() - 5]).contains("declares 8 bytes"));
}

#[test]
fn a_plain_6982_closes_the_session_and_says_why() {
    let text = refuse(&h("6982"));
    assert!(
        text.contains("6982") && text.contains("security status"),
        "{text}"
    );
}

#[test]
fn a_changed_status_is_caught_by_the_mac() {
    let mut resp = h(D4[0].response);
    resp[2] = 0x6A; // DO'99' value
    assert!(refuse(&resp).contains("MAC does not verify"));
}

#[test]
fn a_replayed_command_is_refused_by_the_chip() {
    let mut chip = icao_chip();
    chip.unwrap_command(&h(D4[0].protected)).unwrap();
    chip.wrap_response(&Response {
        data: vec![],
        sw: 0x9000,
    })
    .unwrap();
    assert!(chip.unwrap_command(&h(D4[0].protected)).is_err());
    assert!(!chip.is_open());
}

#[test]
fn a_malformed_protected_command_names_the_offset_in_the_apdu() {
    let mut chip = icao_chip();
    let mut apdu = h(D4[0].protected);
    apdu[5] = 0x99; // DO'87' becomes an object a command cannot carry
    let err = chip.unwrap_command(&apdu).unwrap_err().to_string();
    assert!(
        err.contains("unexpected data object 99 (at byte 5)"),
        "{err}"
    );
    assert!(!chip.is_open());
}

#[test]
fn authentication_with_the_wrong_keys_fails() {
    let other = KeyPair::from_seed(Algorithm::Tdes, &sm::bac_seed(b"X000000000000000000000000"));
    let (challenge, data) = Challenge::start(&other, arr(RND_IC), arr(RND_IFD), arr(K_IFD));
    assert!(sm::chip_answer(&icao_access_keys(), arr(RND_IC), arr(K_IC), &data).is_err());
    assert!(challenge.finish(&h(EXT_AUTH_RESPONSE)).is_err());
    // The right keys, but an answer to another challenge.
    let (_, data) = Challenge::start(&icao_access_keys(), [0; 8], arr(RND_IFD), arr(K_IFD));
    assert!(sm::chip_answer(&icao_access_keys(), arr(RND_IC), arr(K_IC), &data).is_err());
}

#[test]
fn keys_do_not_show_in_debug_output() {
    let keys = icao_access_keys();
    let text = format!("{keys:?} {:?}", icao_session());
    assert!(
        !text.contains("AB94") && !text.to_lowercase().contains("ab94"),
        "{text}"
    );
    assert!(text.contains("3des"));
}

// -- APDUs -------------------------------------------------------------------------------------

#[test]
fn command_apdu_cases_short_and_extended() {
    let c = |data: &str, ne: Option<u32>| Command::new(0x00, 0x10, 0x20, 0x30, h(data), ne);
    let cases = [
        (c("", None), "00102030"),
        (c("", Some(0x80)), "0010203080"),
        (c("", Some(256)), "0010203000"),
        (c("", Some(0x180)), "00102030000180"),
        (c("", Some(65_536)), "00102030000000"),
        (c("41424344", None), "001020300441424344"),
        (c("41424344", Some(0x80)), "00102030044142434480"),
        (c("41424344", Some(0x180)), "00102030000004414243440180"),
        (c("41424344", Some(65_536)), "00102030000004414243440000"),
    ];
    for (cmd, hex) in cases {
        assert_eq!(cmd.to_bytes().unwrap(), h(hex), "{hex}");
        assert_eq!(Command::parse(&h(hex)).unwrap(), cmd, "{hex}");
        assert_eq!(cmd.encoded_len(), hex.len() / 2);
    }
    // READ BINARY with Le 15575: the 00 before a 2-byte Le without Lc is mandatory.
    assert_eq!(
        Command::new(0, 0xB0, 0, 4, vec![], Some(15_575))
            .to_bytes()
            .unwrap(),
        h("00B00004003CD7")
    );
    // 300 data bytes force the extended form for Lc and Le alike (4E, Ne 256 written 0100).
    let long = Command::new(0, 0xD6, 0, 0, vec![7; 300], Some(256))
        .to_bytes()
        .unwrap();
    assert_eq!(&long[4..7], &[0, 0x01, 0x2C]);
    assert_eq!(&long[long.len() - 2..], &[0x01, 0x00]);
}

#[test]
fn extended_forms_of_short_lengths_parse_to_the_same_command() {
    // Found by fuzzing: case 2E with Ne = 142 is legal and means what 2S `8E` means.
    let cmd = Command::parse(&h("8E028E0000008E")).unwrap();
    assert_eq!(cmd.ne, Some(142));
    assert_eq!(cmd.to_bytes().unwrap(), h("8E028E008E"));
}

#[test]
fn malformed_command_apdus_are_refused_with_an_offset() {
    for bad in [
        "001020",
        "0010203003AABB",
        "001020300000",
        "00102030000003AABB",
    ] {
        let err = Command::parse(&h(bad)).unwrap_err();
        assert!(
            matches!(err, EktpError::ChipDecode { .. }),
            "{bad}: {err:?}"
        );
    }
    assert!(Command::new(0, 0, 0, 0, vec![], Some(0))
        .to_bytes()
        .is_err());
    assert!(Command::new(0, 0, 0, 0, vec![0; 65_536], None)
        .to_bytes()
        .is_err());
    assert!(Response::parse(&[0x90]).is_err());
}

// -- BER-TLV ---------------------------------------------------------------------------------

#[test]
fn tlv_lengths_use_the_minimal_form() {
    for (n, hex) in [
        (0x7F, "7F"),
        (0x80, "8180"),
        (0xFF, "81FF"),
        (1999, "8207CF"),
        (0x8000, "828000"),
        (0xFFFF, "82FFFF"),
        (0x80_0000, "83800000"),
        (0xFF_FFFF, "83FFFFFF"),
        (0xFFFF_FFFF, "84FFFFFFFF"),
    ] {
        let mut out = Vec::new();
        tlv::write_len(n, &mut out);
        assert_eq!(out, h(hex), "{n}");
    }
}

#[test]
fn tlv_tags_of_every_width() {
    let stream = h("A0005F1F00800088007F600002020000");
    let tags: Vec<u32> = tlv::decode(&stream).unwrap().iter().map(Tlv::tag).collect();
    assert_eq!(tags, [0xA0, 0x5F1F, 0x80, 0x88, 0x7F60, 0x02]);
    let four = Tlv::Primitive {
        tag: 0x1F80_8000,
        value: vec![1],
    };
    let bytes = tlv::encode_all(std::slice::from_ref(&four)).unwrap();
    assert_eq!(bytes, h("1F8080000101"));
    assert_eq!(tlv::decode(&bytes).unwrap(), vec![four]);
    assert!(tlv::is_constructed(0x7F61) && !tlv::is_constructed(0x5F1F));
    for bad in [0x5F, 0x5F9F, 0x1F, 0x00, 0x3F80] {
        assert!(tlv::check_tag(bad).is_err(), "{bad:X}");
    }
}

#[test]
fn ef_com_of_the_reference_sample_round_trips() {
    let com = h("60165F0104303130375F36063034303030305C046175766C");
    let parsed = tlv::decode(&com).unwrap();
    let rebuilt = Tlv::Constructed {
        tag: 0x60,
        children: vec![
            Tlv::Primitive {
                tag: 0x5F01,
                value: b"0107".to_vec(),
            },
            Tlv::Primitive {
                tag: 0x5F36,
                value: b"040000".to_vec(),
            },
            Tlv::Primitive {
                tag: 0x5C,
                value: h("6175766C"),
            },
        ],
    };
    assert_eq!(parsed, vec![rebuilt.clone()]);
    assert_eq!(tlv::encode_all(&[rebuilt]).unwrap(), com);
}

#[test]
fn malformed_tlv_names_the_offset() {
    for (bad, offset) in [
        ("5F", 1),               // a lone tag byte announcing more
        ("6105AABB", 0),         // declares more than remains
        ("0401", 0),             // truncated after the length
        ("04 80 00", 1),         // indefinite length
        ("04 85 0000000001", 1), // length form beyond 4 bytes
        ("6103 0402AA", 2),      // inner object runs past its parent
        ("FF01AA", 0),           // padding is not a tag
    ] {
        match tlv::decode(&h(bad)) {
            Err(EktpError::ChipDecode { offset: at, .. }) => assert_eq!(at, offset, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    let deep: Vec<u8> = std::iter::repeat_n([0x61u8, 0x80], 1).flatten().collect();
    assert!(tlv::decode(&deep).is_err());
    // Nesting beyond the bound is refused, not recursed into.
    let mut nested = vec![0x04, 0x00];
    for _ in 0..40 {
        let mut outer = vec![0x61];
        tlv::write_len(nested.len(), &mut outer);
        outer.extend_from_slice(&nested);
        nested = outer;
    }
    assert!(tlv::decode(&nested)
        .unwrap_err()
        .to_string()
        .contains("deeper"));
}

// -- personalisation scripts ---------------------------------------------------------------

#[test]
fn write_and_read_scripts_cover_each_file() {
    let files = vec![
        File {
            fid: 0x011E,
            content: vec![1; 10],
        },
        File {
            fid: 0x0102,
            content: (0..600u32).map(|i| i as u8).collect(),
        },
    ];
    let layout = Layout {
        create: true,
        write_chunk: 239,
        read_chunk: 231,
    };
    let write = perso::write_script(&layout, &files).unwrap();
    let hexes: Vec<String> = write
        .iter()
        .take(3)
        .map(|c| {
            c.to_bytes()
                .unwrap()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect()
        })
        .collect();
    assert_eq!(hexes[0], "00E0000006630400 0A011E".replace(' ', ""));
    assert_eq!(hexes[1], "00A4020C02011E");
    assert!(hexes[2].starts_with("00D600000A"));
    // The 600-byte file: 239 + 239 + 122 at offsets 0, 239 (00EF), 478 (01DE).
    let updates: Vec<&Command> = write.iter().filter(|c| c.ins == 0xD6).collect();
    assert_eq!(updates.len(), 4);
    assert_eq!(
        (updates[3].p1, updates[3].p2, updates[3].data.len()),
        (0x01, 0xDE, 122)
    );
    let read = perso::read_script(&layout, &files).unwrap();
    let total: u32 = read.iter().filter_map(|c| c.ne).sum();
    assert_eq!(total, 610);
    assert!(perso::write_script(
        &layout,
        &[File {
            fid: 1,
            content: vec![0; 40_000]
        }]
    )
    .is_err());
}

// -- properties ------------------------------------------------------------------------------

fn tag_strategy(constructed: bool) -> impl Strategy<Value = u32> {
    let bit = if constructed { 0x20u32 } else { 0 };
    // A private constructed long tag would start FF, which ISO 7816-4 keeps for padding.
    let classes = if constructed { 3u32 } else { 4 };
    prop_oneof![
        // one byte: any class, number 1..30
        (0u32..4, 1u32..31).prop_map(move |(class, n)| (class << 6) | bit | n),
        // two bytes: 5F/7F/9F/BF/DF/FF-style first byte, second byte < 0x80
        (0u32..classes, 0x1Fu32..0x80)
            .prop_map(move |(class, n)| (((class << 6) | bit | 0x1F) << 8) | n),
        // three bytes
        (0u32..classes, 0x80u32..0x100, 0u32..0x80).prop_map(move |(class, a, b)| (((class << 6)
            | bit
            | 0x1F)
            << 16)
            | (a << 8)
            | b),
    ]
}

fn tlv_strategy() -> impl Strategy<Value = Tlv> {
    let leaf = (
        tag_strategy(false),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(tag, value)| Tlv::Primitive { tag, value });
    leaf.prop_recursive(4, 40, 6, |inner| {
        (tag_strategy(true), prop::collection::vec(inner, 0..6))
            .prop_map(|(tag, children)| Tlv::Constructed { tag, children })
    })
}

fn command_strategy() -> impl Strategy<Value = Command> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..4),
            prop::collection::vec(any::<u8>(), 0..300)
        ],
        prop_oneof![
            Just(None),
            (1u32..=65_536).prop_map(Some),
            (1u32..=256).prop_map(Some)
        ],
    )
        .prop_map(|(cla, ins, p1, p2, data, ne)| Command::new(cla, ins, p1, p2, data, ne))
}

proptest! {
    #[test]
    fn tlv_round_trips(items in prop::collection::vec(tlv_strategy(), 0..4)) {
        let bytes = tlv::encode_all(&items).unwrap();
        prop_assert_eq!(bytes.len(), items.iter().map(Tlv::encoded_len).sum::<usize>());
        prop_assert_eq!(tlv::decode(&bytes).unwrap(), items);
    }

    #[test]
    fn tlv_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = tlv::decode(&bytes);
    }

    #[test]
    fn command_apdus_round_trip(cmd in command_strategy()) {
        let bytes = cmd.to_bytes().unwrap();
        prop_assert_eq!(bytes.len(), cmd.encoded_len());
        prop_assert_eq!(Command::parse(&bytes).unwrap(), cmd);
    }

    #[test]
    fn apdu_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(cmd) = Command::parse(&bytes) {
            // Extended forms of short lengths parse; the encoder writes the short form.
            let again = cmd.to_bytes().unwrap();
            prop_assert!(again.len() <= bytes.len());
            prop_assert_eq!(Command::parse(&again).unwrap(), cmd);
        }
    }

    #[test]
    fn wrap_then_unwrap_on_both_sides(
        alg in prop_oneof![Just(Algorithm::Tdes), Just(Algorithm::Aes128), Just(Algorithm::Aes256)],
        seed in prop::collection::vec(any::<u8>(), 16),
        rnd_ic in any::<[u8; 8]>(), rnd_ifd in any::<[u8; 8]>(),
        k_ifd in any::<[u8; 16]>(), k_ic in any::<[u8; 16]>(),
        cmds in prop::collection::vec(command_strategy(), 1..5),
        answer in prop::collection::vec(any::<u8>(), 0..240),
    ) {
        let keys = KeyPair::from_seed(alg, &seed);
        let (challenge, request) = Challenge::start(&keys, rnd_ic, rnd_ifd, k_ifd);
        let (reply, mut chip) = sm::chip_answer(&keys, rnd_ic, k_ic, &request).unwrap();
        let mut terminal = challenge.finish(&reply).unwrap();
        prop_assert_eq!(terminal.ssc(), chip.ssc());
        for cmd in &cmds {
            // CLA bits 4 and 3 announce secure messaging: a plain command has them clear.
            let cmd = &Command { cla: cmd.cla & !0x0C, ..cmd.clone() };
            let wire = terminal.wrap(cmd).unwrap();
            prop_assert_eq!(&chip.unwrap_command(&wire).unwrap(), cmd);
            let resp = Response { data: answer.clone(), sw: 0x9000 };
            let wire = chip.wrap_response(&resp).unwrap();
            prop_assert_eq!(terminal.unwrap(&wire).unwrap(), resp);
        }
    }

    #[test]
    fn any_flipped_bit_in_a_response_is_refused(
        seed in prop::collection::vec(any::<u8>(), 16),
        answer in prop::collection::vec(any::<u8>(), 0..100),
        flip in any::<prop::sample::Index>(), bit in 0u8..8,
    ) {
        let keys = KeyPair::from_seed(Algorithm::Aes128, &seed);
        let mut terminal = Session::new(&keys, &[0; 16]).unwrap();
        let mut chip = Session::new(&keys, &[0; 16]).unwrap();
        let cmd = Command::new(0, 0xB0, 0, 0, vec![], Some(100));
        chip.unwrap_command(&terminal.wrap(&cmd).unwrap()).unwrap();
        let mut wire = chip.wrap_response(&Response { data: answer, sw: 0x9000 }).unwrap();
        let i = flip.index(wire.len() - 2); // the plain trailer is not protected
        wire[i] ^= 1 << bit;
        prop_assert!(terminal.unwrap(&wire).is_err());
        prop_assert!(!terminal.is_open());
    }
}
