//! `usher_protocol::parse`: command lookup, arity, options and argument
//! conversions, for every command in the table.

use bytes::Bytes;
use usher_protocol::commands::COMMANDS;
use usher_protocol::number::{double_text, parse_f64};
use usher_protocol::request::{
    AclCommand, ClientCommand, CommandQuery, ConnectionCommand, Deadline, ExpireCondition, Secret,
    SetCondition, SetExpiry,
};
use usher_protocol::{parse, Arg, ErrorCode, Request, ServerError};

fn args(words: &str) -> Vec<Arg> {
    words
        .split(' ')
        .map(|w| Arg::Bytes(Bytes::copy_from_slice(w.as_bytes())))
        .collect()
}

fn b(text: &str) -> Arg {
    Arg::Bytes(Bytes::copy_from_slice(text.as_bytes()))
}

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn ok(words: &str) -> Request {
    parse(&args(words)).unwrap_or_else(|e| panic!("{words}: {e}"))
}

fn err(words: &str) -> ServerError {
    match parse(&args(words)) {
        Ok(request) => panic!("{words} parsed as {request:?}"),
        Err(error) => error,
    }
}

fn err_code(words: &str) -> ErrorCode {
    err(words).code
}

#[test]
fn unknown_commands() {
    let error = err("NOPE a b");
    assert_eq!(error.code, ErrorCode::UnknownCommand);
    assert_eq!(
        error.message,
        "ERR unknown command 'NOPE', with args beginning with: 'a' 'b' "
    );
    assert_eq!(err_code("GETX k"), ErrorCode::UnknownCommand);
    assert_eq!(err_code(""), ErrorCode::UnknownCommand);
    let long = "X".repeat(300);
    let error = err(&long);
    assert_eq!(error.code, ErrorCode::UnknownCommand);
    assert!(
        error.message.len() < 250,
        "the name is cut short in the message"
    );
    // A name that is not a string is no command.
    for first in [Arg::Int(1), Arg::Double(2.0)] {
        let error = parse(&[first, b("x")]).unwrap_err();
        assert_eq!(error.code, ErrorCode::UnknownCommand);
    }
    assert_eq!(parse(&[]).unwrap_err().code, ErrorCode::Protocol);
}

#[test]
fn names_and_options_are_case_insensitive() {
    assert_eq!(ok("get k"), Request::Get(bytes("k")));
    assert_eq!(ok("GeT k"), Request::Get(bytes("k")));
    assert_eq!(ok("set k v nx ex 5"), ok("SET k v NX EX 5"));
    assert_eq!(ok("Expire k 5 xX"), ok("EXPIRE k 5 XX"));
    assert_eq!(
        ok("incrbound c 1 min 0 Max 9"),
        ok("INCRBOUND c 1 MIN 0 MAX 9")
    );
    assert_eq!(ok("scan 0 match a* count 5"), ok("SCAN 0 MATCH a* COUNT 5"));
    assert_eq!(ok("flushall async"), Request::FlushAll);
    // Keys and values keep their case.
    assert_eq!(ok("get Key"), Request::Get(bytes("Key")));
}

/// A valid argument list for each command, used to build arity errors.
fn filler(count: usize) -> String {
    vec!["1"; count].join(" ")
}

#[test]
fn arity_follows_the_command_table() {
    for spec in COMMANDS {
        let name = spec.name;
        let bad_counts: Vec<i64> = if spec.arity > 0 {
            vec![spec.arity - 1, spec.arity + 1, spec.arity + 3]
        } else {
            vec![-spec.arity - 1]
        };
        for count in bad_counts.into_iter().filter(|c| *c >= 1) {
            let words = format!("{name} {}", filler(count as usize - 1));
            let words = words.trim_end();
            let error = err(words);
            assert_eq!(error.code, ErrorCode::WrongArity, "{words}: {error}");
            assert_eq!(
                error.message,
                format!(
                    "ERR wrong number of arguments for '{}' command",
                    name.to_ascii_lowercase()
                )
            );
        }
    }
}

#[test]
fn arity_inside_variadic_commands() {
    assert_eq!(err_code("PING a b"), ErrorCode::WrongArity);
    assert_eq!(err_code("CLIENT SETNAME"), ErrorCode::WrongArity);
    assert_eq!(err_code("CLIENT SETNAME a b"), ErrorCode::WrongArity);
    assert_eq!(err_code("CLIENT GETNAME x"), ErrorCode::WrongArity);
    assert_eq!(err_code("CLIENT ID x"), ErrorCode::WrongArity);
    assert_eq!(err_code("CLIENT SETINFO lib-name"), ErrorCode::WrongArity);
    assert_eq!(err_code("COMMAND COUNT x"), ErrorCode::WrongArity);
    let error = err("CONFIG GET");
    assert_eq!(error.code, ErrorCode::WrongArity);
    assert!(error.message.contains("'config|get'"), "{}", error.message);
}

#[test]
fn every_command_parses_a_valid_call() {
    let cases = [
        ("PING", Request::Connection(ConnectionCommand::Ping(None))),
        (
            "PING hi",
            Request::Connection(ConnectionCommand::Ping(Some(bytes("hi")))),
        ),
        (
            "ECHO hi",
            Request::Connection(ConnectionCommand::Echo(bytes("hi"))),
        ),
        ("TIME", Request::Connection(ConnectionCommand::Time)),
        (
            "HELLO",
            Request::Connection(ConnectionCommand::Hello {
                protocol: None,
                auth: None,
                client_name: None,
            }),
        ),
        (
            "HELLO 3 AUTH u p SETNAME me",
            Request::Connection(ConnectionCommand::Hello {
                protocol: Some(3),
                auth: Some(Box::new((bytes("u"), Secret(bytes("p"))))),
                client_name: Some(bytes("me")),
            }),
        ),
        (
            "AUTH pw",
            Request::Connection(ConnectionCommand::Auth {
                user: None,
                password: Secret(bytes("pw")),
            }),
        ),
        (
            "AUTH app pw",
            Request::Connection(ConnectionCommand::Auth {
                user: Some(bytes("app")),
                password: Secret(bytes("pw")),
            }),
        ),
        (
            "ACL SETUSER app on >pw ~sale:*",
            Request::Connection(ConnectionCommand::Acl(AclCommand::SetUser {
                name: bytes("app"),
                rules: Secret(vec![bytes("on"), bytes(">pw"), bytes("~sale:*")]),
            })),
        ),
        (
            "acl log reset",
            Request::Connection(ConnectionCommand::Acl(AclCommand::LogReset)),
        ),
        (
            "ACL LOG 5",
            Request::Connection(ConnectionCommand::Acl(AclCommand::Log(Some(5)))),
        ),
        (
            "ACL CAT sale",
            Request::Connection(ConnectionCommand::Acl(AclCommand::Cat(Some(bytes("sale"))))),
        ),
        (
            "SELECT 0",
            Request::Connection(ConnectionCommand::Select(0)),
        ),
        (
            "CLIENT SETNAME app",
            Request::Connection(ConnectionCommand::Client(ClientCommand::SetName(bytes(
                "app",
            )))),
        ),
        (
            "CLIENT getname",
            Request::Connection(ConnectionCommand::Client(ClientCommand::GetName)),
        ),
        (
            "CLIENT ID",
            Request::Connection(ConnectionCommand::Client(ClientCommand::Id)),
        ),
        (
            "CLIENT SETINFO lib-name x",
            Request::Connection(ConnectionCommand::Client(ClientCommand::SetInfo)),
        ),
        (
            "COMMAND",
            Request::Connection(ConnectionCommand::Command(CommandQuery::All)),
        ),
        (
            "COMMAND count",
            Request::Connection(ConnectionCommand::Command(CommandQuery::Count)),
        ),
        (
            "COMMAND INFO get",
            Request::Connection(ConnectionCommand::Command(CommandQuery::Info(vec![bytes(
                "get",
            )]))),
        ),
        (
            "COMMAND DOCS",
            Request::Connection(ConnectionCommand::Command(CommandQuery::Docs(vec![]))),
        ),
        (
            "CONFIG get save appendonly",
            Request::Connection(ConnectionCommand::ConfigGet(vec![
                bytes("save"),
                bytes("appendonly"),
            ])),
        ),
        ("QUIT", Request::Connection(ConnectionCommand::Quit)),
        ("INFO", Request::Info(vec![])),
        (
            "INFO server stats",
            Request::Info(vec![bytes("server"), bytes("stats")]),
        ),
        ("DBSIZE", Request::DbSize),
        ("FLUSHALL", Request::FlushAll),
        ("FLUSHALL SYNC", Request::FlushAll),
        ("DEL a b", Request::Del(vec![bytes("a"), bytes("b")])),
        ("EXISTS a a", Request::Exists(vec![bytes("a"), bytes("a")])),
        ("TYPE a", Request::Type(bytes("a"))),
        ("TTL a", Request::Ttl(bytes("a"))),
        ("PTTL a", Request::Pttl(bytes("a"))),
        ("PERSIST a", Request::Persist(bytes("a"))),
        ("GET a", Request::Get(bytes("a"))),
        (
            "INCR a",
            Request::IncrBy {
                key: bytes("a"),
                delta: 1,
            },
        ),
        (
            "DECR a",
            Request::IncrBy {
                key: bytes("a"),
                delta: -1,
            },
        ),
        (
            "INCRBY a -7",
            Request::IncrBy {
                key: bytes("a"),
                delta: -7,
            },
        ),
        (
            "DECRBY a 7",
            Request::IncrBy {
                key: bytes("a"),
                delta: -7,
            },
        ),
        (
            "INCRBOUND c 1 MAX 100",
            Request::IncrBound {
                key: bytes("c"),
                delta: 1,
                min: None,
                max: Some(100),
            },
        ),
    ];
    for (words, expected) in cases {
        assert_eq!(ok(words), expected, "{words}");
    }
    // Every command in the table has a parser (none reaches the
    // "no parser" arm): a wrong arity is the only error for bare names.
    for spec in COMMANDS {
        if let Err(error) = parse(&args(spec.name)) {
            assert!(
                matches!(error.code, ErrorCode::WrongArity),
                "{}: {error}",
                spec.name
            );
        }
    }
}

#[test]
fn set_options() {
    let set = |words: &str| match ok(words) {
        Request::Set {
            condition,
            get,
            expiry,
            ..
        } => (condition, get, expiry),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        set("SET k v"),
        (SetCondition::Always, false, SetExpiry::Clear)
    );
    assert_eq!(
        set("SET k v XX GET PX 10"),
        (
            SetCondition::IfPresent,
            true,
            SetExpiry::At(Deadline::InMillis(10))
        )
    );
    assert_eq!(
        set("SET k v EXAT 100 NX"),
        (
            SetCondition::IfAbsent,
            false,
            SetExpiry::At(Deadline::AtSeconds(100))
        )
    );
    assert_eq!(
        set("SET k v PXAT 5").2,
        SetExpiry::At(Deadline::AtMillis(5))
    );
    assert_eq!(set("SET k v EX 5").2, SetExpiry::At(Deadline::InSeconds(5)));
    assert_eq!(set("SET k v KEEPTTL").2, SetExpiry::Keep);

    for words in [
        "SET k v NX XX",
        "SET k v XX NX",
        "SET k v KEEPTTL EX 10",
        "SET k v EX 10 KEEPTTL",
        "SET k v EX 10 PX 10",
        "SET k v EX",
        "SET k v FOO",
        "SET k v 10",
    ] {
        let error = err(words);
        assert_eq!(error.code, ErrorCode::Syntax, "{words}: {error}");
        assert_eq!(error.message, "ERR syntax error");
    }
    for words in [
        "SET k v EX 0",
        "SET k v PX -1",
        "SET k v EXAT 0",
        "SET k v PXAT -5",
    ] {
        let error = err(words);
        assert_eq!(error.code, ErrorCode::InvalidExpire, "{words}");
        assert_eq!(error.message, "ERR invalid expire time in 'set' command");
    }
    // Redis 7 accepts repeated options; the last expiry wins.
    assert_eq!(
        set("SET k v NX NX GET GET KEEPTTL KEEPTTL"),
        (SetCondition::IfAbsent, true, SetExpiry::Keep)
    );
    assert_eq!(
        set("SET k v EX 10 EX 20").2,
        SetExpiry::At(Deadline::InSeconds(20))
    );
    // Syntax errors win over bad numbers, as in Redis.
    assert_eq!(err_code("SET k v EX 0 BOGUS"), ErrorCode::Syntax);
    assert_eq!(err_code("SET k v EX abc XX NX"), ErrorCode::Syntax);
    assert_eq!(err_code("SET k v EX ten"), ErrorCode::NotInteger);
    assert_eq!(err_code("SET k v EX 1.5"), ErrorCode::NotInteger);
}

#[test]
fn expire_options() {
    let condition = |words: &str| match ok(words) {
        Request::Expire { condition, .. } => condition,
        other => panic!("{other:?}"),
    };
    assert_eq!(condition("EXPIRE k 5"), ExpireCondition::Always);
    assert_eq!(condition("EXPIRE k 5 NX"), ExpireCondition::NoExpiry);
    assert_eq!(condition("EXPIRE k 5 XX"), ExpireCondition::HasExpiry);
    assert_eq!(condition("EXPIRE k 5 GT"), ExpireCondition::Later);
    assert_eq!(condition("EXPIRE k 5 XX GT"), ExpireCondition::Later);
    assert_eq!(condition("EXPIRE k 5 LT"), ExpireCondition::Sooner);
    assert_eq!(
        condition("EXPIRE k 5 LT XX"),
        ExpireCondition::SoonerWithExpiry
    );
    let deadline = |words: &str| match ok(words) {
        Request::Expire { deadline, .. } => deadline,
        other => panic!("{other:?}"),
    };
    assert_eq!(deadline("EXPIRE k -5"), Deadline::InSeconds(-5));
    assert_eq!(deadline("PEXPIRE k 5"), Deadline::InMillis(5));
    assert_eq!(deadline("EXPIREAT k 5"), Deadline::AtSeconds(5));
    assert_eq!(deadline("PEXPIREAT k 5"), Deadline::AtMillis(5));

    for words in ["EXPIRE k 5 NX XX", "EXPIRE k 5 NX GT", "PEXPIRE k 5 LT NX"] {
        let error = err(words);
        assert_eq!(error.code, ErrorCode::Syntax, "{words}");
        assert_eq!(
            error.message,
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
    }
    let error = err("EXPIREAT k 5 GT LT");
    assert_eq!(error.code, ErrorCode::Syntax);
    assert_eq!(
        error.message,
        "ERR GT and LT options at the same time are not compatible"
    );
    let error = err("EXPIRE k 5 SOON");
    assert_eq!(error.code, ErrorCode::Generic);
    assert_eq!(error.message, "ERR Unsupported option SOON");
    assert_eq!(err_code("EXPIRE k five"), ErrorCode::NotInteger);
    // Options are checked before the number, as in Redis.
    assert_eq!(
        err("EXPIRE k abc BOGUS").message,
        "ERR Unsupported option BOGUS"
    );
    assert_eq!(err_code("EXPIRE k abc NX"), ErrorCode::NotInteger);
}

#[test]
fn integer_arguments_are_strict() {
    for bad in [
        "+5",
        "05",
        "-0",
        " 5",
        "5 ",
        "5.0",
        "1e3",
        "",
        "9223372036854775808",
    ] {
        let list = vec![b("INCRBY"), b("k"), b(bad)];
        let error = parse(&list).unwrap_err();
        assert_eq!(error.code, ErrorCode::NotInteger, "{bad:?}");
        assert_eq!(error.message, "ERR value is not an integer or out of range");
    }
    assert_eq!(
        ok("INCRBY k -9223372036854775808"),
        Request::IncrBy {
            key: bytes("k"),
            delta: i64::MIN
        }
    );
}

#[test]
fn decrby_of_the_smallest_integer_overflows() {
    let error = err("DECRBY k -9223372036854775808");
    assert_eq!(error.code, ErrorCode::Overflow);
    assert_eq!(error.message, "ERR decrement would overflow");
    let error = parse(&[b("DECRBY"), b("k"), Arg::Int(i64::MIN)]).unwrap_err();
    assert_eq!(error.code, ErrorCode::Overflow);
    assert_eq!(
        ok("DECRBY k 9223372036854775807"),
        Request::IncrBy {
            key: bytes("k"),
            delta: -i64::MAX
        }
    );
}

#[test]
fn incrbound_options() {
    assert_eq!(
        ok("INCRBOUND c -1 MIN 0"),
        Request::IncrBound {
            key: bytes("c"),
            delta: -1,
            min: Some(0),
            max: None
        }
    );
    assert_eq!(
        ok("INCRBOUND c 1 MAX 5 MIN 5"),
        Request::IncrBound {
            key: bytes("c"),
            delta: 1,
            min: Some(5),
            max: Some(5)
        }
    );
    let error = err("INCRBOUND c 1 MIN 6 MAX 5");
    assert_eq!(error.code, ErrorCode::Syntax);
    assert_eq!(error.message, "ERR MIN is greater than MAX");
    for words in [
        "INCRBOUND c 1 MIN",
        "INCRBOUND c 1 MAX",
        "INCRBOUND c 1 MIN 1 MIN 2",
        "INCRBOUND c 1 MAX 1 MAX 2",
        "INCRBOUND c 1 CAP 5",
    ] {
        assert_eq!(err_code(words), ErrorCode::Syntax, "{words}");
    }
    assert_eq!(err_code("INCRBOUND c x"), ErrorCode::NotInteger);
    assert_eq!(err_code("INCRBOUND c 1 MAX x"), ErrorCode::NotInteger);
}

#[test]
fn scan_options() {
    assert_eq!(
        ok("SCAN 18446744073709551615 MATCH k:* COUNT 100 TYPE string"),
        Request::Scan {
            cursor: u64::MAX,
            pattern: Some(bytes("k:*")),
            count: 100,
            type_name: Some(bytes("string")),
        }
    );
    match ok("SCAN 0") {
        Request::Scan { cursor, count, .. } => assert_eq!((cursor, count), (0, 10)),
        other => panic!("{other:?}"),
    }
    for words in [
        "SCAN 0 COUNT 0",
        "SCAN 0 COUNT -1",
        "SCAN 0 COUNT",
        "SCAN 0 MATCH",
        "SCAN 0 TYPE",
        "SCAN 0 LIMIT 5",
    ] {
        let error = err(words);
        assert_eq!(error.code, ErrorCode::Syntax, "{words}: {error}");
    }
    assert_eq!(err_code("SCAN 0 COUNT many"), ErrorCode::NotInteger);
    for cursor in ["-1", "abc", "18446744073709551616", "1.5", ""] {
        let list = vec![b("SCAN"), b(cursor)];
        let error = parse(&list).unwrap_err();
        assert_eq!(error.code, ErrorCode::Syntax, "{cursor:?}");
        assert_eq!(error.message, "ERR invalid cursor");
    }
}

#[test]
fn hello_versions() {
    let error = err("HELLO three");
    assert_eq!(error.code, ErrorCode::Syntax);
    assert_eq!(
        error.message,
        "ERR Protocol version is not an integer or out of range"
    );
    let error = parse(&[b("HELLO"), Arg::Double(2.5)]).unwrap_err();
    assert_eq!(error.code, ErrorCode::Syntax);
    // Any integer parses; the connection refuses versions other than 2 and 3.
    assert_eq!(
        ok("HELLO 4"),
        Request::Connection(ConnectionCommand::Hello {
            protocol: Some(4),
            auth: None,
            client_name: None
        })
    );
    assert_eq!(err_code("HELLO 3 SETNAME"), ErrorCode::Syntax);
    assert_eq!(err_code("HELLO 3 AUTH user"), ErrorCode::Syntax);
    let error = err("HELLO 3 FOO");
    assert_eq!(error.code, ErrorCode::Generic);
    assert!(error
        .message
        .starts_with("ERR Syntax error in HELLO option"));
}

#[test]
fn connection_subcommand_errors() {
    for words in ["CLIENT KILL x", "COMMAND LIST", "CONFIG SET a b"] {
        let error = err(words);
        assert_eq!(error.code, ErrorCode::Generic, "{words}");
        assert!(
            error.message.starts_with("ERR unknown subcommand"),
            "{words}"
        );
    }
    assert_eq!(err_code("CLIENT SETNAME a\nb"), ErrorCode::Generic);
    assert_eq!(err_code("FLUSHALL NOW"), ErrorCode::Syntax);
    assert_eq!(err_code("FLUSHALL ASYNC SYNC"), ErrorCode::Syntax);
    assert_eq!(err_code("SELECT one"), ErrorCode::NotInteger);
}

#[test]
fn typed_arguments_where_integers_are_expected() {
    // Integers as they are, doubles without a fraction, in every integer slot.
    let list = [b("INCRBY"), b("k"), Arg::Int(-3)];
    assert_eq!(
        parse(&list).unwrap(),
        Request::IncrBy {
            key: bytes("k"),
            delta: -3
        }
    );
    let list = [b("INCRBY"), b("k"), Arg::Double(4.0)];
    assert_eq!(
        parse(&list).unwrap(),
        Request::IncrBy {
            key: bytes("k"),
            delta: 4
        }
    );
    for bad in [0.5, f64::INFINITY, 9.3e18, -9.3e18] {
        let list = [b("INCRBY"), b("k"), Arg::Double(bad)];
        assert_eq!(
            parse(&list).unwrap_err().code,
            ErrorCode::NotInteger,
            "{bad}"
        );
    }
    let list = [b("SET"), b("k"), b("v"), b("EX"), Arg::Int(60)];
    match parse(&list).unwrap() {
        Request::Set { expiry, .. } => {
            assert_eq!(expiry, SetExpiry::At(Deadline::InSeconds(60)))
        }
        other => panic!("{other:?}"),
    }
    let list = [b("SET"), b("k"), b("v"), b("PX"), Arg::Int(0)];
    assert_eq!(parse(&list).unwrap_err().code, ErrorCode::InvalidExpire);
    let list = [
        b("INCRBOUND"),
        b("c"),
        Arg::Int(1),
        b("MIN"),
        Arg::Double(-2.0),
        b("MAX"),
        Arg::Int(100),
    ];
    assert_eq!(
        parse(&list).unwrap(),
        Request::IncrBound {
            key: bytes("c"),
            delta: 1,
            min: Some(-2),
            max: Some(100)
        }
    );
    let list = [b("EXPIRE"), b("k"), Arg::Int(10), b("NX")];
    assert!(matches!(
        parse(&list).unwrap(),
        Request::Expire {
            deadline: Deadline::InSeconds(10),
            condition: ExpireCondition::NoExpiry,
            ..
        }
    ));
    assert_eq!(
        parse(&[b("SELECT"), Arg::Int(0)]).unwrap(),
        Request::Connection(ConnectionCommand::Select(0))
    );
    assert_eq!(
        parse(&[b("HELLO"), Arg::Int(3)]).unwrap(),
        Request::Connection(ConnectionCommand::Hello {
            protocol: Some(3),
            auth: None,
            client_name: None
        })
    );
    match parse(&[b("SCAN"), Arg::Int(7), b("COUNT"), Arg::Int(3)]).unwrap() {
        Request::Scan { cursor, count, .. } => assert_eq!((cursor, count), (7, 3)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn typed_arguments_where_strings_are_expected() {
    let list = [b("SET"), Arg::Int(-3), Arg::Double(1.5)];
    match parse(&list).unwrap() {
        Request::Set { key, value, .. } => {
            assert_eq!(key, bytes("-3"));
            assert_eq!(value, bytes("1.5"));
        }
        other => panic!("{other:?}"),
    }
    let list = [b("ECHO"), Arg::Double(3.0)];
    assert_eq!(
        parse(&list).unwrap(),
        Request::Connection(ConnectionCommand::Echo(bytes("3")))
    );
    let list = [b("ECHO"), Arg::Double(f64::NEG_INFINITY)];
    assert_eq!(
        parse(&list).unwrap(),
        Request::Connection(ConnectionCommand::Echo(bytes("-inf")))
    );
    let list = [b("ECHO"), Arg::Double(0.1)];
    assert_eq!(
        parse(&list).unwrap(),
        Request::Connection(ConnectionCommand::Echo(bytes("0.1")))
    );
    let list = [b("DEL"), Arg::Int(i64::MIN), b("x")];
    assert_eq!(
        parse(&list).unwrap(),
        Request::Del(vec![bytes("-9223372036854775808"), bytes("x")])
    );
    // A number where a keyword belongs is its text, so not a keyword.
    let list = [b("SET"), b("k"), b("v"), Arg::Int(1)];
    assert_eq!(parse(&list).unwrap_err().code, ErrorCode::Syntax);
}

#[test]
fn doubles_parse_as_redis_reads_them() {
    for (text, value) in [
        ("1.5", 1.5),
        ("-2e3", -2000.0),
        ("0", 0.0),
        ("inf", f64::INFINITY),
        ("+INF", f64::INFINITY),
        ("Infinity", f64::INFINITY),
        ("+infinity", f64::INFINITY),
        ("-inf", f64::NEG_INFINITY),
        ("-INFINITY", f64::NEG_INFINITY),
    ] {
        assert_eq!(parse_f64(text.as_bytes()), Some(value), "{text}");
    }
    for text in [
        "", " 1", "1 ", "nan", "NaN", "infx", "-+inf", "in", "1.5x", "0x10",
    ] {
        assert_eq!(parse_f64(text.as_bytes()), None, "{text:?}");
    }
    assert_eq!(parse_f64(b"1\xff"), None, "not UTF-8");
}

/// Requests travel by value through the reactor's lookahead; ZADD's inline
/// pair must not make every request bigger.
#[test]
fn a_request_stays_104_bytes() {
    assert!(
        std::mem::size_of::<Request>() <= 104,
        "{}",
        std::mem::size_of::<Request>()
    );
}

/// Every double's reply text fits the stack buffer (the longest are
/// subnormals and values near `f64::MAX`) and reads back to the same value.
#[test]
fn double_texts_fit_and_read_back() {
    let edges = [
        f64::MAX,
        -f64::MAX,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        -1.2345678901234567e-5,
        -0.00012345678901234567,
        -12345678901234567.0,
        -1.2345678901234567e16,
        0.1 + 0.2,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let random = (0..100_000).map(|_| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        f64::from_bits(seed)
    });
    for value in edges.into_iter().chain(random).filter(|v| !v.is_nan()) {
        let text = double_text(value);
        assert_eq!(
            parse_f64(text.as_str().as_bytes()),
            Some(value),
            "{value:e} as {}",
            text.as_str()
        );
    }
}

fn bzpop(words: &str) -> (Vec<Bytes>, bool, u64) {
    match ok(words) {
        Request::BzPop {
            keys,
            max,
            timeout_ms,
        } => (keys, max, timeout_ms),
        other => panic!("{words}: {other:?}"),
    }
}

#[test]
fn bzpop_keys_and_timeout() {
    assert_eq!(
        bzpop("BZPOPMIN a b c 0"),
        (vec![bytes("a"), bytes("b"), bytes("c")], false, 0)
    );
    assert_eq!(bzpop("bzpopmax k 2"), (vec![bytes("k")], true, 2000));
    // Seconds as a double, rounded up to whole milliseconds as Redis 7.2
    // rounds them, so a timeout never ends early.
    for (timeout, millis) in [
        ("0.1", 100),
        ("1.5", 1500),
        ("0.0001", 1),
        ("0.0015", 2),
        ("1e3", 1_000_000),
        ("-0", 0),
        ("-0.0001", 0),
    ] {
        let words = format!("BZPOPMIN k {timeout}");
        assert_eq!(bzpop(&words).2, millis, "{words}");
    }
    // The last argument is the timeout even when it looks like a key.
    assert_eq!(bzpop("BZPOPMIN 5 5").0, vec![bytes("5")]);
    // Typed binary arguments: integers and doubles are seconds too.
    let typed = |timeout: Arg| parse(&[b("BZPOPMAX"), b("k"), timeout]);
    match typed(Arg::Int(3)).unwrap() {
        Request::BzPop { timeout_ms, .. } => assert_eq!(timeout_ms, 3000),
        other => panic!("{other:?}"),
    }
    match typed(Arg::Double(0.25)).unwrap() {
        Request::BzPop { timeout_ms, .. } => assert_eq!(timeout_ms, 250),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        typed(Arg::Double(f64::NAN)).unwrap_err().message,
        "ERR timeout is not a float or out of range"
    );
}

#[test]
fn bzpop_timeout_errors_are_redis_errors() {
    for (timeout, code, message) in [
        ("-1", ErrorCode::OutOfRange, "ERR timeout is negative"),
        ("-0.5", ErrorCode::OutOfRange, "ERR timeout is negative"),
        ("-inf", ErrorCode::OutOfRange, "ERR timeout is negative"),
        ("inf", ErrorCode::OutOfRange, "ERR timeout is out of range"),
        (
            "1e300",
            ErrorCode::OutOfRange,
            "ERR timeout is out of range",
        ),
        // 2^63 ms is the first value past Redis's signed deadline.
        (
            "9223372036854775.808",
            ErrorCode::OutOfRange,
            "ERR timeout is out of range",
        ),
        (
            "abc",
            ErrorCode::NotFloat,
            "ERR timeout is not a float or out of range",
        ),
        (
            "nan",
            ErrorCode::NotFloat,
            "ERR timeout is not a float or out of range",
        ),
        (
            "1s",
            ErrorCode::NotFloat,
            "ERR timeout is not a float or out of range",
        ),
    ] {
        let words = format!("BZPOPMIN a b {timeout}");
        let error = err(&words);
        assert_eq!(
            (error.code, error.message.as_ref()),
            (code, message),
            "{words}"
        );
    }
    // Just below the bound is accepted (to a double's precision there:
    // neighbouring doubles are 1024 ms apart).
    let near = bzpop("BZPOPMIN k 9223372036854774").2;
    assert!(near.abs_diff(9_223_372_036_854_774_000) <= 1024, "{near}");
}

#[test]
fn bzpop_names_its_keys_and_its_table_rows() {
    let request = ok("BZPOPMIN a b 1");
    assert_eq!(request.keys(), &[bytes("a"), bytes("b")][..]);
    let wrapped = ok("REQ id-1 BZPOPMAX a 0");
    assert_eq!(wrapped.keys(), &[bytes("a")][..]);
    for name in ["BZPOPMIN", "BZPOPMAX"] {
        let spec = COMMANDS.iter().find(|spec| spec.name == name).unwrap();
        assert_eq!(
            (spec.arity, spec.first_key, spec.last_key, spec.group),
            (-3, 1, -2, "zset"),
            "{name}"
        );
        assert!(spec.flags.contains(&"write") && spec.flags.contains(&"blocking"));
    }
}

/// The command table's "connection" group and `Request::Connection` are
/// the same set: each connection command parses to it and no other does.
#[test]
fn connection_commands_are_exactly_the_connection_group() {
    for words in [
        "PING",
        "ECHO x",
        "TIME",
        "HELLO",
        "SELECT 0",
        "CLIENT ID",
        "COMMAND",
        "CONFIG GET x",
        "QUIT",
        "AUTH pw",
        "ACL WHOAMI",
    ] {
        let request = ok(words);
        assert!(request.is_connection_level(), "{words}");
        let name = words.split(' ').next().unwrap();
        let spec = COMMANDS.iter().find(|spec| spec.name == name).unwrap();
        assert_eq!(spec.group, "connection", "{words}");
    }
    let connection_rows = COMMANDS
        .iter()
        .filter(|spec| spec.group == "connection")
        .count();
    assert_eq!(connection_rows, 11);
    for words in ["INFO", "DBSIZE", "GET k", "REQ id GET k", "BZPOPMIN k 0"] {
        assert!(!ok(words).is_connection_level(), "{words}");
    }
    let error = err("REQ id PING");
    assert_eq!(error.code, ErrorCode::Syntax);
}

/// Every row of the table reaches its family's parser with its smallest
/// argument count: the routing by family misses no command (a miss would
/// panic, not return an error).
#[test]
fn every_command_reaches_its_family_parser() {
    for spec in COMMANDS {
        let words = format!(
            "{} {}",
            spec.name,
            filler(spec.arity.unsigned_abs() as usize - 1)
        );
        let _ = parse(&args(words.trim_end()));
    }
}
