//! The `usher-protocol` crate's integration tests, built as one test binary:
//! the two codecs, the command parser, and the spec's test vectors.
//!
//! One file runs by its module path, e.g.
//! `cargo test -p usher-protocol --test protocol resp_codec`.

mod binary_codec;
mod decoders;
mod parse;
mod resp_codec;
mod spec_vectors;

/// With `autotests = false`, cargo builds only this file and what it names:
/// a test file added to `protocol/tests/` but not declared here would never
/// run. This fails until it is declared.
#[test]
fn every_file_under_tests_is_compiled() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let declared = std::fs::read_to_string(folder.join("main.rs")).expect("main.rs is readable");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&folder).expect("tests/ is readable") {
        let path = entry.expect("tests/ is readable").path();
        let module = if path.is_dir() && path.join("mod.rs").is_file() {
            path.file_name()
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            path.file_stem()
        } else {
            continue;
        };
        let module = module.and_then(|name| name.to_str()).unwrap_or_default();
        if module != "main" && !declared.contains(&format!("mod {module};")) {
            missing.push(path.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "test files main.rs does not declare: {missing:?}"
    );
}
