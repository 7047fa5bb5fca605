//! HTTP/1.1 for the front's event loop (server.rs): a request is parsed by httparse, its body read
//! by `Content-Length` or chunked, and an answer is written out as bytes. Only what the collector
//! reads is kept of a request (method, path, query, a few headers, the body); everything else is
//! skipped. Limits: the head at most 64 KiB and 100 headers (else 431), the body at most what the
//! caller allows for that method and path (else 413, and the connection closes, as the rest of the
//! body is not read).

use std::time::{SystemTime, UNIX_EPOCH};

const MAX_HEAD: usize = 64 << 10;
const MAX_HEADERS: usize = 100;

/// The headers the collector reads (names lower case); others are skipped.
const KEPT: [&str; 6] = [
    "origin",
    "referer",
    "user-agent",
    "content-type",
    "content-length",
    "x-forwarded-for",
];

pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    pub body: Vec<u8>,
    /// the client keeps the connection open after the answer (HTTP/1.1 unless `Connection: close`;
    /// HTTP/1.0 only with `Connection: keep-alive`)
    pub keep_alive: bool,
    /// HTTP/1.0 (its answer says `connection: keep-alive` when the connection stays open)
    pub http10: bool,
    expect_continue: bool,
}

impl Request {
    /// The first value of header `name` (lower case), as sent.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of header `name`, in order.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| *k == name)
            .map(|(_, v)| v.as_slice())
    }
}

pub enum Parsed {
    /// more bytes are needed; true once the head asked for `100 Continue` and the body is due
    Partial(bool),
    /// a whole request, and how many bytes of the buffer it took
    Done(Request, usize),
    /// answer this and close: the head is malformed or too large
    Bad(u16),
    /// the body is larger than allowed (the head, and what was said of the size); then close
    TooLarge(Request, String),
}

/// Parse the first request in `buf`; `cap(method, path)` is the largest body allowed.
pub fn parse(buf: &[u8], cap: impl Fn(&str, &str) -> usize) -> Parsed {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut raw);
    let head = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Parsed::Bad(431),
        Ok(httparse::Status::Partial) => return Parsed::Partial(false),
        Err(httparse::Error::TooManyHeaders) => return Parsed::Bad(431),
        Err(_) => return Parsed::Bad(400),
    };
    if head > MAX_HEAD {
        return Parsed::Bad(431);
    }
    let (method, target, version) = match (req.method, req.path, req.version) {
        (Some(m), Some(p), Some(v)) => (m, p, v),
        _ => return Parsed::Bad(400),
    };
    let Some((path, query)) = split_target(target) else {
        return Parsed::Bad(400);
    };
    let mut headers = Vec::with_capacity(8);
    let (mut length, mut chunked, mut close, mut keep, mut expect) =
        (None, false, false, false, false);
    for h in req.headers.iter() {
        let name = h.name;
        if let Some(k) = KEPT.iter().find(|k| k.eq_ignore_ascii_case(name)) {
            headers.push((*k, h.value.to_vec()));
        }
        if name.eq_ignore_ascii_case("content-length") {
            let v = trim(h.value);
            if length.map_or(false, |l: &[u8]| l != v) {
                return Parsed::Bad(400); // two different lengths
            }
            length = Some(v);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if chunked || !trim(h.value).eq_ignore_ascii_case(b"chunked") {
                return Parsed::Bad(400); // no other coding is understood
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            close |= has_token(h.value, "close");
            keep |= has_token(h.value, "keep-alive");
        } else if name.eq_ignore_ascii_case("expect") {
            expect = has_token(h.value, "100-continue");
        }
    }
    let request = Request {
        method: method.to_string(),
        path,
        query,
        headers,
        body: Vec::new(),
        // a length beside chunked coding is not trusted: answer, then close (RFC 9112, 6.1)
        keep_alive: !(chunked && length.is_some())
            && if version >= 1 { !close } else { keep && !close },
        http10: version == 0,
        expect_continue: expect && version >= 1,
    };
    let max = cap(method, &request.path);
    if chunked {
        return chunked_body(buf, head, request, max);
    }
    let len = match length {
        None => 0,
        Some(v) if !v.is_empty() && v.iter().all(u8::is_ascii_digit) => {
            match std::str::from_utf8(v).ok().and_then(|s| s.parse::<usize>().ok()) {
                Some(n) if n <= max => n,
                _ => {
                    let said = String::from_utf8_lossy(v).into_owned();
                    return Parsed::TooLarge(request, format!("body of {said} bytes: expected at most {max}"));
                }
            }
        }
        Some(_) => return Parsed::Bad(400),
    };
    if buf.len() < head + len {
        return Parsed::Partial(request.expect_continue);
    }
    let mut request = request;
    request.body = buf[head..head + len].to_vec();
    Parsed::Done(request, head + len)
}

fn chunked_body(buf: &[u8], head: usize, mut request: Request, max: usize) -> Parsed {
    let mut pos = head;
    // framing beside the data: chunk-size lines (and extensions) at most 1 KiB each, and all of
    // it at most the body's size again plus 64 KiB, however small the chunks
    let framing = max + MAX_HEAD;
    loop {
        if pos - head > max + framing {
            return Parsed::Bad(400);
        }
        let line = &buf[pos..buf.len().min(pos + 1024)];
        let (took, size) = match httparse::parse_chunk_size(line) {
            Ok(httparse::Status::Complete(c)) => c,
            Ok(httparse::Status::Partial) if line.len() == 1024 => return Parsed::Bad(400),
            Ok(httparse::Status::Partial) => return Parsed::Partial(request.expect_continue),
            Err(_) => return Parsed::Bad(400),
        };
        pos += took;
        if size == 0 {
            break;
        }
        if request.body.len() as u64 + size > max as u64 {
            return Parsed::TooLarge(request, format!("body over {max} bytes"));
        }
        let size = size as usize;
        if buf.len() < pos + size + 2 {
            return Parsed::Partial(request.expect_continue);
        }
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Parsed::Bad(400);
        }
        request.body.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
    }
    // trailers (ignored), up to the empty line
    loop {
        let Some(end) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
            if buf.len() - head > max + framing {
                return Parsed::Bad(400);
            }
            return Parsed::Partial(false);
        };
        pos += end + 2;
        if end == 0 {
            return Parsed::Done(request, pos);
        }
    }
}

/// Path and query of a request target (origin form, or absolute form whose authority is
/// dropped); None for a target with bytes that are not ASCII, or with no path.
fn split_target(target: &str) -> Option<(String, String)> {
    if !target.is_ascii() {
        return None;
    }
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|s| {
            target
                .get(..s.len())
                .filter(|p| p.eq_ignore_ascii_case(s))
                .map(|_| &target[s.len()..])
        })
        .map(|r| r.find(['/', '?']).map_or("/", |i| &r[i..]))
        .unwrap_or(target);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = if path.is_empty() { "/" } else { path };
    if !(path.starts_with('/') || path == "*") {
        return None;
    }
    Some((path.to_string(), query.to_string()))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |i| i + 1);
    &v[start..end]
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
}

pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// An answer: status, headers (beside content-length, date and connection) and body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// What may stand in a header value: no control characters but tab (as the `http` crate checks).
pub fn valid_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// How an answer ends its connection: `Close` says so; `KeepAlive10` tells an HTTP/1.0 client
/// that the connection stays open; `Open` (HTTP/1.1) needs no header.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    Open,
    KeepAlive10,
    Close,
}

/// Append `r` to `out` as HTTP/1.1 (no body for a HEAD request).
pub fn write(out: &mut Vec<u8>, r: &Response, head_only: bool, persist: Persist, date: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(r.status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(r.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in &r.headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    if r.status != 204 {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(r.body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match persist {
        Persist::Close => out.extend_from_slice(b"connection: close\r\n"),
        Persist::KeepAlive10 => out.extend_from_slice(b"connection: keep-alive\r\n"),
        Persist::Open => {}
    }
    out.extend_from_slice(b"date: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n\r\n");
    if !head_only && r.status != 204 {
        out.extend_from_slice(&r.body);
    }
}

/// The `Date` header's text (IMF-fixdate), computed once a second.
pub struct Clock {
    second: u64,
    text: Vec<u8>,
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            second: u64::MAX,
            text: vec![],
        }
    }

    pub fn date(&mut self) -> &[u8] {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if now != self.second {
            self.second = now;
            self.text = imf_fixdate(now).into_bytes();
        }
        &self.text
    }
}

/// "Sun, 06 Nov 1994 08:49:37 GMT" for a Unix time in seconds.
pub fn imf_fixdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86_400) as i64;
    let (y, m, d) = crate::steps::civil(days);
    let s = secs % 86_400;
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(_: &str, _: &str) -> usize {
        100
    }

    fn done(buf: &[u8]) -> (Request, usize) {
        match parse(buf, cap) {
            Parsed::Done(r, n) => (r, n),
            _ => panic!("not a whole request: {:?}", String::from_utf8_lossy(buf)),
        }
    }

    #[test]
    fn a_request_by_content_length_and_the_next_one_in_the_same_buffer() {
        let two = b"POST /b?x=1 HTTP/1.1\r\nOrigin: http://a\r\nContent-Length: 3\r\nX-Other: y\r\n\r\nabcGET /healthz HTTP/1.1\r\n\r\n";
        let (r, n) = done(two);
        assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("POST", "/b", "x=1"));
        assert_eq!(r.body, b"abc");
        assert_eq!(r.header_bytes("origin"), Some(&b"http://a"[..]));
        assert_eq!(r.header_bytes("x-other"), None, "headers nobody reads are not kept");
        assert!(r.keep_alive);
        let (r, _) = done(&two[n..]);
        assert_eq!(r.path, "/healthz");
        assert!(matches!(parse(&two[..n - 1], cap), Parsed::Partial(false)));
    }

    #[test]
    fn chunked_bodies_are_decoded_and_limited() {
        let (r, n) = done(b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\nrest");
        assert_eq!((r.body.as_slice(), n), (&b"abcde"[..], 78));
        let big = b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n";
        assert!(matches!(parse(big, cap), Parsed::TooLarge(_, m) if m == "body over 100 bytes"));
        let half = b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab";
        assert!(matches!(parse(half, cap), Parsed::Partial(false)));
    }

    #[test]
    fn bad_heads_lengths_and_codings_are_refused() {
        for bad in [
            &b"GARBAGE\r\n\r\n"[..],
            b"POST /b HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
            b"POST /b HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST /b HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST /b HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"GET b HTTP/1.1\r\n\r\n",
        ] {
            assert!(matches!(parse(bad, cap), Parsed::Bad(400)), "{:?}", String::from_utf8_lossy(bad));
        }
        let ext = format!("POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;{}", "a".repeat(2000));
        assert!(matches!(parse(ext.as_bytes(), cap), Parsed::Bad(400)), "an endless chunk extension");
        let tiny = format!("POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{}", format!("1;{}\r\na\r\n", "e".repeat(1000)).repeat(70));
        assert!(matches!(parse(tiny.as_bytes(), cap), Parsed::Bad(400)), "framing is bounded");
        let both = b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n";
        assert!(!done(both).0.keep_alive, "a length beside chunked: closed after the answer");
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert!(matches!(parse(long.as_bytes(), cap), Parsed::Bad(431)));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X{i}: 1\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parse(many.as_bytes(), cap), Parsed::Bad(431)));
        let said = b"POST /b HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
        assert!(matches!(parse(said, cap), Parsed::TooLarge(_, m) if m == "body of 101 bytes: expected at most 100"));
    }

    #[test]
    fn keep_alive_expect_and_absolute_targets() {
        let (r, _) = done(b"GET http://h.example:8080/t.js?site=a HTTP/1.0\r\n\r\n");
        assert_eq!((r.path.as_str(), r.query.as_str(), r.keep_alive), ("/t.js", "site=a", false));
        let (r, _) = done(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(r.keep_alive);
        let (r, _) = done(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n");
        assert!(!r.keep_alive);
        let ask = b"POST /b HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
        assert!(matches!(parse(ask, cap), Parsed::Partial(true)));
    }

    #[test]
    fn answers_are_written_with_length_date_and_no_body_for_head_or_204() {
        let r = Response { status: 200, headers: vec![("x-a", b"1".to_vec())], body: b"hi".to_vec() };
        let mut out = vec![];
        write(&mut out, &r, false, Persist::Close, b"D");
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 2\r\nconnection: close\r\ndate: D\r\n\r\nhi");
        out.clear();
        write(&mut out, &r, true, Persist::Open, b"D");
        assert!(out.ends_with(b"content-length: 2\r\ndate: D\r\n\r\n"));
        out.clear();
        write(&mut out, &Response { status: 204, headers: vec![], body: vec![] }, false, Persist::Open, b"D");
        assert_eq!(out, b"HTTP/1.1 204 No Content\r\ndate: D\r\n\r\n");
        out.clear();
        write(&mut out, &Response { status: 204, headers: vec![], body: vec![] }, false, Persist::KeepAlive10, b"D");
        assert_eq!(out, b"HTTP/1.1 204 No Content\r\nconnection: keep-alive\r\ndate: D\r\n\r\n");
        assert_eq!(imf_fixdate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(1_795_000_000), "Wed, 18 Nov 2026 11:06:40 GMT");
    }
}
