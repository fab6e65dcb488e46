//! ektpcore's Rust core: the bulk work of an E-KTP print bureau, as pure functions over plain
//! data. Nothing in this crate touches Python or does I/O; the PyO3 binding layer lives in
//! [`python`] behind the `python` feature so that `cargo test` needs no interpreter.

pub mod chip;
pub mod dedup;
pub mod dialect;
pub mod error;
pub mod keys;
pub mod ledger;
pub mod names;
pub mod nik;
pub mod plan;
pub mod raster;

#[cfg(feature = "python")]
mod python;

pub use error::EktpError;
