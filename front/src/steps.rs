//! The collector's steps, as in `qinglang/collect/steps.py`: parse -> validate -> site_check ->
//! token_check -> enrich (write is in log.rs). The Python module is the reference; the shared
//! vectors (tests/collect/vectors/, run by `cargo test` here and by pytest on both engines) and a
//! test that sends the same generated requests to both keep the two alike.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::{Kind, Limits, Site};
use crate::schema::{int_range, max_len};
use crate::tokens;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    NotFound,
    MethodNotAllowed,
    BadContentType,
    BodyTooLarge,
    MalformedJson,
    InvalidField,
    TooManyEvents,
    UnknownSite,
    OriginRefused,
    Overloaded,
}

pub const REASONS: [Reason; 10] = [
    Reason::NotFound,
    Reason::MethodNotAllowed,
    Reason::BadContentType,
    Reason::BodyTooLarge,
    Reason::MalformedJson,
    Reason::InvalidField,
    Reason::TooManyEvents,
    Reason::UnknownSite,
    Reason::OriginRefused,
    Reason::Overloaded,
];

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::NotFound => "not_found",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::BadContentType => "bad_content_type",
            Reason::BodyTooLarge => "body_too_large",
            Reason::MalformedJson => "malformed_json",
            Reason::InvalidField => "invalid_field",
            Reason::TooManyEvents => "too_many_events",
            Reason::UnknownSite => "unknown_site",
            Reason::OriginRefused => "origin_refused",
            Reason::Overloaded => "overloaded",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Reason::NotFound | Reason::UnknownSite => 404,
            Reason::MethodNotAllowed => 405,
            Reason::BadContentType => 415,
            Reason::BodyTooLarge | Reason::TooManyEvents => 413,
            Reason::MalformedJson | Reason::InvalidField => 400,
            Reason::OriginRefused => 403,
            Reason::Overloaded => 503,
        }
    }
}

#[derive(Debug)]
pub struct Drop {
    pub reason: Reason,
    pub message: String,
    pub field: Option<String>,
}

impl Drop {
    pub fn new(reason: Reason, message: String, field: Option<String>) -> Self {
        Drop {
            reason,
            message,
            field,
        }
    }

    pub fn body(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("error".into(), Value::String(self.message.clone()));
        m.insert("reason".into(), Value::String(self.reason.code().into()));
        if let Some(f) = &self.field {
            m.insert("field".into(), Value::String(f.clone()));
        }
        serde_json::to_vec(&Value::Object(m)).expect("a map of strings serializes")
    }
}

fn bad(name: &str, expected: &str) -> Drop {
    Drop::new(
        Reason::InvalidField,
        format!("field '{name}': expected {expected}"),
        Some(name.to_string()),
    )
}

/// A request on its way through the steps.
pub struct Hit {
    pub body: Option<Vec<u8>>, // None: the GET pixel, whose beacon is in the query string
    pub query: String,
    pub content_type: String,
    pub origin: Option<String>,
    pub user_agent: String,
    pub ip: Option<String>,
    pub now_ms: u64,
    pub raw: Vec<Map<String, Value>>,
    pub beacons: Vec<Beacon>,
    pub site: Option<Site>,
    pub rows: Vec<Vec<u8>>, // encoded segment records
    pub verdicts: Vec<&'static str>,
}

pub struct Beacon {
    pub site: String,
    pub event: String,
    pub url: Option<String>,
    pub referrer: Option<String>,
    pub token: Option<String>,
    pub vid: Option<String>,
    pub seq: Option<i64>,
    pub client: Option<Map<String, Value>>, // every key of the contract, in its order
    pub verdict: &'static str,
    pub seen: Option<Value>,
}

fn short(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.chars().count() < 120 {
        text
    } else {
        text.chars().take(117).collect::<String>() + "..."
    }
}

fn loads(data: &[u8], field: Option<&str>) -> Result<Value, Drop> {
    serde_json::from_slice(data).map_err(|e| {
        let place = field.map(|f| format!("field '{f}': ")).unwrap_or_default();
        Drop::new(
            Reason::MalformedJson,
            format!("{place}malformed JSON ({})", short(&e)),
            field.map(String::from),
        )
    })
}

// ------------------------------------------------------------------------------------ parse
/// A POST body must be declared JSON (`text/plain` is what `sendBeacon` sends without a CORS
/// preflight).
pub fn check_content_type(content_type: &str) -> Result<(), Drop> {
    let ctype = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_lowercase();
    if ctype == "application/json" || ctype == "text/plain" {
        return Ok(());
    }
    let shown = if ctype.is_empty() {
        "(none)".to_string()
    } else {
        ctype
    };
    Err(Drop::new(
        Reason::BadContentType,
        format!("content-type '{shown}': expected application/json or text/plain (JSON)"),
        None,
    ))
}

pub fn parse(hit: &mut Hit, limits: &Limits) -> Result<(), Drop> {
    let body = match &hit.body {
        Some(body) => body,
        None => {
            let mut raw = Map::new();
            for (k, v) in form_urlencoded::parse(hit.query.as_bytes()) {
                if !v.is_empty() {
                    raw.insert(k.into_owned(), Value::String(v.into_owned()));
                }
            }
            if let Some(Value::String(c)) = raw.get("client") {
                let client = loads(c.as_bytes(), Some("client"))?;
                raw.insert("client".into(), client);
            }
            hit.raw = vec![raw];
            return Ok(());
        }
    };
    check_content_type(&hit.content_type)?;
    let items = match loads(body, None)? {
        Value::Array(a) => a,
        other => vec![other],
    };
    if items.is_empty() {
        return Err(Drop::new(
            Reason::InvalidField,
            "empty list: expected at least one beacon".into(),
            None,
        ));
    }
    if items.len() > limits.max_events {
        return Err(Drop::new(
            Reason::TooManyEvents,
            format!(
                "{} beacons: expected at most {}",
                items.len(),
                limits.max_events
            ),
            None,
        ));
    }
    let mut raw = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(m) => raw.push(m),
            _ => {
                return Err(Drop::new(
                    Reason::InvalidField,
                    format!("beacon {i}: expected a JSON object"),
                    Some(i.to_string()),
                ))
            }
        }
    }
    hit.raw = raw;
    Ok(())
}

// --------------------------------------------------------------------------------- validate
pub fn validate(hit: &mut Hit, limits: &Limits) -> Result<(), Drop> {
    let many = hit.raw.len() > 1;
    let mut out = Vec::with_capacity(hit.raw.len());
    for (i, raw) in hit.raw.iter().enumerate() {
        out.push(beacon(raw, if many { Some(i) } else { None }, limits)?);
    }
    hit.beacons = out;
    Ok(())
}

fn beacon(raw: &Map<String, Value>, index: Option<usize>, l: &Limits) -> Result<Beacon, Drop> {
    let pre = index.map(|i| format!("{i}.")).unwrap_or_default();
    let name = |n: &str| format!("{pre}{n}");
    let site = text(raw.get("site"), &|| name("site"), max_len("site"))?.ok_or_else(|| {
        Drop::new(
            Reason::InvalidField,
            format!("field '{}' is required", name("site")),
            Some(name("site")),
        )
    })?;
    let event = text(raw.get("event"), &|| name("event"), max_len("event"))?
        .unwrap_or_else(|| "pageview".into());
    if !l.event_kinds.iter().any(|k| *k == event) {
        return Err(Drop::new(
            Reason::InvalidField,
            format!(
                "field '{}': expected one of {}",
                name("event"),
                l.event_kinds.join(", ")
            ),
            Some(name("event")),
        ));
    }
    Ok(Beacon {
        site,
        event,
        url: text(raw.get("url"), &|| name("url"), max_len("url"))?,
        referrer: text(
            raw.get("referrer"),
            &|| name("referrer"),
            max_len("referrer"),
        )?,
        token: text(raw.get("token"), &|| name("token"), max_len("token"))?,
        vid: text(raw.get("vid"), &|| name("vid"), max_len("vid"))?,
        seq: int(raw.get("seq"), &|| name("seq"), int_range("seq"))?,
        client: client(raw.get("client"), &|| name("client"), l)?,
        verdict: "missing",
        seen: None,
    })
}

type Name<'a> = &'a dyn Fn() -> String; // built only for an error message

fn text(value: Option<&Value>, name: Name, max_len: usize) -> Result<Option<String>, Drop> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if n > max_len {
                return Err(bad(
                    &name(),
                    &format!("at most {max_len} characters (got {n})"),
                ));
            }
            Ok(Some(s.clone()))
        }
        Some(_) => Err(bad(&name(), "a string")),
    }
}

fn int(value: Option<&Value>, name: Name, bounds: (i64, i64)) -> Result<Option<i64>, Drop> {
    let v: i128 = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => {
            let t = s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'));
            let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
            if digits.is_empty() || digits.len() > 30 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad(&name(), "an integer"));
            }
            t.parse::<i128>().map_err(|_| bad(&name(), "an integer"))?
        }
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                i as i128
            } else if let Some(u) = n.as_u64() {
                u as i128
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if !(f.is_finite() && f.fract() == 0.0) {
                    return Err(bad(&name(), "an integer"));
                }
                if f.abs() > 1e30 {
                    i128::MAX // out of any bounds, as the reference finds
                } else {
                    f as i128
                }
            }
        }
        Some(_) => return Err(bad(&name(), "an integer")),
    };
    if v < bounds.0 as i128 || v > bounds.1 as i128 {
        return Err(bad(
            &name(),
            &format!("an integer from {} to {}", bounds.0, bounds.1),
        ));
    }
    Ok(Some(v as i64))
}

fn client(
    value: Option<&Value>,
    name: Name,
    l: &Limits,
) -> Result<Option<Map<String, Value>>, Drop> {
    let obj = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(bad(&name(), "a JSON object")),
    };
    let mut out = Map::new();
    let mut any = false;
    for (key, kind) in &l.client_kinds {
        let full = || format!("{}.{key}", name());
        let v = match (obj.get(key.as_str()), kind) {
            (None | Some(Value::Null), _) => Value::Null,
            (Some(Value::Bool(b)), Kind::Bool) => Value::Bool(*b),
            (Some(_), Kind::Bool) => return Err(bad(&full(), "true or false")),
            (Some(raw), Kind::Str) => {
                text(Some(raw), &full, l.max_text)?.map_or(Value::Null, Value::String)
            }
            (Some(Value::Array(items)), Kind::List) if items.len() <= l.max_list => {
                let mut list = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let t = text(Some(item), &|| format!("{}[{i}]", full()), l.max_text)?;
                    list.push(Value::String(t.unwrap_or_default()));
                }
                Value::Array(list)
            }
            (Some(_), Kind::List) => {
                return Err(bad(
                    &full(),
                    &format!("a list of at most {} strings", l.max_list),
                ))
            }
            (Some(raw), Kind::Int(lo, hi)) => {
                int(Some(raw), &full, (*lo, *hi))?.map_or(Value::Null, |i| Value::from(i))
            }
        };
        any |= !v.is_null();
        out.insert(key.clone(), v);
    }
    Ok(if any { Some(out) } else { None }) // an object with no measurement is no tracker signal
}

// ------------------------------------------------------------------------------- site_check
pub fn site_check(
    hit: &mut Hit,
    sites: &std::collections::HashMap<String, Site>,
) -> Result<(), Drop> {
    let name = &hit.beacons[0].site;
    if hit.beacons.iter().any(|b| &b.site != name) {
        return Err(bad("site", "one site per request"));
    }
    let site = sites.get(name).ok_or_else(|| unknown_site(name))?;
    if let Some(origin) = &hit.origin {
        if !site.origins.iter().any(|o| o == origin) {
            return Err(Drop::new(
                Reason::OriginRefused,
                format!("origin '{origin}' is not registered for site '{name}'"),
                Some("origin".into()),
            ));
        }
    }
    hit.site = Some(site.clone());
    Ok(())
}

pub fn unknown_site(name: &str) -> Drop {
    Drop::new(
        Reason::UnknownSite,
        format!("unknown site '{name}': register it with `qinglang site add`"),
        Some("site".into()),
    )
}

/// The Origin header, else the origin of the Referer (a pixel GET sends no Origin).
pub fn origin_of(origin: Option<&str>, referer: Option<&str>) -> Option<String> {
    if let Some(o) = origin {
        if !o.is_empty() && o != "null" {
            return Some(o.to_lowercase());
        }
    }
    let r = referer?;
    let (scheme, rest) = r.split_once(':')?;
    let scheme_ok = scheme
        .chars()
        .next()
        .map_or(false, |c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let rest = rest.strip_prefix("//")?;
    let netloc = rest.split(['/', '?', '#']).next().unwrap_or("");
    let broken_ipv6 = netloc.contains('[') != netloc.contains(']'); // the reference finds no origin
    if !scheme_ok || netloc.is_empty() || broken_ipv6 {
        return None;
    }
    Some(format!("{scheme}://{netloc}").to_lowercase())
}

// ------------------------------------------------------------------------------ token_check
pub fn token_check(hit: &mut Hit, ttl_s: u64, guard: &Mutex<tokens::ReplayGuard>) {
    let checker = tokens::Checker {
        site: hit.site.as_ref().expect("site_check ran"),
        now_s: hit.now_ms / 1000,
        ttl_s,
        user_agent: &hit.user_agent,
        guard,
    };
    for b in hit.beacons.iter_mut() {
        let pv_id = b
            .client
            .as_ref()
            .and_then(|c| c.get("pv_id"))
            .and_then(Value::as_str);
        let (verdict, nonce) = checker.verdict(b.token.as_deref(), pv_id, b.seq);
        if let Some(nonce) = nonce {
            b.seen = Some(serde_json::json!([nonce, pv_id, b.seq]));
        }
        b.verdict = verdict;
    }
}

// ----------------------------------------------------------------------------------- enrich
/// Python's str() of a JSON value as the reference hashes it (None, ints and text).
fn py_str(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "None".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "True" } else { "False" }.into(),
        Some(other) => other.to_string(),
    }
}

fn hash(secret: &[u8], parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(secret);
    for p in parts {
        h.update(b"\x1f");
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

/// YYYY-MM-DD of a UTC day number (days since 1970-01-01); each thread keeps its last one.
pub fn utc_day(days: i64) -> String {
    thread_local!(static LAST: std::cell::RefCell<(i64, String)> = std::cell::RefCell::new((i64::MIN, String::new())));
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != days {
            let (y, m, d) = civil(days);
            *last = (days, format!("{y:04}-{m:02}-{d:02}"));
        }
        last.1.clone()
    })
}

/// (year, month, day) of a UTC day number, Howard Hinnant's civil_from_days.
pub fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// One record of the segment log: the event contract's columns, plus the used token.
#[derive(Serialize)]
struct Row<'a, C: Serialize, S: Serialize> {
    event_id: String,
    ts: u64,
    site: &'a str,
    event: &'a str,
    visitor_id: &'a str,
    account_id: Option<&'a str>,
    device_id: Option<&'a str>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    url: Option<&'a str>,
    referrer: Option<&'a str>,
    source: Option<&'a str>,
    target: Option<&'a str>,
    action: Option<&'a str>,
    client: Option<&'a C>,
    token: &'a str,
    signature_ok: Option<bool>,
    truth: Option<&'a str>,
    #[serde(rename = "_token", skip_serializing_if = "Option::is_none")]
    seen: Option<&'a S>,
}

/// What every beacon of one request shares when its record is made.
pub struct Request<'a> {
    pub site: &'a Site,
    pub now_ms: u64,
    pub ip: Option<&'a str>,
    pub user_agent: &'a str,
    pub day: String,
}

/// One beacon's part of its record; `device` holds Python's str() of the device-hash fields.
pub struct Fields<'a, C, S> {
    pub event: &'a str,
    pub vid: Option<&'a str>,
    pub url: Option<&'a str>,
    pub referrer: Option<&'a str>,
    pub client: Option<&'a C>,
    pub device: Option<[String; 6]>,
    pub verdict: &'static str,
    pub seen: Option<&'a S>,
}

pub const DEVICE_KEYS: [&str; 6] = ["screen_w", "screen_h", "tz", "lang", "platform", "ch_ua"];

/// The checksummed segment line of one beacon (enrich: visitor and device hashes, the row).
pub fn record<C: Serialize, S: Serialize>(
    req: &Request,
    f: Fields<C, S>,
    boot: &str,
    counter: &AtomicU64,
) -> Vec<u8> {
    let secret = &req.site.secret;
    let visitor = match f.vid {
        Some(v) => v.to_string(),
        None => {
            let ip = req.ip.unwrap_or("None");
            format!("h{}", hash(secret, &[&req.day, ip, req.user_agent]))
        }
    };
    let device = f.device.map(|vals| {
        let mut parts: Vec<&str> = vec![req.user_agent];
        parts.extend(vals.iter().map(String::as_str));
        format!("d{}", hash(secret, &parts))
    });
    let row = Row {
        event_id: format!("{boot}-{}", counter.fetch_add(1, Ordering::Relaxed)),
        ts: req.now_ms,
        site: &req.site.name,
        event: f.event,
        visitor_id: &visitor,
        account_id: None,
        device_id: device.as_deref(),
        ip: req.ip,
        user_agent: (!req.user_agent.is_empty()).then_some(req.user_agent),
        url: f.url,
        referrer: f.referrer,
        source: None,
        target: None,
        action: None,
        client: f.client,
        token: f.verdict,
        signature_ok: None,
        truth: None,
        seen: f.seen,
    };
    let mut line = Vec::with_capacity(1024);
    line.extend_from_slice(b"00000000 ");
    serde_json::to_writer(&mut line, &row).expect("JSON values serialize");
    let crc = format!("{:08x}", crc32fast::hash(&line[9..]));
    line[..8].copy_from_slice(crc.as_bytes());
    line.push(b'\n');
    line
}

pub fn enrich(hit: &mut Hit, boot: &str, counter: &AtomicU64) {
    let site = hit.site.as_ref().expect("site_check ran");
    let req = Request {
        site,
        now_ms: hit.now_ms,
        ip: hit.ip.as_deref(),
        user_agent: &hit.user_agent,
        day: utc_day((hit.now_ms / 86_400_000) as i64),
    };
    for b in hit.beacons.iter() {
        let device = b
            .client
            .as_ref()
            .map(|c| DEVICE_KEYS.map(|k| py_str(c.get(k))));
        let fields = Fields {
            event: &b.event,
            vid: b.vid.as_deref(),
            url: b.url.as_deref(),
            referrer: b.referrer.as_deref(),
            client: b.client.as_ref(),
            device,
            verdict: b.verdict,
            seen: b.seen.as_ref(),
        };
        hit.rows.push(record(&req, fields, boot, counter));
        hit.verdicts.push(b.verdict);
    }
}
