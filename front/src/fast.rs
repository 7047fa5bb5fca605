//! The common case without allocations to spare: a POST body of well-typed beacons decoded into
//! structs that borrow their strings from the body (a string with an escape is copied). Anything unusual (a number as text, `5.0`, a null in a list, a duplicate key,
//! a value out of range, an unknown site) returns None before any state changes, and the request
//! takes the general steps (steps.rs), which accept it or say precisely what is wrong. Like
//! steps.rs, the result must match the Python reference; the engines test checks both ways.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::{Kind, Limits, Site};
use crate::metrics::Metrics;
use crate::steps::{self, Fields, Request};
use crate::tokens;

/// A string borrowed from the body where it has no escapes. (serde borrows only a bare
/// `Cow<str>` field; inside an `Option` or a `Vec` it would copy every string.)
#[derive(Deserialize, Serialize)]
#[serde(transparent)]
struct Str<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

type Text<'a> = Option<Str<'a>>;

/// A struct read from a JSON object only: serde would also take a JSON array, field by field
/// (`["shop"]` as a beacon of site "shop"), where the reference refuses anything but an object.
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectOnly<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(ObjectOnly(std::marker::PhantomData))
            .map(Obj)
    }
}
type List<'a> = Option<Vec<Str<'a>>>;

#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
struct Beacon<'a> {
    site: Text<'a>,
    event: Text<'a>,
    url: Text<'a>,
    referrer: Text<'a>,
    token: Text<'a>,
    vid: Text<'a>,
    seq: Option<i64>,
    client: Option<Obj<Client<'a>>>,
}

/// The contract's client fields; `matches` checks them against the contract handed over by
/// the Python side at start-up, and the fast path is off if they ever differ.
#[derive(Deserialize, Serialize)]
#[serde(bound(deserialize = "'de: 'a"))]
struct Client<'a> {
    framed: Option<bool>,
    frame_w: Option<i64>,
    frame_h: Option<i64>,
    viewport_w: Option<i64>,
    viewport_h: Option<i64>,
    screen_w: Option<i64>,
    screen_h: Option<i64>,
    visible_ms: Option<i64>,
    dwell_ms: Option<i64>,
    interactions: Option<i64>,
    first_interaction_ms: Option<i64>,
    webdriver: Option<bool>,
    tells: List<'a>,
    tz: Text<'a>,
    lang: Text<'a>,
    platform: Text<'a>,
    ch_ua: Text<'a>,
    ancestor_origins: List<'a>,
    pv_id: Text<'a>,
}

const I32: (i64, i64) = (0, 2_147_483_647);
const I53: (i64, i64) = (0, 1 << 53);
const CLIENT: [(&str, char, (i64, i64)); 19] = [
    ("framed", 'b', (0, 0)),
    ("frame_w", 'i', I32),
    ("frame_h", 'i', I32),
    ("viewport_w", 'i', I32),
    ("viewport_h", 'i', I32),
    ("screen_w", 'i', I32),
    ("screen_h", 'i', I32),
    ("visible_ms", 'i', I53),
    ("dwell_ms", 'i', I53),
    ("interactions", 'i', I32),
    ("first_interaction_ms", 'i', I53),
    ("webdriver", 'b', (0, 0)),
    ("tells", 'l', (0, 0)),
    ("tz", 's', (0, 0)),
    ("lang", 's', (0, 0)),
    ("platform", 's', (0, 0)),
    ("ch_ua", 's', (0, 0)),
    ("ancestor_origins", 'l', (0, 0)),
    ("pv_id", 's', (0, 0)),
];

/// Whether this module's client fields are the contract's, in order and kind.
pub fn matches(limits: &Limits) -> bool {
    limits.client_kinds.len() == CLIENT.len()
        && limits
            .client_kinds
            .iter()
            .zip(CLIENT.iter())
            .all(|((k, kind), (name, c, b))| {
                k == name
                    && match kind {
                        Kind::Bool => *c == 'b',
                        Kind::Str => *c == 's',
                        Kind::List => *c == 'l',
                        Kind::Int(lo, hi) => *c == 'i' && (*lo, *hi) == *b,
                    }
            })
}

fn fits(t: &Text, max: usize) -> bool {
    t.as_ref()
        .map_or(true, |s| s.len() <= max || s.chars().count() <= max)
}

fn in_range(v: Option<i64>, (lo, hi): (i64, i64)) -> bool {
    v.map_or(true, |v| lo <= v && v <= hi)
}

fn blank_to_none(t: &mut Text) {
    if t.as_deref() == Some("") {
        *t = None;
    }
}

impl<'a> Client<'a> {
    fn ints(&self) -> [(Option<i64>, (i64, i64)); 10] {
        [
            (self.frame_w, I32),
            (self.frame_h, I32),
            (self.viewport_w, I32),
            (self.viewport_h, I32),
            (self.screen_w, I32),
            (self.screen_h, I32),
            (self.visible_ms, I53),
            (self.dwell_ms, I53),
            (self.interactions, I32),
            (self.first_interaction_ms, I53),
        ]
    }

    fn texts(&mut self) -> [&mut Text<'a>; 5] {
        [
            &mut self.tz,
            &mut self.lang,
            &mut self.platform,
            &mut self.ch_ua,
            &mut self.pv_id,
        ]
    }

    /// Checked and normalized as the reference does; false if the general steps must decide.
    fn check(&mut self, l: &Limits) -> bool {
        let lists_ok = [&self.tells, &self.ancestor_origins].iter().all(|list| {
            list.as_ref().map_or(true, |items| {
                items.len() <= l.max_list && items.iter().all(|s| s.chars().count() <= l.max_text)
            })
        });
        let ints_ok = self.ints().iter().all(|(v, b)| in_range(*v, *b));
        if !(lists_ok && ints_ok && self.texts().iter().all(|t| fits(t, l.max_text))) {
            return false;
        }
        for t in self.texts() {
            blank_to_none(t);
        }
        true
    }

    fn is_empty(&mut self) -> bool {
        self.ints().iter().all(|(v, _)| v.is_none())
            && self.framed.is_none()
            && self.webdriver.is_none()
            && self.tells.is_none()
            && self.ancestor_origins.is_none()
            && self.texts().iter().all(|t| t.is_none())
    }

    fn device(&self) -> [String; 6] {
        let int = |v: Option<i64>| v.map_or_else(|| "None".to_string(), |v| v.to_string());
        let text = |t: &Text| t.as_deref().unwrap_or("None").to_string();
        [
            int(self.screen_w),
            int(self.screen_h),
            text(&self.tz),
            text(&self.lang),
            text(&self.platform),
            text(&self.ch_ua),
        ]
    }
}

/// What the request needs from the server to run the steps here.
pub struct Env<'a> {
    pub limits: &'a Limits,
    pub sites: &'a HashMap<String, Site>,
    pub origin: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: &'a str,
    pub now_ms: u64,
    pub ttl_s: u64,
    pub metrics: &'a Metrics,
}

pub struct Done {
    pub rows: Vec<Vec<u8>>,
    pub verdicts: Vec<&'static str>,
}

/// The steps up to the write for a well-formed body, or None for the general path. `room`
/// is asked before any token is recorded as used; Err means: refuse, overloaded.
pub fn run(
    body: &[u8],
    env: &Env,
    room: impl Fn(usize) -> bool,
    guard: &Mutex<tokens::ReplayGuard>,
    boot: &str,
    counter: &AtomicU64,
) -> Option<Result<Done, ()>> {
    let l = env.limits;
    // step times are recorded only once this path is sure to finish (else the general steps
    // time the request themselves)
    let mut took = [0.0f64; 5];
    let mut t = Instant::now();
    // one clock reading per step boundary: the time from `t` to now goes to step `i`
    macro_rules! lap {
        ($i:expr) => {{
            let now = Instant::now();
            took[$i] = (now - t).as_secs_f64();
            t = now;
        }};
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    let objects: Vec<Obj<Beacon>> = if *first == b'[' {
        serde_json::from_slice(body).ok()?
    } else {
        vec![serde_json::from_slice(body).ok()?]
    };
    // decoding checks the types and the checks below the rest: both are `parse`, as in the
    // Python engine, whose typed decoder does both at once (its `validate` then has nothing left)
    let mut beacons: Vec<Beacon> = objects.into_iter().map(|o| o.0).collect();
    if beacons.is_empty() || beacons.len() > l.max_events {
        return None;
    }
    for b in beacons.iter_mut() {
        blank_to_none(&mut b.event);
        let event_ok = b
            .event
            .as_deref()
            .map_or(true, |e| l.event_kinds.iter().any(|k| k == e));
        let ok = b
            .site
            .as_deref()
            .map_or(false, |s| !s.is_empty() && s.chars().count() <= 64)
            && event_ok
            && fits(&b.url, l.max_url)
            && fits(&b.referrer, l.max_url)
            && fits(&b.token, tokens::TOKEN_MAX_LEN)
            && fits(&b.vid, 64)
            && in_range(b.seq, (0, 1_000_000))
            && b.client.as_mut().map_or(true, |c| c.0.check(l));
        if !ok {
            return None;
        }
        for t in [&mut b.url, &mut b.referrer, &mut b.token, &mut b.vid] {
            blank_to_none(t);
        }
        if b.client.as_mut().map_or(false, |c| c.0.is_empty()) {
            b.client = None;
        }
    }
    lap!(0);
    lap!(1);
    let name = beacons[0].site.as_deref()?;
    if beacons.iter().any(|b| b.site.as_deref() != Some(name)) {
        return None;
    }
    let site = env.sites.get(name)?;
    if let Some(origin) = env.origin {
        if !site.origins.iter().any(|o| o == origin) {
            return None;
        }
    }
    lap!(2);
    if !room(beacons.len()) {
        for (step, secs) in took.iter().enumerate().take(3) {
            env.metrics.observe(step, *secs);
        }
        return Some(Err(()));
    }
    let checker = tokens::Checker {
        site,
        now_s: env.now_ms / 1000,
        ttl_s: env.ttl_s,
        user_agent: env.user_agent,
        guard,
    };
    let mut checked = Vec::with_capacity(beacons.len());
    for b in &beacons {
        let pv_id = b.client.as_ref().and_then(|c| c.0.pv_id.as_deref());
        let (verdict, nonce) = checker.verdict(b.token.as_deref(), pv_id, b.seq);
        let seen = nonce.map(|nonce| (nonce, pv_id, b.seq));
        checked.push((verdict, seen));
    }
    lap!(3);
    let req = Request {
        site,
        now_ms: env.now_ms,
        ip: env.ip,
        user_agent: env.user_agent,
        day: steps::utc_day((env.now_ms / 86_400_000) as i64),
    };
    let mut done = Done {
        rows: Vec::with_capacity(beacons.len()),
        verdicts: vec![],
    };
    for (b, (verdict, seen)) in beacons.iter().zip(checked.iter()) {
        let fields = Fields {
            event: b.event.as_deref().unwrap_or("pageview"),
            vid: b.vid.as_deref(),
            url: b.url.as_deref(),
            referrer: b.referrer.as_deref(),
            client: b.client.as_ref().map(|c| &c.0),
            device: b.client.as_ref().map(|c| c.0.device()),
            verdict,
            seen: seen.as_ref(),
        };
        done.rows.push(steps::record(&req, fields, boot, counter));
        done.verdicts.push(verdict);
    }
    took[4] = t.elapsed().as_secs_f64();
    for (step, secs) in took.iter().enumerate() {
        env.metrics.observe(step, *secs);
    }
    Some(Ok(done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_without_escapes_are_borrowed_from_the_body() {
        let body = br#"{"site":"shop","client":{"tz":"Asia/Shanghai","tells":["a"]}}"#;
        let b: Beacon = serde_json::from_slice(body).unwrap();
        assert!(matches!(b.site.as_ref().unwrap().0, Cow::Borrowed("shop")));
        let c = &b.client.as_ref().unwrap().0;
        assert!(matches!(
            c.tz.as_ref().unwrap().0,
            Cow::Borrowed("Asia/Shanghai")
        ));
        assert!(matches!(c.tells.as_ref().unwrap()[0].0, Cow::Borrowed("a")));
        assert!(
            c.lang.is_none() && b.url.is_none(),
            "a missing field is None"
        );
        let escaped: Beacon = serde_json::from_slice(br#"{"site":"sh\u006fp"}"#).unwrap();
        assert!(matches!(escaped.site.unwrap().0, Cow::Owned(s) if s == "shop"));
    }
    use serde_json::json;

    fn limits() -> Limits {
        crate::contract::limits()
    }

    #[test]
    fn the_client_table_and_struct_are_the_contracts() {
        // main.rs turns the fast path off when these differ from what `qinglang serve` hands
        // over; here they must be the contract's (vectors.rs tries every field on this path)
        assert!(
            matches(&limits()),
            "fast.rs CLIENT is not contract.json's client fields"
        );
        let c: Client = serde_json::from_slice(b"{}").unwrap();
        let keys: Vec<String> = match serde_json::to_value(&c).unwrap() {
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            _ => unreachable!(),
        };
        let mut want: Vec<String> = limits().client_kinds.into_iter().map(|(k, _)| k).collect();
        want.sort(); // serde_json's map (without preserve_order) is sorted
        assert_eq!(keys, want, "fast.rs struct Client");
    }

    fn attempt(body: serde_json::Value) -> Option<Result<Done, ()>> {
        let l = limits();
        let secret = vec![7u8; 32];
        let site = Site {
            name: "shop".into(),
            origins: vec!["http://shop.test".into()],
            token_key: tokens::token_key(&secret),
            secret,
        };
        let sites = HashMap::from([("shop".to_string(), site)]);
        let m = Metrics::new();
        let env = Env {
            limits: &l,
            sites: &sites,
            origin: Some("http://shop.test"),
            ip: Some("127.0.0.1"),
            user_agent: "UA",
            now_ms: 1_700_000_000_000,
            ttl_s: 1800,
            metrics: &m,
        };
        let guard = Mutex::new(tokens::ReplayGuard::new(1800));
        let counter = AtomicU64::new(0);
        run(
            body.to_string().as_bytes(),
            &env,
            |_| true,
            &guard,
            "b00t",
            &counter,
        )
    }

    #[test]
    fn the_tracker_beacon_takes_the_fast_path() {
        let beacon = json!({"site": "shop", "event": "heartbeat", "seq": 2, "vid": "",
            "client": {"framed": true, "visible_ms": 1200, "tells": ["cdp", ""], "tz": "", "pv_id": "p"}});
        let done = attempt(beacon.clone()).expect("fast").expect("room");
        assert_eq!(done.verdicts, vec!["missing"]);
        let line = String::from_utf8(done.rows[0].clone()).unwrap();
        let row: serde_json::Value = serde_json::from_str(&line[9..]).unwrap();
        assert_eq!(row["client"]["tz"], serde_json::Value::Null);
        assert_eq!(row["client"]["tells"], json!(["cdp", ""]));
        assert!(row["visitor_id"].as_str().unwrap().starts_with('h'));
        assert!(attempt(json!([beacon.clone(), beacon])).is_some());
    }

    #[test]
    fn anything_unusual_goes_to_the_general_steps() {
        for body in [
            json!({"site": "shop", "seq": "3"}),
            json!({"site": "shop", "client": {"visible_ms": 5.0}}),
            json!({"site": "shop", "client": {"tells": [null]}}),
            json!({"site": "shop", "seq": -1}),
            json!({"site": "nope"}),
            json!({"site": ""}),
            json!({"site": "shop", "event": "unload"}),
            json!({"site": "shop", "client": {"frame_w": 2_147_483_648i64}}),
            json!({"site": "shop", "client": []}),
            json!({"site": "shop", "client": [true, 1]}),
            json!(["shop"]),
            json!([["shop"]]),
            json!([]),
        ] {
            assert!(attempt(body.clone()).is_none(), "{body}");
        }
    }
}
