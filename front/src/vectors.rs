//! `cargo test` only: the shared request vectors (tests/collect/vectors/requests.json, which
//! pytest runs on the Python steps and over HTTP on both engines) run against the front's steps
//! directly, once as a request is served (the fast path, else the general steps) and once with
//! the general steps alone; and every beacon and client field of the contract tried at its limits
//! on both paths.

use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use crate::config::{Kind, Limits, Site};
use crate::contract;
use crate::fast;
use crate::metrics::Metrics;
use crate::steps::{self, Drop, Hit};
use crate::tokens;

/// The collector's state across one run of the vectors.
struct State {
    limits: Limits,
    sites: HashMap<String, Site>,
    guard: Mutex<tokens::ReplayGuard>,
    counter: AtomicU64,
    metrics: Metrics,
    fast: bool,
}

fn state(doc: &Value, fast: bool) -> State {
    let mut sites = HashMap::new();
    for s in doc["sites"].as_array().unwrap() {
        let secret = hex::decode(s["secret_hex"].as_str().unwrap()).unwrap();
        let name = s["name"].as_str().unwrap().to_string();
        let site = Site {
            name: name.clone(),
            origins: contract::strings(&s["origins"]),
            token_key: tokens::token_key(&secret),
            secret,
        };
        sites.insert(name, site);
    }
    let ttl = doc["ttl_s"].as_u64().unwrap();
    State {
        limits: contract::limits(),
        sites,
        guard: Mutex::new(tokens::ReplayGuard::new(ttl)),
        counter: AtomicU64::new(0),
        metrics: Metrics::new(),
        fast,
    }
}

/// "$token:AGE:NONCE[:PREFIX]" -> a token issued AGE seconds before `now_s` (vectors_run.py).
fn render(v: &Value, key: &[u8], site: &str, now_s: u64, ua: &str) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), render(v, key, site, now_s, ua)))
                .collect(),
        ),
        Value::Array(a) => {
            Value::Array(a.iter().map(|v| render(v, key, site, now_s, ua)).collect())
        }
        Value::String(s) => match s.strip_prefix("$token:") {
            Some(rest) => {
                let mut parts = rest.splitn(3, ':');
                let age: i64 = parts.next().unwrap().parse().unwrap();
                let nonce = parts.next().unwrap();
                let prefix = parts.next().unwrap_or("");
                let iat = (now_s as i64 - age) as u64;
                let mac = tokens::mac(key, site, iat, nonce, ua);
                Value::String(format!("{prefix}{iat:x}.{nonce}.{mac}"))
            }
            None => v.clone(),
        },
        _ => v.clone(),
    }
}

fn refused(d: Drop) -> Value {
    json!({"answer": {"status": d.reason.status(), "reason": d.reason.code(), "field": d.field}})
}

/// What the front's steps make of one request (the shape of vectors_run.run_python's items).
fn run_case(st: &State, doc: &Value, req: &Value) -> Value {
    let ua: String = req["user_agent"]
        .as_str()
        .unwrap_or_else(|| doc["user_agent"].as_str().unwrap())
        .chars()
        .take(st.limits.max_ua)
        .collect();
    let site0 = &st.sites[doc["sites"][0]["name"].as_str().unwrap()];
    let now_ms = doc["now_ms"].as_u64().unwrap();
    let pixel = req["method"] == "GET";
    let payload = if pixel { &req["query"] } else { &req["body"] };
    let value = render(payload, &site0.token_key, &site0.name, now_ms / 1000, &ua);
    let body = match (pixel, req["raw"].as_str()) {
        (true, _) => None,
        (false, Some(raw)) => Some(raw.as_bytes().to_vec()),
        (false, None) => Some(serde_json::to_vec(&value).unwrap()),
    };
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let (true, Value::Object(m)) = (pixel, &value) {
        for (k, v) in m {
            let text = v.as_str().map_or_else(|| v.to_string(), String::from);
            query.append_pair(k, &text);
        }
    }
    let default_type = if pixel { "" } else { "text/plain" };
    let content_type = req["content_type"].as_str().unwrap_or(default_type);
    let origin = steps::origin_of(req["origin"].as_str(), req["referer"].as_str());
    let ip = doc["ip"].as_str();
    if body.as_ref().is_some_and(|b| b.len() > st.limits.max_body) {
        return json!({"answer": {"status": 413, "reason": "body_too_large", "field": null}});
    }
    let mut done = None;
    if let (Some(b), true, true) = (
        &body,
        st.fast,
        steps::check_content_type(content_type).is_ok(),
    ) {
        let env = fast::Env {
            limits: &st.limits,
            sites: &st.sites,
            origin: origin.as_deref(),
            ip,
            user_agent: &ua,
            now_ms,
            ttl_s: doc["ttl_s"].as_u64().unwrap(),
            metrics: &st.metrics,
        };
        if let Some(res) = fast::run(b, &env, |_| true, &st.guard, "b00t", &st.counter) {
            let d = res.expect("room");
            done = Some((d.rows, d.verdicts));
        }
    }
    let (rows, verdicts) = match done {
        Some(d) => d,
        None => {
            let mut hit = Hit {
                body,
                query: query.finish(),
                content_type: content_type.to_string(),
                origin,
                user_agent: ua.clone(),
                ip: ip.map(String::from),
                now_ms,
                raw: vec![],
                beacons: vec![],
                site: None,
                rows: vec![],
                verdicts: vec![],
            };
            let l = &st.limits;
            let res = steps::parse(&mut hit, l)
                .and_then(|_| steps::validate(&mut hit, l))
                .and_then(|_| steps::site_check(&mut hit, &st.sites));
            if let Err(d) = res {
                return refused(d);
            }
            steps::token_check(&mut hit, doc["ttl_s"].as_u64().unwrap(), &st.guard);
            steps::enrich(&mut hit, "b00t", &st.counter);
            (hit.rows, hit.verdicts)
        }
    };
    let records: Vec<Value> = rows
        .iter()
        .map(|line| {
            let crc = std::str::from_utf8(&line[..8]).unwrap();
            assert_eq!(
                crc,
                format!("{:08x}", crc32fast::hash(&line[9..line.len() - 1]))
            );
            let mut row: Map<String, Value> = serde_json::from_slice(&line[9..]).unwrap();
            row.remove("event_id");
            Value::Object(row)
        })
        .collect();
    let answer = if verdicts.contains(&"replayed") {
        json!({"status": 409, "reason": "token_replayed", "field": null})
    } else if verdicts.contains(&"invalid") {
        json!({"status": 403, "reason": "token_invalid", "field": null})
    } else {
        json!({"status": if pixel { 200 } else { 204 }, "reason": null, "field": null})
    };
    json!({"answer": answer, "verdicts": verdicts, "records": records})
}

fn check_vectors(fast: bool) {
    let doc = contract::vectors("requests.json");
    let st = state(&doc, fast);
    let mut failed = vec![];
    let mut n = 0;
    for case in doc["cases"].as_array().unwrap() {
        if case["http_only"] == json!(true) {
            continue;
        }
        n += 1;
        let got = run_case(&st, &doc, &case["request"]);
        let mut want = json!({"answer": case["answer"]});
        if let Some(records) = case.get("records") {
            want["verdicts"] = case["verdicts"].clone();
            want["records"] = records.clone();
        }
        if got != want {
            failed.push(format!("{}:\n  got  {got}\n  want {want}", case["name"]));
        }
    }
    assert!(n > 100, "{n} vectors");
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn request_vectors_as_served() {
    check_vectors(true);
}

#[test]
fn request_vectors_on_the_general_steps() {
    check_vectors(false);
}

/// A beacon of the vectors' site with `extra` set, the answer (and client record) on each path.
fn attempt(extra: Value) -> Vec<Value> {
    let doc = contract::vectors("requests.json");
    let mut body = json!({"site": "shop"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let req = json!({"method": "POST", "path": "/b", "body": body, "origin": "http://shop.test"});
    [true, false]
        .iter()
        .map(|fast| {
            let got = run_case(&state(&doc, *fast), &doc, &req);
            json!([got["answer"]["field"], got["records"][0]["client"]])
        })
        .collect()
}

fn refuses(extra: Value, field: &str) {
    for got in attempt(extra.clone()) {
        assert_eq!(got[0], json!(field), "{extra}");
    }
}

fn keeps(extra: Value, client: Value) {
    for got in attempt(extra.clone()) {
        assert_eq!(got, json!([null, client]), "{extra}");
    }
}

#[test]
fn every_beacon_field_of_the_contract_is_checked_at_its_limits() {
    for f in contract::contract()["beacon"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        match f["type"].as_str().unwrap() {
            "str" => {
                let max = f["max_len"].as_u64().unwrap() as usize;
                refuses(json!({ name: "é".repeat(max + 1) }), name);
                refuses(json!({ name: 1 }), name);
                if name != "site" && name != "event" {
                    keeps(json!({ name: "é".repeat(max) }), Value::Null);
                }
            }
            "int" => {
                let (lo, hi) = (f["min"].as_i64().unwrap(), f["max"].as_i64().unwrap());
                refuses(json!({ name: hi + 1 }), name);
                refuses(json!({ name: lo - 1 }), name);
                refuses(json!({ name: "x" }), name);
                keeps(json!({ name: hi }), Value::Null);
                keeps(json!({ name: lo }), Value::Null);
            }
            "client" => refuses(json!({ name: [] }), name),
            other => panic!("beacon field type {other}"),
        }
    }
}

#[test]
fn every_client_field_of_the_contract_is_checked_and_kept() {
    let l = contract::limits();
    let all_null: Map<String, Value> = l
        .client_kinds
        .iter()
        .map(|(k, _)| (k.clone(), Value::Null))
        .collect();
    let with = |k: &str, v: Value| {
        let mut m = all_null.clone();
        m.insert(k.to_string(), v);
        Value::Object(m)
    };
    for (k, kind) in &l.client_kinds {
        let full = format!("client.{k}");
        let c = |v: Value| json!({"client": { k.as_str(): v }});
        match kind {
            Kind::Bool => {
                keeps(c(json!(true)), with(k, json!(true)));
                refuses(c(json!(1)), &full);
            }
            Kind::Int(lo, hi) => {
                keeps(c(json!(hi)), with(k, json!(hi)));
                keeps(c(json!(lo)), with(k, json!(lo)));
                refuses(c(json!(hi + 1)), &full);
                refuses(c(json!(lo - 1)), &full);
            }
            Kind::Str => {
                keeps(
                    c(json!("é".repeat(l.max_text))),
                    with(k, json!("é".repeat(l.max_text))),
                );
                keeps(c(json!("")), Value::Null); // a blank is no measurement
                refuses(c(json!("é".repeat(l.max_text + 1))), &full);
                refuses(c(json!(1)), &full);
            }
            Kind::List => {
                let most = vec![json!("t"); l.max_list];
                keeps(c(json!(most)), with(k, json!(most)));
                keeps(c(json!([null])), with(k, json!([""])));
                refuses(c(json!(vec![json!("t"); l.max_list + 1])), &full);
                refuses(
                    c(json!(["t".repeat(l.max_text + 1)])),
                    &format!("{full}[0]"),
                );
            }
        }
    }
}
