//! The `usher-protocol` crate's integration tests, built as one test binary:
//! the two codecs, the command parser, and the spec's test vectors.
//!
//! One file runs by its module path, e.g.
//! `cargo test -p usher-protocol --test protocol resp_codec`.

mod binary_codec;
mod parse;
mod resp_codec;
mod spec_vectors;
