//! The byte primitives of every on-disk format (log records, effects,
//! values, snapshots): [`Reader`], a bounds-checked little-endian reader,
//! the `put_*` writers that match it, and [`DecodeError`].
//!
//! Little-endian throughout; a byte string is a `u32` length and the bytes;
//! an optional number is 0, or 1 and the number. Nothing here knows the
//! state's types: each format builds its grammar from these pieces.

use bytes::Bytes;

/// A decoding failure inside a checksummed record or snapshot chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A bounds-checked little-endian reader over a byte slice.
pub struct Reader<'a> {
    data: &'a [u8],
    position: usize,
    /// The most seats a decoded seat map may have: a seat map's memory is
    /// its seat count, which no byte count bounds, so a count above the
    /// configured limit must fail before it sizes an allocation.
    seats_max: u64,
}

impl<'a> Reader<'a> {
    /// A reader whose seat maps may be as large as any configuration
    /// allows; [`Reader::with_seats_max`] bounds them by the one in use.
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader {
            data,
            position: 0,
            seats_max: u64::from(u32::MAX >> 1),
        }
    }

    /// The same reader, refusing seat maps of more than `seats_max` seats.
    pub fn with_seats_max(mut self, seats_max: u64) -> Reader<'a> {
        self.seats_max = seats_max;
        self
    }

    pub fn seats_max(&self) -> u64 {
        self.seats_max
    }

    pub fn position(&self) -> usize {
        self.position
    }

    pub fn is_empty(&self) -> bool {
        self.position >= self.data.len()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.position)
    }

    pub fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .position
            .checked_add(count)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| DecodeError(format!("truncated at byte {}", self.position)))?;
        let slice = &self.data[self.position..end];
        self.position = end;
        Ok(slice)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let mut raw = [0u8; 2];
        raw.copy_from_slice(self.take(2)?);
        Ok(u16::from_le_bytes(raw))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(raw))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(raw))
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(self.u64()? as i64)
    }

    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// A byte that must be 0 or 1.
    pub fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError(format!(
                "flag byte {other} at byte {}",
                self.position - 1
            ))),
        }
    }

    /// A length-prefixed byte string, borrowed from the input.
    pub fn slice(&mut self) -> Result<&'a [u8], DecodeError> {
        let length = self.u32()? as usize;
        self.take(length)
    }

    /// A length-prefixed byte string, copied into its own allocation.
    pub fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let length = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(length)?))
    }

    /// A length-prefixed UTF-8 string.
    pub fn text(&mut self) -> Result<String, DecodeError> {
        let at = self.position;
        String::from_utf8(self.slice()?.to_vec())
            .map_err(|_| DecodeError(format!("text at byte {at} is not UTF-8")))
    }

    /// A `u32` count of items that take at least `item_bytes` each, checked
    /// against what is left so that a bad count cannot allocate much.
    pub fn count(&mut self, item_bytes: usize) -> Result<usize, DecodeError> {
        let at = self.position;
        let count = self.u32()? as usize;
        if count.saturating_mul(item_bytes) > self.data.len() - self.position {
            return Err(DecodeError(format!(
                "count {count} at byte {at} runs past the end"
            )));
        }
        Ok(count)
    }

    /// A deadline (`put_deadline`): 0 means none.
    pub fn deadline(&mut self) -> Result<Option<u64>, DecodeError> {
        let raw = self.u64()?;
        Ok((raw != 0).then_some(raw))
    }

    /// An optional number (`put_option`).
    pub fn option(&mut self) -> Result<Option<u64>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u64()?)),
            flag => Err(DecodeError(format!("option flag {flag}"))),
        }
    }
}

/// A byte string: its `u32` length, then the bytes.
pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A tag and two byte strings: the head of every effect that names a key
/// and a member or holder.
pub fn put_tagged_pair(out: &mut Vec<u8>, tag: u8, first: &[u8], second: &[u8]) {
    out.push(tag);
    put_bytes(out, first);
    put_bytes(out, second);
}

/// An optional number: 0, or 1 and the number.
pub fn put_option(out: &mut Vec<u8>, value: Option<u64>) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
}

/// A deadline in absolute Unix milliseconds, 0 for none (no deadline is
/// ever 0: the first millisecond of 1970 is long past).
pub fn put_deadline(out: &mut Vec<u8>, deadline_ms: Option<u64>) {
    out.extend_from_slice(&deadline_ms.unwrap_or(0).to_le_bytes());
}

/// The average of the first few lengths, rounded up (0 if none): what
/// an encoded-length hint takes as every member's length.
pub fn sampled_average(lengths: impl Iterator<Item = usize>) -> usize {
    const SAMPLE: usize = 32;
    let (count, sum) = lengths
        .take(SAMPLE)
        .fold((0, 0), |(count, sum), length| (count + 1, sum + length));
    if count == 0 {
        0
    } else {
        sum.div_ceil(count)
    }
}
