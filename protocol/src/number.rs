//! Numbers as Redis reads and writes them: strict integer and double
//! parsing of arguments ([`parse_i64`], [`parse_f64`]) and a double's reply
//! text ([`format_double`], [`double_text`]). A leaf module: argument lists,
//! the request parser, both codecs and the server all read numbers through
//! it, and it imports nothing of the crate.

/// Parses a 64-bit signed integer the way Redis does: optional `-`, digits,
/// no leading `+`, no spaces, no leading zeros except `0` itself.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let (negative, digits) = match bytes[0] {
        b'-' => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || negative)) {
        return None;
    }
    let mut value: i64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(byte - b'0');
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(digit)?
        } else {
            value.checked_add(digit)?
        };
    }
    Some(value)
}

/// Parses a double as Redis does: decimal or exponent notation, `inf`,
/// `+inf`, `-inf`; NaN and surrounding spaces are refused.
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() || text.trim() != text {
        return None;
    }
    // Compared without changing case in a copy: a score is parsed for every
    // ZADD, and lowering it into a `String` was an allocation per request.
    let named = |names: &[&str]| names.iter().any(|name| text.eq_ignore_ascii_case(name));
    let value = if named(&["inf", "+inf", "infinity", "+infinity"]) {
        f64::INFINITY
    } else if named(&["-inf", "-infinity"]) {
        f64::NEG_INFINITY
    } else {
        if text
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
        {
            return None;
        }
        text.parse::<f64>().ok()?
    };
    if value.is_nan() {
        None
    } else {
        Some(value)
    }
}

/// Formats a double as Redis does in replies: `inf`, `-inf`, and otherwise
/// the shortest digits that read back to the same value, laid out the way
/// C's `%.17g` lays them out (Redis 7.2+): plain notation for exponents from
/// -4 to 16, else `d.ddde+XX`. Negative zero is `0`, as Redis stores it.
pub fn format_double(value: f64) -> String {
    double_text(value).as_str().to_string()
}

/// [`format_double`]'s text in a stack buffer, for replies (no allocation).
pub fn double_text(value: f64) -> DoubleText {
    let mut text = DoubleText::default();
    // The longest text an `f64` gives here is 24 bytes.
    assert!(
        write_double(&mut text, value).is_ok(),
        "a double's text fits its buffer"
    );
    text
}

fn write_double(out: &mut DoubleText, value: f64) -> std::fmt::Result {
    use std::fmt::Write;
    if value == f64::INFINITY {
        return out.write_str("inf");
    }
    if value == f64::NEG_INFINITY {
        return out.write_str("-inf");
    }
    if value == 0.0 {
        return out.write_str("0");
    }
    // `{:e}` gives the shortest round-trip digits, e.g. `-1.25e-7`.
    let mut scientific = DoubleText::default();
    write!(scientific, "{value:e}")?;
    let (mantissa, exponent) = scientific
        .as_str()
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..17).contains(&exponent) {
        return write!(out, "{value}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    write!(out, "{mantissa}e{sign}{:02}", exponent.unsigned_abs())
}

/// Text of at most 48 bytes kept in place (see [`double_text`]).
pub struct DoubleText {
    bytes: [u8; 48],
    len: usize,
}

impl Default for DoubleText {
    fn default() -> DoubleText {
        DoubleText {
            bytes: [0; 48],
            len: 0,
        }
    }
}

impl DoubleText {
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever appended (see `write_str`).
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for DoubleText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let end = self.len + text.len();
        if end > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}
