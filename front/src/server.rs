//! The front's event loop, one per serving thread (mio: epoll, edge-triggered), and beside each
//! loop a sync thread that makes its group commits. Each turn of a loop:
//!   1. waits for sockets (at most 200 ms), accepts connections, reads what arrived and parses
//!      every whole request in it (http.rs); each request is answered by main.rs's `handle`,
//!      at once (`/t.js`, `/healthz`, refusals...) or held: a beacon's rows join the forming group;
//!   2. when the sync thread has committed a group (one write, one `fdatasync`, log.rs), writes
//!      the answers held for it; and if the sync thread is free, hands it the forming group;
//!   3. writes every answer that is ready, in request order per connection, so nothing is
//!      acknowledged before it is on disk and no answer overtakes an earlier one;
//!   4. closes connections past their lifetime.
//! While one group syncs, the loop reads and checks the requests of the next: the disk's wait
//! and the steps' CPU overlap. A group costs two wake-ups (the sync thread's, then the loop's
//! eventfd), whatever its size; a beacon costs none. The rows held (forming and syncing) are
//! bounded by the queue (`Shared::queued`, shared by every loop); past it a beacon is refused
//! with 503 + Retry-After. With several loops (`QINGLANG_FRONT_THREADS`), each has its own
//! listening socket (SO_REUSEPORT), connections, sync thread and segment stream.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::http::{self, Parsed, Persist, Response};
use crate::log::{SegmentLog, Shared};
use crate::metrics::Metrics;
use crate::{Held, Outcome, State};

const LISTENER: Token = Token(usize::MAX);
pub const WAKE: Token = Token(usize::MAX - 1);
const READ_CHUNK: usize = 64 << 10;
/// unread requests, or unsent answers, of one connection past which it is closed
const MAX_BUFFERED: usize = 4 << 20;
/// a connection with this many answers waiting, or this much unsent, is not read further (its
/// pipelined requests wait in its buffer, then in the kernel) until they are written
const MAX_ANSWERS: usize = 32;
const MAX_UNSENT: usize = 256 << 10;
/// a connection past its lifetime gets this long to finish the request it is sending
const GRACE: Duration = Duration::from_secs(5);
/// after its last answer, a closing connection's unread input is read and dropped for this long
/// (or until the client closes, or `LINGER_BYTES`), so that closing does not reset the
/// connection under an answer the client has not read yet (say a 413 while it still uploads)
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Largest body read for a request: the collector's limit for beacons, 64 KiB for anything else
/// (read and ignored).
fn body_cap(st: &State) -> impl Fn(&str, &str) -> usize + '_ {
    move |method, path| {
        if method == "POST" && path == "/b" {
            st.limits.max_body
        } else {
            64 << 10
        }
    }
}

enum Kind {
    Ready(Response),
    /// rows in group `gen` (a count kept by the loop), queued at that instant
    Held(Held, Instant, u64),
}

struct Answer {
    kind: Kind,
    head_only: bool,
    persist: Persist,
}

struct Conn {
    stream: TcpStream,
    peer: String, // its IP, as text
    inb: Vec<u8>,
    out: Vec<u8>,
    answers: VecDeque<Answer>,
    opened: Instant,
    continued: bool, // `100 Continue` sent for the request being read
    closing: bool,   // no more requests: close once every answer is out
    eof: bool,       // the client has closed its side
    linger: Option<(Instant, usize)>, // answers out, our side shut: since when, bytes dropped
}

/// A listening socket for one loop; `shared`: SO_REUSEPORT, so that each of several loops has
/// its own (only then: else a second collector on the port would be refused, not share it).
pub fn listen(addr: SocketAddr, shared: bool) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if shared {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(2048)?;
    Ok(socket.into())
}

/// What a loop and its sync thread share: the group to commit, and what the commit did.
#[derive(Default)]
struct Slot {
    job: Option<Vec<u8>>,
    done: Option<(Vec<u8>, Result<(), String>)>,
    stop: bool,
}

#[derive(Default)]
struct Syncer {
    slot: Mutex<Slot>,
    ready: Condvar,
}

impl Syncer {
    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The sync thread: each group it is handed is written and synced, then handed back with the
/// result, and the loop woken; a segment that is due (size or age, checked at least every
/// 200 ms) rolls.
fn sync_thread(
    syncer: &Syncer,
    mut log: SegmentLog,
    waker: &Waker,
    shared: &Shared,
    metrics: &Metrics,
) {
    loop {
        let mut slot = syncer.slot();
        if slot.job.is_none() && !slot.stop {
            slot = match syncer.ready.wait_timeout(slot, Duration::from_millis(200)) {
                Ok((slot, _)) => slot,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        let (job, stop) = (slot.job.take(), slot.stop);
        drop(slot);
        if let Some(data) = job {
            let res = log.append(&data).map_err(|e| e.to_string());
            if res.is_ok() {
                metrics.group_commit();
            }
            syncer.slot().done = Some((data, res));
            let _ = waker.wake();
        } else if stop {
            break;
        }
        log.rotate_if_due(shared);
    }
    log.finish();
}

pub struct Loop {
    st: Arc<State>,
    poll: Poll,
    listener: Option<TcpListener>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    syncer: Arc<Syncer>,
    syncing: Option<JoinHandle<()>>,
    group: Vec<u8>,         // the forming group's rows
    rows: usize,            // how many
    members: Vec<usize>,    // the connections with answers held for it
    gen: u64,               // its number
    inflight: Option<(usize, Vec<usize>)>, // the group being synced (gen - 1): rows, members
    spare: Vec<u8>,         // a group's buffer, back from the sync thread
    touched: Vec<usize>,
    clock: http::Clock,
    scratch: Vec<u8>,
    open: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    max_connections: usize,
    lifetime: Duration,
    swept: Instant,
    accept_again: bool, // accepting failed (out of file descriptors?): try again next turn
    verdicts: Vec<&'static str>, // the forming group's rows' token verdicts (for /metrics)
    inflight_verdicts: Vec<&'static str>,
}

impl Loop {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        st: Arc<State>,
        poll: Poll,
        listener: std::net::TcpListener,
        log: SegmentLog,
        waker: Arc<Waker>,
        open: Arc<AtomicUsize>,
        stop: Arc<AtomicBool>,
        max_connections: usize,
        lifetime: Duration,
    ) -> std::io::Result<Self> {
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let syncer = Arc::new(Syncer::default());
        let syncing = {
            let (syncer, st) = (syncer.clone(), st.clone());
            std::thread::Builder::new()
                .name("ql-sync".into())
                .spawn(move || sync_thread(&syncer, log, &waker, &st.shared, &st.metrics))?
        };
        Ok(Loop {
            st,
            poll,
            listener: Some(listener),
            conns: Vec::new(),
            free: Vec::new(),
            syncer,
            syncing: Some(syncing),
            group: Vec::with_capacity(1 << 20),
            rows: 0,
            members: Vec::new(),
            gen: 0,
            inflight: None,
            spare: Vec::with_capacity(1 << 20),
            touched: Vec::new(),
            clock: http::Clock::new(),
            scratch: vec![0; READ_CHUNK],
            open,
            stop,
            max_connections,
            lifetime,
            swept: Instant::now(),
            accept_again: false,
            verdicts: Vec::new(),
            inflight_verdicts: Vec::new(),
        })
    }

    /// Serve until told to stop; then answer what was read, close the segment and return.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            if let Err(e) = self.poll.poll(&mut events, Some(Duration::from_millis(200))) {
                if e.kind() != ErrorKind::Interrupted {
                    eprintln!("qinglang-front: poll: {e}");
                    break;
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(),
                    WAKE => self.committed(),
                    Token(i) => {
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.read(i, ev.is_read_closed() || ev.is_error());
                        }
                        if ev.is_writable() {
                            self.touch(i);
                        }
                    }
                }
            }
            if self.accept_again {
                self.accept();
            }
            self.flush_touched();
            self.hand_off();
            if self.swept.elapsed() >= Duration::from_secs(1) {
                self.sweep();
            }
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
        }
        // stopping: commit and answer what was read, then the sync thread closes the segment
        self.listener = None;
        while self.inflight.is_some() || self.rows > 0 {
            self.wait_committed();
            self.hand_off();
        }
        self.flush_touched();
        self.syncer.slot().stop = true;
        self.syncer.ready.notify_one();
        if let Some(t) = self.syncing.take() {
            let _ = t.join();
        }
    }

    /// Hand the forming group to the sync thread, if it is free.
    fn hand_off(&mut self) {
        if self.inflight.is_some() || self.rows == 0 {
            return;
        }
        let data = std::mem::replace(&mut self.group, std::mem::take(&mut self.spare));
        self.syncer.slot().job = Some(data);
        self.syncer.ready.notify_one();
        self.inflight = Some((self.rows, std::mem::take(&mut self.members)));
        self.inflight_verdicts = std::mem::take(&mut self.verdicts);
        self.rows = 0;
        self.gen += 1;
    }

    /// The group in flight is committed (the loop was woken): answer its beacons.
    fn committed(&mut self) {
        let done = self.syncer.slot().done.take();
        let Some((mut data, res)) = done else { return };
        let Some((rows, members)) = self.inflight.take() else { return };
        self.st.shared.queued.fetch_sub(rows, Ordering::SeqCst);
        if res.is_ok() {
            // counted here, not when answered: a client gone meanwhile had its rows stored too
            for v in self.inflight_verdicts.drain(..) {
                self.st.metrics.row(v);
            }
        }
        self.inflight_verdicts.clear();
        data.clear();
        self.spare = data;
        for &i in &members {
            self.answer(i, Some(&res));
        }
    }

    /// Wait for the group in flight (only when stopping).
    fn wait_committed(&mut self) {
        while self.inflight.is_some() {
            if self.syncer.slot().done.is_some() {
                self.committed();
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    fn accept(&mut self) {
        self.accept_again = false;
        loop {
            let Some(listener) = self.listener.as_ref() else { return };
            let (mut stream, peer) = match listener.accept() {
                Ok(a) => a,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::ConnectionAborted) => continue,
                Err(e) => {
                    // e.g. out of file descriptors: the backlog waits; retried next turn (the
                    // listener is edge-triggered: no new event comes for those already queued)
                    eprintln!("qinglang-front: accept: {e}");
                    self.accept_again = true;
                    return;
                }
            };
            if self.open.load(Ordering::SeqCst) >= self.max_connections {
                // past the limit: a short 503 instead of a growing backlog of work
                let _ = stream.write(BUSY);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let i = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self.poll.registry().register(&mut stream, Token(i), interest).is_err() {
                self.free.push(i);
                continue;
            }
            self.open.fetch_add(1, Ordering::SeqCst);
            self.conns[i] = Some(Conn {
                stream,
                peer: peer.ip().to_string(),
                inb: Vec::new(),
                out: Vec::new(),
                answers: VecDeque::new(),
                opened: Instant::now(),
                continued: false,
                closing: false,
                eof: false,
                linger: None,
            });
        }
    }

    fn close(&mut self, i: usize) {
        if self.conns.get_mut(i).and_then(Option::take).is_some() {
            self.free.push(i);
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn touch(&mut self, i: usize) {
        if self.conns.get(i).map_or(false, Option::is_some) {
            self.touched.push(i);
        }
    }

    /// Read what arrived on connection `i` and take every whole request in it; `to_end`: the
    /// client has closed its side, read up to the end (else a short read means all there was).
    fn read(&mut self, i: usize, to_end: bool) {
        let Some(c) = self.conns.get_mut(i).and_then(Option::as_mut) else { return };
        let mut eof = false;
        loop {
            match c.stream.read(&mut self.scratch) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    if !c.closing {
                        c.inb.extend_from_slice(&self.scratch[..n]);
                    } else if let Some((_, dropped)) = c.linger.as_mut() {
                        *dropped += n;
                        if *dropped > LINGER_BYTES {
                            return self.close(i);
                        }
                    }
                    if c.inb.len() > MAX_BUFFERED {
                        return self.close(i);
                    }
                    if n < self.scratch.len() && !to_end {
                        break; // all there was (a later arrival is another edge)
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return self.close(i),
            }
        }
        // the client sends no more: answer every whole request it sent, then close (a request
        // it left half-sent is dropped; see take_requests)
        c.eof |= eof;
        if eof && c.linger.is_some() {
            return self.close(i);
        }
        self.take_requests(i);
        self.touched.push(i);
    }

    /// Parse and handle the whole requests buffered on connection `i`, in order.
    fn take_requests(&mut self, i: usize) {
        let st = self.st.clone();
        let Some(c) = self.conns.get_mut(i).and_then(Option::as_mut) else { return };
        let cap = body_cap(&st);
        let mut at = 0;
        let mut paused = false;
        while !c.closing && at < c.inb.len() {
            if c.answers.len() >= MAX_ANSWERS || c.out.len() >= MAX_UNSENT {
                paused = true;
                break; // resumed by `answer` once these are written
            }
            match http::parse(&c.inb[at..], &cap) {
                Parsed::Partial(expect) => {
                    // `100 Continue` only when it overtakes no answer still to come
                    if expect && !c.continued && c.answers.is_empty() {
                        c.out.extend_from_slice(http::CONTINUE);
                        c.continued = true;
                    }
                    break;
                }
                Parsed::Done(mut req, n) => {
                    at += n;
                    c.continued = false;
                    let close = !req.keep_alive || c.opened.elapsed() >= self.lifetime;
                    let persist = match (close, req.http10) {
                        (true, _) => Persist::Close,
                        (false, true) => Persist::KeepAlive10,
                        (false, false) => Persist::Open,
                    };
                    let head_only = req.method == "HEAD";
                    let kind = match crate::handle(&st, &c.peer, &mut req) {
                        Outcome::Now(r) => Kind::Ready(r),
                        Outcome::Held(mut h) => {
                            self.group.append(&mut h.data);
                            self.rows += h.rows;
                            self.verdicts.extend_from_slice(&h.verdicts);
                            if self.members.last() != Some(&i) {
                                self.members.push(i);
                            }
                            Kind::Held(h, Instant::now(), self.gen)
                        }
                    };
                    c.answers.push_back(Answer { kind, head_only, persist });
                    c.closing |= close;
                }
                Parsed::Bad(status) => {
                    let r = Response { status, headers: vec![], body: vec![] };
                    c.answers.push_back(Answer {
                        kind: Kind::Ready(r),
                        head_only: false,
                        persist: Persist::Close,
                    });
                    c.closing = true;
                }
                Parsed::TooLarge(req, msg) => {
                    let r = crate::too_large(&st, &req, msg);
                    c.answers.push_back(Answer {
                        kind: Kind::Ready(r),
                        head_only: false,
                        persist: Persist::Close,
                    });
                    c.closing = true;
                }
            }
        }
        if c.eof && !paused {
            c.closing = true; // every whole request is taken; what is left is half-sent
        }
        if c.closing {
            c.inb.clear();
        } else {
            c.inb.drain(..at);
        }
    }

    /// Write out what is ready on every connection touched this turn.
    fn flush_touched(&mut self) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for &i in &touched {
            self.answer(i, None);
        }
        touched.clear();
        self.touched = touched;
    }

    /// Write connection `i`'s answers, in order, up to the first still held for a group not
    /// yet committed; `res`: the group in flight was just committed, with this result.
    fn answer(&mut self, i: usize, res: Option<&Result<(), String>>) {
        loop {
            self.write_answers(i, res);
            // requests left unparsed while answers waited (pipelining): take them now
            let Some(c) = self.conns.get(i).and_then(Option::as_ref) else { return };
            let paused = (!c.inb.is_empty() || c.eof) && !c.closing && c.answers.len() < MAX_ANSWERS;
            if !(paused && c.out.len() < MAX_UNSENT) {
                return;
            }
            let before = (c.answers.len(), c.out.len());
            self.take_requests(i);
            let Some(c) = self.conns.get(i).and_then(Option::as_ref) else { return };
            if (c.answers.len(), c.out.len()) == before {
                return; // a partial request: nothing new to write (else write it: a `100
                         // Continue` too, as no event may come for it)
            }
        }
    }

    fn write_answers(&mut self, i: usize, res: Option<&Result<(), String>>) {
        let st = self.st.clone();
        let Some(c) = self.conns.get_mut(i).and_then(Option::as_mut) else { return };
        let date = self.clock.date();
        while let Some(a) = c.answers.front() {
            let r = match (&a.kind, res) {
                (Kind::Ready(_), _) => None,
                (Kind::Held(_, _, gen), Some(res)) if *gen < self.gen => Some(res),
                _ => break, // held for the forming group
            };
            let a = c.answers.pop_front().expect("a front");
            let r = match (a.kind, r) {
                (Kind::Ready(r), _) => r,
                (Kind::Held(h, queued, _), Some(res)) => crate::answer_held(&st, h, res, queued),
                (Kind::Held(..), None) => unreachable!("held answers wait above"),
            };
            http::write(&mut c.out, &r, a.head_only, a.persist, date);
        }
        while !c.out.is_empty() {
            match c.stream.write(&c.out) {
                Ok(0) => return self.close(i),
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return self.close(i),
            }
        }
        if c.out.len() > MAX_BUFFERED {
            self.close(i);
        } else if c.out.is_empty() && c.closing && c.answers.is_empty() && c.linger.is_none() {
            if c.eof || c.stream.shutdown(std::net::Shutdown::Write).is_err() {
                self.close(i);
            } else {
                c.linger = Some((Instant::now(), 0));
            }
        }
    }

    /// Close connections past their lifetime: at once when idle, else once the request in hand
    /// is answered (it is told `connection: close`), or `GRACE` later in any case.
    fn sweep(&mut self) {
        self.swept = Instant::now();
        for i in 0..self.conns.len() {
            let Some(c) = self.conns[i].as_ref() else { continue };
            let age = c.opened.elapsed();
            let idle = c.inb.is_empty() && c.answers.is_empty() && c.out.is_empty();
            let lingered = c.linger.map_or(false, |(since, _)| since.elapsed() >= LINGER);
            if lingered || age >= self.lifetime + GRACE || (age >= self.lifetime && idle) {
                self.close(i);
            }
        }
    }
}

/// Wake every loop (to stop), from another thread.
pub fn wake_all(wakers: &[Arc<Waker>]) {
    for w in wakers {
        let _ = w.wake();
    }
}
