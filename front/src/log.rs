//! The durable log, as in `qinglang/collect/segments.py`: records appended to a segment and
//! fsync'd in groups (group commit); a request is acknowledged only after its group is on disk.
//!
//! Preallocation. Syncing a write that grows a file also commits the file system's journal (the
//! new size and blocks); overwriting blocks that are already on disk syncs only the data. On this
//! project's VM that is 150 µs against 260 µs per sync (README, "Durability"). So once a
//! segment is a quarter full, a helper thread writes a file out in zeros (the roll size and a
//! little more) under a name recovery ignores (`prep-*.zeros`), and syncs it. The next segment is
//! that file, renamed, if the helper has finished by then (the commit never waits for it), else a
//! new, empty one. A segment is cut to its last record when it closes, and recovery
//! (`segments.recover`) cuts a zero tail like any torn tail (zeros hold no newline, so no record)
//! and deletes leftover `prep-*.zeros` files. A quiet segment that rolls on age never gets a
//! quarter full and just grows, as before.
//! Each serving loop (server.rs) has its own `SegmentLog`, which its sync thread appends the
//! loop's groups to; the loops take segment numbers from one counter, and zeroed files from
//! another, so names stay unique. A closed segment's path
//! goes to stdout ("closed PATH"), where `qinglang serve` picks it up and rolls it into the
//! Parquet lake.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Shared {
    pub queued: AtomicUsize, // rows waiting for their group commit (every loop's)
    pub fault: Mutex<Option<String>>,
}

pub struct SegmentLog {
    dir: PathBuf,
    run: String,
    numbers: Arc<AtomicU32>, // the last segment number taken, shared by every loop's stream
    n: u32,
    file: Option<File>,
    path: PathBuf,
    size: u64,
    opened: Instant,
    roll_bytes: u64,
    roll_after: Duration,
    failed: bool, // a group failed to commit: what follows `size` is unknown, start another
    mine: Option<String>, // the fault this log reported (only it clears it)
    next: Option<(PathBuf, JoinHandle<std::io::Result<File>>)>, // a file being written out in zeros
}

fn new_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
}

/// Write a new file out in zeros, `len` bytes, and sync it (refused if the name is taken).
fn zeroed(path: &Path, len: u64) -> std::io::Result<File> {
    let mut file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    let chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    Ok(file)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl SegmentLog {
    pub fn open(
        dir: &Path,
        run: &str,
        numbers: Arc<AtomicU32>,
        roll_bytes: u64,
        roll_seconds: f64,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut log = SegmentLog {
            dir: dir.to_path_buf(),
            run: run.to_string(),
            numbers,
            n: 0,
            file: None,
            path: PathBuf::new(),
            size: 0,
            opened: Instant::now(),
            roll_bytes,
            roll_after: Duration::from_secs_f64(roll_seconds),
            failed: false,
            mine: None,
            next: None,
        };
        log.open_next()?;
        Ok(log)
    }

    fn segment_path(&self, n: u32) -> PathBuf {
        self.dir.join(format!("seg-{}-{:06}.log", self.run, n))
    }

    /// Start the next segment: the zeroed file renamed, if its helper has finished, else a new,
    /// empty file. The directory is synced before any record in it is acknowledged.
    fn open_next(&mut self) -> std::io::Result<()> {
        let n = self.numbers.fetch_add(1, Ordering::SeqCst) + 1; // a failed start leaves a gap
        let path = self.segment_path(n);
        let file = match self.take_zeroed(&path) {
            Some(file) => file,
            None => new_file(&path)?,
        };
        if let Err(e) = sync_dir(&self.dir) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        self.n = n;
        self.file = Some(file);
        self.path = path;
        self.size = 0;
        self.failed = false;
        self.opened = Instant::now();
        Ok(())
    }

    /// The file written out in zeros, renamed to `path`, if its helper has finished (never waits
    /// for it: an unfinished one is left for the next segment).
    fn take_zeroed(&mut self, path: &Path) -> Option<File> {
        if !self.next.as_ref().map_or(false, |(_, h)| h.is_finished()) {
            return None;
        }
        let (tmp, helper) = self.next.take()?;
        let res = match helper.join() {
            Ok(res) => res.and_then(|file| std::fs::rename(&tmp, path).map(|_| file)),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::Other,
                "the helper panicked",
            )),
        };
        match res {
            Ok(file) => Some(file),
            Err(e) => {
                eprintln!("qinglang-front: preallocating {}: {e}", tmp.display());
                let _ = std::fs::remove_file(&tmp);
                None
            }
        }
    }

    /// Once this segment is a quarter full, have a helper write a file out in zeros for a next one.
    fn prepare_next(&mut self) {
        if self.next.is_some() || self.size < self.roll_bytes / 4 {
            return;
        }
        // numbered for the whole process, so that no two loops' helpers share a file
        static ZEROED: AtomicU32 = AtomicU32::new(0);
        let k = ZEROED.fetch_add(1, Ordering::SeqCst) + 1;
        let tmp = self.dir.join(format!("prep-{}-{:06}.zeros", self.run, k));
        let len = self.roll_bytes + (self.roll_bytes / 4).min(1 << 20); // a group may end past it
        let at = tmp.clone();
        self.next = Some((tmp, std::thread::spawn(move || zeroed(&at, len))));
    }

    /// Cut the active segment to its last record (zeros, or a group that failed, go) and close it.
    /// If the cut fails, what follows stays: readers stop at the last record, as recovery does.
    /// False if no segment was open (a rotation that failed to open the next one closed it).
    fn close_active(&mut self) -> bool {
        let file = match self.file.take() {
            Some(file) => file,
            None => return false,
        };
        if file.metadata().map_or(true, |m| m.len() != self.size) {
            if let Err(e) = file.set_len(self.size) {
                eprintln!("qinglang-front: cutting {}: {e}", self.path.display());
            }
        }
        true
    }

    /// Write and fsync one group; on failure cut the segment back to its last committed byte.
    pub fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::Other, "no open segment"))?;
        let res = file
            .write_all_at(data, self.size)
            .and_then(|_| file.sync_data());
        if res.is_err() {
            // the next group goes to a new segment, so nothing of this one can follow it
            self.failed = true;
        } else {
            self.size += data.len() as u64;
            self.prepare_next();
        }
        res
    }

    pub fn due(&self) -> bool {
        self.failed
            || self.size >= self.roll_bytes
            || (self.size > 0 && self.opened.elapsed() >= self.roll_after)
    }

    /// Close the active segment and open the next; the closed one's path, unless an earlier
    /// rotation closed it already (and failed to open the next).
    fn rotate(&mut self) -> std::io::Result<Option<PathBuf>> {
        let closed = self.path.clone();
        let was_open = self.close_active();
        self.open_next()?;
        Ok(was_open.then_some(closed))
    }

    /// Close for good: the active segment cut to its records (or removed if it has none), the
    /// file written out in zeros removed.
    fn close(&mut self) -> Option<PathBuf> {
        if let Some((tmp, helper)) = self.next.take() {
            let _ = helper.join();
            let _ = std::fs::remove_file(tmp);
        }
        self.file.as_ref()?;
        self.close_active();
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
                // another loop's fault stays until that loop clears it
                let mut fault = shared.fault.lock().expect("fault lock");
                if self.mine.is_some() && *fault == self.mine {
                    *fault = None;
                }
                self.mine = None;
                if let Some(closed) = closed {
                    announce(&closed);
                }
            }
            Err(e) => {
                let msg = format!("cannot start a new segment: {e}");
                eprintln!("qinglang-front: {msg}");
                *shared.fault.lock().expect("fault lock") = Some(msg.clone());
                self.mine = Some(msg);
            }
        }
    }

    pub fn finish(mut self) {
        if let Some(last) = self.close() {
            announce(&last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("qinglang-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// (name, contents) of the files in `dir`, by name.
    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        out.sort();
        out
    }

    fn wait_for_helper(log: &SegmentLog) {
        while !log.next.as_ref().expect("a helper started").1.is_finished() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn on_disk(log: &SegmentLog) -> u64 {
        log.file.as_ref().unwrap().metadata().unwrap().len()
    }

    fn shared() -> Shared {
        Shared {
            queued: AtomicUsize::new(0),
            fault: Mutex::new(None),
        }
    }

    #[test]
    fn the_next_segment_is_zeroed_ahead_and_every_closed_one_holds_only_its_records() {
        let dir = scratch("log-zeroed");
        let mut log = SegmentLog::open(&dir, "0000000000001", Arc::default(), 4096, 3600.0).unwrap();
        let mut written = Vec::new();
        for i in 0..10u8 {
            let mut group = vec![b'r'; 1023];
            group.push(b'0' + i);
            log.append(&group).unwrap();
            written.extend_from_slice(&group);
            if i == 0 {
                // a quarter full: a file is being written out in zeros beside this segment
                wait_for_helper(&log);
                let seen = files(&dir);
                assert!(seen[0].0.starts_with("prep-0000000000001-") && seen[0].0.ends_with(".zeros"));
                assert_eq!(seen[0].1, vec![0u8; 4096 + 1024]);
            }
            log.rotate_if_due(&shared());
            if i == 4 {
                // segment 2 is that file, renamed, with zeros past its first record
                assert_eq!(log.n, 2);
                assert_eq!(on_disk(&log), 4096 + 1024);
                wait_for_helper(&log);
            }
        }
        log.finish();
        let seen = files(&dir);
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "seg-0000000000001-000001.log",
                "seg-0000000000001-000002.log",
                "seg-0000000000001-000003.log"
            ],
            "the zeroed file nobody used is gone"
        );
        let all: Vec<u8> = seen.iter().flat_map(|(_, d)| d.clone()).collect();
        assert_eq!(
            all, written,
            "closed segments hold exactly the records, no zeros"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_segment_is_reported_closed_once_even_when_the_next_one_failed_to_open() {
        let dir = scratch("log-rotate-fail");
        let mut log = SegmentLog::open(&dir, "0000000000001", Arc::default(), 1 << 20, 3600.0).unwrap();
        log.append(b"a\n").unwrap();
        std::fs::remove_dir_all(&dir).unwrap(); // the next segment cannot be created
        assert!(log.rotate().is_err());
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(
            log.rotate().unwrap(),
            None,
            "closed by the failed rotation already"
        );
        log.append(b"b\n").unwrap();
        let active = log.path.clone();
        assert_eq!(log.rotate().unwrap(), Some(active));
        log.finish();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_new_segment_never_waits_for_an_unfinished_helper() {
        let dir = scratch("log-nowait");
        let mut log = SegmentLog::open(&dir, "0000000000001", Arc::default(), 1 << 30, 3600.0).unwrap();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let tmp = dir.join("prep-0000000000001-000001.zeros");
        let at = tmp.clone();
        log.next = Some((
            tmp,
            std::thread::spawn(move || {
                // a slow disk: done only when the test says so (or after 10 s)
                let _ = wait.recv_timeout(Duration::from_secs(10));
                zeroed(&at, 4096)
            }),
        ));
        log.append(b"a\n").unwrap();
        log.rotate().unwrap();
        assert!(
            !log.next.as_ref().unwrap().1.is_finished(),
            "the rotation did not wait"
        );
        assert_eq!(on_disk(&log), 0, "a new, empty segment");
        go.send(()).unwrap();
        wait_for_helper(&log);
        log.append(b"b\n").unwrap();
        log.rotate().unwrap();
        assert_eq!(on_disk(&log), 4096, "the next one takes the zeroed file");
        log.finish();
        let seen = files(&dir);
        assert_eq!(seen.len(), 2);
        assert_eq!(
            (seen[0].1.as_slice(), seen[1].1.as_slice()),
            (&b"a\n"[..], &b"b\n"[..])
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
