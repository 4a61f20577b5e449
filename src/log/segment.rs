//! Segment files: their names, and their header, written and parsed here
//! only (grammar in `log/mod.rs`).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub const SEGMENT_MAGIC: &[u8; 8] = b"USHERLOG";
/// The format version this build writes. Version 1 segments hold records
/// without a version of their own; from version 2 on, every record names
/// its format in its first payload byte (`record::RECORD_VERSION`). This
/// build reads versions 1 and 2.
pub const SEGMENT_VERSION: u32 = 2;
pub const SEGMENT_HEADER_BYTES: usize = 24;

pub fn segment_name(first_lsn: u64) -> String {
    format!("log-{first_lsn:020}.ulog")
}

/// Parses a segment file name back into its first lsn.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("log-")?
        .strip_suffix(".ulog")?
        .parse()
        .ok()
}

/// The temporary name of the `number`th spare segment a run prepares.
pub(super) fn spare_name(number: u64) -> String {
    format!("log-spare-{number}.tmp")
}

/// Whether `name` is a spare segment's: recovery reads the header of such
/// a file to learn whether the log moved into it (see [`read_header`]).
pub fn is_spare_name(name: &str) -> bool {
    name.strip_prefix("log-spare-")
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|number| number.parse::<u64>().is_ok())
}

/// A segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The format version of the header and of every record after it.
    pub version: u32,
    /// The position of the segment's first record.
    pub first_lsn: u64,
}

/// Why bytes are not a segment header this build can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer bytes than a header.
    Incomplete,
    /// Not an usher log segment.
    BadMagic,
    /// Written by a newer usher, in a format this build does not know: it
    /// must be refused, never cut as damage.
    Newer(u32),
    /// A version no usher writes (0).
    Unsupported(u32),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Incomplete => f.write_str("segment header is incomplete"),
            HeaderError::BadMagic => f.write_str("not an usher log segment (bad magic)"),
            HeaderError::Newer(version) => write!(
                f,
                "log format version {version} was written by a newer usher (this build reads \
                 version {SEGMENT_VERSION})"
            ),
            HeaderError::Unsupported(version) => write!(f, "unsupported log version {version}"),
        }
    }
}

/// The header of a segment starting at `first_lsn`, in this build's version.
pub fn encode_header(first_lsn: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    header[..8].copy_from_slice(SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&first_lsn.to_le_bytes());
    header
}

/// Parses the header at the start of `data`. The version is checked before
/// anything else it gates.
pub fn parse_header(data: &[u8]) -> Result<Header, HeaderError> {
    let Some(header) = data.get(..SEGMENT_HEADER_BYTES) else {
        return Err(HeaderError::Incomplete);
    };
    if &header[..8] != SEGMENT_MAGIC {
        return Err(HeaderError::BadMagic);
    }
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let version = word(8);
    if version > SEGMENT_VERSION {
        return Err(HeaderError::Newer(version));
    }
    if version == 0 {
        return Err(HeaderError::Unsupported(version));
    }
    let first_lsn = u64::from(word(16)) | (u64::from(word(20)) << 32);
    Ok(Header { version, first_lsn })
}

/// Reads the header of the segment (or spare) at `path`. An unused spare
/// reads as `BadMagic` (zeros) or `Incomplete` (cut short while being
/// prepared).
pub fn read_header(path: &Path) -> io::Result<Result<Header, HeaderError>> {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    let file = File::open(path)?;
    match file.read_exact_at(&mut header, 0) {
        Ok(()) => Ok(parse_header(&header)),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
            Ok(Err(HeaderError::Incomplete))
        }
        Err(error) => Err(error),
    }
}

/// A segment with this name can only be an empty one a crash left behind
/// (recovery starts the log after every record it holds).
pub(super) fn refuse_overwrite(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(existing) if existing.len() > SEGMENT_HEADER_BYTES as u64 => {
            Err(io::Error::other(format!(
                "refusing to overwrite log segment {} that holds records",
                path.display()
            )))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_versions_are_told_apart() {
        let header = encode_header(42);
        assert_eq!(
            parse_header(&header),
            Ok(Header {
                version: SEGMENT_VERSION,
                first_lsn: 42
            })
        );
        assert_eq!(parse_header(&header[..23]), Err(HeaderError::Incomplete));
        let mut newer = header;
        newer[8..12].copy_from_slice(&(SEGMENT_VERSION + 1).to_le_bytes());
        assert_eq!(
            parse_header(&newer),
            Err(HeaderError::Newer(SEGMENT_VERSION + 1))
        );
        let mut zero = header;
        zero[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(parse_header(&zero), Err(HeaderError::Unsupported(0)));
        let mut magic = header;
        magic[0] = b'X';
        assert_eq!(parse_header(&magic), Err(HeaderError::BadMagic));
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_segment_name(&segment_name(7)), Some(7));
        assert!(is_spare_name(&spare_name(3)));
        assert!(!is_spare_name("log-spare-x.tmp"));
    }
}
