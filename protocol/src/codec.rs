//! What both decoders share: the outcome of one decode attempt
//! ([`Decoded`]) and the limits they enforce ([`Limits`]).

use crate::error::ServerError;

/// The outcome of trying to decode one frame from a buffer.
#[derive(Debug, PartialEq)]
pub enum Decoded<T> {
    /// A whole frame was decoded and removed from the buffer.
    Frame(T),
    /// The buffer holds only part of a frame; read more bytes.
    Incomplete,
    /// The bytes can never become a valid frame; reply with the error and
    /// close the connection.
    Invalid(ServerError),
}

/// Decoder limits, taken from the server configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame (binary) or request (RESP) in bytes.
    pub frame_bytes_max: usize,
    /// Most arguments in one request, the command name included.
    pub args_max: usize,
    /// Longest inline (telnet-style) RESP command line in bytes.
    pub inline_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            frame_bytes_max: 8 * 1024 * 1024,
            args_max: 65_536,
            inline_bytes_max: 64 * 1024,
        }
    }
}
