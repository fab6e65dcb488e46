//! The one error type of the core: every fallible core function returns `Result<_, EktpError>`,
//! so a failure carries its kind (and, for the decoders, its byte offset) to the caller instead
//! of a bare message. The binding layer maps each variant to its Python class of
//! `ektpcore/errors.py` in a single `From<EktpError> for PyErr` (see `python/mod.rs`); nothing
//! else constructs Python exceptions from core failures.

use std::fmt;

use crate::nik::NikError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EktpError {
    /// A single NIK failed validation. `masked` is the input with its middle hidden, so the
    /// message can be logged without leaking the birth date or serial.
    InvalidNik { masked: String, error: NikError },
    /// An argument that no element-wise error code can describe (a bad reference date, a
    /// malformed region code list, ...).
    InvalidArgument(String),
    /// Bytes from a chip or a card reader that do not parse (BER-TLV, an APDU, a
    /// secure-messaging response); `offset` is where they stop making sense.
    ChipDecode { what: String, offset: usize },
    /// A printer stream that does not parse (see [`crate::dialect`]); `offset` is the byte
    /// where it stops making sense, so a driver developer can look at exactly that byte.
    StreamDecode { message: String, offset: usize },
    /// A secure-messaging session refused a response or was used after it ended. The session
    /// is torn down when this is raised: its keys are gone and its counter is not trusted.
    SecureMessaging(String),
    /// Printing settings or panels that ask for panels the ribbon does not have (colour on a
    /// black ribbon, an overlay without an overlay panel).
    RibbonMismatch(String),
}

impl fmt::Display for EktpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EktpError::InvalidNik { masked, error } => {
                write!(f, "invalid NIK {masked}: {}", error.kind.message())?;
                if let Some(pos) = error.position {
                    write!(f, " (at position {pos})")?;
                }
                Ok(())
            }
            EktpError::InvalidArgument(msg)
            | EktpError::SecureMessaging(msg)
            | EktpError::RibbonMismatch(msg) => f.write_str(msg),
            EktpError::ChipDecode { what, offset } => write!(f, "{what} (at byte {offset})"),
            EktpError::StreamDecode { message, offset } => {
                write!(f, "at byte {offset}: {message}")
            }
        }
    }
}

impl std::error::Error for EktpError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nik::NikErrorKind;

    #[test]
    fn invalid_nik_message_names_reason_and_position_but_not_digits() {
        let err = EktpError::InvalidNik {
            masked: crate::nik::mask("3271014508990001"),
            error: NikError {
                kind: NikErrorKind::Day,
                position: Some(6),
            },
        };
        let text = err.to_string();
        assert_eq!(
            text,
            "invalid NIK 3271**********01: day of birth is outside 01-31 (men) and 41-71 (women) (at position 6)"
        );
        assert!(!text.contains("450899"));
    }

    #[test]
    fn decode_messages_name_the_byte_offset() {
        let chip = EktpError::ChipDecode {
            what: "a length field runs past the data".into(),
            offset: 3,
        };
        assert_eq!(
            chip.to_string(),
            "a length field runs past the data (at byte 3)"
        );
        let stream = EktpError::StreamDecode {
            message: "expected ESC".into(),
            offset: 4,
        };
        assert_eq!(stream.to_string(), "at byte 4: expected ESC");
    }

    #[test]
    fn argument_and_session_messages_are_the_message_alone() {
        let text = "region code \"327\" has 3 digits; expected 2, 4, 6 or more";
        assert_eq!(EktpError::InvalidArgument(text.into()).to_string(), text);
        assert_eq!(
            EktpError::SecureMessaging("the session is closed".into()).to_string(),
            "the session is closed"
        );
    }
}
