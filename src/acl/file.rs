//! The users file: one user per line in Redis ACL syntax
//! (`user app on #<sha256> ~sale:* +@read +@sale`), blank lines and lines
//! starting with `#` ignored. Loading names the file and line of an error;
//! saving (`ACL SAVE`) writes hashes only, atomically: a temporary file in
//! the same directory, synced, renamed over the old one, then the
//! directory synced.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::rules::{has_space, split_rules, User};

#[derive(Debug)]
pub enum FileError {
    /// `ACL SAVE` / `ACL LOAD` without a users file.
    NoFile,
    Io(PathBuf, std::io::Error),
    Parse {
        file: PathBuf,
        line: usize,
        message: String,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::NoFile => f.write_str(
                "This server is not configured to use a users file. Start it with --users FILE (TOML users_file).",
            ),
            FileError::Io(path, error) => write!(f, "users file {}: {error}", path.display()),
            FileError::Parse {
                file,
                line,
                message,
            } => write!(f, "{}:{line}: {message}", file.display()),
        }
    }
}

impl std::error::Error for FileError {}

/// Reads and parses a users file of at most `users_max` users.
pub fn load_file(path: &Path, users_max: usize) -> Result<Vec<User>, FileError> {
    let text =
        std::fs::read_to_string(path).map_err(|error| FileError::Io(path.to_owned(), error))?;
    parse(&text, users_max).map_err(|(line, message)| FileError::Parse {
        file: path.to_owned(),
        line,
        message,
    })
}

/// Parses users-file text; an error is `(line number, message)`.
pub fn parse(text: &str, users_max: usize) -> Result<Vec<User>, (usize, String)> {
    let mut users: Vec<User> = Vec::new();
    for (at, line) in text.lines().enumerate() {
        let number = at + 1;
        // The same spaces as split_rules: a line ACL SAVE wrote reads back
        // as it was.
        let line = line.trim_matches(|c: char| c.is_ascii_whitespace());
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = split_rules(line);
        if words.next() != Some("user") {
            return Err((number, "a line must start with 'user'".into()));
        }
        let Some(name) = words.next() else {
            return Err((number, "a user line needs a name".into()));
        };
        if has_space(name.as_bytes()) {
            return Err((
                number,
                "Usernames can't contain spaces or null characters".into(),
            ));
        }
        if users.len() >= users_max {
            return Err((
                number,
                format!("more than {users_max} users (acl_users_max)"),
            ));
        }
        if users.iter().any(|user| user.name == name) {
            return Err((number, format!("Duplicate user '{name}' found")));
        }
        let mut user = User::new(name);
        for rule in words {
            user.apply(rule.as_bytes()).map_err(|error| {
                (
                    number,
                    format!("Error in user declaration '{name}': {}", error.0),
                )
            })?;
        }
        users.push(user);
    }
    Ok(users)
}

/// Writes `users` to `path` atomically (temporary file, fsync, rename,
/// directory fsync).
pub fn save_file(path: &Path, users: &[&User]) -> Result<(), FileError> {
    let io = |error| FileError::Io(path.to_owned(), error);
    let mut text = String::new();
    for user in users {
        text.push_str(&user.describe());
        text.push('\n');
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    // Readable by the server's user only: the file holds password hashes.
    // A temporary file left by a failed save is made anew, with that mode.
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io)?;
    std::fs::File::open(&dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line() {
        let text = "# users\n\nuser app on >x ~sale:* +@read\nuser bad on +nosuch\n";
        let (line, message) = parse(text, 16).err().unwrap();
        assert_eq!(line, 4);
        assert!(message.contains("Unknown command"), "{message}");
        assert_eq!(parse("user a on\nuser a off", 16).err().unwrap().0, 2);
        assert_eq!(parse("usr a", 16).err().unwrap().0, 1);
        assert_eq!(parse("user", 16).err().unwrap().0, 1);
        assert_eq!(parse("user a\nuser b\nuser c", 2).err().unwrap().0, 3);
    }

    /// What ACL SETUSER accepts, ACL SAVE writes as one line that loads
    /// back the same: a rule or name that would split or add a line is
    /// refused (a pattern with a line break would otherwise plant a user
    /// of its own in the saved file).
    #[test]
    fn a_saved_line_loads_back_as_it_was() {
        let limits = super::super::AclLimits {
            log_entries_max: 8,
            users_max: 8,
        };
        let stats = std::sync::Arc::new(crate::stats::ServerStats::default());
        let mut users = super::super::Users::open(limits, stats);
        let injected: &[u8] = b"~a\nuser evil on nopass ~* +@all";
        for rule in [injected, b"~a b", b"~a\x0bb", b"+acl|whoami\x0b", b"~a\0"] {
            assert!(users.set_user("app", &[b"on", rule]).is_err(), "{rule:?}");
        }
        for name in ["a\x0bb", "a\0", "a\nb"] {
            assert!(users.set_user(name, &[b"on"]).is_err(), "{name:?}");
        }
        assert!(parse("user a\x0bb on", 8).is_err());
        // A password may hold spaces: only its hash is written.
        users
            .set_user("app", &[b"on", b">open sesame", b"~sale:*", b"+@read"])
            .unwrap();
        let saved: String = users.users().iter().map(|u| u.describe() + "\n").collect();
        let loaded = parse(&saved, 8).unwrap();
        let again: String = loaded.iter().map(|u| u.describe() + "\n").collect();
        assert_eq!(saved, again);
        assert!(!saved.contains("evil"));
        let app = loaded.iter().find(|u| u.name == "app").unwrap();
        assert!(app.password_matches(b"open sesame"));
    }

    fn cases() -> u32 {
        std::env::var("USHER_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256)
    }

    /// A rule-like word: a known rule, or a prefix (`~ + - > < # !`) and
    /// arbitrary text, spaces and control bytes included.
    fn word() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            3 => prop::sample::select(vec![
                "user", "on", "off", "nopass", "resetpass", "allkeys", "resetkeys", "reset",
                "allcommands", "nocommands", "+@all", "-@all", "+@sale", "-@dangerous", "+get",
                "+acl|whoami", "~*", "&*",
            ])
            .prop_map(String::from),
            1 => ("[~+\\-><#!]?", "[ -~\\x0b\\x00\\t]{0,12}").prop_map(|(a, b)| a + &b),
            // Patterns and passwords take any text: the words most likely
            // to carry odd bytes into a line that parses.
            2 => ("[~>]", "[a-z*?\\x0b\\x0c\\x00]{0,6}").prop_map(|(a, b)| a + &b),
            // Subcommand rules, which a saved line puts last.
            2 => ("[+-](acl|client|config)\\|", "[a-z\\x0b\\x0c]{1,4}").prop_map(|(a, b)| a + &b),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(cases()))]

        /// The smoke of the `users_file` fuzz target: any text parses or
        /// is refused with a line number, and what parses saves to lines
        /// that load back to the same users.
        #[test]
        fn any_users_file_parses_or_is_refused_and_saves_back(
            lines in proptest::collection::vec(proptest::collection::vec(word(), 0..6), 1..4),
        ) {
            let text: String = lines
                .iter()
                .enumerate()
                .map(|(at, words)| format!("user u{at} {}\n", words.join(" ")))
                .collect();
            if let Ok(users) = parse(&text, 8) {
                let saved: String = users.iter().map(|u| u.describe() + "\n").collect();
                let loaded = parse(&saved, 8).map_err(|(_, m)| {
                    proptest::test_runner::TestCaseError::fail(format!("{m}: {saved}"))
                })?;
                let again: String = loaded.iter().map(|u| u.describe() + "\n").collect();
                proptest::prop_assert_eq!(saved, again);
            }
        }
    }

    #[test]
    fn plaintext_passwords_are_hashed_on_load() {
        let users = parse("user app on >sesame ~* +@all", 16).unwrap();
        assert!(users[0].password_matches(b"sesame"));
        assert!(!users[0].describe().contains("sesame"));
    }

    #[test]
    fn save_then_load_keeps_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.acl");
        let users = parse(
            "user app on >one >two ~sale:* +@sale -incrbound\nuser default off",
            16,
        )
        .unwrap();
        save_file(&path, &users.iter().collect::<Vec<_>>()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("one") && !text.contains("two"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "users file mode {mode:o}");
        let loaded = load_file(&path, 16).unwrap();
        assert_eq!(loaded.len(), 2);
        assert!(loaded[0].password_matches(b"two"));
        assert_eq!(loaded[0].describe(), users[0].describe());
    }
}
