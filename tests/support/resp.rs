//! RESP replies as read off the wire, keeping each value's RESP type, and
//! a parser for them that says when a buffer holds only part of a reply.

/// A RESP reply as read off the wire, keeping the RESP type of each value.
#[derive(Clone, Debug, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1` (RESP2) or `_` (RESP3).
    Nil,
    Array(Vec<Resp>),
    Map(Vec<(Resp, Resp)>),
    Bool(bool),
    Double(String),
}

impl Resp {
    pub fn bulk(text: &str) -> Resp {
        Resp::Bulk(text.as_bytes().to_vec())
    }

    /// The value at `key` in a map reply (RESP3 map or RESP2 flat array).
    pub fn map_get(&self, key: &str) -> Option<&Resp> {
        let wanted = Resp::bulk(key);
        match self {
            Resp::Map(pairs) => pairs.iter().find(|(k, _)| *k == wanted).map(|(_, v)| v),
            Resp::Array(items) => items
                .chunks(2)
                .find(|pair| pair[0] == wanted)
                .and_then(|pair| pair.get(1)),
            _ => None,
        }
    }
}

fn line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let end = buf[from..].windows(2).position(|w| w == b"\r\n")? + from;
    Some((&buf[from..end], end + 2))
}

fn number(text: &[u8]) -> i64 {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("bad number {:?}", String::from_utf8_lossy(text)))
}

/// Parses one reply at `from`; `None` if the buffer holds only part of it.
/// Returns the value and the index after it.
pub fn parse_resp(buf: &[u8], from: usize) -> Option<(Resp, usize)> {
    let &kind = buf.get(from)?;
    let (text, next) = line(buf, from + 1)?;
    let string = || String::from_utf8_lossy(text).into_owned();
    Some(match kind {
        b'+' => (Resp::Simple(string()), next),
        b'-' => (Resp::Error(string()), next),
        b':' => (Resp::Int(number(text)), next),
        b',' => (Resp::Double(string()), next),
        b'_' => (Resp::Nil, next),
        b'#' => (Resp::Bool(text == b"t"), next),
        b'$' => {
            let length = number(text);
            if length < 0 {
                return Some((Resp::Nil, next));
            }
            let end = next + length as usize;
            if buf.len() < end + 2 {
                return None;
            }
            assert_eq!(&buf[end..end + 2], b"\r\n", "bulk string without CRLF");
            (Resp::Bulk(buf[next..end].to_vec()), end + 2)
        }
        b'*' => {
            let count = number(text);
            if count < 0 {
                return Some((Resp::Nil, next));
            }
            let mut items = Vec::new();
            let mut at = next;
            for _ in 0..count {
                let (item, after) = parse_resp(buf, at)?;
                items.push(item);
                at = after;
            }
            (Resp::Array(items), at)
        }
        b'%' => {
            let mut pairs = Vec::new();
            let mut at = next;
            for _ in 0..number(text) {
                let (key, after) = parse_resp(buf, at)?;
                let (value, after) = parse_resp(buf, after)?;
                pairs.push((key, value));
                at = after;
            }
            (Resp::Map(pairs), at)
        }
        other => panic!("unknown RESP type byte {:?}", char::from(other)),
    })
}
