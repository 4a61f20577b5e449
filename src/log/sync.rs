//! The `usher-log-sync` thread, which does every disk operation of the log
//! besides the engine's own writes (and its syncs under `always`), and the
//! failure that, once the log has one, stops all acknowledgements.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::segment::refuse_overwrite;
use super::sync_dir;

/// Why the log failed, once it has: nothing may be acknowledged again.
#[derive(Default)]
pub(super) struct Failure(Option<String>);

impl Failure {
    pub(super) fn fail(&mut self, message: String) {
        tracing::error!(%message, "log failure: the server stops acknowledging requests");
        self.0.get_or_insert(message);
    }

    pub(super) fn get(&self) -> Option<String> {
        self.0.clone()
    }

    pub(super) fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

/// Jobs for the `usher-log-sync` thread, done in the order sent.
pub(super) enum SyncJob {
    /// A segment the log has left: synced if `sync` (the records in it were
    /// not synced as written), then closed.
    Left {
        file: File,
        path: PathBuf,
        sync: bool,
    },
    /// A spare the log has moved into gets the segment name `path` (the
    /// directory is synced after the rename).
    Name { temp: PathBuf, path: PathBuf },
    /// The segment the log now writes: the one `everysec` syncs.
    Current { file: File, path: PathBuf },
    /// Tell, once every record written before this job is on stable
    /// storage, whether it made it.
    Durable(crossbeam_channel::Sender<bool>),
}

/// Jobs queued for the sync thread before the engine waits for it: only a
/// disk stalled for dozens of segment switches fills this.
const SYNC_JOBS_MAX: usize = 64;

/// The `usher-log-sync` background thread: syncs the segments the log has
/// left and names the spares it moved into (so the engine never waits for
/// the disk when the log moves on), syncs the segment in use once a second
/// under `everysec`, and answers the snapshot's wait for a durable log.
/// A failure is kept and stops all acknowledgements.
pub(super) struct LogSync {
    jobs: Option<crossbeam_channel::Sender<SyncJob>>,
    failed: Arc<SyncFailure>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct SyncFailure {
    /// Set with the message, so the engine's check per batch is one load.
    any: AtomicBool,
    message: std::sync::Mutex<Option<String>>,
}

impl SyncFailure {
    fn fail(&self, message: String) {
        if let Ok(mut slot) = self.message.lock() {
            slot.get_or_insert(message);
        }
        self.any.store(true, Ordering::Release);
    }

    fn get(&self) -> Option<String> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        match self.message.lock() {
            Ok(slot) => slot.clone(),
            Err(_) => Some("the log sync thread failed".into()),
        }
    }
}

impl LogSync {
    pub(super) fn start(
        dir: &Path,
        file: File,
        path: PathBuf,
        everysec: bool,
    ) -> io::Result<LogSync> {
        let (jobs, receiver) = crossbeam_channel::bounded(SYNC_JOBS_MAX);
        let failed = Arc::new(SyncFailure::default());
        let thread = {
            let (dir, failed) = (dir.to_path_buf(), failed.clone());
            std::thread::Builder::new()
                .name("usher-log-sync".into())
                .spawn(move || sync_thread(&dir, receiver, (file, path), everysec, &failed))?
        };
        Ok(LogSync {
            jobs: Some(jobs),
            failed,
            thread: Some(thread),
        })
    }

    /// Queues a job; waits only if [`SYNC_JOBS_MAX`] are queued already.
    pub(super) fn send(&self, job: SyncJob) -> io::Result<()> {
        match &self.jobs {
            Some(jobs) if jobs.send(job).is_ok() => Ok(()),
            _ => Err(io::Error::other("the log sync thread has stopped")),
        }
    }

    pub(super) fn failure(&self) -> Option<String> {
        self.failed.get()
    }

    /// Lets the thread finish every queued job and waits for it; the
    /// failure, if any.
    pub(super) fn finish(&mut self) -> Option<String> {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                self.failed.fail("the log sync thread panicked".into());
            }
        }
        self.failure()
    }
}

impl Drop for LogSync {
    fn drop(&mut self) {
        self.finish();
    }
}

fn sync_thread(
    dir: &Path,
    jobs: crossbeam_channel::Receiver<SyncJob>,
    (mut current, mut current_path): (File, PathBuf),
    everysec: bool,
    failed: &SyncFailure,
) {
    const PERIOD: Duration = Duration::from_secs(1);
    let mut tick = std::time::Instant::now() + PERIOD;
    loop {
        let job = if everysec {
            match jobs.recv_deadline(tick) {
                Ok(job) => Some(job),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match jobs.recv() {
                Ok(job) => Some(job),
                Err(_) => return,
            }
        };
        let result = match job {
            None => {
                tick = std::time::Instant::now() + PERIOD;
                current
                    .sync_data()
                    .map_err(|error| (current_path.clone(), error))
            }
            Some(SyncJob::Left { file, path, sync }) => match sync {
                true => file.sync_data().map_err(|error| (path, error)),
                false => Ok(()),
            },
            Some(SyncJob::Name { temp, path }) => refuse_overwrite(&path)
                .and_then(|()| std::fs::rename(&temp, &path))
                .and_then(|()| sync_dir(dir))
                .map_err(|error| (path, error)),
            Some(SyncJob::Current { file, path }) => {
                (current, current_path) = (file, path);
                Ok(())
            }
            Some(SyncJob::Durable(tell)) => {
                let result = current.sync_data();
                let _ = tell.send(result.is_ok() && failed.get().is_none());
                result.map_err(|error| (current_path.clone(), error))
            }
        };
        if let Err((path, error)) = result {
            failed.fail(format!(
                "cannot sync the log {} in the background: {error}",
                path.display()
            ));
        }
    }
}
