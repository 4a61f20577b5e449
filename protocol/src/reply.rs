//! The typed reply every command produces, independent of the codec that
//! carries it. The binary codec sends it as tagged values; the RESP codec
//! maps it onto RESP2 or RESP3 types.

use bytes::Bytes;
use std::borrow::Cow;

use crate::error::ServerError;

#[derive(Clone, Debug)]
pub enum Reply {
    /// A short status line (`+OK`, `+PONG`).
    Simple(Cow<'static, str>),
    /// A binary-safe string.
    Bulk(Bytes),
    /// A short binary-safe string kept inside the reply, so a short stored
    /// value is answered without an allocation. Equal to a `Bulk` of the
    /// same bytes; the codecs send both alike.
    BulkInline(InlineBytes),
    /// A string value that happens to be stored as an integer; it is sent as
    /// a string (its decimal text) so GET on a counter needs no allocation.
    BulkInt(i64),
    /// An integer.
    Int(i64),
    /// A double (RESP3 `,`; RESP2 sends its text as a bulk string).
    Double(f64),
    /// The absent value (RESP2 `$-1`, RESP3 `_`).
    Nil,
    /// A boolean (RESP3 `#`; RESP2 sends 1 or 0).
    Bool(bool),
    /// An ordered list of replies.
    Array(Vec<Reply>),
    /// Key/value pairs (RESP3 `%`; RESP2 sends a flat array).
    Map(Vec<(Reply, Reply)>),
    /// An error with its stable code.
    Error(ServerError),
}

/// Up to [`InlineBytes::CAPACITY`] bytes stored in place (also the server's
/// inline string value).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InlineBytes {
    len: u8,
    bytes: [u8; InlineBytes::CAPACITY],
}

impl InlineBytes {
    /// As many bytes as the server keeps inline in a stored string value.
    pub const CAPACITY: usize = 38;

    /// `None` if `bytes` is longer than [`InlineBytes::CAPACITY`].
    pub fn new(bytes: &[u8]) -> Option<InlineBytes> {
        if bytes.len() > InlineBytes::CAPACITY {
            return None;
        }
        let mut inline = InlineBytes {
            len: bytes.len() as u8,
            bytes: [0; InlineBytes::CAPACITY],
        };
        inline.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(inline)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for InlineBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.as_bytes().escape_ascii())
    }
}

impl PartialEq for Reply {
    /// Structural, except that `Bulk` and `BulkInline` holding the same
    /// bytes are equal: they are the same reply on the wire.
    fn eq(&self, other: &Reply) -> bool {
        match (self, other) {
            (Reply::Simple(a), Reply::Simple(b)) => a == b,
            (Reply::Bulk(_) | Reply::BulkInline(_), Reply::Bulk(_) | Reply::BulkInline(_)) => {
                self.bulk_bytes() == other.bulk_bytes()
            }
            (Reply::BulkInt(a), Reply::BulkInt(b)) => a == b,
            (Reply::Int(a), Reply::Int(b)) => a == b,
            (Reply::Double(a), Reply::Double(b)) => a == b,
            (Reply::Nil, Reply::Nil) => true,
            (Reply::Bool(a), Reply::Bool(b)) => a == b,
            (Reply::Array(a), Reply::Array(b)) => a == b,
            (Reply::Map(a), Reply::Map(b)) => a == b,
            (Reply::Error(a), Reply::Error(b)) => a == b,
            _ => false,
        }
    }
}

impl Reply {
    pub const OK: Reply = Reply::Simple(Cow::Borrowed("OK"));

    /// The bytes of a `Bulk` or `BulkInline` reply.
    pub fn bulk_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(bytes) => Some(bytes),
            Reply::BulkInline(inline) => Some(inline.as_bytes()),
            _ => None,
        }
    }

    pub fn simple(text: &'static str) -> Reply {
        Reply::Simple(Cow::Borrowed(text))
    }

    pub fn bulk_static(text: &'static [u8]) -> Reply {
        Reply::Bulk(Bytes::from_static(text))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

impl From<ServerError> for Reply {
    fn from(error: ServerError) -> Reply {
        Reply::Error(error)
    }
}

impl<T: Into<Reply>> From<Result<T, ServerError>> for Reply {
    fn from(result: Result<T, ServerError>) -> Reply {
        match result {
            Ok(reply) => reply.into(),
            Err(error) => Reply::Error(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_bytes_hold_up_to_capacity_and_equal_bulk() {
        let fits = vec![b'x'; InlineBytes::CAPACITY];
        let inline = InlineBytes::new(&fits).expect("fits");
        assert_eq!(inline.as_bytes(), &fits[..]);
        assert!(InlineBytes::new(&[b'x'; InlineBytes::CAPACITY + 1]).is_none());
        assert_eq!(
            Reply::BulkInline(inline),
            Reply::Bulk(Bytes::from(fits.clone()))
        );
        assert_ne!(
            Reply::BulkInline(InlineBytes::new(b"a").expect("fits")),
            Reply::Bulk(Bytes::from_static(b"b"))
        );
        assert_ne!(
            Reply::BulkInline(InlineBytes::new(b"1").expect("fits")),
            Reply::Int(1)
        );
        // A reply is no bigger than a Bytes-backed one plus its tag.
        assert!(
            std::mem::size_of::<Reply>() <= 40,
            "{}",
            std::mem::size_of::<Reply>()
        );
    }

    #[test]
    fn both_codecs_send_inline_and_bulk_alike() {
        let inline = Reply::BulkInline(InlineBytes::new(b"seat-12").expect("fits"));
        let bulk = Reply::Bulk(Bytes::from_static(b"seat-12"));
        for version in [
            crate::resp::RespVersion::Resp2,
            crate::resp::RespVersion::Resp3,
        ] {
            let (mut a, mut b) = (bytes::BytesMut::new(), bytes::BytesMut::new());
            crate::resp::encode_reply(&inline, version, &mut a);
            crate::resp::encode_reply(&bulk, version, &mut b);
            assert_eq!(a, b);
        }
        let (mut a, mut b) = (bytes::BytesMut::new(), bytes::BytesMut::new());
        crate::binary::encode_reply(&mut a, 7, &inline);
        crate::binary::encode_reply(&mut b, 7, &bulk);
        assert_eq!(a, b);
    }
}
