//! A transaction is one engine step: its effects are one log record, so a
//! crash keeps all of it or none of it. The server runs a MULTI/EXEC with
//! persistence on; the test finds the transaction's effects in the log,
//! all in one record, then cuts that record short, as a crash during its
//! write would, and recovers: none of the transaction is there, and what
//! came before it is.

use std::path::{Path, PathBuf};

use usher::config::Config;
use usher::log::record::{self, Decoded};
use usher::log::segment::parse_header;
use usher::log::{FsyncPolicy, SEGMENT_HEADER_BYTES};
use usher::recovery::recover;
use usher::state::{Effect, State, StateLimits};

use crate::support::resp::Resp;
use crate::support::server::{start, stop, test_config, RespConn};

const KEYS: usize = 40;

/// One record of a segment: where it lies and the keys its effects name.
struct Span {
    path: PathBuf,
    start: usize,
    end: usize,
    keys: Vec<Vec<u8>>,
}

fn records(dir: &Path) -> Vec<Span> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ulog"))
        .collect();
    segments.sort();
    let mut spans = Vec::new();
    for path in segments {
        let data = std::fs::read(&path).expect("segment");
        let version = parse_header(&data).expect("header").version;
        let mut offset = SEGMENT_HEADER_BYTES;
        while offset < data.len() {
            let Decoded::Record {
                count,
                effects,
                len,
                ..
            } = record::decode(&data[offset..], version)
            else {
                break;
            };
            let mut decoded: Vec<Effect> = Vec::new();
            record::decode_effects(effects, count, u64::MAX, &mut decoded).expect("effects");
            let keys = decoded
                .iter()
                .filter_map(|effect| effect.key().map(<[u8]>::to_vec))
                .collect();
            spans.push(Span {
                path: path.clone(),
                start: offset,
                end: offset + len,
                keys,
            });
            offset += len;
        }
    }
    spans
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_is_one_record_and_a_torn_one_leaves_none_of_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        persist: true,
        dir: dir.path().to_path_buf(),
        fsync: FsyncPolicy::Always,
        ..test_config()
    };
    let running = start(config).await;
    let mut conn = RespConn::connect(running.addr).await;
    assert_eq!(
        conn.call(&["SET", "before", "1"]).await,
        Resp::Simple("OK".into())
    );
    conn.call(&["MULTI"]).await;
    for at in 0..KEYS {
        let key = format!("tx:{at}");
        assert_eq!(
            conn.call(&["SET", &key, "v"]).await,
            Resp::Simple("QUEUED".into())
        );
    }
    conn.call(&["INCRBY", "tx:count", "40"]).await;
    let Resp::Array(replies) = conn.call(&["EXEC"]).await else {
        panic!("EXEC runs");
    };
    assert_eq!(replies.len(), KEYS + 1);
    stop(running).await;

    let spans = records(dir.path());
    let holding: Vec<&Span> = spans
        .iter()
        .filter(|span| span.keys.iter().any(|key| key.starts_with(b"tx:")))
        .collect();
    assert_eq!(holding.len(), 1, "the transaction's effects are one record");
    let record = holding[0];
    assert_eq!(
        record.keys.len(),
        KEYS + 1,
        "and that record holds them all"
    );
    let last = spans.last().expect("records");
    assert_eq!((&last.path, last.start), (&record.path, record.start));

    // A crash in the middle of writing that record.
    let bytes = std::fs::read(&record.path).expect("read");
    let cut = record.start + (record.end - record.start) / 2;
    std::fs::write(&record.path, &bytes[..cut]).expect("cut");
    let recovered = recover(dir.path(), State::new(StateLimits::default()), false)
        .unwrap_or_else(|error| panic!("recovery: {error}"));
    let keyspace = &recovered.state.keyspace;
    assert!(
        keyspace.peek(b"before").is_some(),
        "what came before survives"
    );
    for at in 0..KEYS {
        let key = format!("tx:{at}");
        assert!(
            keyspace.peek(key.as_bytes()).is_none(),
            "{key} survived a torn transaction"
        );
    }
    assert!(keyspace.peek(b"tx:count").is_none());
}
