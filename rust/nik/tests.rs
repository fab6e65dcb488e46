use proptest::prelude::*;

use super::*;

fn rules() -> Rules<'static> {
    Rules::default()
}

fn kind(s: &str) -> Option<NikErrorKind> {
    rules().parse_utf8(s.as_bytes()).err().map(|e| e.kind)
}

#[test]
fn a_valid_nik_parses_to_its_number() {
    assert_eq!(
        rules().parse_utf8(b"3271014508990001"),
        Ok(3_271_014_508_990_001)
    );
    assert_eq!(
        rules().parse_bytes(b"3271014508990001"),
        Ok(3_271_014_508_990_001)
    );
    assert_eq!(
        rules().parse_int(3_271_014_508_990_001),
        Ok(3_271_014_508_990_001)
    );
}

#[test]
fn each_rule_has_its_own_reason_and_position() {
    use NikErrorKind as K;
    let cases: [(&str, K, Option<u8>); 16] = [
        ("327101450899000", K::Length, None),
        ("32710145089900011", K::Length, None),
        ("3271-14508990001", K::NonDigit, Some(4)),
        (" 271014508990001", K::NonDigit, Some(0)),
        ("327101450899000\u{0661}", K::NonDigit, Some(15)),
        ("\u{FF13}271014508990001", K::NonDigit, Some(0)),
        ("2071014508990001", K::Province, Some(0)),
        ("3200014508990001", K::RegencyZero, Some(2)),
        ("3271004508990001", K::DistrictZero, Some(4)),
        ("3271013508990001", K::Day, Some(6)),
        ("3271017208990001", K::Day, Some(6)),
        ("3271010513990001", K::Month, Some(8)),
        ("3271010517990001", K::Month, Some(8)),
        ("3271010500990001", K::Month, Some(8)),
        ("3271013104990001", K::Date, Some(6)),
        ("3271010508990000", K::SerialZero, Some(12)),
    ];
    for (text, k, pos) in cases {
        assert_eq!(
            rules().parse_utf8(text.as_bytes()),
            Err(NikError {
                kind: k,
                position: pos
            }),
            "{text}"
        );
    }
}

#[test]
fn leap_day_without_century_accepts_either_candidate() {
    assert_eq!(kind("3271012902000001"), None); // 2000 is a leap year, 1900 is not
    assert_eq!(kind("3271012902040001"), None);
    assert_eq!(kind("3271012902010001"), Some(NikErrorKind::Date));
    assert_eq!(kind("3271016902010001"), Some(NikErrorKind::Date));
}

#[test]
fn leap_day_with_reference_uses_the_resolved_year() {
    let at = |y, m, d| Rules {
        reference: Some(Reference::from_date(
            NaiveDate::from_ymd_opt(y, m, d).unwrap(),
        )),
        regions: None,
    };
    // Resolved against 2026 the year 00 is 2000 (leap); against 1999 it is 1900 (not leap).
    assert!(at(2026, 1, 1).parse_utf8(b"3271012902000001").is_ok());
    assert_eq!(
        at(1999, 12, 31)
            .parse_utf8(b"3271012902000001")
            .unwrap_err()
            .kind,
        NikErrorKind::Date
    );
}

#[test]
fn century_resolution() {
    let r = Reference::from_date(NaiveDate::from_ymd_opt(2026, 11, 28).unwrap());
    assert_eq!(r.resolve_year(99, 1, 1), 1999);
    assert_eq!(r.resolve_year(26, 11, 28), 2026);
    assert_eq!(r.resolve_year(26, 11, 29), 1926);
    assert_eq!(r.resolve_year(0, 1, 1), 2000);
    assert_eq!(
        Reference::from_unix_days(0),
        Some(Reference {
            year: 1970,
            month: 1,
            day: 1
        })
    );
    assert_eq!(civil_from_unix_days(-1), Some((1969, 12, 31)));
}

#[test]
fn integers_are_read_with_leading_zeros() {
    assert_eq!(
        rules().parse_int(-5).unwrap_err(),
        NikError::at(NikErrorKind::NonDigit, 0)
    );
    assert_eq!(
        rules().parse_int(NIK_LIMIT as i64).unwrap_err().kind,
        NikErrorKind::Length
    );
    // 0 is 0000000000000000: province 00.
    assert_eq!(
        rules().parse_int(0).unwrap_err().kind,
        NikErrorKind::Province
    );
}

#[test]
fn region_table_is_checked_after_the_region_syntax() {
    let set = RegionSet::from_codes(["327101"]).unwrap();
    let r = Rules {
        reference: None,
        regions: Some(&set),
    };
    assert!(r.parse_utf8(b"3271014508990001").is_ok());
    assert_eq!(
        r.parse_utf8(b"3271024508990001").unwrap_err(),
        NikError::at(NikErrorKind::RegionUnknown, 4)
    );
    assert_eq!(
        r.parse_utf8(b"3301014508990001").unwrap_err(),
        NikError::at(NikErrorKind::RegionUnknown, 0)
    );
    // Old Jayawijaya (91.02, now 95.01) is accepted as historical.
    assert!(r.parse_utf8(b"9102034508990001").is_ok());
}

#[test]
fn masking_keeps_only_the_ends() {
    assert_eq!(mask("3271014508990001"), "3271**********01");
    assert_eq!(mask("1234567"), "*******");
    assert_eq!(mask("12345678"), "1234**78");
    assert_eq!(
        mask("３２７１０１４５０８９９０００１"),
        "３２７１**********０１"
    );
}

#[test]
fn error_codes_are_stable_and_distinct() {
    for (i, k) in NikErrorKind::ALL.iter().enumerate() {
        assert_eq!(k.code() as usize, i + 1);
        assert_eq!(NikErrorKind::from_code(k.code()), Some(*k));
    }
    assert_eq!(NikErrorKind::from_code(0), None);
}

fn valid_parts() -> impl Strategy<Value = (u32, i32, u8, u8, Sex, u16)> {
    (
        prop::sample::select(PROVINCES.iter().map(|p| p.0).collect::<Vec<_>>()),
        1u8..=99,
        1u8..=99,
        1900i32..=2099,
        1u8..=12,
        1u8..=31,
        prop::bool::ANY,
        1u16..=9999,
    )
        .prop_filter_map("real date", |(p, k, c, y, m, d, female, s)| {
            unix_days(y, m, d)?;
            let sex = if female { Sex::Female } else { Sex::Male };
            Some((
                p as u32 * 10_000 + k as u32 * 100 + c as u32,
                y,
                m,
                d,
                sex,
                s,
            ))
        })
}

/// Both fast paths and the ordered checks must agree: a fast path vouches only for valid
/// NIKs, and for every valid NIK except 29 February and retired regions. This walks the day
/// and month fields through all 100 x 100 values, for both sexes and leap and common years.
#[test]
fn fast_paths_agree_with_ordered_checks_on_every_date_field() {
    let set = RegionSet::from_codes(["327101"]).unwrap();
    for regions in [None, Some(&set)] {
        let r = Rules {
            reference: None,
            regions,
        };
        for (province, district) in [(11u8, 1u8), (20, 1), (32, 1), (32, 2), (91, 3)] {
            for day in 0..100u8 {
                for month in 0..100u8 {
                    for year in [0u8, 1, 4] {
                        let text =
                            format!("{province:02}71{district:02}{day:02}{month:02}{year:02}0001");
                        assert_fast_paths_agree(&r, text.as_bytes().try_into().unwrap());
                    }
                }
            }
        }
    }
}

fn assert_fast_paths_agree(r: &Rules<'_>, b: &[u8; 16]) {
    let fast = r.parse16_fast(b);
    assert_eq!(fast, r.parse16_fast_swar(b), "{b:?}");
    let ordered = r.parse16_in_order(b);
    let leap_day = b[8..10] == *b"02" && matches!(&b[6..8], b"29" | b"69");
    let retired = r.regions.is_some()
        && retired_regency(
            std::str::from_utf8(&b[..4])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        )
        .is_some();
    match fast {
        Some(v) => assert_eq!(ordered, Ok(v), "{b:?}"),
        None => assert!(ordered.is_err() || leap_day || retired, "{b:?}"),
    }
    assert_eq!(r.parse16(b), ordered);
}

proptest! {
    #[test]
    fn compose_then_parse_round_trips((region, y, m, d, sex, serial) in valid_parts()) {
        let v = compose(region, y, m, d, sex, serial).unwrap();
        let text = format!("{v:016}");
        prop_assert_eq!(rules().parse_utf8(text.as_bytes()), Ok(v));
        prop_assert_eq!(rules().parse_int(v as i64), Ok(v));
        let f = NikFields::from_value(v);
        prop_assert_eq!(f.region_code(), region);
        prop_assert_eq!((f.month, f.birth_day(), f.sex(), f.serial), (m, d, sex, serial));
        prop_assert_eq!(f.year as i32, y % 100);
    }

    #[test]
    fn byte_int_and_text_paths_agree(s in "[0-9]{16}") {
        let v: i64 = s.parse().unwrap();
        let by_text = rules().parse_utf8(s.as_bytes());
        prop_assert_eq!(by_text, rules().parse_int(v));
        prop_assert_eq!(by_text, rules().parse_bytes(s.as_bytes()));
    }

    #[test]
    fn fast_paths_agree_on_near_niks(s in "[0-9]{16}|[0-9 O\u{0}\u{ff}/:]{16}|[0-3][0-9]{3}[0-9]{2}[0-7][0-9][01][0-9]{7}") {
        let b: [u8; 16] = s.bytes().chain(std::iter::repeat(b'0')).take(16).collect::<Vec<_>>().try_into().unwrap();
        assert_fast_paths_agree(&rules(), &b);
    }

    #[test]
    fn any_text_never_panics(s in "\\PC{0,20}") {
        let _ = rules().parse_utf8(s.as_bytes());
        let _ = mask(&s);
    }
}

#[test]
fn prepared_integers_match_parse_int() {
    for v in [
        -1i64,
        0,
        7,
        3_271_014_508_990_001,
        NIK_LIMIT as i64,
        i64::MAX,
        i64::MIN,
    ] {
        let via_text = prepare_int(v).and_then(|b| rules().parse16(&b));
        assert_eq!(via_text, rules().parse_int(v), "{v}");
    }
}
