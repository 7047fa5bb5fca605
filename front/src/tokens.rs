//! Per-pageview tokens, as in `qinglang/collect/tokens.py`: HMAC over (site, issue time, nonce,
//! user-agent hash) with a key derived from the site secret, and the replay guard. The grammar
//! (README, "Signed tokens"; the docstring of tokens.py) is checked byte by byte in `parse`:
//! `iat "." nonce "." mac`, iat 1-16 lower-case hex digits without a leading zero, nonce 16 and
//! mac 22 base64url characters.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};

use crate::config::Site;
use crate::schema;

type HmacSha256 = Hmac<Sha256>;

fn b64(raw: &[u8]) -> String {
    base64::encode_config(raw, base64::URL_SAFE_NO_PAD)
}

pub fn token_key(secret: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(secret).expect("any key length");
    m.update(schema::TOKEN_KEY_INFO);
    m.finalize().into_bytes().to_vec()
}

/// The first 16 lower-case hex digits of SHA-256 over the user agent's UTF-8.
pub fn ua_hash(user_agent: &str) -> String {
    hex::encode(&Sha256::digest(user_agent.as_bytes())[..schema::UA_HASH_BYTES])
}

pub(crate) fn mac(key: &[u8], site: &str, iat: u64, nonce: &str, user_agent: &str) -> String {
    let mut m = HmacSha256::new_from_slice(key).expect("any key length");
    m.update(format!("{site}|{iat}|{nonce}|{}", ua_hash(user_agent)).as_bytes());
    b64(&m.finalize().into_bytes()[..schema::MAC_BYTES])
}

pub fn issue(key: &[u8], site: &str, now_s: u64, user_agent: &str) -> String {
    let mut raw = [0u8; 12];
    getrandom::getrandom(&mut raw).expect("the OS has randomness");
    let nonce = b64(&raw);
    let m = mac(key, site, now_s, &nonce, user_agent);
    format!("{now_s:x}.{nonce}.{m}")
}

fn is_b64(part: &str, len: usize) -> bool {
    part.len() == len
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// (issue time, nonce, mac) of a token of the grammar; None for anything else.
pub fn parse(token: &str) -> Option<(u64, &str, &str)> {
    let mut parts = token.split('.');
    let (iat, nonce, mac) = (parts.next()?, parts.next()?, parts.next()?);
    let hex_ok = (1..=16).contains(&iat.len())
        && iat.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && (iat == "0" || !iat.starts_with('0'));
    if parts.next().is_some() || !hex_ok || !is_b64(nonce, 16) || !is_b64(mac, 22) {
        return None;
    }
    // from_str_radix alone would also take "+1f" and "1F"; the checks above leave digits only
    Some((u64::from_str_radix(iat, 16).ok()?, nonce, mac))
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
    let (iat, nonce, given) = match parse(token) {
        Some(p) => p,
        None => return ("invalid", None),
    };
    let expected = mac(key, site, iat, nonce, user_agent);
    let same = expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same || iat > now_s.saturating_add(schema::FUTURE_S) {
        return ("invalid", None);
    }
    let verdict = if now_s.saturating_sub(iat) > ttl_s {
        "expired"
    } else {
        "valid"
    };
    (verdict, Some(nonce.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::vectors;

    #[test]
    fn the_token_key_ua_hash_and_mac_are_as_specified() {
        let v = vectors("tokens.json");
        let secret = hex::decode(v["secret_hex"].as_str().unwrap()).unwrap();
        let key = token_key(&secret);
        assert_eq!(hex::encode(&key), v["key_hex"].as_str().unwrap());
        for h in v["ua_hashes"].as_array().unwrap() {
            assert_eq!(
                ua_hash(h["user_agent"].as_str().unwrap()),
                h["ua_hash"].as_str().unwrap()
            );
        }
        for m in v["macs"].as_array().unwrap() {
            let got = mac(
                &key,
                m["site"].as_str().unwrap(),
                m["iat"].as_u64().unwrap(),
                m["nonce"].as_str().unwrap(),
                m["user_agent"].as_str().unwrap(),
            );
            assert_eq!(got, m["mac"].as_str().unwrap());
        }
    }

    #[test]
    fn token_vectors() {
        let v = vectors("tokens.json");
        let key = token_key(&hex::decode(v["secret_hex"].as_str().unwrap()).unwrap());
        let cases = v["cases"].as_array().unwrap();
        assert!(cases.len() > 30);
        for c in cases {
            let got = check(
                &key,
                v["site"].as_str().unwrap(),
                c["token"].as_str(),
                v["now_s"].as_u64().unwrap(),
                v["ttl_s"].as_u64().unwrap(),
                v["user_agent"].as_str().unwrap(),
            );
            let want = (
                c["verdict"].as_str().unwrap(),
                c["nonce"].as_str().map(String::from),
            );
            assert_eq!((got.0, got.1), want, "{}", c["name"]);
        }
    }

    #[test]
    fn parse_is_the_contracts_grammar() {
        // parse() checks this by hand (there is no regex crate here): a change to the grammar
        // in contract.json must change parse() too, and the token vectors with it
        assert_eq!(
            schema::TOKEN_GRAMMAR,
            r"(0|[1-9a-f][0-9a-f]{0,15})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22})"
        );
    }

    #[test]
    fn an_issued_token_follows_the_grammar() {
        let key = token_key(b"secret");
        let t = issue(&key, "shop", 1_700_000_000, "UA");
        let (iat, nonce, _) = parse(&t).expect("grammar");
        assert_eq!(iat, 1_700_000_000);
        assert_eq!(
            check(&key, "shop", Some(&t), iat, 60, "UA").1.as_deref(),
            Some(nonce)
        );
    }
}
