//! The durable log, as in `qinglang/collect/segments.py`: records appended to a segment and
//! fsync'd in groups (group commit); a request is acknowledged only after its group is on disk.
//! The server's thread hands one group at a time to a blocking thread for the write and the sync,
//! and goes on with requests meanwhile: they form the next group (one hand-off per group). A closed segment's path goes to stdout ("closed PATH"), where `qinglang
//! serve` picks it up and rolls it into the Parquet lake.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::metrics::Metrics;

pub struct Job {
    pub data: Vec<u8>,
    pub rows: usize,
    pub done: oneshot::Sender<Result<(), String>>,
}

pub struct Shared {
    pub queued: AtomicUsize, // rows waiting for their fsync
    pub fault: Mutex<Option<String>>,
}

pub struct SegmentLog {
    dir: PathBuf,
    run: String,
    n: u32,
    file: Option<File>,
    path: PathBuf,
    size: u64,
    opened: Instant,
    roll_bytes: u64,
    roll_after: Duration,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl SegmentLog {
    pub fn open(
        dir: &Path,
        run: &str,
        roll_bytes: u64,
        roll_seconds: f64,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut log = SegmentLog {
            dir: dir.to_path_buf(),
            run: run.to_string(),
            n: 0,
            file: None,
            path: PathBuf::new(),
            size: 0,
            opened: Instant::now(),
            roll_bytes,
            roll_after: Duration::from_secs_f64(roll_seconds),
        };
        log.open_next()?;
        Ok(log)
    }

    fn open_next(&mut self) -> std::io::Result<()> {
        self.n += 1;
        let path = self.dir.join(format!("seg-{}-{:06}.log", self.run, self.n));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        sync_dir(&self.dir)?;
        self.file = Some(file);
        self.path = path;
        self.size = 0;
        self.opened = Instant::now();
        Ok(())
    }

    /// Write and fsync one group; on failure cut the segment back to its last committed byte.
    pub fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::Other, "no open segment"))?;
        let res = file.write_all(data).and_then(|_| file.sync_data());
        if res.is_err() {
            let _ = file.set_len(self.size);
        } else {
            self.size += data.len() as u64;
        }
        res
    }

    pub fn due(&self) -> bool {
        self.size >= self.roll_bytes || (self.size > 0 && self.opened.elapsed() >= self.roll_after)
    }

    fn rotate(&mut self) -> std::io::Result<PathBuf> {
        let closed = self.path.clone();
        self.file = None;
        self.open_next()?;
        Ok(closed)
    }

    fn close(&mut self) -> Option<PathBuf> {
        self.file.take()?;
        if self.size == 0 {
            let _ = std::fs::remove_file(&self.path);
            return None;
        }
        Some(self.path.clone())
    }
}

fn announce(path: &Path) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "closed {}", path.display());
    let _ = out.flush();
}

impl SegmentLog {
    /// Start the next segment if this one is due (size or age); announce the closed one.
    pub fn rotate_if_due(&mut self, shared: &Shared) {
        if !self.due() {
            return;
        }
        match self.rotate() {
            Ok(closed) => {
                *shared.fault.lock().expect("fault lock") = None;
                announce(&closed);
            }
            Err(e) => {
                let msg = format!("cannot start a new segment: {e}");
                eprintln!("qinglang-front: {msg}");
                *shared.fault.lock().expect("fault lock") = Some(msg);
            }
        }
    }

    pub fn finish(mut self) {
        if let Some(last) = self.close() {
            announce(&last);
        }
    }
}

/// One group: the jobs' records as one write, into a buffer kept from group to group.
pub fn group(batch: &[Job], data: &mut Vec<u8>) -> usize {
    data.clear();
    for job in batch {
        data.extend_from_slice(&job.data);
    }
    batch.iter().map(|j| j.rows).sum()
}

/// Answer every job of a group once its write is synced (or failed).
pub fn answer(
    batch: Vec<Job>,
    rows: usize,
    res: Result<(), String>,
    shared: &Shared,
    metrics: &Metrics,
) {
    if res.is_ok() {
        metrics.group_commit();
    }
    shared.queued.fetch_sub(rows, Ordering::SeqCst);
    for job in batch {
        let _ = job.done.send(res.clone());
    }
}
