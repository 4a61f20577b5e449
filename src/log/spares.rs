//! The `usher-log-spare` thread: preallocated spare segment files, full of
//! zeros and synced, that the log moves into when a segment is full or a
//! snapshot starts a new one, so the engine never waits for that writing.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::segment::spare_name;
use super::sync_dir;

/// Zeros written, then synced, per step while preparing a spare segment, so
/// its writeback reaches the disk in slices rather than as one burst that
/// would stall the engine's own fsyncs behind it. Measured under `fsync
/// always` (SET of 200 B at 50,000/s, 15 s, 6 alternating runs each):
/// syncing every 1 MiB gave p99 5.8–15.9 ms and p99.9 14–29 ms, against
/// 14–29 ms and 30–68 ms syncing every 4 MiB; INCR -P 16 throughput was the
/// same (1.14–1.18M/s against 1.12–1.17M/s).
const ZERO_CHUNK_BYTES: usize = 1024 * 1024;

/// Spare segments kept ready. Two, because a snapshot's rotation often
/// comes right after a switch that took one: the snapshot trigger counts
/// log bytes, and `snapshot_log_bytes_max` is a multiple of the segment
/// size by default. With one, such a rotation finds none (seen with 4 MiB
/// segments and snapshots every 16 MiB; `tests/durability/preallocation.rs` checks it)
/// and creates and syncs a segment on the engine thread.
const SPARES_READY: usize = 2;

/// The `usher-log-spare` background thread: keeps [`SPARES_READY`] spare
/// segment files written full of zeros and synced, ready for the engine to
/// take, so the engine never waits for that writing itself.
pub(super) struct Spares {
    /// Holds every prepared spare.
    ready: Option<crossbeam_channel::Receiver<(File, PathBuf)>>,
    /// Wakes the thread, waiting with the channel full, when the engine
    /// takes a spare (dropped to end the thread).
    taken: Option<crossbeam_channel::Sender<()>>,
    /// The size of every spare.
    bytes: u64,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A prepared spare segment: zeros, synced, its directory entry too.
pub(super) struct Spare {
    pub(super) file: File,
    /// Its temporary name, [`spare_name`].
    pub(super) path: PathBuf,
    pub(super) bytes: u64,
}

impl Spares {
    pub(super) fn start(dir: &Path, segment_bytes: u64) -> io::Result<Spares> {
        let (sender, ready) = crossbeam_channel::bounded(SPARES_READY);
        let (taken, wake) = crossbeam_channel::bounded::<()>(SPARES_READY);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (dir, stop) = (dir.to_path_buf(), stop.clone());
            std::thread::Builder::new()
                .name("usher-log-spare".into())
                .spawn(move || spare_thread(&dir, segment_bytes, &stop, &sender, &wake))?
        };
        Ok(Spares {
            ready: Some(ready),
            taken: Some(taken),
            bytes: segment_bytes,
            stop,
            thread: Some(thread),
        })
    }

    /// A prepared spare, if one is ready now (never waits).
    pub(super) fn take(&self) -> Option<Spare> {
        let (file, path) = self.ready.as_ref()?.try_recv().ok()?;
        if let Some(taken) = &self.taken {
            let _ = taken.try_send(());
        }
        Some(Spare {
            file,
            path,
            bytes: self.bytes,
        })
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.taken = None;
        // Removes every prepared spare until the thread, seeing `stop` (or
        // the wake-up channel closed), ends and so disconnects the channel.
        if let Some(ready) = self.ready.take() {
            while let Ok((file, path)) = ready.recv() {
                drop(file);
                let _ = std::fs::remove_file(&path);
            }
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The body of the `usher-log-spare` thread: prepares spares into `sender`
/// while it has room, waits on `wake` when it is full.
fn spare_thread(
    dir: &Path,
    segment_bytes: u64,
    stop: &AtomicBool,
    sender: &crossbeam_channel::Sender<(File, PathBuf)>,
    wake: &crossbeam_channel::Receiver<()>,
) {
    let mut number = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if sender.is_full() {
            // Every spare prepared sits in the channel, so
            // the engine can take them one right after the
            // other (a send blocked on a full channel would
            // only land after the thread is woken).
            if wake.recv().is_err() {
                // The log is closing.
                return;
            }
            continue;
        }
        number += 1;
        let temp = dir.join(spare_name(number));
        // The log may acknowledge records in the spare
        // before it is renamed, so its entry must survive a
        // power failure too.
        let prepared =
            prepare_spare(&temp, segment_bytes, stop).and_then(|file| sync_dir(dir).map(|()| file));
        match prepared {
            Ok(file) => {
                if sender.send((file, temp.clone())).is_err() {
                    // The log closed first.
                    let _ = std::fs::remove_file(&temp);
                    return;
                }
            }
            Err(error) => {
                let _ = std::fs::remove_file(&temp);
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                tracing::warn!(file = %temp.display(), %error,
                        "cannot preallocate a log segment; the log grows as written \
                         and the next attempt is in 10 s");
                for _ in 0..100 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

/// Writes `bytes` of zeros to a new file at `path` and syncs it, checking
/// `stop` between slices.
fn prepare_spare(path: &Path, bytes: u64, stop: &AtomicBool) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)?;
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut written = 0u64;
    while written < bytes {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("the log is closing"));
        }
        let slice = (bytes - written).min(ZERO_CHUNK_BYTES as u64) as usize;
        file.write_all(&zeros[..slice])?;
        file.sync_data()?;
        written += slice as u64;
    }
    file.sync_all()?;
    Ok(file)
}
