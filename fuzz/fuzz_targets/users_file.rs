//! The users-file parser (`acl::file::parse`, whose rules `ACL SETUSER`
//! shares): the input is the file's text. What parses must survive
//! `ACL SAVE`: the users written back as `ACL LIST` lines parse again to
//! the same users, and their permissions agree on every command and on
//! sample keys.

#![no_main]

// Linked for its allocator, which refuses oversized allocations.
extern crate usher_fuzz;

use libfuzzer_sys::fuzz_target;
use usher::acl::file::parse;
use usher_protocol::commands::COMMANDS;

const USERS_MAX: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(users) = parse(text, USERS_MAX) else {
        return;
    };
    let saved: String = users.iter().map(|user| user.describe() + "\n").collect();
    let again = match parse(&saved, USERS_MAX) {
        Ok(again) => again,
        Err((line, message)) => {
            panic!("a saved file does not load: line {line}: {message}\n{saved}")
        }
    };
    assert_eq!(users.len(), again.len());
    let keys: [&[u8]; 4] = [b"", b"sale:1", b"stock:x", text.as_bytes()];
    for (user, back) in users.iter().zip(&again) {
        assert_eq!(user.describe(), back.describe());
        for spec in COMMANDS {
            assert_eq!(
                user.may_run(spec.id, None),
                back.may_run(spec.id, None),
                "{}",
                spec.name
            );
        }
        for key in keys {
            assert_eq!(user.may_touch(key), back.may_touch(key));
        }
    }
});
