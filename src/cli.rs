//! The testable half of `usher-cli`: turning a typed line into an action
//! (send, help, quit), printing replies the way redis-cli does, the help
//! text drawn from the command table, and completion/hints for the REPL.
//! The binary (`src/bin/usher-cli.rs`) owns the terminal and the socket.

use std::fmt::Write as _;

use usher_protocol::commands::{self, CommandSpec, COMMANDS};
use usher_protocol::number::format_double;
use usher_protocol::Reply;

/// What one input line asks for.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Blank line: nothing to do.
    Nothing,
    /// `quit` or `exit`.
    Quit,
    /// `help ...`: the text to print.
    Help(String),
    /// Words to send to the server as one command.
    Send(Vec<Vec<u8>>),
    /// The line cannot be sent; the message says why.
    Invalid(String),
}

/// Interprets one line typed at the prompt or read from stdin.
pub fn parse_line(line: &[u8]) -> Action {
    match usher_protocol::resp::split_args(line) {
        Some(words) => words_action(words),
        None => Action::Invalid("Invalid argument(s): unbalanced quotes; nothing sent".to_string()),
    }
}

/// Whether a typed line may carry a password (`AUTH`, `HELLO ... AUTH`,
/// `ACL SETUSER`): such lines are kept out of the history file, as
/// redis-cli does.
pub fn holds_password(line: &[u8]) -> bool {
    let words = usher_protocol::resp::split_args(line).unwrap_or_default();
    let word = |at: usize, name: &str| {
        words
            .get(at)
            .is_some_and(|word| word.eq_ignore_ascii_case(name.as_bytes()))
    };
    word(0, "AUTH")
        || (word(0, "ACL") && word(1, "SETUSER"))
        || (word(0, "HELLO") && (2..words.len()).any(|at| word(at, "AUTH")))
}

/// Interprets words already split (a command given on usher-cli's own
/// command line): `help` and `quit` are handled locally, the rest is sent.
pub fn words_action(words: Vec<Vec<u8>>) -> Action {
    let Some(first) = words.first() else {
        return Action::Nothing;
    };
    if first.eq_ignore_ascii_case(b"quit") || first.eq_ignore_ascii_case(b"exit") {
        return Action::Quit;
    }
    if first.eq_ignore_ascii_case(b"help") {
        let topic = words.get(1).map(|word| String::from_utf8_lossy(word));
        return Action::Help(help_text(topic.as_deref()));
    }
    Action::Send(words)
}

/// The REPL prompt.
pub fn prompt(host: &str, port: u16, connected: bool) -> String {
    if connected {
        format!("{host}:{port}> ")
    } else {
        "not connected> ".to_string()
    }
}

/// Formats a reply for a person, like redis-cli on a terminal. INFO text is
/// printed as-is rather than as one quoted string, as redis-cli does.
pub fn format_reply_for(command_name: &[u8], reply: &Reply) -> String {
    if command_name.eq_ignore_ascii_case(b"info") {
        if let Reply::Bulk(text) = reply {
            let mut out = String::from_utf8_lossy(text).replace('\r', "");
            if !out.ends_with('\n') {
                out.push('\n');
            }
            return out;
        }
    }
    format_reply(reply)
}

/// Formats a reply for a person: `OK`, `"bulk"`, `(integer) 5`, `(nil)`,
/// `(error) ...`, numbered arrays with nested arrays indented under their
/// index, maps as `1# key => value`. The text ends with a newline.
pub fn format_reply(reply: &Reply) -> String {
    let mut out = String::new();
    write_reply(&mut out, reply, 0);
    out
}

/// Writes `reply` starting at the current position; every line after the
/// first is indented by `indent` spaces so nested items line up under their
/// parent's index.
fn write_reply(out: &mut String, reply: &Reply, indent: usize) {
    match reply {
        Reply::Simple(text) => out.push_str(text),
        Reply::Bulk(bytes) => quote_bytes(out, bytes),
        Reply::BulkInline(inline) => quote_bytes(out, inline.as_bytes()),
        Reply::BulkInt(value) => {
            let _ = write!(out, "\"{value}\"");
        }
        Reply::Int(value) => {
            let _ = write!(out, "(integer) {value}");
        }
        Reply::Double(value) => {
            let _ = write!(out, "(double) {}", format_double(*value));
        }
        Reply::Nil | Reply::NilArray => out.push_str("(nil)"),
        Reply::Bool(value) => out.push_str(if *value { "(true)" } else { "(false)" }),
        Reply::Error(error) => {
            let _ = write!(out, "(error) {}", error.message);
        }
        Reply::Ints(ints) => {
            write_reply(out, &ints.to_array(), indent);
            return;
        }
        Reply::Tuple(tuple) => {
            write_reply(out, &tuple.to_array(), indent);
            return;
        }
        Reply::Pairs(pairs) => {
            let items = pairs
                .iter()
                .map(|(key, value)| Reply::Array(vec![key.clone(), value.clone()]))
                .collect();
            write_reply(out, &Reply::Array(items), indent);
            return;
        }
        Reply::Array(items) if items.is_empty() => out.push_str("(empty array)"),
        Reply::Set(items) if items.is_empty() => out.push_str("(empty set)"),
        Reply::Map(pairs) if pairs.is_empty() => out.push_str("(empty map)"),
        Reply::Array(items) | Reply::Set(items) => {
            let width = digits(items.len());
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    push_spaces(out, indent);
                }
                let _ = write!(out, "{:>width$}) ", index + 1);
                write_reply(out, item, indent + width + 2);
            }
            return;
        }
        Reply::Map(pairs) => {
            let width = digits(pairs.len());
            for (index, (key, value)) in pairs.iter().enumerate() {
                if index > 0 {
                    push_spaces(out, indent);
                }
                let _ = write!(out, "{:>width$}# ", index + 1);
                write_reply(out, key, indent + width + 2);
                if out.ends_with('\n') {
                    out.pop();
                }
                out.push_str(" => ");
                write_reply(out, value, indent + width + 2);
            }
            return;
        }
    }
    out.push('\n');
}

fn push_spaces(out: &mut String, count: usize) {
    out.extend(std::iter::repeat_n(' ', count));
}

fn digits(mut count: usize) -> usize {
    let mut digits = 1;
    while count >= 10 {
        count /= 10;
        digits += 1;
    }
    digits
}

/// Quotes bytes like redis-cli (`sdscatrepr`): printable ASCII as is, the
/// usual escapes, anything else as `\xHH`.
fn quote_bytes(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            b' '..=b'~' => out.push(char::from(byte)),
            other => {
                let _ = write!(out, "\\x{other:02x}");
            }
        }
    }
    out.push('"');
}

/// The groups in table order.
pub fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for spec in COMMANDS {
        if !groups.contains(&spec.group) {
            groups.push(spec.group);
        }
    }
    groups
}

/// The text for `help`, `help COMMAND` and `help @group`.
pub fn help_text(topic: Option<&str>) -> String {
    let mut out = String::new();
    match topic {
        None => {
            out.push_str(
                "usher-cli: type a command and its arguments, e.g. INCRBOUND sold 1 MAX 100\n\
                 \x20 help COMMAND   syntax and summary of one command\n\
                 \x20 help @group    the commands of one group\n\
                 \x20 quit, exit     leave\n",
            );
            for group in groups() {
                let _ = writeln!(out, "\n@{group}");
                for spec in COMMANDS.iter().filter(|spec| spec.group == group) {
                    let _ = writeln!(out, "  {}", command_line(spec));
                }
            }
        }
        Some(topic) => match topic.strip_prefix('@') {
            Some(group) => {
                let specs: Vec<&CommandSpec> = COMMANDS
                    .iter()
                    .filter(|spec| spec.group.eq_ignore_ascii_case(group))
                    .collect();
                if specs.is_empty() {
                    let known: Vec<String> =
                        groups().iter().map(|group| format!("@{group}")).collect();
                    let _ = writeln!(out, "Unknown group '@{group}'. Groups: {}", known.join(" "));
                }
                for spec in specs {
                    let _ = writeln!(out, "  {}\n      {}", command_line(spec), spec.summary);
                }
            }
            None => match commands::find(topic) {
                Some(spec) => {
                    let _ = writeln!(
                        out,
                        "  {}\n  summary: {}\n  group: @{}",
                        command_line(spec),
                        spec.summary,
                        spec.group
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "No help for '{topic}': not a command or @group. Type 'help' for the list."
                    );
                }
            },
        },
    }
    out
}

fn command_line(spec: &CommandSpec) -> String {
    if spec.syntax.is_empty() {
        spec.name.to_string()
    } else {
        format!("{} {}", spec.name, spec.syntax)
    }
}

/// Tab completion: command names (and `help`, `quit`, `exit`) for the first
/// word, command names and `@groups` after `help`. Returns where the
/// replaced word starts in `line` and the candidates.
pub fn complete(line: &str, pos: usize) -> (usize, Vec<String>) {
    let before = line.get(..pos).unwrap_or(line);
    let start = before
        .rfind(|c: char| c.is_ascii_whitespace())
        .map_or(0, |index| index + 1);
    let word = &before[start..];
    let earlier: Vec<&str> = before[..start].split_ascii_whitespace().collect();
    let mut candidates = Vec::new();
    let matches =
        |name: &str| name.len() >= word.len() && name[..word.len()].eq_ignore_ascii_case(word);
    let lower = word.bytes().all(|b| !b.is_ascii_uppercase()) && !word.is_empty();
    let spell = |name: &str| {
        if lower {
            name.to_ascii_lowercase()
        } else {
            name.to_string()
        }
    };
    match earlier.as_slice() {
        [] => {
            for name in COMMANDS.iter().map(|spec| spec.name) {
                if matches(name) {
                    candidates.push(spell(name));
                }
            }
            for name in ["help", "quit", "exit"] {
                // QUIT is also a server command: offer it once.
                let listed = candidates.iter().any(|c| c.eq_ignore_ascii_case(name));
                if matches(name) && !listed {
                    candidates.push(name.to_string());
                }
            }
        }
        [first] if first.eq_ignore_ascii_case("help") => {
            for name in COMMANDS.iter().map(|spec| spec.name) {
                if matches(name) {
                    candidates.push(spell(name));
                }
            }
            for group in groups() {
                let name = format!("@{group}");
                if matches(&name) {
                    candidates.push(name);
                }
            }
        }
        _ => {}
    }
    (start, candidates)
}

/// The hint shown after a command name and a space: its syntax, like
/// redis-cli. Nothing once arguments are being typed.
pub fn hint(line: &str, pos: usize) -> Option<String> {
    if pos != line.len() || !line.ends_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let mut words = line.split_ascii_whitespace();
    let name = words.next()?;
    if words.next().is_some() {
        return None;
    }
    let spec = commands::find(name)?;
    if spec.syntax.is_empty() {
        return None;
    }
    Some(spec.syntax.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_passwords_are_recognized() {
        for line in [
            "AUTH pw",
            "auth app pw",
            "acl setuser app >pw",
            "HELLO 3 AUTH app pw",
        ] {
            assert!(holds_password(line.as_bytes()), "{line}");
        }
        for line in ["GET auth", "ACL LIST", "HELLO 3", "SET k AUTH"] {
            assert!(!holds_password(line.as_bytes()), "{line}");
        }
    }
    use bytes::Bytes;
    use std::borrow::Cow;
    use usher_protocol::{ErrorCode, ServerError};

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
    }

    #[test]
    fn scalars_read_like_redis_cli() {
        assert_eq!(format_reply(&Reply::OK), "OK\n");
        assert_eq!(
            format_reply(&Reply::Simple(Cow::Owned("PONG".into()))),
            "PONG\n"
        );
        assert_eq!(format_reply(&bulk("bar")), "\"bar\"\n");
        assert_eq!(format_reply(&Reply::BulkInt(-12)), "\"-12\"\n");
        assert_eq!(format_reply(&Reply::Int(5)), "(integer) 5\n");
        assert_eq!(format_reply(&Reply::Int(-5)), "(integer) -5\n");
        assert_eq!(format_reply(&Reply::Double(1.5)), "(double) 1.5\n");
        assert_eq!(
            format_reply(&Reply::Double(f64::INFINITY)),
            "(double) inf\n"
        );
        assert_eq!(format_reply(&Reply::Nil), "(nil)\n");
        assert_eq!(format_reply(&Reply::Bool(true)), "(true)\n");
        assert_eq!(format_reply(&Reply::Bool(false)), "(false)\n");
        assert_eq!(format_reply(&Reply::Array(vec![])), "(empty array)\n");
        assert_eq!(format_reply(&Reply::Map(vec![])), "(empty map)\n");
    }

    #[test]
    fn errors_are_marked() {
        let reply = Reply::Error(ServerError::SYNTAX);
        assert_eq!(format_reply(&reply), "(error) ERR syntax error\n");
        let reply = Reply::Error(ServerError::new(ErrorCode::Busy, "BUSY later"));
        assert_eq!(format_reply(&reply), "(error) BUSY later\n");
    }

    #[test]
    fn bulk_strings_escape_what_is_not_printable() {
        let reply = Reply::Bulk(Bytes::from_static(b"a\"b\\c\n\r\t\x07\x08\x00\xff z"));
        assert_eq!(
            format_reply(&reply),
            "\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x00\\xff z\"\n"
        );
        assert_eq!(format_reply(&bulk("")), "\"\"\n");
    }

    #[test]
    fn arrays_number_items_and_indent_nested_ones() {
        let reply = Reply::Array(vec![
            Reply::Int(7),
            Reply::Array(vec![bulk("a"), Reply::Array(vec![bulk("x"), Reply::Nil])]),
            Reply::Array(vec![]),
            bulk("end"),
        ]);
        let expected = "\
1) (integer) 7
2) 1) \"a\"
   2) 1) \"x\"
      2) (nil)
3) (empty array)
4) \"end\"
";
        assert_eq!(format_reply(&reply), expected);
    }

    #[test]
    fn wide_arrays_right_align_their_indexes() {
        let items: Vec<Reply> = (1..=10).map(Reply::Int).collect();
        let reply = Reply::Array(vec![Reply::Array(items)]);
        let text = format_reply(&reply);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10);
        assert_eq!(lines[0], "1)  1) (integer) 1");
        assert_eq!(lines[1], "    2) (integer) 2");
        assert_eq!(lines[9], "   10) (integer) 10");
    }

    #[test]
    fn maps_show_key_and_value() {
        let reply = Reply::Map(vec![
            (bulk("server"), bulk("usher")),
            (bulk("proto"), Reply::Int(3)),
            (bulk("modules"), Reply::Array(vec![bulk("a"), bulk("b")])),
        ]);
        let expected = "\
1# \"server\" => \"usher\"
2# \"proto\" => (integer) 3
3# \"modules\" => 1) \"a\"
   2) \"b\"
";
        assert_eq!(format_reply(&reply), expected);
    }

    #[test]
    fn info_is_printed_raw() {
        let reply = Reply::Bulk(Bytes::from_static(b"# Server\r\nusher_version:0.1.0\r\n"));
        assert_eq!(
            format_reply_for(b"info", &reply),
            "# Server\nusher_version:0.1.0\n"
        );
        assert_eq!(
            format_reply_for(b"GET", &reply),
            "\"# Server\\r\\nusher_version:0.1.0\\r\\n\"\n"
        );
    }

    #[test]
    fn lines_become_actions() {
        assert_eq!(parse_line(b""), Action::Nothing);
        assert_eq!(parse_line(b"   \t "), Action::Nothing);
        assert_eq!(parse_line(b"quit"), Action::Quit);
        assert_eq!(parse_line(b"EXIT"), Action::Quit);
        assert_eq!(
            parse_line(b"set k \"a b\\n\" 'c d'"),
            Action::Send(vec![
                b"set".to_vec(),
                b"k".to_vec(),
                b"a b\n".to_vec(),
                b"c d".to_vec()
            ])
        );
        assert_eq!(
            parse_line(b"set k \"\\x41\\x00\""),
            Action::Send(vec![b"set".to_vec(), b"k".to_vec(), b"A\x00".to_vec()])
        );
    }

    #[test]
    fn unbalanced_quotes_send_nothing() {
        for line in [&b"set k \"abc"[..], b"set k 'abc", b"get \"a\"b"] {
            match parse_line(line) {
                Action::Invalid(message) => assert!(message.contains("unbalanced quotes")),
                other => panic!("{line:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn help_lists_every_command_by_group() {
        let Action::Help(text) = parse_line(b"help") else {
            panic!("help is not help");
        };
        for spec in COMMANDS {
            assert!(text.contains(&command_line(spec)), "missing {}", spec.name);
        }
        for group in groups() {
            assert!(text.contains(&format!("\n@{group}\n")), "missing @{group}");
        }
        // Each command appears in its own group's section and nowhere else.
        for spec in COMMANDS {
            let header = format!("\n@{}\n", spec.group);
            let start = text.find(&header).unwrap() + header.len();
            let section = match text[start..].find("\n@") {
                Some(end) => &text[start..start + end],
                None => &text[start..],
            };
            let line = format!("  {}\n", command_line(spec));
            assert!(
                section.contains(&line),
                "{} not under @{}",
                spec.name,
                spec.group
            );
            assert_eq!(text.matches(&line).count(), 1, "{} listed twice", spec.name);
        }
    }

    #[test]
    fn help_for_one_command_or_group() {
        let text = help_text(Some("incrbound"));
        assert!(text.contains("INCRBOUND key delta [MIN floor] [MAX cap]"));
        assert!(text.contains("summary: Adds delta only if"));
        assert!(text.contains("group: @strings"));

        let text = help_text(Some("@keys"));
        assert!(text.contains("  TTL key\n"));
        assert!(!text.contains("INCRBOUND"));

        assert!(help_text(Some("NOPE")).starts_with("No help for 'NOPE'"));
        let text = help_text(Some("@nope"));
        assert!(text.starts_with("Unknown group '@nope'"));
        assert!(text.contains("@strings"));
    }

    #[test]
    fn prompt_shows_the_address_or_disconnection() {
        assert_eq!(prompt("127.0.0.1", 7379, true), "127.0.0.1:7379> ");
        assert_eq!(prompt("127.0.0.1", 7379, false), "not connected> ");
    }

    #[test]
    fn completion_offers_commands_then_help_topics() {
        let (start, candidates) = complete("INCRB", 5);
        assert_eq!(start, 0);
        assert_eq!(candidates, vec!["INCRBY", "INCRBOUND", "INCRBYFLOAT"]);
        let (_, candidates) = complete("incrb", 5);
        assert_eq!(candidates, vec!["incrby", "incrbound", "incrbyfloat"]);
        let (_, candidates) = complete("hel", 3);
        assert_eq!(candidates, vec!["hello", "help"]);
        let (_, candidates) = complete("qui", 3);
        assert_eq!(candidates, vec!["quit"]);
        let (_, candidates) = complete("", 0);
        assert_eq!(candidates.len(), COMMANDS.len() + 2);
        let (start, candidates) = complete("help @st", 8);
        assert_eq!(start, 5);
        assert_eq!(candidates, vec!["@strings", "@stock"]);
        let (_, candidates) = complete("GET k", 5);
        assert!(candidates.is_empty());
    }

    #[test]
    fn hint_shows_syntax_after_the_name() {
        let set = commands::find("SET").unwrap();
        assert_eq!(hint("set ", 4).as_deref(), Some(set.syntax));
        assert_eq!(hint("set", 3), None);
        assert_eq!(hint("set k ", 6), None);
        assert_eq!(hint("time ", 5), None);
        assert_eq!(hint("nope ", 5), None);
    }
}
