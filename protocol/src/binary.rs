//! The binary protocol v1 codec (see `SPEC.md`): length-prefixed frames with
//! a magic byte, a request id echoed in the reply, typed arguments and typed
//! replies with numbered errors.
//!
//! Layout of every frame (all integers big-endian):
//!
//! ```text
//! 0  u8   magic 0xD5
//! 1  u8   version 1
//! 2  u8   kind: 1 request, 2 reply
//! 3  u8   flags: bit 0 = idempotency key present (requests only)
//! 4  u32  body length (bytes after this 16-byte header)
//! 8  u64  request id
//! 16 body
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::args::{Arg, ArgList};
use crate::codec::{Decoded, Limits};
use crate::error::{ErrorCode, ServerError};
use crate::reply::Reply;

pub const MAGIC: u8 = 0xD5;
pub const VERSION: u8 = 1;
pub const KIND_REQUEST: u8 = 1;
pub const KIND_REPLY: u8 = 2;
pub const FLAG_IDEMPOTENCY_KEY: u8 = 1;
pub const HEADER_BYTES: usize = 16;
/// Longest idempotency key a frame may carry.
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 64;
/// Deepest nesting of arrays and maps a reply decoder accepts.
pub const REPLY_DEPTH_MAX: usize = 32;

pub const ARG_BYTES: u8 = 0x01;
pub const ARG_INT: u8 = 0x02;
pub const ARG_DOUBLE: u8 = 0x03;

pub const VALUE_NIL: u8 = 0x00;
pub const VALUE_SIMPLE: u8 = 0x01;
pub const VALUE_BULK: u8 = 0x02;
pub const VALUE_INT: u8 = 0x03;
pub const VALUE_DOUBLE: u8 = 0x04;
pub const VALUE_BOOL: u8 = 0x05;
pub const VALUE_ARRAY: u8 = 0x06;
pub const VALUE_MAP: u8 = 0x07;
pub const VALUE_ERROR: u8 = 0x08;

/// The header fields of a decoded request frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub request_id: u64,
    pub idempotency_key: Option<Bytes>,
}

/// Reads the fixed header, if complete, and checks magic, version, kind and
/// size. Returns the request id and body length.
fn read_header(buf: &[u8], kind: u8, limits: &Limits) -> Decoded<(u8, u64, usize)> {
    if buf.is_empty() {
        return Decoded::Incomplete;
    }
    if buf[0] != MAGIC {
        return Decoded::Invalid(ServerError::protocol(format!(
            "bad magic byte 0x{:02X} (expected 0x{MAGIC:02X})",
            buf[0]
        )));
    }
    if buf.len() < HEADER_BYTES {
        return Decoded::Incomplete;
    }
    if buf[1] != VERSION {
        return Decoded::Invalid(ServerError::protocol(format!(
            "unsupported protocol version {} (this server speaks {VERSION})",
            buf[1]
        )));
    }
    if buf[2] != kind {
        return Decoded::Invalid(ServerError::protocol(format!(
            "unexpected frame kind {} (expected {kind})",
            buf[2]
        )));
    }
    let flags = buf[3];
    let body = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    let mut id = [0u8; 8];
    id.copy_from_slice(&buf[8..16]);
    let request_id = u64::from_be_bytes(id);
    if body > limits.frame_bytes_max.saturating_sub(HEADER_BYTES) {
        return Decoded::Invalid(ServerError::protocol(format!(
            "frame of {} bytes is larger than frame_bytes_max ({} bytes)",
            body + HEADER_BYTES,
            limits.frame_bytes_max
        )));
    }
    Decoded::Frame((flags, request_id, body))
}

/// Splits one whole frame of `kind` off the front of `buf` once it is
/// buffered: its flags (only `allowed_flags` may be set), request id and
/// body.
fn take_frame(
    buf: &mut BytesMut,
    kind: u8,
    allowed_flags: u8,
    limits: &Limits,
) -> Decoded<(u8, u64, Bytes)> {
    let (flags, request_id, body) = match read_header(buf, kind, limits) {
        Decoded::Frame(header) => header,
        Decoded::Incomplete => return Decoded::Incomplete,
        Decoded::Invalid(error) => return Decoded::Invalid(error),
    };
    if flags & !allowed_flags != 0 {
        return Decoded::Invalid(ServerError::protocol(format!(
            "unknown flags 0x{flags:02X}"
        )));
    }
    // Nothing is reserved for the body a header announces: the buffer grows
    // only with bytes that arrived, so a client that sends headers alone
    // holds no more memory than it sent (the input limits count bytes).
    if buf.len() < HEADER_BYTES + body {
        return Decoded::Incomplete;
    }
    buf.advance(HEADER_BYTES);
    Decoded::Frame((flags, request_id, buf.split_to(body).freeze()))
}

/// The request id of a frame whose header is buffered, for error replies to
/// a frame that failed to decode.
pub fn peek_request_id(buf: &[u8]) -> u64 {
    if buf.len() >= HEADER_BYTES && buf[0] == MAGIC {
        let mut id = [0u8; 8];
        id.copy_from_slice(&buf[8..16]);
        u64::from_be_bytes(id)
    } else {
        0
    }
}

/// Decodes one request frame from the front of `buf` into `args` (cleared
/// first). On `Frame`, the frame is removed from `buf`; on `Invalid` the
/// connection must be closed after the error reply.
pub fn decode_request(
    buf: &mut BytesMut,
    limits: &Limits,
    args: &mut ArgList,
) -> Decoded<RequestHeader> {
    args.clear();
    let (flags, request_id, body) =
        match take_frame(buf, KIND_REQUEST, FLAG_IDEMPOTENCY_KEY, limits) {
            Decoded::Frame(frame) => frame,
            Decoded::Incomplete => return Decoded::Incomplete,
            Decoded::Invalid(error) => return Decoded::Invalid(error),
        };
    match decode_request_body(&body, flags, limits, args) {
        Ok(idempotency_key) => {
            let idempotency_key = idempotency_key.map(|(start, end)| body.slice(start..end));
            args.finish(body);
            Decoded::Frame(RequestHeader {
                request_id,
                idempotency_key,
            })
        }
        Err(error) => {
            args.clear();
            Decoded::Invalid(error)
        }
    }
}

fn need(cursor: &[u8], bytes: usize, what: &str) -> Result<(), ServerError> {
    if cursor.len() < bytes {
        Err(ServerError::protocol(format!(
            "frame body ends inside {what}"
        )))
    } else {
        Ok(())
    }
}

/// Reads a request body into `args` as spans of `body`; returns where the
/// idempotency key lies, if there is one.
fn decode_request_body(
    body: &[u8],
    flags: u8,
    limits: &Limits,
    args: &mut ArgList,
) -> Result<Option<(usize, usize)>, ServerError> {
    let mut cursor = body;
    // Where `cursor` starts within `body`.
    let at = |cursor: &[u8]| body.len() - cursor.len();
    let mut idempotency_key = None;
    if flags & FLAG_IDEMPOTENCY_KEY != 0 {
        need(cursor, 1, "the idempotency key length")?;
        let length = cursor.get_u8() as usize;
        if length == 0 || length > IDEMPOTENCY_KEY_BYTES_MAX {
            return Err(ServerError::protocol(format!(
                "idempotency key of {length} bytes (must be 1..={IDEMPOTENCY_KEY_BYTES_MAX})"
            )));
        }
        need(cursor, length, "the idempotency key")?;
        let start = at(cursor);
        idempotency_key = Some((start, start + length));
        cursor.advance(length);
    }
    need(cursor, 4, "the argument count")?;
    let count = cursor.get_u32() as usize;
    if count == 0 {
        return Err(ServerError::protocol("request without a command name"));
    }
    if count > limits.args_max {
        return Err(ServerError::protocol(format!(
            "too many arguments ({count}; args_max is {})",
            limits.args_max
        )));
    }
    for index in 0..count {
        need(cursor, 1, "an argument tag")?;
        let tag = cursor.get_u8();
        match tag {
            ARG_BYTES => {
                need(cursor, 4, "a string length")?;
                let length = cursor.get_u32() as usize;
                need(cursor, length, "a string argument")?;
                let start = at(cursor);
                args.push_span(start, start + length);
                cursor.advance(length);
            }
            ARG_INT => {
                need(cursor, 8, "an integer argument")?;
                args.push_int(cursor.get_i64());
            }
            ARG_DOUBLE => {
                need(cursor, 8, "a double argument")?;
                let value = cursor.get_f64();
                if value.is_nan() {
                    return Err(ServerError::protocol(format!("argument {index} is NaN")));
                }
                args.push_double(value);
            }
            tag => {
                return Err(ServerError::protocol(format!(
                    "unknown argument tag 0x{tag:02X} at argument {index}"
                )))
            }
        }
        if index == 0 && tag != ARG_BYTES {
            return Err(ServerError::protocol(
                "the command name must be a string argument",
            ));
        }
    }
    if cursor.has_remaining() {
        return Err(ServerError::protocol(format!(
            "{} bytes left over after the last argument",
            cursor.remaining()
        )));
    }
    Ok(idempotency_key)
}

/// Writes a header with a placeholder length; returns where the frame starts.
fn begin_frame(out: &mut BytesMut, kind: u8, flags: u8, request_id: u64) -> usize {
    let start = out.len();
    out.put_u8(MAGIC);
    out.put_u8(VERSION);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(0);
    out.put_u64(request_id);
    start
}

fn finish_frame(out: &mut BytesMut, start: usize) {
    let body = (out.len() - start - HEADER_BYTES) as u32;
    out[start + 4..start + 8].copy_from_slice(&body.to_be_bytes());
}

/// Encodes a request frame (used by the client).
pub fn encode_request(
    out: &mut BytesMut,
    request_id: u64,
    idempotency_key: Option<&[u8]>,
    args: &[Arg],
) {
    let flags = if idempotency_key.is_some() {
        FLAG_IDEMPOTENCY_KEY
    } else {
        0
    };
    let start = begin_frame(out, KIND_REQUEST, flags, request_id);
    if let Some(key) = idempotency_key {
        assert!(
            !key.is_empty() && key.len() <= IDEMPOTENCY_KEY_BYTES_MAX,
            "idempotency key length is checked by the caller"
        );
        out.put_u8(key.len() as u8);
        out.put_slice(key);
    }
    out.put_u32(args.len() as u32);
    for arg in args {
        match arg {
            Arg::Bytes(bytes) => {
                out.put_u8(ARG_BYTES);
                out.put_u32(bytes.len() as u32);
                out.put_slice(bytes);
            }
            Arg::Int(value) => {
                out.put_u8(ARG_INT);
                out.put_i64(*value);
            }
            Arg::Double(value) => {
                out.put_u8(ARG_DOUBLE);
                out.put_f64(*value);
            }
        }
    }
    finish_frame(out, start);
}

/// Encodes a reply frame for `request_id`.
pub fn encode_reply(out: &mut BytesMut, request_id: u64, reply: &Reply) {
    let start = begin_frame(out, KIND_REPLY, 0, request_id);
    encode_value(out, reply);
    finish_frame(out, start);
}

fn encode_value(out: &mut BytesMut, reply: &Reply) {
    match reply {
        Reply::Nil | Reply::NilArray => out.put_u8(VALUE_NIL),
        Reply::Simple(text) => {
            out.put_u8(VALUE_SIMPLE);
            out.put_u32(text.len() as u32);
            out.put_slice(text.as_bytes());
        }
        Reply::Bulk(bytes) => {
            out.put_u8(VALUE_BULK);
            out.put_u32(bytes.len() as u32);
            out.put_slice(bytes);
        }
        Reply::BulkInline(inline) => {
            out.put_u8(VALUE_BULK);
            out.put_u32(inline.as_bytes().len() as u32);
            out.put_slice(inline.as_bytes());
        }
        Reply::BulkInt(value) => {
            let mut buffer = itoa::Buffer::new();
            let text = buffer.format(*value);
            out.put_u8(VALUE_BULK);
            out.put_u32(text.len() as u32);
            out.put_slice(text.as_bytes());
        }
        Reply::Int(value) => {
            out.put_u8(VALUE_INT);
            out.put_i64(*value);
        }
        Reply::Double(value) => {
            out.put_u8(VALUE_DOUBLE);
            out.put_f64(*value);
        }
        Reply::Bool(value) => {
            out.put_u8(VALUE_BOOL);
            out.put_u8(u8::from(*value));
        }
        // The binary protocol has no set type: a set is an array.
        Reply::Array(items) | Reply::Set(items) => {
            out.put_u8(VALUE_ARRAY);
            out.put_u32(items.len() as u32);
            for item in items {
                encode_value(out, item);
            }
        }
        Reply::Tuple(tuple) => {
            out.put_u8(VALUE_ARRAY);
            out.put_u32(tuple.len() as u32);
            tuple.for_each_item(|item| encode_value(out, item));
        }
        Reply::Ints(ints) => {
            out.put_u8(VALUE_ARRAY);
            out.put_u32(ints.as_slice().len() as u32);
            for &value in ints.as_slice() {
                out.put_u8(VALUE_INT);
                out.put_i64(i64::from(value));
            }
        }
        Reply::Map(pairs) => {
            out.put_u8(VALUE_MAP);
            out.put_u32(pairs.len() as u32);
            for (key, value) in pairs {
                encode_value(out, key);
                encode_value(out, value);
            }
        }
        // Flat, as RESP2 sends it: the binary shape of `ZRANGE ...
        // WITHSCORES` has always been `member, score, ...`.
        Reply::Pairs(pairs) => {
            out.put_u8(VALUE_ARRAY);
            out.put_u32((2 * pairs.len()) as u32);
            for (key, value) in pairs {
                encode_value(out, key);
                encode_value(out, value);
            }
        }
        Reply::Error(error) => {
            out.put_u8(VALUE_ERROR);
            out.put_u16(error.code.as_u16());
            out.put_u32(error.message.len() as u32);
            out.put_slice(error.message.as_bytes());
        }
    }
}

/// Decodes one reply frame from the front of `buf` (used by the client).
pub fn decode_reply(buf: &mut BytesMut, limits: &Limits) -> Decoded<(u64, Reply)> {
    let (_, request_id, mut cursor) = match take_frame(buf, KIND_REPLY, 0, limits) {
        Decoded::Frame(frame) => frame,
        Decoded::Incomplete => return Decoded::Incomplete,
        Decoded::Invalid(error) => return Decoded::Invalid(error),
    };
    let reply = match decode_value(&mut cursor, 0) {
        Ok(reply) => reply,
        Err(error) => return Decoded::Invalid(error),
    };
    if cursor.has_remaining() {
        return Decoded::Invalid(ServerError::protocol(
            "bytes left over after the reply value",
        ));
    }
    Decoded::Frame((request_id, reply))
}

fn decode_string(cursor: &mut Bytes, what: &str) -> Result<Bytes, ServerError> {
    need(cursor, 4, what)?;
    let length = cursor.get_u32() as usize;
    need(cursor, length, what)?;
    Ok(cursor.split_to(length))
}

fn decode_value(cursor: &mut Bytes, depth: usize) -> Result<Reply, ServerError> {
    if depth > REPLY_DEPTH_MAX {
        return Err(ServerError::protocol("reply nested too deeply"));
    }
    need(cursor, 1, "a value tag")?;
    let reply = match cursor.get_u8() {
        VALUE_NIL => Reply::Nil,
        VALUE_SIMPLE => {
            let text = decode_string(cursor, "a status string")?;
            let text = String::from_utf8(text.to_vec())
                .map_err(|_| ServerError::protocol("status string is not UTF-8"))?;
            Reply::Simple(text.into())
        }
        VALUE_BULK => Reply::Bulk(decode_string(cursor, "a string value")?),
        VALUE_INT => {
            need(cursor, 8, "an integer value")?;
            Reply::Int(cursor.get_i64())
        }
        VALUE_DOUBLE => {
            need(cursor, 8, "a double value")?;
            Reply::Double(cursor.get_f64())
        }
        VALUE_BOOL => {
            need(cursor, 1, "a boolean value")?;
            match cursor.get_u8() {
                0 => Reply::Bool(false),
                1 => Reply::Bool(true),
                other => return Err(ServerError::protocol(format!("boolean byte {other}"))),
            }
        }
        VALUE_ARRAY => {
            need(cursor, 4, "an array length")?;
            let count = cursor.get_u32() as usize;
            // Each element takes at least one byte, which bounds the
            // allocation by the frame size.
            need(cursor, count, "an array")?;
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(decode_value(cursor, depth + 1)?);
            }
            Reply::Array(items)
        }
        VALUE_MAP => {
            need(cursor, 4, "a map length")?;
            let count = cursor.get_u32() as usize;
            need(cursor, count.saturating_mul(2), "a map")?;
            let mut pairs = Vec::with_capacity(count);
            for _ in 0..count {
                let key = decode_value(cursor, depth + 1)?;
                let value = decode_value(cursor, depth + 1)?;
                pairs.push((key, value));
            }
            Reply::Map(pairs)
        }
        VALUE_ERROR => {
            need(cursor, 2, "an error code")?;
            let code = cursor.get_u16();
            let message = decode_string(cursor, "an error message")?;
            let message = String::from_utf8(message.to_vec())
                .map_err(|_| ServerError::protocol("error message is not UTF-8"))?;
            // A code from a newer server is shown as generic, message intact.
            let code = ErrorCode::from_u16(code).unwrap_or(ErrorCode::Generic);
            Reply::Error(ServerError::new(code, message))
        }
        tag => {
            return Err(ServerError::protocol(format!(
                "unknown value tag 0x{tag:02X}"
            )))
        }
    };
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};

    use crate::reply::{InlineBytes, Reply};
    use crate::resp::{self, RespVersion};

    /// The compact replies (inline bytes, inline integers, tuples) reach
    /// the wire as the same bytes as the plain reply they stand for, in
    /// both RESP versions and in the binary codec.
    #[test]
    fn compact_replies_encode_like_what_they_stand_for() {
        let mut pairs = vec![
            (
                Reply::BulkInline(InlineBytes::new(b"seat-12").expect("fits")),
                Reply::Bulk(Bytes::from_static(b"seat-12")),
            ),
            (
                Reply::int_list(&[0, 7, u32::MAX]),
                Reply::Array(vec![
                    Reply::Int(0),
                    Reply::Int(7),
                    Reply::Int(i64::from(u32::MAX)),
                ]),
            ),
        ];
        pairs.extend(crate::reply::tests::tuples_and_arrays());
        for (compact, plain) in &pairs {
            for version in [RespVersion::Resp2, RespVersion::Resp3] {
                let (mut left, mut right) = (BytesMut::new(), BytesMut::new());
                resp::encode_reply(compact, version, &mut left);
                resp::encode_reply(plain, version, &mut right);
                assert_eq!(left, right, "{compact:?} in {version:?}");
            }
            let (mut left, mut right) = (BytesMut::new(), BytesMut::new());
            super::encode_reply(&mut left, 7, compact);
            super::encode_reply(&mut right, 7, plain);
            assert_eq!(left, right, "{compact:?} in binary");
        }
    }

    /// A header that announces a large body makes the decoder hold no more
    /// than the bytes that came: a client sending headers alone cannot make
    /// the server reserve memory for bodies it never sends.
    #[test]
    fn an_announced_body_is_not_reserved_before_it_arrives() {
        let limits = crate::Limits {
            frame_bytes_max: 8 * 1024 * 1024,
            args_max: 1024,
            inline_bytes_max: 1024,
        };
        let mut frame = BytesMut::new();
        let big = Bytes::from(vec![b'x'; 4 * 1024 * 1024]);
        super::encode_request(&mut frame, 1, None, &[crate::Arg::Bytes(big)]);
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(&frame[..64]);
        let mut args = crate::ArgList::default();
        let decoded = super::decode_request(&mut buf, &limits, &mut args);
        assert!(matches!(decoded, crate::Decoded::Incomplete));
        assert!(buf.capacity() < 4096, "reserved {} bytes", buf.capacity());
    }
}
