//! Any bytes into the chip-side decoders: BER-TLV, command APDUs, and both directions of a
//! secure-messaging session. Errors are fine, panics and hangs are bugs; what decodes
//! re-encodes to the same meaning (in the minimal length forms).
#![no_main]

use _ektpcore::chip::apdu::Command;
use _ektpcore::chip::sm::{Algorithm, KeyPair, Session};
use _ektpcore::chip::tlv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = tlv::decode(data) {
        let again = tlv::encode_all(&items).expect("decoded tags are valid");
        assert!(again.len() <= data.len());
        assert_eq!(tlv::decode(&again).expect("re-encoded data decodes"), items);
    }
    if let Ok(cmd) = Command::parse(data) {
        // The parser takes the extended form for any length; the encoder writes the short
        // one where it suffices, so the round trip holds on the meaning.
        let again = cmd.to_bytes().expect("parsed lengths are valid");
        assert!(again.len() <= data.len());
        assert_eq!(Command::parse(&again).expect("re-encoded APDU parses"), cmd);
    }
    for alg in [Algorithm::Tdes, Algorithm::Aes128] {
        let keys = KeyPair::from_seed(alg, b"fuzzing seed 16b");
        let ssc = vec![0u8; alg.block_size()];
        let mut terminal = Session::new(&keys, &ssc).expect("valid counter");
        if terminal.unwrap(data).is_err() {
            assert!(!terminal.is_open());
        }
        let mut chip = Session::new(&keys, &ssc).expect("valid counter");
        let _ = chip.unwrap_command(data);
    }
});
