//! The RESP codec: decodes requests (multibulk arrays and inline commands)
//! and encodes replies as RESP2 or RESP3.
//!
//! Decoding never panics and never consumes a partial frame: it answers
//! [`Decoded::Incomplete`] until the whole frame is buffered, then splits it
//! off the buffer and records where each argument lies in it (an
//! [`ArgList`], nothing copied).

use bytes::{BufMut, BytesMut};

use crate::args::ArgList;
use crate::codec::{Decoded, Limits};
use crate::error::ServerError;
use crate::number::double_text;
use crate::reply::Reply;

/// Which RESP dialect replies are encoded in (`HELLO 3` switches to 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespVersion {
    Resp2,
    Resp3,
}

/// Decodes RESP requests; keeps scratch space between calls so decoding
/// allocates nothing per request.
///
/// A frame that arrives in pieces is scanned once, not from its start at
/// every piece: the decoder remembers how far it got (the arguments found,
/// where the next one starts, how much of an inline line holds no
/// newline). Otherwise a client sending a frame of many arguments a byte
/// at a time would make each byte cost a scan of all before it, quadratic
/// work for the one engine thread. This holds because the buffer only
/// grows at its end between calls that return `Incomplete`: the caller
/// consumes it only through `decode`.
#[derive(Debug)]
pub struct RespDecoder {
    limits: Limits,
    spans: Vec<(usize, usize)>,
    /// The multibulk frame being scanned: its argument count and where
    /// its next argument starts (`spans` holds those before).
    pending: Option<(usize, usize)>,
    /// Bytes at the front of the buffer known to hold no `\n` (an inline
    /// line still arriving).
    inline_scanned: usize,
}

/// Finds `\r\n` starting at `from`; returns the index of `\r`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut index = from;
    while index + 1 < buf.len() {
        match memchr(b'\r', &buf[index..buf.len() - 1]) {
            Some(offset) => {
                let at = index + offset;
                if buf[at + 1] == b'\n' {
                    return Some(at);
                }
                index = at + 1;
            }
            None => return None,
        }
    }
    None
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|b| *b == needle)
}

/// Parses the decimal length in a `*N` or `$N` header line.
fn parse_len(line: &[u8]) -> Option<i64> {
    crate::number::parse_i64(line)
}

impl RespDecoder {
    pub fn new(limits: Limits) -> RespDecoder {
        RespDecoder {
            limits,
            spans: Vec::new(),
            pending: None,
            inline_scanned: 0,
        }
    }

    /// Decodes one request from the front of `buf` into `args` (cleared
    /// first). On `Frame`, the frame's bytes have been removed from `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut, args: &mut ArgList) -> Decoded<()> {
        args.clear();
        loop {
            let Some(&first) = buf.first() else {
                return Decoded::Incomplete;
            };
            if first != b'*' {
                match self.decode_inline(buf, args) {
                    // An empty line: skipped as Redis does.
                    Decoded::Frame(()) if args.is_empty() => continue,
                    other => return other,
                }
            }
            match self.scan_multibulk(buf) {
                Decoded::Frame(Some(total)) => {
                    for &(start, end) in &self.spans {
                        args.push_span(start, end);
                    }
                    args.finish(buf.split_to(total).freeze());
                    return Decoded::Frame(());
                }
                // `*0` or `*-1`: an empty request, skipped as Redis does.
                Decoded::Frame(None) => continue,
                Decoded::Incomplete => return Decoded::Incomplete,
                Decoded::Invalid(error) => return Decoded::Invalid(error),
            }
        }
    }

    /// Checks that a whole multibulk frame is buffered and records where each
    /// argument lies. Returns the frame length, or `None` for an empty frame
    /// (already consumed).
    fn scan_multibulk(&mut self, buf: &mut BytesMut) -> Decoded<Option<usize>> {
        let (count, position) = match self.pending.take() {
            Some(progress) => progress,
            None => match self.scan_count(buf) {
                Decoded::Frame(Some(start)) => start,
                Decoded::Frame(None) => return Decoded::Frame(None),
                Decoded::Incomplete => return Decoded::Incomplete,
                Decoded::Invalid(error) => return Decoded::Invalid(error),
            },
        };
        // On `Incomplete`, this sets `pending` again where it stopped.
        self.scan_bulks(buf, count, position)
    }

    /// The `*N` line: the argument count and where the first argument
    /// starts, or `None` for an empty frame (consumed).
    fn scan_count(&mut self, buf: &mut BytesMut) -> Decoded<Option<(usize, usize)>> {
        self.spans.clear();
        let Some(line_end) = find_crlf(buf, 1) else {
            if buf.len() > 32 {
                return Decoded::Invalid(ServerError::protocol("invalid multibulk length"));
            }
            return Decoded::Incomplete;
        };
        let Some(count) = parse_len(&buf[1..line_end]) else {
            return Decoded::Invalid(ServerError::protocol("invalid multibulk length"));
        };
        if count <= 0 {
            let _ = buf.split_to(line_end + 2);
            return Decoded::Frame(None);
        }
        if count as u64 > self.limits.args_max as u64 {
            return Decoded::Invalid(ServerError::protocol(format!(
                "too many arguments ({count}; args_max is {})",
                self.limits.args_max
            )));
        }
        Decoded::Frame(Some((count as usize, line_end + 2)))
    }

    /// The bulk strings of a frame of `count` arguments from `position`
    /// on, after the `spans` already found. On `Incomplete`, `pending`
    /// says where to go on.
    fn scan_bulks(
        &mut self,
        buf: &mut BytesMut,
        count: usize,
        mut position: usize,
    ) -> Decoded<Option<usize>> {
        while self.spans.len() < count {
            let Some(&marker) = buf.get(position) else {
                self.pending = Some((count, position));
                return Decoded::Incomplete;
            };
            if marker != b'$' {
                return Decoded::Invalid(ServerError::protocol(format!(
                    "expected '$', got '{}'",
                    char::from(marker).escape_default()
                )));
            }
            let Some(line_end) = find_crlf(buf, position + 1) else {
                if buf.len() - position > 32 {
                    return Decoded::Invalid(ServerError::protocol("invalid bulk length"));
                }
                self.pending = Some((count, position));
                return Decoded::Incomplete;
            };
            let length = match parse_len(&buf[position + 1..line_end]) {
                Some(length) if length >= 0 => length as u64,
                _ => return Decoded::Invalid(ServerError::protocol("invalid bulk length")),
            };
            let start = line_end + 2;
            let end = start as u64 + length;
            if end + 2 > self.limits.frame_bytes_max as u64 {
                return Decoded::Invalid(ServerError::protocol(format!(
                    "request larger than frame_bytes_max ({} bytes)",
                    self.limits.frame_bytes_max
                )));
            }
            let end = end as usize;
            if buf.len() < end + 2 {
                self.pending = Some((count, position));
                return Decoded::Incomplete;
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Decoded::Invalid(ServerError::protocol(
                    "bulk string not terminated by CRLF",
                ));
            }
            self.spans.push((start, end));
            position = end + 2;
        }
        Decoded::Frame(Some(position))
    }

    /// Inline command: one line of space-separated words, with Redis's
    /// quoting rules. Empty lines are skipped.
    fn decode_inline(&mut self, buf: &mut BytesMut, args: &mut ArgList) -> Decoded<()> {
        {
            let from = self.inline_scanned.min(buf.len());
            let Some(newline) = memchr(b'\n', &buf[from..]).map(|at| from + at) else {
                if buf.len() > self.limits.inline_bytes_max {
                    self.inline_scanned = 0;
                    return Decoded::Invalid(ServerError::protocol("too big inline request"));
                }
                self.inline_scanned = buf.len();
                return Decoded::Incomplete;
            };
            self.inline_scanned = 0;
            if newline > self.limits.inline_bytes_max {
                return Decoded::Invalid(ServerError::protocol("too big inline request"));
            }
            let line = buf.split_to(newline + 1);
            let mut text: &[u8] = &line[..newline];
            if text.last() == Some(&b'\r') {
                text = &text[..text.len() - 1];
            }
            match split_args(text) {
                Some(words) => {
                    if words.len() > self.limits.args_max {
                        return Decoded::Invalid(ServerError::protocol("too many arguments"));
                    }
                    // The unquoted words, end to end, are the frame.
                    let mut frame = BytesMut::with_capacity(words.iter().map(Vec::len).sum());
                    for word in &words {
                        frame.put_slice(word);
                    }
                    let mut start = 0;
                    for word in &words {
                        args.push_span(start, start + word.len());
                        start += word.len();
                    }
                    args.finish(frame.freeze());
                    Decoded::Frame(())
                }
                None => Decoded::Invalid(ServerError::protocol("unbalanced quotes in request")),
            }
        }
    }
}

/// Splits an inline command line into words like Redis's `sdssplitargs`:
/// double quotes understand `\n \r \t \b \a \\ \" \xHH`, single quotes only
/// `\'`; a closing quote must be followed by a space or the end. `None` on
/// unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut words = Vec::new();
    let mut index = 0;
    loop {
        while index < line.len() && line[index].is_ascii_whitespace() {
            index += 1;
        }
        if index >= line.len() {
            return Some(words);
        }
        let mut word = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let byte = line.get(index).copied();
            if in_double {
                match byte {
                    None => return None,
                    Some(b'\\')
                        if line.get(index + 1) == Some(&b'x')
                            && hex_pair(line.get(index + 2..index + 4)).is_some() =>
                    {
                        word.push(hex_pair(line.get(index + 2..index + 4))?);
                        index += 3;
                    }
                    Some(b'\\') if index + 1 < line.len() => {
                        index += 1;
                        word.push(match line[index] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if line
                            .get(index + 1)
                            .is_some_and(|b| !b.is_ascii_whitespace())
                        {
                            return None;
                        }
                        in_double = false;
                        index += 1;
                        break;
                    }
                    Some(other) => word.push(other),
                }
            } else if in_single {
                match byte {
                    None => return None,
                    Some(b'\\') if line.get(index + 1) == Some(&b'\'') => {
                        index += 1;
                        word.push(b'\'');
                    }
                    Some(b'\'') => {
                        if line
                            .get(index + 1)
                            .is_some_and(|b| !b.is_ascii_whitespace())
                        {
                            return None;
                        }
                        in_single = false;
                        index += 1;
                        break;
                    }
                    Some(other) => word.push(other),
                }
            } else {
                match byte {
                    None => break,
                    Some(b) if b.is_ascii_whitespace() => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => word.push(other),
                }
            }
            index += 1;
        }
        debug_assert!(!in_double && !in_single);
        words.push(word);
    }
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let pair = pair?;
    let high = (pair[0] as char).to_digit(16)?;
    let low = (pair[1] as char).to_digit(16)?;
    Some((high * 16 + low) as u8)
}

/// Longest `prefix`, `i64` and CRLF line.
const INT_LINE_BYTES: usize = 1 + 20 + 2;

/// One `<prefix><value>\r\n` line, written in place: replies are mostly
/// such lines, and small appends of variable length (each a capacity check
/// and a `memcpy` call) cost more than the digits. Measured: 9 % of the
/// server's time under SEAT.HOLD went to reply encoding, and `cargo bench
/// --bench codec` encoded the hold's reply in 95 ns with a formatting buffer
/// and a `memcpy` call, 69–77 ns with the line built on the stack and copied
/// whole (the copy's wide load stalls on the stack's byte stores), and
/// 69–75 ns written in place.
fn put_int_line(out: &mut BytesMut, prefix: u8, value: i64) {
    put_in_place::<INT_LINE_BYTES>(out, |line| {
        line[0] = prefix;
        let end = 1 + decimal_len(value);
        put_decimal(line, 1, end, value);
        line[end] = b'\r';
        line[end + 1] = b'\n';
        end + 2
    });
}

/// Longest bulk string holding an `i64`: `$20\r\n`, the text, CRLF.
const BULK_INT_BYTES: usize = 5 + 20 + 2;

/// A bulk string holding `value`'s decimal text (a counter read by GET),
/// written in place as [`put_int_line`] does.
fn put_bulk_int(out: &mut BytesMut, value: i64) {
    put_in_place::<BULK_INT_BYTES>(out, |line| {
        let length = decimal_len(value);
        line[0] = b'$';
        let digits_end = 1 + decimal_len(length as i64);
        put_decimal(line, 1, digits_end, length as i64);
        line[digits_end] = b'\r';
        line[digits_end + 1] = b'\n';
        let start = digits_end + 2;
        let end = start + length;
        put_decimal(line, start, end, value);
        line[end] = b'\r';
        line[end + 1] = b'\n';
        end + 2
    });
}

/// Length of `value`'s decimal text, sign included (at most 20).
fn decimal_len(value: i64) -> usize {
    usize::from(value < 0) + value.unsigned_abs().checked_ilog10().unwrap_or(0) as usize + 1
}

/// Writes `value`'s decimal text into `line[start..end]`, where `end -
/// start` is [`decimal_len`]: digits last to first, at their final places.
/// (Two digits per division from a table of pairs measured no faster.)
fn put_decimal(line: &mut [u8], start: usize, end: usize, value: i64) {
    let mut magnitude = value.unsigned_abs();
    let mut at = end;
    loop {
        at -= 1;
        line[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if value < 0 {
        line[start] = b'-';
    }
}

/// Appends `ROOM` zero bytes (a constant, so a few vector stores), lets
/// `build` write its line into them and returns the bytes it used; the
/// rest are cut off again.
fn put_in_place<const ROOM: usize>(out: &mut BytesMut, build: impl FnOnce(&mut [u8]) -> usize) {
    let start = out.len();
    out.extend_from_slice(&[0; ROOM]);
    let used = build(&mut out[start..]);
    debug_assert!(used <= ROOM);
    out.truncate(start + used);
}

fn put_bulk(out: &mut BytesMut, bytes: &[u8]) {
    out.reserve(INT_LINE_BYTES + bytes.len() + 2);
    put_int_line(out, b'$', bytes.len() as i64);
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Simple strings and error lines may not contain CR or LF; replace them so
/// a reply can never break the framing.
fn put_line_text(out: &mut BytesMut, text: &str) {
    let text = text.as_bytes();
    out.reserve(text.len() + 2);
    if text.iter().any(|&byte| byte == b'\r' || byte == b'\n') {
        out.extend(text.iter().map(|&byte| {
            if byte == b'\r' || byte == b'\n' {
                b' '
            } else {
                byte
            }
        }));
    } else {
        out.extend_from_slice(text);
    }
    out.extend_from_slice(b"\r\n");
}

/// Encodes one reply.
pub fn encode_reply(reply: &Reply, version: RespVersion, out: &mut BytesMut) {
    match reply {
        Reply::Simple(text) => {
            out.put_u8(b'+');
            put_line_text(out, text);
        }
        Reply::Bulk(bytes) => put_bulk(out, bytes),
        Reply::BulkInline(inline) => put_bulk(out, inline.as_bytes()),
        Reply::BulkInt(value) => put_bulk_int(out, *value),
        Reply::Int(value) => put_int_line(out, b':', *value),
        Reply::Double(value) => match version {
            RespVersion::Resp2 => put_bulk(out, double_text(*value).as_str().as_bytes()),
            RespVersion::Resp3 => {
                out.put_u8(b',');
                put_line_text(out, double_text(*value).as_str());
            }
        },
        Reply::Nil => match version {
            RespVersion::Resp2 => out.put_slice(b"$-1\r\n"),
            RespVersion::Resp3 => out.put_slice(b"_\r\n"),
        },
        Reply::NilArray => match version {
            RespVersion::Resp2 => out.put_slice(b"*-1\r\n"),
            RespVersion::Resp3 => out.put_slice(b"_\r\n"),
        },
        Reply::Bool(value) => match version {
            RespVersion::Resp2 => put_int_line(out, b':', i64::from(*value)),
            RespVersion::Resp3 => out.put_slice(if *value { b"#t\r\n" } else { b"#f\r\n" }),
        },
        Reply::Array(items) => {
            put_int_line(out, b'*', items.len() as i64);
            for item in items {
                encode_reply(item, version, out);
            }
        }
        Reply::Set(items) => {
            let head = match version {
                RespVersion::Resp2 => b'*',
                RespVersion::Resp3 => b'~',
            };
            put_int_line(out, head, items.len() as i64);
            for item in items {
                encode_reply(item, version, out);
            }
        }
        Reply::Tuple(tuple) => {
            put_int_line(out, b'*', tuple.len() as i64);
            tuple.for_each_item(|item| encode_reply(item, version, out));
        }
        Reply::Ints(ints) => {
            put_int_line(out, b'*', ints.as_slice().len() as i64);
            for &value in ints.as_slice() {
                put_int_line(out, b':', i64::from(value));
            }
        }
        Reply::Map(pairs) => {
            match version {
                RespVersion::Resp2 => put_int_line(out, b'*', 2 * pairs.len() as i64),
                RespVersion::Resp3 => put_int_line(out, b'%', pairs.len() as i64),
            }
            for (key, value) in pairs {
                encode_reply(key, version, out);
                encode_reply(value, version, out);
            }
        }
        Reply::Pairs(pairs) => {
            let flat = version == RespVersion::Resp2;
            let items = if flat { 2 * pairs.len() } else { pairs.len() };
            put_int_line(out, b'*', items as i64);
            for (key, value) in pairs {
                if !flat {
                    put_int_line(out, b'*', 2);
                }
                encode_reply(key, version, out);
                encode_reply(value, version, out);
            }
        }
        Reply::Error(error) => {
            out.put_u8(b'-');
            put_line_text(out, &error.message);
        }
    }
}

/// Encodes a request as a multibulk array (used by tests and tools).
pub fn encode_request(args: &[&[u8]], out: &mut BytesMut) {
    put_int_line(out, b'*', args.len() as i64);
    for arg in args {
        put_bulk(out, arg);
    }
}
