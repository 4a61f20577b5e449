//! Keeps `SPEC.md` and the code in step: every hex test vector in the spec
//! is decoded with the real decoder, compared with the value the vector
//! describes, and re-encoded to the same bytes; the error-code table and the
//! command list must cover `ErrorCode::ALL` and `commands::COMMANDS`.

use bytes::{Bytes, BytesMut};
use usher_protocol::binary::{self, HEADER_BYTES};
use usher_protocol::commands::COMMANDS;
use usher_protocol::{Arg, Decoded, ErrorCode, Limits, Reply, ServerError};

const SPEC: &str = include_str!("../SPEC.md");

/// Fewer vectors than this means the spec lost some or the parser below
/// stopped finding them.
const VECTORS_MIN: usize = 12;

#[derive(Debug, Default)]
struct Vector {
    name: String,
    kind: String,
    id: Option<u64>,
    key: Option<Bytes>,
    args: Option<Vec<Arg>>,
    value: Option<Reply>,
    hex: Vec<u8>,
    header_line_bytes: usize,
}

/// The bodies of every ```` ```vector ```` block, one line per entry.
fn vector_blocks(spec: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in spec.lines() {
        match current.as_mut() {
            None if line.trim_end() == "```vector" => current = Some(Vec::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.push(current.take().unwrap()),
            Some(lines) => lines.push(line),
        }
    }
    assert!(current.is_none(), "unterminated vector block");
    blocks
}

fn parse_hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|pair| {
            assert_eq!(pair.len(), 2, "hex byte '{pair}' is not two digits");
            u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("bad hex byte '{pair}'"))
        })
        .collect()
}

fn parse_vector(lines: &[&str]) -> Vector {
    let mut vector = Vector::default();
    let mut seen: Vec<&str> = Vec::new();
    let mut last_field = "";
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            assert_eq!(
                last_field, "hex",
                "only hex continues on the next line: {line:?}"
            );
            vector.hex.extend(parse_hex(line));
            continue;
        }
        let (field, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("vector line without a field: {line:?}"));
        let value = value.trim();
        assert!(!seen.contains(&field), "field {field} given twice");
        seen.push(field);
        last_field = field;
        match field {
            "name" => vector.name = value.to_string(),
            "kind" => vector.kind = value.to_string(),
            "id" => vector.id = Some(value.parse().expect("id is a decimal u64")),
            "key" => {
                let mut parser = Parser::new(value);
                vector.key = Some(parser.string());
                parser.end();
            }
            "args" => {
                let mut parser = Parser::new(value);
                vector.args = Some(parser.args());
                parser.end();
            }
            "value" => {
                let mut parser = Parser::new(value);
                vector.value = Some(parser.value());
                parser.end();
            }
            "hex" => {
                vector.hex = parse_hex(value);
                vector.header_line_bytes = vector.hex.len();
            }
            other => panic!("unknown vector field {other:?}"),
        }
    }
    vector
}

/// A recursive-descent reader for the readable forms of arguments and values.
struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        Parser {
            text: text.as_bytes(),
            at: 0,
        }
    }

    fn skip_spaces(&mut self) {
        while self.text.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_spaces();
        self.text.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8) {
        assert!(
            self.eat(byte),
            "expected '{}' at {} in {:?}",
            byte as char,
            self.at,
            String::from_utf8_lossy(self.text)
        );
    }

    fn end(&mut self) {
        assert_eq!(
            self.peek(),
            None,
            "trailing text in {:?}",
            String::from_utf8_lossy(self.text)
        );
    }

    fn word(&mut self) -> &'a str {
        self.skip_spaces();
        let start = self.at;
        while self
            .text
            .get(self.at)
            .is_some_and(|b| !matches!(b, b' ' | b',' | b']' | b'}' | b'"'))
        {
            self.at += 1;
        }
        assert!(self.at > start, "expected a word at {start}");
        std::str::from_utf8(&self.text[start..self.at]).unwrap()
    }

    fn string(&mut self) -> Bytes {
        self.expect(b'"');
        let mut out = Vec::new();
        loop {
            let byte = *self.text.get(self.at).expect("unterminated string");
            self.at += 1;
            match byte {
                b'"' => return Bytes::from(out),
                b'\\' => {
                    let escaped = self.text[self.at];
                    self.at += 1;
                    match escaped {
                        b'"' | b'\\' => out.push(escaped),
                        b'x' => {
                            let hex =
                                std::str::from_utf8(&self.text[self.at..self.at + 2]).unwrap();
                            out.push(u8::from_str_radix(hex, 16).expect("\\xHH escape"));
                            self.at += 2;
                        }
                        other => panic!("unknown escape \\{}", other as char),
                    }
                }
                other => out.push(other),
            }
        }
    }

    fn int(&mut self) -> i64 {
        let word = self.word();
        word.parse()
            .unwrap_or_else(|_| panic!("{word:?} is not an i64"))
    }

    fn double(&mut self) -> f64 {
        let word = self.word();
        word.parse()
            .unwrap_or_else(|_| panic!("{word:?} is not a double"))
    }

    fn args(&mut self) -> Vec<Arg> {
        let mut args = Vec::new();
        loop {
            let arg = match self.word() {
                "bytes" => Arg::Bytes(self.string()),
                "int" => Arg::Int(self.int()),
                "double" => Arg::Double(self.double()),
                other => panic!("unknown argument type {other:?}"),
            };
            args.push(arg);
            if !self.eat(b',') {
                return args;
            }
        }
    }

    fn value(&mut self) -> Reply {
        match self.word() {
            "nil" => Reply::Nil,
            "simple" => {
                let text = self.string();
                Reply::Simple(String::from_utf8(text.to_vec()).unwrap().into())
            }
            "bulk" => Reply::Bulk(self.string()),
            "int" => Reply::Int(self.int()),
            "double" => Reply::Double(self.double()),
            "bool" => match self.word() {
                "true" => Reply::Bool(true),
                "false" => Reply::Bool(false),
                other => panic!("bool {other:?}"),
            },
            "array" => {
                self.expect(b'[');
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value());
                        if self.eat(b']') {
                            break;
                        }
                        self.expect(b',');
                    }
                }
                Reply::Array(items)
            }
            "map" => {
                self.expect(b'{');
                let mut pairs = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        let key = self.value();
                        self.expect(b'=');
                        self.expect(b'>');
                        pairs.push((key, self.value()));
                        if self.eat(b'}') {
                            break;
                        }
                        self.expect(b',');
                    }
                }
                Reply::Map(pairs)
            }
            "error" => {
                let code = self.int();
                let code = u16::try_from(code).expect("error code is a u16");
                let code = ErrorCode::from_u16(code)
                    .unwrap_or_else(|| panic!("error code {code} is not in ErrorCode::ALL"));
                let message = String::from_utf8(self.string().to_vec()).unwrap();
                Reply::Error(ServerError::new(code, message))
            }
            other => panic!("unknown value type {other:?}"),
        }
    }
}

fn vectors() -> Vec<Vector> {
    vector_blocks(SPEC)
        .iter()
        .map(|lines| parse_vector(lines))
        .collect()
}

fn check_request(vector: &Vector) {
    let id = vector.id.expect("id");
    let expected_args = vector.args.as_ref().expect("a request vector has args");
    assert!(vector.value.is_none(), "a request vector has no value");
    let mut buf = BytesMut::from(&vector.hex[..]);
    let mut args = usher_protocol::ArgList::new();
    match binary::decode_request(&mut buf, &Limits::default(), &mut args) {
        Decoded::Frame(header) => {
            assert_eq!(header.request_id, id);
            assert_eq!(header.idempotency_key, vector.key);
        }
        other => panic!("decoding gave {other:?}"),
    }
    assert!(buf.is_empty(), "the frame was not consumed exactly");
    assert_eq!(&args.to_args(), expected_args);
    let mut out = BytesMut::new();
    binary::encode_request(&mut out, id, vector.key.as_deref(), expected_args);
    assert_eq!(&out[..], &vector.hex[..], "re-encoding differs");
}

fn check_reply(vector: &Vector) {
    let id = vector.id.expect("id");
    let expected = vector.value.as_ref().expect("a reply vector has a value");
    assert!(
        vector.args.is_none() && vector.key.is_none(),
        "a reply vector has no args or key"
    );
    let mut buf = BytesMut::from(&vector.hex[..]);
    match binary::decode_reply(&mut buf, &Limits::default()) {
        Decoded::Frame((request_id, reply)) => {
            assert_eq!(request_id, id);
            assert_eq!(&reply, expected);
        }
        other => panic!("decoding gave {other:?}"),
    }
    assert!(buf.is_empty(), "the frame was not consumed exactly");
    let mut out = BytesMut::new();
    binary::encode_reply(&mut out, id, expected);
    assert_eq!(&out[..], &vector.hex[..], "re-encoding differs");
}

#[test]
fn every_vector_decodes_and_reencodes() {
    let vectors = vectors();
    assert!(
        vectors.len() >= VECTORS_MIN,
        "found only {} vectors in SPEC.md",
        vectors.len()
    );
    let mut names = Vec::new();
    let (mut requests, mut replies) = (0, 0);
    for vector in &vectors {
        assert!(!vector.name.is_empty(), "a vector without a name");
        assert!(
            !names.contains(&vector.name),
            "two vectors are named {:?}",
            vector.name
        );
        names.push(vector.name.clone());
        assert_eq!(
            vector.header_line_bytes, HEADER_BYTES,
            "vector {:?}: the first hex line should be the 16-byte header",
            vector.name
        );
        let outcome = std::panic::catch_unwind(|| match vector.kind.as_str() {
            "request" => check_request(vector),
            "reply" => check_reply(vector),
            other => panic!("unknown kind {other:?}"),
        });
        assert!(outcome.is_ok(), "vector {:?} failed", vector.name);
        match vector.kind.as_str() {
            "request" => requests += 1,
            _ => replies += 1,
        }
    }
    assert!(requests >= 5, "only {requests} request vectors");
    assert!(replies >= 7, "only {replies} reply vectors");
}

#[test]
fn vectors_cover_every_tag_and_the_idempotency_key() {
    let vectors = vectors();
    let mut arg_tags = [false; 3];
    let mut with_key = false;
    let mut value_tags = [false; 9];
    fn visit(reply: &Reply, seen: &mut [bool; 9]) {
        let tag = match reply {
            Reply::Nil | Reply::NilArray => 0,
            Reply::Simple(_) => 1,
            Reply::Bulk(_) | Reply::BulkInline(_) | Reply::BulkInt(_) => 2,
            Reply::Int(_) => 3,
            Reply::Double(_) => 4,
            Reply::Bool(_) => 5,
            // A set is sent as an array.
            Reply::Array(items) | Reply::Set(items) => {
                items.iter().for_each(|item| visit(item, seen));
                6
            }
            // Sent as an array of ints (value tags 6 and 3).
            Reply::Ints(_) => {
                seen[3] = true;
                6
            }
            // Sent as the array it stands for.
            Reply::Tuple(tuple) => {
                tuple.for_each_item(|item| visit(item, seen));
                6
            }
            Reply::Map(pairs) => {
                for (key, value) in pairs {
                    visit(key, seen);
                    visit(value, seen);
                }
                7
            }
            // Sent as a flat array of 2n values.
            Reply::Pairs(pairs) => {
                for (key, value) in pairs {
                    visit(key, seen);
                    visit(value, seen);
                }
                6
            }
            Reply::Error(_) => 8,
        };
        seen[tag] = true;
    }
    for vector in &vectors {
        with_key |= vector.key.is_some();
        for arg in vector.args.iter().flatten() {
            let tag = match arg {
                Arg::Bytes(_) => 0,
                Arg::Int(_) => 1,
                Arg::Double(_) => 2,
            };
            arg_tags[tag] = true;
        }
        if let Some(value) = &vector.value {
            visit(value, &mut value_tags);
        }
    }
    assert!(with_key, "no vector carries an idempotency key");
    assert_eq!(arg_tags, [true; 3], "argument tags covered");
    assert_eq!(value_tags, [true; 9], "value tags covered");
}

/// The rows of the error-code table: (code, name, retry cell).
fn error_table_rows() -> Vec<(u16, String, String)> {
    let section = SPEC
        .split("## 3. Error codes")
        .nth(1)
        .expect("SPEC.md has a '## 3. Error codes' section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|line| line.starts_with('|'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells.get(1)?.parse::<u16>().ok()?;
            Some((code, cells[2].to_string(), cells[4].to_string()))
        })
        .collect()
}

#[test]
fn error_table_lists_every_code_once() {
    let rows = error_table_rows();
    assert_eq!(
        rows.len(),
        ErrorCode::ALL.len(),
        "the table must have one row per code, no more: {rows:?}"
    );
    for code in ErrorCode::ALL {
        let name = format!("{code:?}");
        let matching: Vec<_> = rows
            .iter()
            .filter(|(number, ..)| *number == code.as_u16())
            .collect();
        assert_eq!(matching.len(), 1, "code {} appears once", code.as_u16());
        let (_, row_name, retry) = matching[0];
        assert_eq!(row_name, &name, "code {} is named {name}", code.as_u16());
        let expected = if code.retryable() { "yes" } else { "no" };
        assert_eq!(retry, expected, "retry column of {name}");
    }
}

#[test]
fn command_list_covers_the_command_table() {
    for spec in COMMANDS {
        let signature = if spec.syntax.is_empty() {
            spec.name.to_string()
        } else {
            format!("{} {}", spec.name, spec.syntax)
        };
        let entry = format!("- `{signature}` (arity {}).", spec.arity);
        assert!(
            SPEC.contains(&entry),
            "SPEC.md lacks the command entry {entry:?}"
        );
    }
}

/// Guards the vector parser itself: a hand-built frame must match what the
/// parser reads from a block written for it.
#[test]
fn vector_parser_reads_a_known_block() {
    let block = [
        "name: parser self-check",
        "kind: request",
        "id: 258",
        "key: \"k\\x01\\\"\"",
        "args: bytes \"a,b\", int -1, double 0.5",
        "hex: d5 01 01 01 00 00 00 22 00 00 00 00 00 00 01 02",
        "     03 6b 01 22 00 00 00 03 01 00 00 00 03 61 2c 62",
        "     02 ff ff ff ff ff ff ff ff 03 3f e0 00 00 00 00",
        "     00 00",
    ];
    let vector = parse_vector(&block);
    assert_eq!(vector.id, Some(258));
    assert_eq!(vector.key.as_deref(), Some(&b"k\x01\""[..]));
    assert_eq!(
        vector.args,
        Some(vec![
            Arg::Bytes(Bytes::from_static(b"a,b")),
            Arg::Int(-1),
            Arg::Double(0.5)
        ])
    );
    assert_eq!(vector.hex.len(), 16 + 0x22);
    check_request(&vector);
}
