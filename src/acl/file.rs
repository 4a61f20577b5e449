//! The users file: one user per line in Redis ACL syntax
//! (`user app on #<sha256> ~sale:* +@read +@sale`), blank lines and lines
//! starting with `#` ignored. Loading names the file and line of an error;
//! saving (`ACL SAVE`) writes hashes only, atomically: a temporary file in
//! the same directory, synced, renamed over the old one, then the
//! directory synced.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::rules::{split_rules, User};

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
        let line = line.trim();
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
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
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
        let loaded = load_file(&path, 16).unwrap();
        assert_eq!(loaded.len(), 2);
        assert!(loaded[0].password_matches(b"two"));
        assert_eq!(loaded[0].describe(), users[0].describe());
    }
}
