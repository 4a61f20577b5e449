//! One user and the Redis ACL rules that shape it (`on`, `>password`,
//! `~pattern`, `+@category`...): the users file and `ACL SETUSER` apply the
//! same rules through [`User::apply`]. What a user may run is kept as a bit
//! per command ([`CommandSet`]), rebuilt here when a rule changes it, so a
//! request's check is one bit test.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use usher_protocol::commands::{self, category, Cmd, COMMANDS};

use crate::glob::glob_match;

/// SHA-256 of a password: the only form a password is kept in.
pub type PasswordHash = [u8; 32];

pub fn hash_password(password: &[u8]) -> PasswordHash {
    Sha256::digest(password).into()
}

/// A hash as 64 lower-case hex digits (`ACL LIST`, the users file).
pub fn hex(hash: &PasswordHash) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(64);
    for byte in hash {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Reads 64 lower-case hex digits, as Redis requires for `#hash`.
fn parse_hex(text: &[u8]) -> Option<PasswordHash> {
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut hash = [0u8; 32];
    for (at, pair) in text.chunks(2).enumerate() {
        hash[at] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(hash)
}

/// Commands a user may run: one bit per [`Cmd`], in 64-bit words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandSet([u64; COMMAND_SET_WORDS]);

/// Words of a [`CommandSet`]: enough for every row of the command table.
const COMMAND_SET_WORDS: usize = 4;
const _: () = assert!(COMMANDS.len() <= COMMAND_SET_WORDS * 64);

impl CommandSet {
    #[inline]
    pub fn contains(self, id: Cmd) -> bool {
        let bit = id as usize;
        self.0[bit / 64] >> (bit % 64) & 1 != 0
    }

    fn set(&mut self, id: Cmd, on: bool) {
        let bit = id as usize;
        let word = &mut self.0[bit / 64];
        if on {
            *word |= 1 << (bit % 64);
        } else {
            *word &= !(1 << (bit % 64));
        }
    }

    fn all() -> CommandSet {
        let mut set = CommandSet::default();
        for spec in COMMANDS {
            set.set(spec.id, true);
        }
        set
    }
}

/// A `~pattern`. The common form, a literal prefix and one trailing `*`
/// (`sale:*`), is matched as a prefix comparison; any other goes through
/// the glob matcher.
#[derive(Clone, Debug)]
struct KeyPattern {
    text: Vec<u8>,
    /// `Some(n)`: the pattern is `text[..n]` followed by `*`, no other
    /// special character.
    prefix: Option<usize>,
}

impl KeyPattern {
    fn new(text: &[u8]) -> KeyPattern {
        let special = |c: &u8| matches!(c, b'*' | b'?' | b'[' | b'\\');
        let prefix = match text.split_last() {
            Some((b'*', head)) if !head.iter().any(special) => Some(head.len()),
            _ => None,
        };
        KeyPattern {
            text: text.to_vec(),
            prefix,
        }
    }

    #[inline]
    fn matches(&self, key: &[u8]) -> bool {
        match self.prefix {
            Some(n) => key.starts_with(&self.text[..n]),
            None => glob_match(&self.text, key),
        }
    }
}

/// A user: whether it may log in, its password hashes, the commands and
/// keys it may use.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    /// Any password logs in.
    pub nopass: bool,
    passwords: Vec<PasswordHash>,
    commands: CommandSet,
    /// `+cmd|sub` for a command not in `commands`, and `-cmd|sub` for one
    /// in it.
    allowed_subcommands: Vec<(Cmd, String)>,
    denied_subcommands: Vec<(Cmd, String)>,
    /// The command rules as given (normalized) since the last
    /// `allcommands` (`rules_on_all`) or `nocommands`, for `ACL LIST`.
    command_rules: Vec<String>,
    rules_on_all: bool,
    pub all_keys: bool,
    patterns: Vec<KeyPattern>,
    /// Every command, every key, no subcommand rule: the check is skipped.
    unrestricted: bool,
}

/// A rule that cannot be applied, worded as Redis words it.
#[derive(Debug, PartialEq, Eq)]
pub struct RuleError(pub String);

impl User {
    /// A new user as Redis makes one: off, no password, no commands, no keys.
    pub fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            commands: CommandSet::default(),
            allowed_subcommands: Vec::new(),
            denied_subcommands: Vec::new(),
            command_rules: Vec::new(),
            rules_on_all: false,
            all_keys: false,
            patterns: Vec::new(),
            unrestricted: false,
        }
    }

    /// The `default` user when there is no users file: on, no password,
    /// every command and key.
    pub fn open_default() -> User {
        let mut user = User::new("default");
        for rule in ["on", "nopass", "allkeys", "allcommands"] {
            user.apply(rule.as_bytes())
                .unwrap_or_else(|error| panic!("built-in rule {rule}: {}", error.0));
        }
        user
    }

    /// Applies one rule. On error the user may be half changed: callers
    /// apply a list to a copy and keep it only if every rule applied.
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        // A rule is written back as it is (ACL SAVE, ACL LIST): one with a
        // space or line break in it would split, or add a line, when the
        // file is read again. Passwords are kept only as hashes.
        if !matches!(rule.first(), Some(b'>' | b'<')) && has_space(rule) {
            return Err(RuleError("Syntax error".into()));
        }
        let lower = rule.to_ascii_lowercase();
        match lower.as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"allkeys" | b"~*" => {
                self.all_keys = true;
                self.patterns.clear();
            }
            b"resetkeys" => {
                self.all_keys = false;
                self.patterns.clear();
            }
            b"allcommands" | b"+@all" => self.set_all(true),
            b"nocommands" | b"-@all" => self.set_all(false),
            b"reset" => {
                for part in ["resetpass", "resetkeys", "off", "-@all"] {
                    self.apply(part.as_bytes())?;
                }
            }
            // No pub/sub and no payload sanitizing: accepted, nothing to do.
            b"resetchannels"
            | b"allchannels"
            | b"sanitize-payload"
            | b"skip-sanitize-payload"
            | b"clearselectors" => {}
            _ => self.apply_with_argument(rule)?,
        }
        self.unrestricted = self.all_keys
            && self.commands == CommandSet::all()
            && self.denied_subcommands.is_empty();
        Ok(())
    }

    fn apply_with_argument(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        let (&first, rest) = rule
            .split_first()
            .ok_or_else(|| RuleError("Syntax error".into()))?;
        match first {
            b'>' => self.add_password(hash_password(rest)),
            b'#' => {
                let hash = parse_hex(rest).ok_or_else(bad_hash)?;
                self.add_password(hash);
            }
            b'<' => self.remove_password(&hash_password(rest))?,
            b'!' => {
                let hash = parse_hex(rest).ok_or_else(bad_hash)?;
                self.remove_password(&hash)?;
            }
            b'~' => self.add_pattern(rest)?,
            b'&' => {}
            b'+' | b'-' => self.apply_command_rule(first == b'+', rest)?,
            _ => return Err(RuleError("Syntax error".into())),
        }
        Ok(())
    }

    fn add_password(&mut self, hash: PasswordHash) {
        self.nopass = false;
        if !self.passwords.contains(&hash) {
            self.passwords.push(hash);
        }
    }

    fn remove_password(&mut self, hash: &PasswordHash) -> Result<(), RuleError> {
        let before = self.passwords.len();
        self.passwords.retain(|known| known != hash);
        if self.passwords.len() == before {
            return Err(RuleError(
                "The password you are trying to remove from the user does not exist".into(),
            ));
        }
        Ok(())
    }

    fn add_pattern(&mut self, pattern: &[u8]) -> Result<(), RuleError> {
        if pattern.starts_with(b"%") {
            return Err(RuleError(
                "Read and write key permissions (%R~, %W~) are not supported".into(),
            ));
        }
        if self.all_keys {
            return Err(RuleError(
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns".into(),
            ));
        }
        if pattern == b"*" {
            self.all_keys = true;
            self.patterns.clear();
        } else if !self.patterns.iter().any(|known| known.text == pattern) {
            self.patterns.push(KeyPattern::new(pattern));
        }
        Ok(())
    }

    fn set_all(&mut self, on: bool) {
        self.commands = if on {
            CommandSet::all()
        } else {
            CommandSet::default()
        };
        self.allowed_subcommands.clear();
        self.denied_subcommands.clear();
        self.command_rules.clear();
        self.rules_on_all = on;
    }

    /// `+cmd`, `-cmd`, `+@cat`, `-@cat`, `+cmd|sub`, `-cmd|sub`.
    fn apply_command_rule(&mut self, allow: bool, name: &[u8]) -> Result<(), RuleError> {
        let unknown = || RuleError("Unknown command or category name in ACL".into());
        let sign = if allow { '+' } else { '-' };
        let text = String::from_utf8_lossy(name).to_ascii_lowercase();
        if let Some(category_name) = name.strip_prefix(b"@") {
            let bit = category::find(category_name).ok_or_else(unknown)?;
            for spec in COMMANDS.iter().filter(|spec| spec.categories & bit != 0) {
                self.set_command(spec.id, allow);
            }
        } else if let Some((command, sub)) = text.split_once('|') {
            let spec = commands::find(command).ok_or_else(unknown)?;
            if !has_subcommands(spec.id) || sub.is_empty() {
                return Err(unknown());
            }
            let entry = (spec.id, sub.to_string());
            self.allowed_subcommands.retain(|known| *known != entry);
            self.denied_subcommands.retain(|known| *known != entry);
            match (allow, self.commands.contains(spec.id)) {
                (true, false) => self.allowed_subcommands.push(entry),
                (false, true) => self.denied_subcommands.push(entry),
                _ => {}
            }
        } else {
            let spec = commands::find(&text).ok_or_else(unknown)?;
            self.set_command(spec.id, allow);
        }
        self.command_rules.push(format!("{sign}{text}"));
        Ok(())
    }

    fn set_command(&mut self, id: Cmd, allow: bool) {
        self.commands.set(id, allow);
        self.allowed_subcommands.retain(|(known, _)| *known != id);
        self.denied_subcommands.retain(|(known, _)| *known != id);
    }

    /// Whether `password` is one of the user's (any password when
    /// `nopass`). Every hash is compared, in constant time each.
    pub fn password_matches(&self, password: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let given = hash_password(password);
        let mut matched = subtle::Choice::from(0);
        for known in &self.passwords {
            matched |= known.ct_eq(&given);
        }
        matched.into()
    }

    /// Every command and every key allowed: nothing to check.
    #[inline]
    pub fn unrestricted(&self) -> bool {
        self.unrestricted
    }

    /// Whether the user may run `id` (with subcommand `sub`, if it has one).
    #[inline]
    pub fn may_run(&self, id: Cmd, sub: Option<&str>) -> bool {
        if self.commands.contains(id) {
            self.denied_subcommands.is_empty()
                || !sub.is_some_and(|sub| {
                    self.denied_subcommands
                        .iter()
                        .any(|(known, name)| *known == id && name == sub)
                })
        } else {
            sub.is_some_and(|sub| {
                self.allowed_subcommands
                    .iter()
                    .any(|(known, name)| *known == id && name == sub)
            })
        }
    }

    /// Whether the user may touch `key`.
    #[inline]
    pub fn may_touch(&self, key: &[u8]) -> bool {
        self.all_keys || self.patterns.iter().any(|pattern| pattern.matches(key))
    }

    /// The user as one `ACL LIST` / users-file line: hashes only.
    pub fn describe(&self) -> String {
        let mut line = format!("user {} ", self.name);
        line.push_str(if self.enabled { "on" } else { "off" });
        if self.nopass {
            line.push_str(" nopass");
        }
        for hash in &self.passwords {
            line.push_str(" #");
            line.push_str(&hex(hash));
        }
        if self.all_keys {
            line.push_str(" ~*");
        } else if self.patterns.is_empty() {
            line.push_str(" resetkeys");
        }
        for pattern in &self.patterns {
            line.push_str(" ~");
            line.push_str(&String::from_utf8_lossy(&pattern.text));
        }
        // The command rules since the last `allcommands` / `nocommands`.
        line.push_str(if self.rules_on_all {
            " +@all"
        } else {
            " -@all"
        });
        for rule in &self.command_rules {
            line.push(' ');
            line.push_str(rule);
        }
        line
    }
}

fn bad_hash() -> RuleError {
    RuleError(
        "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters".into(),
    )
}

/// Commands whose first argument is a subcommand (`cmd|sub` rules).
pub fn has_subcommands(id: Cmd) -> bool {
    matches!(
        id,
        Cmd::Client | Cmd::Command | Cmd::Config | Cmd::Acl | Cmd::Object
    )
}

/// Splits a users-file line or an `ACL SETUSER` argument list into rules.
pub fn split_rules(line: &str) -> impl Iterator<Item = &str> {
    line.split_ascii_whitespace()
}

/// Whether a user name or rule holds a byte that cannot be written back
/// into a users-file line as one word: whitespace (C's `isspace`, vertical
/// tab included) or NUL, as Redis refuses them.
pub fn has_space(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|byte| byte.is_ascii_whitespace() || matches!(byte, 0x0b | 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &str) -> User {
        let mut user = User::new("app");
        for rule in split_rules(rules) {
            user.apply(rule.as_bytes()).unwrap();
        }
        user
    }

    #[test]
    fn categories_and_commands_build_the_bitset() {
        let app = user("on >secret ~sale:* +@read +@write +@sale -@dangerous");
        assert!(app.may_run(Cmd::Get, None));
        assert!(app.may_run(Cmd::Incrbound, None));
        assert!(app.may_run(Cmd::SeatHold, None));
        assert!(!app.may_run(Cmd::Flushall, None));
        assert!(!app.may_run(Cmd::Config, Some("get")));
        assert!(!app.may_run(Cmd::Acl, Some("whoami")));
        assert!(!app.unrestricted());
        assert!(app.may_touch(b"sale:1"));
        assert!(!app.may_touch(b"stock:1"));
    }

    #[test]
    fn subcommands_can_be_allowed_and_denied() {
        let metrics = user("on nopass -@all +ping +info +client|id +client|getname");
        assert!(metrics.may_run(Cmd::Client, Some("id")));
        assert!(!metrics.may_run(Cmd::Client, Some("setname")));
        assert!(!metrics.may_run(Cmd::Get, None));
        let admin = user("on nopass allcommands -config|get");
        assert!(!admin.may_run(Cmd::Config, Some("get")));
        assert!(admin.may_run(Cmd::Acl, Some("list")));
        let inspector = user("on nopass -@all +object|encoding");
        assert!(inspector.may_run(Cmd::Object, Some("encoding")));
        assert!(!inspector.may_run(Cmd::Object, Some("freq")));
        let mut bad = User::new("x");
        assert!(bad.apply(b"+get|x").is_err());
        assert!(bad.apply(b"+nosuch").is_err());
        assert!(bad.apply(b"+@nosuch").is_err());
    }

    #[test]
    fn passwords_rotate_and_never_appear_in_the_description() {
        let mut app = user("on >one >two");
        assert!(app.password_matches(b"one"));
        assert!(app.password_matches(b"two"));
        assert!(!app.password_matches(b"three"));
        app.apply(b"<one").unwrap();
        assert!(!app.password_matches(b"one"));
        assert!(app.password_matches(b"two"));
        assert!(app.apply(b"<one").is_err());
        let hash = hex(&hash_password(b"two"));
        app.apply(format!("!{hash}").as_bytes()).unwrap();
        assert!(!app.password_matches(b"two"));
        app.apply(format!("#{hash}").as_bytes()).unwrap();
        assert!(app.password_matches(b"two"));
        let line = app.describe();
        assert!(!line.contains("two") || line.contains(&hash));
        assert!(line.contains(&format!("#{hash}")), "{line}");
        assert!(app.apply(b"#abc").is_err());
        assert!(app
            .apply(format!("#{}", hash.to_uppercase()).as_bytes())
            .is_err());
    }

    #[test]
    fn a_description_rebuilds_the_same_user() {
        for rules in [
            "on >p ~sale:* ~stock:* +@read +@write +@sale -@dangerous",
            "on nopass allkeys allcommands -flushall -config|get",
            "off resetkeys -@all +ping +client|id",
        ] {
            let original = user(rules);
            let line = original.describe();
            let mut rebuilt = User::new("app");
            for rule in split_rules(&line).skip(2) {
                rebuilt.apply(rule.as_bytes()).unwrap();
            }
            assert_eq!(rebuilt.describe(), line);
            for spec in COMMANDS {
                for sub in [None, Some("id"), Some("get")] {
                    assert_eq!(
                        rebuilt.may_run(spec.id, sub),
                        original.may_run(spec.id, sub),
                        "{rules}: {} {sub:?}",
                        spec.name
                    );
                }
            }
        }
    }

    #[test]
    fn prefix_patterns_match_as_the_glob_matcher_does() {
        let patterns: [&[u8]; 7] = [
            b"sale:*", b"s*", b"*", b"a?c*", b"x[ab]*", b"lit\\*", b"a*b*",
        ];
        let keys: [&[u8]; 9] = [
            b"", b"sale:", b"sale:1", b"sal", b"abc", b"xa1", b"lit*", b"lit1", b"ab",
        ];
        for pattern in patterns {
            let compiled = KeyPattern::new(pattern);
            for key in keys {
                assert_eq!(
                    compiled.matches(key),
                    glob_match(pattern, key),
                    "{:?} on {:?}",
                    String::from_utf8_lossy(pattern),
                    String::from_utf8_lossy(key)
                );
            }
        }
    }

    #[test]
    fn keys_follow_patterns_unless_allkeys() {
        let mut app = user("~sale:* ~a?c");
        assert!(app.may_touch(b"abc") && !app.may_touch(b"abbc"));
        assert!(app.apply(b"allkeys").is_ok());
        assert!(app.may_touch(b"anything"));
        assert!(app.apply(b"~x").is_err());
        app.apply(b"resetkeys").unwrap();
        assert!(!app.may_touch(b"anything"));
    }
}
