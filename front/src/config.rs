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
    /// how long one connection may stay open (slow and idle clients give their slot back)
    pub connection_seconds: f64,
    pub trusted_proxies: Vec<String>,
    /// (nonce, page view id, seq, ts in ms) already used, oldest first: the replay guard's memory
    pub used: Vec<(String, Option<String>, Option<i64>, u64)>,
    pub limits: Limits,
}

#[derive(Deserialize)]
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

impl<'de> Deserialize<'de> for Kind {
    /// "bool", "str", "list", or [low, high] for an integer column, as front.py writes them.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::String(s) if s == "bool" => Ok(Kind::Bool),
            Value::String(s) if s == "str" => Ok(Kind::Str),
            Value::String(s) if s == "list" => Ok(Kind::List),
            Value::Array(b) if b.len() == 2 => match (b[0].as_i64(), b[1].as_i64()) {
                (Some(lo), Some(hi)) => Ok(Kind::Int(lo, hi)),
                _ => Err(D::Error::custom("an integer kind needs two integer bounds")),
            },
            other => Err(D::Error::custom(format!(
                "unknown client field kind {other}"
            ))),
        }
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
        out.insert(
            name.clone(),
            Site {
                name,
                origins: s.origins,
                secret,
                token_key,
            },
        );
    }
    Ok((out, modified))
}
