//! Any bytes into the Magicard decoder and the prefix parser: errors are fine, panics and
//! hangs are bugs. What decodes re-encodes to the same bytes; a prefix gives back whole pages.
#![no_main]

use _ektpcore::dialect::magicard::{self, Card, JobSettings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(job) = magicard::decode(data) {
        let settings = JobSettings {
            ribbon: job.ribbon.clone().unwrap_or_default(),
        };
        let mut again = Vec::new();
        for c in &job.cards {
            let card = Card {
                front: &c.front,
                back: c.back.as_ref(),
            };
            magicard::encode_card(&card, &settings, &mut again).expect("decoded cards encode");
        }
        // Simple commands between pages are not cards; only a stream of pages re-encodes whole.
        if job.commands.iter().all(|c| matches!(c.name.as_str(), "JOB" | "B" | "G" | "R" | "K" | "END")) {
            assert_eq!(again, data);
        }
    }
    if let Ok((commands, used)) = magicard::parse_prefix(data) {
        assert!(used <= data.len());
        assert!(commands.iter().all(|c| c.offset < used.max(1)));
    }
});
