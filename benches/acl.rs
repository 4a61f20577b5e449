//! The permission check a request pays (`Users::check`): for the built-in
//! `default` user (every command and key: one branch), and for a user with
//! command categories and two key patterns, on `INCR sale:<n>` (a bit test
//! and a glob match) and on `REQ id INCR sale:<n>` (the wrapped command
//! too). Compare with a request's whole server CPU (BENCHMARKS.md,
//! "Permission check").
//!
//! Run: `cargo bench --bench acl`.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use usher::acl::{ClientInfo, Users};
use usher::protocol::commands::Cmd;
use usher::protocol::{parse, Request};

fn client() -> ClientInfo<'static> {
    ClientInfo {
        id: 1,
        addr: None,
        name: None,
        resp: 2,
    }
}

fn incr(key: &str) -> Request {
    parse(&usher::client::args(["INCR", key])).expect("INCR parses")
}

fn bench(c: &mut Criterion) {
    let limits = usher::config::Config::default().acl_limits();
    let mut open = Users::open(limits, Default::default());
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("users.acl");
    std::fs::write(
        &file,
        "user default on nopass ~sale:* ~stock:* +@read +@write +@sale +@connection -@dangerous\n",
    )
    .expect("write the users file");
    let mut app = Users::from_file(file, limits, Default::default()).expect("users file loads");
    let request = incr("sale:48213");
    let wrapped = Request::Req {
        id: Bytes::from_static(b"order-1"),
        fingerprint: 0,
        command: Box::new(incr("sale:48213")),
    };
    let mut group = c.benchmark_group("acl_check");
    let login = open.initial_login();
    group.bench_function("default_user", |b| {
        b.iter(|| {
            open.check(
                login,
                black_box(Cmd::Incr),
                None,
                black_box(&request),
                client,
            )
            .is_ok()
        })
    });
    let login = app.initial_login();
    group.bench_function("patterns_incr", |b| {
        b.iter(|| {
            app.check(
                login,
                black_box(Cmd::Incr),
                None,
                black_box(&request),
                client,
            )
            .is_ok()
        })
    });
    group.bench_function("patterns_req_incr", |b| {
        b.iter(|| {
            app.check(
                login,
                black_box(Cmd::Req),
                Some(Cmd::Incr),
                black_box(&wrapped),
                client,
            )
            .is_ok()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
