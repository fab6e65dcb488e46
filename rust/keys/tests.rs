use super::*;

const ROOT: [u8; 32] = [7; 32];

fn ring() -> KeyRing {
    KeyRing::new(&ROOT, &[(1, &[1; 32]), (2, &[2; 32])], 2).unwrap()
}

#[test]
fn sealed_values_open_only_with_their_own_associated_data() {
    let r = ring();
    let sealed = r
        .seal(&[b"Siti Aminah", b""], &[b"row 1", b"row 2"])
        .unwrap();
    assert_eq!(sealed[0].len(), 11 + SEALED_OVERHEAD);
    assert_eq!(sealed_key_id(&sealed[0]), Some(2));
    let opened = r
        .open(&[&sealed[0], &sealed[1]], &[b"row 1", b"row 2"])
        .unwrap();
    assert_eq!(
        opened,
        vec![Some(b"Siti Aminah".to_vec()), Some(Vec::new())]
    );
    // Moved to another row, altered anywhere (header included), or cut: does not open.
    assert_eq!(r.open(&[&sealed[0]], &[b"row 2"]).unwrap(), vec![None]);
    for at in 0..sealed[0].len() {
        let mut bad = sealed[0].clone();
        bad[at] ^= 1;
        assert_eq!(
            r.open(&[&bad], &[b"row 1"]).unwrap(),
            vec![None],
            "byte {at}"
        );
    }
    assert_eq!(
        r.open(&[&sealed[0][..20]], &[b"row 1"]).unwrap(),
        vec![None]
    );
}

#[test]
fn the_same_value_seals_differently_each_time() {
    let r = ring();
    let a = r.seal(&[b"3271014508990001"], &[b""]).unwrap();
    let b = r.seal(&[b"3271014508990001"], &[b""]).unwrap();
    assert_ne!(a, b);
}

#[test]
fn values_sealed_under_an_older_key_still_open_and_another_root_opens_nothing() {
    let old = KeyRing::new(&ROOT, &[(1, &[1; 32])], 1).unwrap();
    let sealed = old.seal(&[b"x"], &[b"a"]).unwrap();
    assert_eq!(
        ring().open(&[&sealed[0]], &[b"a"]).unwrap(),
        vec![Some(b"x".to_vec())]
    );
    let stranger = KeyRing::new(&[8; 32], &[(1, &[9; 32])], 1).unwrap();
    assert_eq!(stranger.open(&[&sealed[0]], &[b"a"]).unwrap(), vec![None]);
    assert_ne!(stranger.fingerprint(), old.fingerprint());
    assert_eq!(ring().fingerprint(), old.fingerprint());
}

#[test]
fn the_blind_index_is_keyed_stable_positive_and_parallel_safe() {
    let niks: Vec<i64> = (0..10_000).map(|i| 3_271_014_508_990_001 + i).collect();
    let a = ring().blind(&niks);
    assert_eq!(a, ring().blind(&niks));
    assert!(a.iter().all(|&t| t > 0));
    let small = ring().blind(&niks[..10]);
    assert_eq!(small, a[..10]);
    let other = KeyRing::new(&[8; 32], &[(1, &[9; 32])], 1)
        .unwrap()
        .blind(&niks[..10]);
    assert_ne!(other, small);
    let mut unique = a.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), a.len());
}

#[test]
fn the_keyed_chain_differs_from_the_open_one_and_finds_the_first_edit() {
    let rows: Vec<Vec<u8>> = (0..20).map(|i| format!("row {i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
    let r = ring();
    let keyed = r.chain(&ledger::GENESIS, &refs);
    assert_ne!(keyed, ledger::chain(&ledger::GENESIS, &refs));
    assert_eq!(r.first_break(&ledger::GENESIS, &refs, &keyed), None);
    let mut edited = refs.clone();
    edited[7] = b"row 7, forged";
    assert_eq!(r.first_break(&ledger::GENESIS, &edited, &keyed), Some(7));
    // Recomputed without the key (the open chain), the forgery does not fit.
    let forged = ledger::chain(&ledger::GENESIS, &edited);
    assert_eq!(r.first_break(&ledger::GENESIS, &edited, &forged), Some(0));
}

#[test]
fn checkpoints_verify_with_the_public_key_only() {
    let r = ring();
    let signature = r.sign(b"history 120 abcd");
    assert!(verify_signature(
        &r.verify_key(),
        b"history 120 abcd",
        &signature
    ));
    assert!(!verify_signature(
        &r.verify_key(),
        b"history 119 abcd",
        &signature
    ));
    let other = KeyRing::new(&[8; 32], &[(1, &[9; 32])], 1).unwrap();
    assert!(!verify_signature(
        &other.verify_key(),
        b"history 120 abcd",
        &signature
    ));
}

#[test]
fn bad_key_sets_are_refused() {
    assert!(KeyRing::new(&[1; 16], &[(1, &[1; 32])], 1).is_err());
    assert!(KeyRing::new(&ROOT, &[(1, &[1; 31])], 1).is_err());
    assert!(KeyRing::new(&ROOT, &[(1, &[1; 32]), (1, &[2; 32])], 1).is_err());
    assert!(KeyRing::new(&ROOT, &[(1, &[1; 32])], 3).is_err());
}

#[test]
fn a_ring_bound_to_one_ledger_opens_nothing_of_another_ledger_sealed_with_the_same_file() {
    let file = ring();
    let a = file.bind(b"ledger a", true).unwrap();
    let b = file.bind(b"ledger b", true).unwrap();
    let sealed = a.seal(&[b"Siti"], &[b"row 1"]).unwrap();
    assert_eq!(sealed_format(&sealed[0]), Some(BOUND_VERSION));
    assert_eq!(sealed_key_id(&sealed[0]), Some(2));
    assert_eq!(
        a.open(&[&sealed[0]], &[b"row 1"]).unwrap(),
        vec![Some(b"Siti".to_vec())]
    );
    assert_eq!(b.open(&[&sealed[0]], &[b"row 1"]).unwrap(), vec![None]);
    assert_eq!(file.open(&[&sealed[0]], &[b"row 1"]).unwrap(), vec![None]);
    // Every working key differs: index, chain, signing key and fingerprint.
    assert_ne!(a.blind(&[3271014508990001]), b.blind(&[3271014508990001]));
    assert_ne!(
        a.blind(&[3271014508990001]),
        file.blind(&[3271014508990001])
    );
    assert_ne!(a.chain(&[0; 32], &[b"x"]), b.chain(&[0; 32], &[b"x"]));
    assert_ne!(a.verify_key(), b.verify_key());
    assert_ne!(a.fingerprint(), b.fingerprint());
    assert_ne!(a.fingerprint(), file.fingerprint());
    // The same ledger's ring, derived again, is the same ring.
    let again = file.bind(b"ledger a", true).unwrap();
    assert_eq!(again.fingerprint(), a.fingerprint());
    assert_eq!(
        again.blind(&[3271014508990001]),
        a.blind(&[3271014508990001])
    );
    assert!(a.bind(b"ledger a", true).is_err());
    // A format 1 value (another ledger's, sealed before binding) opens in no whole ring.
    let old = file.seal(&[b"x"], &[b"row 1"]).unwrap();
    assert_eq!(a.open(&[&old[0]], &[b"row 1"]).unwrap(), vec![None]);
}

#[test]
fn a_ring_bound_in_its_data_keys_only_keeps_index_and_chain_and_opens_format_1() {
    let file = ring();
    let old = file.seal(&[b"x"], &[b"a"]).unwrap();
    assert_eq!(sealed_format(&old[0]), Some(SEALED_VERSION));
    let a = file.bind(b"ledger a", false).unwrap();
    assert_eq!(
        a.open(&[&old[0]], &[b"a"]).unwrap(),
        vec![Some(b"x".to_vec())]
    );
    assert_eq!(
        a.blind(&[3271014508990001]),
        file.blind(&[3271014508990001])
    );
    assert_eq!(a.fingerprint(), file.fingerprint());
    assert_eq!(a.verify_key(), file.verify_key());
    let new = a.seal(&[b"y"], &[b"a"]).unwrap();
    let b = file.bind(b"ledger b", false).unwrap();
    assert_eq!(b.open(&[&new[0]], &[b"a"]).unwrap(), vec![None]);
}
