//! Deduplication of NIKs: exact keep-first dedup of large key columns ([`first_occurrences`])
//! and the sorted, persisted set of NIKs that already have a card ([`index`]).

mod exact;
pub mod index;
pub mod people;

pub use exact::{first_occurrences, INVALID_KEY};
