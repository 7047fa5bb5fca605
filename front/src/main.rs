//! qinglang-front: the collector's HTTP side in Rust. An event loop (server.rs: mio, HTTP/1.1
//! by httparse in http.rs) runs the collector's steps; a sync thread beside it makes the group
//! commits to the fsync'd segments (log.rs). A panic aborts the process (Cargo.toml): crash
//! only, as after SIGKILL, `qinglang serve` stops with it and a restart recovers the segments.
//! `qinglang serve` starts it with `--config FILE` and stops it by closing its stdin; it prints
//! "listening ADDR" once bound and "closed PATH" for every segment ready to roll into the lake.
//! The Python collector (qinglang/collect/app.py) is the reference for every answer; see README,
//! "Collector engines".

mod config;
#[cfg(test)]
mod contract;
mod fast;
mod http;
mod log;
mod metrics;
mod schema;
mod server;
mod steps;
mod tokens;
#[cfg(test)]
mod vectors;

// linked for its malloc, which replaces glibc's (see Cargo.toml)
use jemalloc_sys as _;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use config::{Limits, Site};
use http::{Request, Response};
use metrics::Metrics;
use steps::{Drop, Hit, Reason};

const GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

struct State {
    limits: Limits,
    fast: bool, // the fast path's client fields are the contract's
    tracker: String,
    ttl_s: u64,
    queue: usize,
    trusted: Vec<String>,
    sites_file: PathBuf,
    sites: RwLock<HashMap<String, Site>>,
    sites_mtime: Mutex<Option<SystemTime>>,
    sites_read: Mutex<Instant>,
    guard: Mutex<tokens::ReplayGuard>,
    boot: String,
    counter: AtomicU64,
    shared: Arc<log::Shared>,
    metrics: Arc<Metrics>,
}

type Extra = Vec<(&'static str, String)>;

fn respond(status: u16, body: Vec<u8>, ctype: Option<&str>, extra: Extra) -> Response {
    let mut headers: Vec<(&'static str, Vec<u8>)> = Vec::with_capacity(2 + extra.len());
    if let Some(c) = ctype {
        headers.push(("content-type", c.as_bytes().to_vec()));
    }
    headers.push(("x-content-type-options", b"nosniff".to_vec()));
    for (k, v) in extra {
        // an origin the client sent comes back only if it is a valid header value
        let v = latin1_bytes(&v);
        if http::valid_value(&v) {
            headers.push((k, v));
        }
    }
    Response {
        status,
        headers,
        body,
    }
}

/// A header value's bytes as text, each byte one character (Latin-1, as ASGI servers decode
/// them); ASCII, the usual case, is copied as it is.
fn latin1(bytes: &[u8]) -> String {
    if bytes.is_ascii() {
        if let Ok(s) = std::str::from_utf8(bytes) {
            return s.to_owned(); // ASCII is UTF-8: always this branch
        }
    }
    bytes.iter().map(|&b| b as char).collect()
}

fn latin1_bytes(s: &str) -> Vec<u8> {
    if s.is_ascii() {
        return s.as_bytes().to_vec();
    }
    s.chars().map(|c| c as u32 as u8).collect()
}

/// The first `max` characters of `s` (no copy when it is that short: it has no more
/// characters than bytes).
fn first_chars(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    s.chars().take(max).collect()
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.header_bytes(name).map(latin1)
}

fn cors(origin: &Option<String>) -> Extra {
    match origin {
        Some(o) if !o.is_empty() => vec![
            ("access-control-allow-origin", o.clone()),
            ("vary", "origin".into()),
        ],
        _ => vec![],
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl State {
    /// Pick up sites added while serving (at most once a second).
    fn refresh_sites(&self) {
        {
            let mut read = self.sites_read.lock().expect("lock");
            if read.elapsed().as_secs_f64() < 1.0 {
                return;
            }
            *read = Instant::now();
        }
        let mtime = std::fs::metadata(&self.sites_file)
            .and_then(|m| m.modified())
            .ok();
        if mtime.is_some() && mtime == *self.sites_mtime.lock().expect("lock") {
            return;
        }
        match config::read_sites(&self.sites_file) {
            Ok((sites, m)) => {
                *self.sites.write().expect("lock") = sites;
                *self.sites_mtime.lock().expect("lock") = m;
            }
            Err(e) => eprintln!("qinglang-front: {e}"),
        }
    }

    fn allowed(&self, origin: &Option<String>) -> bool {
        match origin {
            Some(o) if !o.is_empty() => self
                .sites
                .read()
                .expect("lock")
                .values()
                .any(|s| s.origins.contains(o)),
            _ => false,
        }
    }

    /// The client's IP: the TCP peer's (`direct`, as text), or a trusted proxy's forward.
    fn client_ip(&self, direct: &str, req: &Request) -> String {
        let direct = direct.to_string();
        if !self.trusted.contains(&direct) {
            return direct;
        }
        let values: Vec<String> = req.header_all("x-forwarded-for").map(latin1).collect();
        if values.is_empty() {
            return direct;
        }
        let joined = values.join(", ");
        let hosts: Vec<&str> = joined.split(',').map(str::trim).collect();
        let pick = hosts
            .iter()
            .rev()
            .find(|h| !self.trusted.iter().any(|t| t == *h))
            .or(hosts.first());
        let host = pick.copied().unwrap_or("");
        let host = if let Some(rest) = host.strip_prefix('[') {
            rest.split(']').next().unwrap_or("")
        } else if host.matches(':').count() == 1 {
            host.split(':').next().unwrap_or("")
        } else {
            host
        };
        if host.is_empty() {
            direct
        } else {
            host.to_string()
        }
    }
}

/// A beacon's rows, held for a group commit (server.rs), and what its answer needs.
pub struct Held {
    pub data: Vec<u8>,
    pub rows: usize,
    pub verdicts: Vec<&'static str>,
    origin: Option<String>,
    pixel: bool,
}

pub enum Outcome {
    /// answer this now (in request order: after any answer held before it)
    Now(Response),
    /// commit these rows first, then answer with `answer_held`
    Held(Held),
}

/// The steps up to the write: the rows to commit, or why the beacon is refused. The body was
/// read within `max_body` (server.rs; a larger one is refused by `too_large`).
fn beacon(st: &State, peer: &str, req: &mut Request, pixel: bool) -> Result<Held, Drop> {
    let origin_header = header(req, "origin");
    let body = if pixel { None } else { Some(std::mem::take(&mut req.body)) };
    let ua = first_chars(
        header(req, "user-agent").unwrap_or_default(),
        st.limits.max_ua,
    );
    let query = std::mem::take(&mut req.query);
    let content_type = header(req, "content-type").unwrap_or_default();
    let origin = steps::origin_of(origin_header.as_deref(), header(req, "referer").as_deref());
    let ip = st.client_ip(peer, req);
    let now = now_ms();
    // Room in the queue is taken when it is checked (every serving thread checks at once), so
    // the queue never holds more than its bound; a request that gets room always queues its rows.
    let reserved = AtomicUsize::new(0); // rows this request has room for
    let room = |n: usize| {
        let taken = st
            .shared
            .queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| {
                (st.queue.saturating_sub(q) >= n).then(|| q + n)
            })
            .is_ok();
        if taken {
            reserved.store(n, Ordering::SeqCst);
        }
        taken
    };
    let overloaded = || {
        Drop::new(
            Reason::Overloaded,
            "collector overloaded: retry later".into(),
            None,
        )
    };
    let m = &st.metrics;
    let json_type = steps::check_content_type(&content_type).is_ok();
    let mut fast_done = None;
    if let (Some(body), true, true) = (&body, json_type, st.fast) {
        let sites = st.sites.read().expect("lock");
        let env = fast::Env {
            limits: &st.limits,
            sites: &sites,
            origin: origin.as_deref(),
            ip: Some(&ip),
            user_agent: &ua,
            now_ms: now,
            ttl_s: st.ttl_s,
            metrics: m,
        };
        let res = fast::run(body, &env, room, &st.guard, &st.boot, &st.counter);
        match res {
            Some(Ok(done)) => fast_done = Some((done.rows, done.verdicts)),
            Some(Err(())) => return Err(overloaded()),
            None => {}
        }
    }
    let (rows, verdicts) = match fast_done {
        Some(done) => done,
        None => {
            let mut hit = Hit {
                body,
                query,
                content_type,
                origin,
                user_agent: ua,
                ip: Some(ip),
                now_ms: now,
                raw: vec![],
                beacons: vec![],
                site: None,
                rows: vec![],
                verdicts: vec![],
            };
            let t = Instant::now();
            steps::parse(&mut hit, &st.limits)?;
            m.observe(0, t.elapsed().as_secs_f64());
            let t = Instant::now();
            steps::validate(&mut hit, &st.limits)?;
            m.observe(1, t.elapsed().as_secs_f64());
            let t = Instant::now();
            if !st
                .sites
                .read()
                .expect("lock")
                .contains_key(&hit.beacons[0].site)
            {
                st.refresh_sites();
            }
            steps::site_check(&mut hit, &st.sites.read().expect("lock"))?;
            m.observe(2, t.elapsed().as_secs_f64());
            let t = Instant::now();
            // Refuse before a token is recorded as used, so that a retry is not a "replay".
            if !room(hit.beacons.len().max(1)) {
                return Err(overloaded());
            }
            steps::token_check(&mut hit, st.ttl_s, &st.guard);
            m.observe(3, t.elapsed().as_secs_f64());
            let t = Instant::now();
            steps::enrich(&mut hit, &st.boot, &st.counter);
            m.observe(4, t.elapsed().as_secs_f64());
            (hit.rows, hit.verdicts)
        }
    };
    let n = rows.len();
    let held = reserved.load(Ordering::SeqCst); // what the room check took, now the rows
    if n > held {
        st.shared.queued.fetch_add(n - held, Ordering::SeqCst);
    } else {
        st.shared.queued.fetch_sub(held - n, Ordering::SeqCst);
    }
    let data = if n == 1 {
        rows.into_iter().next().unwrap_or_default()
    } else {
        rows.concat()
    };
    Ok(Held {
        data,
        rows: n,
        verdicts,
        origin: origin_header,
        pixel,
    })
}

/// A held beacon's answer once its group commit is done (`res`); `queued` is when its rows
/// joined the group (the write step's time runs from there).
pub(crate) fn answer_held(st: &State, h: Held, res: &Result<(), String>, queued: Instant) -> Response {
    if let Err(e) = res {
        let d = Drop::new(
            Reason::Overloaded,
            format!("could not store the beacon ({e})"),
            None,
        );
        return refusal(st, &h.origin, d);
    }
    st.metrics.observe(5, queued.elapsed().as_secs_f64());
    let extra = cors(&h.origin);
    // the worst refused verdict answers (the contract's verdicts, worst first)
    let bad = schema::VERDICT_ANSWERS
        .iter()
        .find(|(v, _, _)| h.verdicts.contains(v));
    if let Some((bad, status, reason)) = bad {
        let msg = json!({"error": format!("token {bad}: recorded as token={bad}"), "reason": reason});
        respond(
            *status,
            msg.to_string().into_bytes(),
            Some("application/json"),
            extra,
        )
    } else if h.pixel {
        let mut extra = extra;
        extra.push(("cache-control", "no-store".into()));
        respond(200, GIF.to_vec(), Some("image/gif"), extra)
    } else {
        respond(204, vec![], None, extra)
    }
}

fn preflight(st: &State, origin: &Option<String>) -> Result<Response, Drop> {
    if !st.allowed(origin) {
        st.refresh_sites();
    }
    if !st.allowed(origin) {
        let shown = origin.clone().map_or("None".into(), |o| format!("'{o}'"));
        return Err(Drop::new(
            Reason::OriginRefused,
            format!("origin {shown} is not registered"),
            Some("origin".into()),
        ));
    }
    let mut extra = cors(origin);
    extra.push(("access-control-allow-methods", "POST".into()));
    extra.push(("access-control-allow-headers", "content-type".into()));
    extra.push(("access-control-max-age", "86400".into()));
    Ok(respond(204, vec![], None, extra))
}

fn tracker(st: &State, req: &Request) -> Result<Response, Drop> {
    let query = req.query.as_str();
    let name = form_urlencoded::parse(query.as_bytes())
        .find(|(k, v)| k == "site" && !v.is_empty())
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !st.sites.read().expect("lock").contains_key(&name) {
        st.refresh_sites();
    }
    let sites = st.sites.read().expect("lock");
    let site = sites.get(&name).ok_or_else(|| steps::unknown_site(&name))?;
    let ua = first_chars(
        header(req, "user-agent").unwrap_or_default(),
        st.limits.max_ua,
    );
    let token = tokens::issue(&site.token_key, &site.name, now_ms() / 1000, &ua);
    let config = json!({"site": site.name, "token": token}).to_string();
    let body = st.tracker.replacen("__QL_CONFIG__", &config, 1);
    Ok(respond(
        200,
        body.into_bytes(),
        Some("text/javascript; charset=utf-8"),
        vec![("cache-control", "no-store".into())],
    ))
}

/// The answer to one request: now, or once a beacon's rows are committed.
/// `peer`: the TCP peer's IP, as text.
pub(crate) fn handle(st: &State, peer: &str, req: &mut Request) -> Outcome {
    let origin = header(req, "origin");
    // beacons first: they take the request (its body), so no copy of path or method is made
    match (req.path.as_str(), req.method.as_str()) {
        ("/b", "POST") => return held(st, &origin, beacon(st, peer, req, false)),
        ("/b.gif", "GET") => return held(st, &origin, beacon(st, peer, req, true)),
        _ => {}
    }
    let (path, method) = (req.path.as_str(), req.method.as_str());
    let res = match (path, method) {
        ("/b", "OPTIONS") => preflight(st, &origin),
        ("/t.js", "GET" | "HEAD") => tracker(st, req),
        ("/healthz", _) => {
            let fault = st.shared.fault.lock().expect("fault lock").clone();
            let body = json!({"ok": fault.is_none(), "queue": st.shared.queued.load(Ordering::SeqCst),
                              "sites": st.sites.read().expect("lock").len(), "fault": fault});
            let status = if fault.is_none() { 200 } else { 503 };
            Ok(respond(
                status,
                body.to_string().into_bytes(),
                Some("application/json"),
                vec![],
            ))
        }
        ("/metrics", _) => {
            let text = st.metrics.render(st.shared.queued.load(Ordering::SeqCst));
            Ok(respond(200, text.into_bytes(), Some(PROMETHEUS), vec![]))
        }
        ("/b" | "/b.gif" | "/t.js", m) => Err(Drop::new(
            Reason::MethodNotAllowed,
            format!("{m} {path}: method not allowed"),
            None,
        )),
        _ => Err(Drop::new(
            Reason::NotFound,
            "no such path: try /t.js, /b, /b.gif, /healthz, /metrics".into(),
            None,
        )),
    };
    Outcome::Now(res.unwrap_or_else(|d| refusal(st, &origin, d)))
}

fn held(st: &State, origin: &Option<String>, res: Result<Held, Drop>) -> Outcome {
    match res {
        Ok(h) => Outcome::Held(h),
        Err(d) => Outcome::Now(refusal(st, origin, d)),
    }
}

/// A refusal's answer: its status and JSON body, `Retry-After` on a 503, CORS for a
/// registered origin; counted by reason at /metrics.
fn refusal(st: &State, origin: &Option<String>, d: Drop) -> Response {
    st.metrics.dropped(d.reason);
    let mut extra: Extra = if d.reason.status() == 503 {
        vec![("retry-after", "1".into())]
    } else {
        vec![]
    };
    if st.allowed(origin) {
        extra.extend(cors(origin));
    }
    respond(d.reason.status(), d.body(), Some("application/json"), extra)
}

/// The answer to a request whose body is over the limit (server.rs reads no more of it).
pub(crate) fn too_large(st: &State, req: &Request, message: String) -> Response {
    let d = Drop::new(Reason::BodyTooLarge, message, None);
    refusal(st, &header(req, "origin"), d)
}

fn fail(msg: String) -> ! {
    eprintln!("qinglang-front: {msg}");
    std::process::exit(2);
}

/// As many open files as the hard limit allows (the default soft limit, often 1024, is below
/// the connection limit).
fn raise_open_files() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls on a local struct
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() {
    raise_open_files();
    let args: Vec<String> = std::env::args().collect();
    let path = match args.as_slice() {
        [_, flag, p] if flag == "--config" => PathBuf::from(p),
        _ => fail("usage: qinglang-front --config FILE (written by `qinglang serve`)".into()),
    };
    let cfg = config::read_config(&path).unwrap_or_else(|e| fail(e));
    let (sites, mtime) = config::read_sites(&cfg.sites_file).unwrap_or_else(|e| fail(e));
    let mut guard = tokens::ReplayGuard::new(cfg.ttl_s);
    for (nonce, pv_id, seq, ts) in &cfg.used {
        guard.verdict(nonce, pv_id.as_deref(), *seq, ts / 1000);
    }
    let shared = Arc::new(log::Shared {
        queued: AtomicUsize::new(0),
        fault: Mutex::new(None),
    });
    let metrics = Arc::new(Metrics::new());
    let mut boot = [0u8; 4];
    getrandom::getrandom(&mut boot).expect("the OS has randomness");
    let fast = fast::matches(&cfg.limits);
    if !fast {
        eprintln!(
            "qinglang-front: the client contract changed; every request takes the general steps"
        );
    }
    let state = Arc::new(State {
        limits: cfg.limits,
        fast,
        tracker: cfg.tracker,
        ttl_s: cfg.ttl_s,
        queue: cfg.queue,
        trusted: cfg.trusted_proxies,
        sites_file: cfg.sites_file,
        sites: RwLock::new(sites),
        sites_mtime: Mutex::new(mtime),
        sites_read: Mutex::new(Instant::now()),
        guard: Mutex::new(guard),
        boot: hex::encode(boot),
        counter: AtomicU64::new(0),
        shared,
        metrics,
    });
    // Stop when stdin closes or says "stop": `qinglang serve` ended, however it ended.
    let stop = Arc::new(AtomicBool::new(false));
    // One loop unless QINGLANG_FRONT_THREADS asks for more: on one disk the loops' syncs queue
    // behind each other, and each loop's groups get smaller (README, "Collector engines").
    let threads = std::env::var("QINGLANG_FRONT_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(1);
    let mut addr: SocketAddr = cfg
        .listen
        .parse()
        .unwrap_or_else(|e| fail(format!("listen {}: {e}", cfg.listen)));
    let open = Arc::new(AtomicUsize::new(0));
    let numbers = Arc::new(AtomicU32::new(0)); // segment numbers, shared by every loop's stream
    let lifetime = Duration::from_secs_f64(cfg.connection_seconds);
    let mut loops = Vec::with_capacity(threads);
    let mut wakers = Vec::with_capacity(threads);
    for _ in 0..threads {
        let listener = server::listen(addr, threads > 1)
            .unwrap_or_else(|e| fail(format!("cannot listen on {addr}: {e}")));
        // every loop listens on the port the first one got (port 0 picks one)
        addr = listener.local_addr().unwrap_or(addr);
        let log = log::SegmentLog::open(
            &cfg.segments,
            &cfg.run,
            numbers.clone(),
            cfg.roll_bytes,
            cfg.roll_seconds,
        )
        .unwrap_or_else(|e| fail(format!("{}: {e}", cfg.segments.display())));
        let poll = mio::Poll::new().unwrap_or_else(|e| fail(format!("epoll: {e}")));
        let waker = mio::Waker::new(poll.registry(), server::WAKE)
            .unwrap_or_else(|e| fail(format!("eventfd: {e}")));
        let waker = Arc::new(waker);
        wakers.push(waker.clone());
        let l = server::Loop::new(
            state.clone(),
            poll,
            listener,
            log,
            waker,
            open.clone(),
            stop.clone(),
            cfg.max_connections,
            lifetime,
        )
        .unwrap_or_else(|e| fail(format!("epoll: {e}")));
        loops.push(l);
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening {addr}");
        let _ = out.flush();
    }
    let serving: Vec<_> = loops
        .into_iter()
        .map(|l| std::thread::spawn(move || l.run()))
        .collect();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        match line {
            Ok(l) if l.trim() == "stop" => break,
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    stop.store(true, Ordering::SeqCst);
    server::wake_all(&wakers);
    for t in serving {
        let _ = t.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_is_latin1_and_ascii_is_copied_as_it_is() {
        assert_eq!(latin1(b"Mozilla/5.0 (X11)"), "Mozilla/5.0 (X11)");
        assert_eq!(latin1(b"caf\xe9"), "caf\u{e9}");
        assert_eq!(
            latin1("é".as_bytes()),
            "\u{c3}\u{a9}",
            "UTF-8 bytes are two characters"
        );
        for s in ["http://shop.example", "caf\u{e9}", "\u{c3}\u{a9}"] {
            assert_eq!(latin1(&latin1_bytes(s)), s);
        }
    }

    #[test]
    fn first_chars_counts_characters_not_bytes() {
        assert_eq!(first_chars("abc".into(), 5), "abc");
        assert_eq!(first_chars("abcdef".into(), 3), "abc");
        assert_eq!(first_chars("\u{e9}\u{e9}\u{e9}".into(), 2), "\u{e9}\u{e9}");
        assert_eq!(first_chars("\u{e9}\u{e9}".into(), 2), "\u{e9}\u{e9}");
    }
}
