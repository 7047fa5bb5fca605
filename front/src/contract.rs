//! `cargo test` only: the beacon contract (`src/qinglang/collect/contract.json`, which the Python
//! collector reads at import) and the shared vectors (`tests/collect/vectors/`). The front's
//! hand-written tables are checked against the contract here and in fast.rs; the request vectors
//! run against the steps (the fast path and the general steps) in vectors.rs, the token vectors in
//! tokens.rs.

use serde_json::Value;
use std::path::Path;

use crate::config::{Kind, Limits};

fn read(relative: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn contract() -> Value {
    read("../src/qinglang/collect/contract.json")
}

pub fn vectors(name: &str) -> Value {
    read(&format!("../tests/collect/vectors/{name}"))
}

pub fn kind(field: &Value) -> Kind {
    match field["type"].as_str().expect("a type") {
        "bool" => Kind::Bool,
        "str" => Kind::Str,
        "list" => Kind::List,
        "int" => Kind::Int(
            field["min"].as_i64().unwrap(),
            field["max"].as_i64().unwrap(),
        ),
        other => panic!("unknown kind {other}"),
    }
}

/// The limits `qinglang serve` hands the front, as the contract gives them.
pub fn limits() -> Limits {
    let c = contract();
    let l = &c["limits"];
    let n = |k: &str| l[k].as_u64().unwrap_or_else(|| panic!("limits.{k}")) as usize;
    Limits {
        max_body: n("max_body"),
        max_events: n("max_events"),
        max_url: n("max_url"),
        max_text: n("max_text"),
        max_list: n("max_list"),
        max_ua: n("max_ua"),
        event_kinds: strings(&c["event_kinds"]),
        client_kinds: c["client"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].as_str().unwrap().to_string(), kind(f)))
            .collect(),
    }
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().expect("text").to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{metrics, steps};

    #[test]
    fn refusal_reasons_and_their_statuses_are_the_contracts() {
        let c = contract();
        let want: Vec<(String, u64)> = c["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["code"].as_str().unwrap().into(),
                    r["status"].as_u64().unwrap(),
                )
            })
            .collect();
        let have: Vec<(String, u64)> = steps::REASONS
            .iter()
            .map(|r| (r.code().to_string(), u64::from(r.status())))
            .collect();
        assert_eq!(have, want);
    }

    #[test]
    fn verdicts_and_step_names_are_the_contracts() {
        let c = contract();
        let verdicts: Vec<String> = c["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["code"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(metrics::VERDICTS.map(String::from).to_vec(), verdicts);
        assert_eq!(
            metrics::STEP_NAMES.map(String::from).to_vec(),
            strings(&c["steps"])
        );
    }
}
