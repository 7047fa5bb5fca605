//! What `qinglang serve` hands the front: one JSON file written by the Python side (limits and the
//! client-field contract come from the Python modules, so the two engines share one definition),
//! and the sites file it rewrites whenever a site is added.

use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Clone, Debug)]
pub enum Kind {
    Bool,
    Str,
    List,
    Int(i64, i64),
}

#[derive(Deserialize)]
pub struct Config {
    pub listen: String,
    pub segments: PathBuf,
    pub run: String,
    pub sites_file: PathBuf,
    pub tracker: String,
    pub ttl_s: u64,
    pub queue: usize,
    pub roll_bytes: u64,
    pub roll_seconds: f64,
    pub max_connections: usize,
    pub trusted_proxies: Vec<String>,
    /// (nonce, page view id, seq, ts in ms) already used, oldest first: the replay guard's memory
    pub used: Vec<(String, Option<String>, Option<i64>, u64)>,
    pub limits: RawLimits,
}

#[derive(Deserialize)]
pub struct RawLimits {
    pub max_body: usize,
    pub max_events: usize,
    pub max_url: usize,
    pub max_text: usize,
    pub max_list: usize,
    pub max_ua: usize,
    pub event_kinds: Vec<String>,
    pub client_kinds: Vec<(String, Value)>,
}

pub struct Limits {
    pub max_body: usize,
    pub max_events: usize,
    pub max_url: usize,
    pub max_text: usize,
    pub max_list: usize,
    pub max_ua: usize,
    pub event_kinds: Vec<String>,
    pub client_kinds: Vec<(String, Kind)>,
}

impl RawLimits {
    pub fn limits(&self) -> Result<Limits, String> {
        let mut kinds = Vec::new();
        for (key, kind) in &self.client_kinds {
            let k = match kind {
                Value::String(s) if s == "bool" => Kind::Bool,
                Value::String(s) if s == "str" => Kind::Str,
                Value::String(s) if s == "list" => Kind::List,
                Value::Array(b) if b.len() == 2 => Kind::Int(
                    b[0].as_i64().ok_or("client kind: bad lower bound")?,
                    b[1].as_i64().ok_or("client kind: bad upper bound")?,
                ),
                other => return Err(format!("client kind of {key}: unknown {other}")),
            };
            kinds.push((key.clone(), k));
        }
        Ok(Limits {
            max_body: self.max_body,
            max_events: self.max_events,
            max_url: self.max_url,
            max_text: self.max_text,
            max_list: self.max_list,
            max_ua: self.max_ua,
            event_kinds: self.event_kinds.clone(),
            client_kinds: kinds,
        })
    }
}

#[derive(Clone, Debug)]
pub struct Site {
    pub name: String,
    pub origins: Vec<String>,
    pub secret: Vec<u8>,
    pub token_key: Vec<u8>,
}

#[derive(Deserialize)]
struct RawSite {
    origins: Vec<String>,
    secret: String,
}

pub fn read_config(path: &Path) -> Result<Config, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn read_sites(path: &Path) -> Result<(HashMap<String, Site>, Option<SystemTime>), String> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let raw: HashMap<String, RawSite> =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = HashMap::new();
    for (name, s) in raw {
        let secret = hex::decode(&s.secret).map_err(|e| format!("site {name}: secret: {e}"))?;
        let token_key = crate::tokens::token_key(&secret);
        out.insert(name.clone(), Site { name, origins: s.origins, secret, token_key });
    }
    Ok((out, modified))
}
