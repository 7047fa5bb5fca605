//! Per-pageview tokens, as in `qinglang/collect/tokens.py`: HMAC over (site, issue time, nonce,
//! user-agent hash) with a key derived from the site secret, and the replay guard.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};

use crate::config::Site;

type HmacSha256 = Hmac<Sha256>;
pub const TOKEN_MAX_LEN: usize = 64;

fn b64(raw: &[u8]) -> String {
    base64::encode_config(raw, base64::URL_SAFE_NO_PAD)
}

pub fn token_key(secret: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(secret).expect("any key length");
    m.update(b"qinglang-token-v1");
    m.finalize().into_bytes().to_vec()
}

fn mac(key: &[u8], site: &str, iat: u64, nonce: &str, user_agent: &str) -> String {
    let ua = hex::encode(Sha256::digest(user_agent.as_bytes()));
    let mut m = HmacSha256::new_from_slice(key).expect("any key length");
    m.update(format!("{site}|{iat}|{nonce}|{}", &ua[..16]).as_bytes());
    b64(&m.finalize().into_bytes()[..16])
}

pub fn issue(key: &[u8], site: &str, now_s: u64, user_agent: &str) -> String {
    let mut raw = [0u8; 12];
    getrandom::getrandom(&mut raw).expect("the OS has randomness");
    let nonce = b64(&raw);
    let m = mac(key, site, now_s, &nonce, user_agent);
    format!("{now_s:x}.{nonce}.{m}")
}

/// The verdict before the replay check, and the nonce when the MAC holds.
pub fn check(
    key: &[u8],
    site: &str,
    token: Option<&str>,
    now_s: u64,
    ttl_s: u64,
    user_agent: &str,
) -> (&'static str, Option<String>) {
    let token = match token {
        Some(t) if !t.is_empty() => t,
        _ => return ("missing", None),
    };
    let parts: Vec<&str> = token.split('.').collect();
    if token.chars().count() > TOKEN_MAX_LEN || parts.len() != 3 {
        return ("invalid", None);
    }
    let iat = match u64::from_str_radix(parts[0], 16) {
        Ok(v) if !parts[0].is_empty() => v,
        _ => return ("invalid", None),
    };
    let expected = mac(key, site, iat, parts[1], user_agent);
    let same = expected.len() == parts[2].len()
        && expected
            .bytes()
            .zip(parts[2].bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same || iat > now_s + 60 {
        return ("invalid", None);
    }
    let verdict = if now_s.saturating_sub(iat) > ttl_s {
        "expired"
    } else {
        "valid"
    };
    (verdict, Some(parts[1].to_string()))
}

/// What a request's beacons are checked against: its site's key, the time, its user agent, and
/// the replay memory.
pub struct Checker<'a> {
    pub site: &'a Site,
    pub now_s: u64,
    pub ttl_s: u64,
    pub user_agent: &'a str,
    pub guard: &'a std::sync::Mutex<ReplayGuard>,
}

impl Checker<'_> {
    /// One beacon's verdict, the replay check included, and the nonce it used (if the MAC held).
    pub fn verdict(
        &self,
        token: Option<&str>,
        pv_id: Option<&str>,
        seq: Option<i64>,
    ) -> (&'static str, Option<String>) {
        let (verdict, nonce) = check(
            &self.site.token_key,
            &self.site.name,
            token,
            self.now_s,
            self.ttl_s,
            self.user_agent,
        );
        let replay = nonce.as_ref().and_then(|n| {
            self.guard
                .lock()
                .expect("lock")
                .verdict(n, pv_id, seq, self.now_s)
        });
        (replay.unwrap_or(verdict), nonce)
    }
}

struct Seen {
    first_s: u64,
    pv_id: String,
    seqs: HashSet<i64>,
}

/// Which page view holds each nonce and which beacon numbers it has sent; bounded like the
/// Python guard (nonces older than twice the TTL go first, at most `max_nonces`).
pub struct ReplayGuard {
    ttl_s: u64,
    max_nonces: usize,
    seen: HashMap<String, Seen>,
    order: VecDeque<String>,
}

impl ReplayGuard {
    pub fn new(ttl_s: u64) -> Self {
        ReplayGuard {
            ttl_s,
            max_nonces: 200_000,
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Some("replayed") if this beacon was seen already or the token belongs to another page view.
    pub fn verdict(
        &mut self,
        nonce: &str,
        pv_id: Option<&str>,
        seq: Option<i64>,
        now_s: u64,
    ) -> Option<&'static str> {
        self.prune(now_s);
        let key = seq.unwrap_or(-1);
        let pv = pv_id.unwrap_or("");
        match self.seen.get_mut(nonce) {
            None => {
                let mut seqs = HashSet::new();
                seqs.insert(key);
                self.seen.insert(
                    nonce.to_string(),
                    Seen {
                        first_s: now_s,
                        pv_id: pv.into(),
                        seqs,
                    },
                );
                self.order.push_back(nonce.to_string());
                None
            }
            Some(e) if e.pv_id != pv || e.seqs.contains(&key) => Some("replayed"),
            Some(e) => {
                e.seqs.insert(key);
                None
            }
        }
    }

    fn prune(&mut self, now_s: u64) {
        while let Some(oldest) = self.order.front() {
            let first = self.seen.get(oldest).map(|e| e.first_s).unwrap_or(0);
            if now_s.saturating_sub(first) <= 2 * self.ttl_s && self.seen.len() < self.max_nonces {
                break;
            }
            let gone = self.order.pop_front().expect("front exists");
            self.seen.remove(&gone);
        }
    }
}
