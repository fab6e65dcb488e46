//! Any bytes into the Evolis decoder and the prefix parser: errors are fine, panics and hangs
//! are bugs. Encoded streams round-trip when they decode.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = _ektpcore::dialect::evolis::decode(data);
    if let Ok((commands, used)) = _ektpcore::dialect::evolis::parse_prefix(data) {
        assert!(used <= data.len());
        assert!(commands.iter().all(|c| c.offset < used.max(1)));
    }
});
