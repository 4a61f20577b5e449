//! The source tree's shape, checked so that it stays as ARCHITECTURE.md
//! describes it: no import circle among the files of `src/state/` or of
//! `protocol/src/`, and no function over 100 lines on the engine's path
//! (`reactor.rs`, `engine.rs`, `wait.rs`, `log/`, `recovery.rs`,
//! `snapshot.rs`).
//!
//! Both checks read the files as text. An import is a path that starts with
//! `super::`, `self::` or the tree's own `crate::` prefix, outside the
//! file's `#[cfg(test)]` part, resolved to the longest module it names; a
//! function's length runs from its `fn` line to its closing brace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest function allowed on the engine's path, in lines.
const ENGINE_PATH_FUNCTION_LINES_MAX: usize = 100;

type Module = Vec<String>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the source tree is readable") {
        let path = entry.expect("the source tree is readable").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            out.push(path);
        }
    }
}

/// The module a file is, relative to `base` (a `mod.rs` or `lib.rs` is its
/// folder's module).
fn module_of(base: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(base).expect("file under its base");
    let mut parts: Module = relative
        .with_extension("")
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments, string contents and its tests.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|line| {
            let line = line.split("//").next().unwrap_or_default();
            strip_strings(line)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn strip_strings(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_string = false;
    let mut escaped = false;
    for character in line.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if character == '\\' {
                escaped = true;
            } else if character == '"' {
                in_string = false;
                out.push('"');
            }
            continue;
        }
        if character == '"' {
            in_string = true;
        }
        out.push(character);
    }
    out
}

/// Every path in `code` that starts with `super::`, `self::` or
/// `crate_prefix`, as the module path it names from the tree's base.
fn named_paths(code: &str, module: &Module, crate_prefix: &str) -> Vec<Module> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while at < code.len() {
        let starts_word =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        let rest = &code[at..];
        let head = if !starts_word {
            None
        } else if rest.starts_with(crate_prefix) {
            Some((Vec::new(), crate_prefix.len()))
        } else if rest.starts_with("self::") {
            Some((module.clone(), "self::".len()))
        } else if rest.starts_with("super::") {
            let mut ups = 0;
            let mut length = 0;
            while rest[length..].starts_with("super::") {
                ups += 1;
                length += "super::".len();
            }
            let base = module[..module.len().saturating_sub(ups)].to_vec();
            Some((base, length))
        } else {
            None
        };
        match head {
            Some((mut path, length)) => {
                let tail: String = rest[length..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                path.extend(
                    tail.split("::")
                        .filter(|part| !part.is_empty())
                        .map(String::from),
                );
                found.push(path);
                at += length + tail.len();
            }
            None => at += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    found
}

/// The import graph of the files under `base` (`crate_prefix` is how they
/// name the base: `crate::state::` or `crate::`).
fn import_graph(base: &Path, crate_prefix: &str) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = Vec::new();
    rust_files(base, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|file| module_of(base, file)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_of(base, file);
        let text = std::fs::read_to_string(file).expect("source file is readable");
        let mut targets = BTreeSet::new();
        for path in named_paths(&code(&text), &module, crate_prefix) {
            // The longest module the path names; a name it imports from a
            // module (a type, a function) is not a module.
            let target = (1..=path.len())
                .rev()
                .map(|length| path[..length].to_vec())
                .find(|prefix| modules.contains(prefix));
            if let Some(target) = target.filter(|target| *target != module) {
                targets.insert(target);
            }
        }
        graph.insert(module, targets);
    }
    graph
}

/// Every circle in `graph`, as the modules along it.
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<String> {
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        open: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
        found: &mut Vec<String>,
    ) {
        open.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(at) = open.iter().position(|module| module == next) {
                let names: Vec<String> = open[at..]
                    .iter()
                    .chain(std::iter::once(next))
                    .map(|module| module.join("::"))
                    .collect();
                found.push(names.join(" -> "));
            } else if !done.contains(next) {
                visit(next, graph, open, done, found);
            }
        }
        open.pop();
        done.insert(node.clone());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if !done.contains(node) {
            visit(node, graph, &mut Vec::new(), &mut done, &mut found);
        }
    }
    found
}

#[test]
fn no_import_circle_inside_the_state() {
    let graph = import_graph(&root().join("src/state"), "crate::state::");
    assert!(graph.len() > 20, "the state's files were not found");
    let found = circles(&graph);
    assert!(
        found.is_empty(),
        "import circles in src/state/:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_import_circle_inside_the_protocol() {
    let graph = import_graph(&root().join("protocol/src"), "crate::");
    assert!(graph.len() > 10, "the protocol's files were not found");
    let found = circles(&graph);
    assert!(
        found.is_empty(),
        "import circles in protocol/src/:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_circle_is_found() {
    let a: Module = vec!["a".into()];
    let b: Module = vec!["b".into()];
    let graph = BTreeMap::from([
        (a.clone(), BTreeSet::from([b.clone()])),
        (b.clone(), BTreeSet::from([a.clone()])),
    ]);
    assert_eq!(circles(&graph), vec!["a -> b -> a".to_string()]);
    let module: Module = vec!["zset".into(), "commands".into()];
    let paths = named_paths(
        &code("use super::set::Zset; use crate::state::keyspace::Keyspace; let s = \"super::x\";"),
        &module,
        "crate::state::",
    );
    assert_eq!(
        paths,
        vec![
            vec!["zset".to_string(), "set".into(), "Zset".into()],
            vec!["keyspace".to_string(), "Keyspace".into()],
        ]
    );
}

/// Functions longer than `lines_max` in `file`, as `name (lines)`.
fn long_functions(file: &Path, lines_max: usize) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("source file is readable");
    let lines: Vec<String> = text
        .lines()
        .map(|line| strip_strings(line.split("//").next().unwrap_or_default()))
        .collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = function_name(line) else {
            continue;
        };
        let mut depth = 0i64;
        let mut opened = false;
        for (offset, body_line) in lines[start..].iter().enumerate() {
            for character in body_line.chars() {
                match character {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if !opened && body_line.trim_end().ends_with(';') {
                break;
            }
            if opened && depth <= 0 {
                if offset + 1 > lines_max {
                    found.push(format!("{} {name} ({} lines)", file.display(), offset + 1));
                }
                break;
            }
        }
    }
    found
}

/// The name of the function a line starts, if it starts one.
fn function_name(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|word| *word == "fn")?;
    let qualifiers_only = words[..at].iter().all(|word| {
        word.starts_with("pub") || matches!(*word, "async" | "const" | "unsafe" | "extern")
    });
    let name: String = words
        .get(at + 1)?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (qualifiers_only && !name.is_empty()).then_some(name)
}

#[test]
fn no_long_function_on_the_engine_path() {
    let source = root().join("src");
    let mut files: Vec<PathBuf> = [
        "reactor.rs",
        "engine.rs",
        "wait.rs",
        "recovery.rs",
        "snapshot.rs",
    ]
    .iter()
    .map(|name| source.join(name))
    .collect();
    rust_files(&source.join("log"), &mut files);
    let found: Vec<String> = files
        .iter()
        .flat_map(|file| long_functions(file, ENGINE_PATH_FUNCTION_LINES_MAX))
        .collect();
    assert!(
        found.is_empty(),
        "functions over {ENGINE_PATH_FUNCTION_LINES_MAX} lines:\n{}",
        found.join("\n")
    );
    // The measure itself: a function of 3 lines is 3 lines long.
    let probe = std::env::temp_dir().join(format!("usher-layout-{}.rs", std::process::id()));
    std::fs::write(&probe, "pub fn probe() {\n    let x = \"}\";\n}\n").expect("temp file");
    assert_eq!(
        long_functions(&probe, 2),
        vec![format!("{} probe (3 lines)", probe.display())]
    );
    let _ = std::fs::remove_file(&probe);
}
