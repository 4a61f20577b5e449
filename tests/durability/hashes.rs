//! Hashes survive a restart: a real server with persistence runs a hash
//! workload (small and indexed hashes, integers changing width, removals,
//! a hash emptied, a deadline), then the state recovered from the log
//! alone, and from a snapshot taken mid-run plus the log after it, must
//! equal the state the server stopped with.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use usher::client::{args, Client};
use usher::config::Config;
use usher::log::FsyncPolicy;
use usher::protocol::{Arg, Reply};
use usher::recovery::recover;
use usher::state::{State, StateLimits, Value};

use crate::support::rng::Rng;
use crate::support::server::{start, stop, test_config};

type Dump = Vec<(Bytes, Value, Option<u64>)>;

fn dump(state: &State) -> Dump {
    let mut all: Dump = state
        .keyspace
        .iter()
        .map(|(key, entry)| (key.to_bytes(), entry.value.clone(), entry.deadline_ms()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn persistent(dir: &Path) -> Config {
    Config {
        persist: true,
        dir: dir.to_path_buf(),
        fsync: FsyncPolicy::No,
        snapshot_interval_ms: 0,
        snapshot_log_bytes_max: 0,
        ..test_config()
    }
}

async fn call(client: &mut Client, command: &[Arg]) -> Reply {
    tokio::time::timeout(Duration::from_secs(10), client.call(command))
        .await
        .expect("reply in time")
        .expect("call")
}

/// A batch of random hash commands over a few keys.
fn batch(rng: &mut Rng) -> Vec<Vec<String>> {
    (0..40)
        .map(|_| {
            let key = format!("h{}", rng.below(4));
            let field = format!("field-{}", rng.below(80));
            match rng.below(10) {
                0..=3 => vec!["HSET".into(), key, field, rng.below(1 << 20).to_string()],
                4 => vec!["HSET".into(), key, field, format!("text {}", rng.below(50))],
                5..=6 => vec![
                    "HINCRBY".into(),
                    key,
                    field,
                    (rng.below(1 << 34) as i64 - (1 << 33)).to_string(),
                ],
                7 => vec!["HINCRBYFLOAT".into(), key, field, "1.5".into()],
                _ => vec!["HDEL".into(), key, field],
            }
        })
        .collect()
}

async fn run_batches(client: &mut Client, rng: &mut Rng, count: usize) {
    for _ in 0..count {
        for words in batch(rng) {
            call(client, &args(words)).await;
        }
    }
}

async fn wait_snapshot_done(client: &mut Client) {
    for _ in 0..5000 {
        let Reply::Bulk(text) = call(client, &args(["INFO", "persistence"])).await else {
            panic!("INFO is a bulk string");
        };
        if String::from_utf8_lossy(&text).contains("snapshot_in_progress:0") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the snapshot did not finish");
}

async fn workload_and_recover(snapshot: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(persistent(dir.path())).await;
    let mut client = Client::connect(running.addr).await.expect("connect");
    let mut rng = Rng::new(0x4a54 + u64::from(snapshot));
    call(&mut client, &args(["HSET", "gone", "a", "1", "b", "2"])).await;
    call(&mut client, &args(["HSET", "timed", "a", "1"])).await;
    call(&mut client, &args(["PEXPIRE", "timed", "100000000"])).await;
    run_batches(&mut client, &mut rng, 10).await;
    if snapshot {
        assert!(matches!(
            call(&mut client, &args(["SNAPSHOT"])).await,
            Reply::Simple(_)
        ));
        wait_snapshot_done(&mut client).await;
    }
    call(&mut client, &args(["HDEL", "gone", "a", "b"])).await;
    run_batches(&mut client, &mut rng, 10).await;
    let final_state = stop(running).await;
    let expected = dump(&final_state);
    assert!(
        expected
            .iter()
            .any(|(_, value, _)| matches!(value, Value::Hash(hash) if hash.is_indexed())),
        "the workload grew no indexed hash"
    );
    assert!(expected.iter().all(|(key, _, _)| &key[..] != b"gone"));
    assert!(expected
        .iter()
        .any(|(key, _, deadline)| &key[..] == b"timed" && deadline.is_some()));
    let recovered = recover(dir.path(), State::new(StateLimits::default()), false)
        .unwrap_or_else(|error| panic!("recovery failed: {error}"));
    recovered.state.check_invariants();
    assert!(
        dump(&recovered.state) == expected,
        "recovered state differs (snapshot: {snapshot})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashes_recover_from_the_log() {
    workload_and_recover(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashes_recover_from_a_snapshot_and_the_log() {
    workload_and_recover(true).await;
}
