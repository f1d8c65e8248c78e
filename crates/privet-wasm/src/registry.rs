//! The safe half of the ABI: the loaded bundles by handle, and every operation as bytes in, bytes out.
//!
//! Nothing here touches raw memory; `abi.rs` turns pointers into slices and calls these functions. Keeping
//! the logic here means it is unit-tested natively (`cargo test -p privet-wasm`).

use std::sync::Arc;

use privet_core::{Bundle, Decision, DecisionError, ErrorCode};
use serde::Serialize;

use crate::failure::Failure;

/// The bundles loaded into this instance. Handles are never reused within an instance, so a stale handle
/// cannot reach a bundle loaded later.
#[derive(Default)]
pub struct Registry {
    /// The last handle given out (0 = none yet; handles start at 1).
    last: u32,
    /// Live bundles by handle, in load order (a host rarely holds more than two: old and new during a swap).
    slots: Vec<(u32, Bundle)>,
}

impl Registry {
    /// Loads a packed bundle and returns its handle (≥ 1).
    pub fn load(&mut self, packed: &[u8]) -> Result<u32, Failure> {
        let bundle = Bundle::from_packed(packed).map_err(|e| Failure::load(&e))?;
        let handle = self.last.checked_add(1).ok_or_else(|| {
            Failure::new(ErrorCode::LimitExceeded, "abi: no handles left in this instance; start a new instance")
        })?;
        self.last = handle;
        self.slots.push((handle, bundle));
        Ok(handle)
    }

    /// Drops the bundle behind `handle`.
    pub fn unload(&mut self, handle: u32) -> Result<(), Failure> {
        let before = self.slots.len();
        self.slots.retain(|(h, _)| *h != handle);
        if self.slots.len() == before {
            return Err(Failure::unknown_handle(handle));
        }
        Ok(())
    }

    fn get(&self, handle: u32) -> Result<&Bundle, Failure> {
        self.slots.iter().find(|(h, _)| *h == handle).map(|(_, b)| b).ok_or_else(|| Failure::unknown_handle(handle))
    }

    fn get_mut(&mut self, handle: u32) -> Result<&mut Bundle, Failure> {
        self.slots.iter_mut().find(|(h, _)| *h == handle).map(|(_, b)| b).ok_or_else(|| Failure::unknown_handle(handle))
    }

    /// A deny decision (or, with `batch`, a one-element array of it) for a call that failed before the
    /// engine could run, e.g. on an out-of-bounds pointer.
    pub fn deny(&self, handle: u32, failure: &Failure, batch: bool) -> Vec<u8> {
        let hash = self.get(handle).map(bundle_hash).unwrap_or_else(|_| Arc::from(""));
        let deny = Decision::deny_with(failure.errors().to_vec(), hash);
        let json = if batch { serde_json::to_vec(&[&deny]) } else { serde_json::to_vec(&deny) };
        json.unwrap_or_else(|_| if batch { FALLBACK_DENY_BATCH.to_vec() } else { FALLBACK_DENY.to_vec() })
    }

    /// The bundle's info JSON.
    pub fn info(&self, handle: u32) -> Result<Vec<u8>, Failure> {
        to_json(&self.get(handle)?.info())
    }

    /// One decision. Never fails: ABI-level problems become a deny carrying the error, and are also
    /// returned as the second element so the caller can record them as the last error.
    pub fn decide(&self, handle: u32, request: &[u8]) -> (Vec<u8>, Option<Failure>) {
        let bundle = match self.get(handle) {
            Ok(b) => b,
            Err(f) => return (deny_json(&f, Arc::from("")), Some(f)),
        };
        let text = match utf8(request, "request") {
            Ok(t) => t,
            Err(f) => return (deny_json(&f, bundle_hash(bundle)), Some(f)),
        };
        decision_json(&bundle.decide_json(text))
    }

    /// Decisions for a JSON array of requests, as a JSON array in the same order. Never fails, like
    /// [`Registry::decide`]; when the problem is ABI-level every request gets the same deny (one deny when
    /// the input is not an array).
    pub fn decide_batch(&self, handle: u32, requests: &[u8]) -> (Vec<u8>, Option<Failure>) {
        let (failure, hash) = match self.get(handle) {
            Ok(bundle) => match utf8(requests, "batch") {
                Ok(text) => return batch_json(&bundle.decide_batch_json(text)),
                Err(f) => (f, bundle_hash(bundle)),
            },
            Err(f) => (f, Arc::from("")),
        };
        let count = serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(requests).map(|v| v.len()).unwrap_or(1);
        let deny = Decision::deny_with(failure.errors().to_vec(), hash);
        let decisions: Vec<&Decision> = std::iter::repeat_n(&deny, count).collect();
        match serde_json::to_vec(&decisions) {
            Ok(bytes) => (bytes, Some(failure)),
            Err(_) => (FALLBACK_DENY_BATCH.to_vec(), Some(failure)),
        }
    }

    /// Adds or replaces entities in the bundle's store.
    pub fn upsert_entities(&mut self, handle: u32, entities: &[u8]) -> Result<Vec<u8>, Failure> {
        let bundle = self.get_mut(handle)?;
        let text = utf8(entities, "entities")?;
        let update = bundle.upsert_entities_json(text).map_err(Failure::many)?;
        to_json(&update)
    }

    /// Removes entities (a JSON array of uids) from the bundle's store.
    pub fn remove_entities(&mut self, handle: u32, uids: &[u8]) -> Result<Vec<u8>, Failure> {
        let bundle = self.get_mut(handle)?;
        let text = utf8(uids, "entity uids")?;
        let update = bundle.remove_entities_json(text).map_err(Failure::many)?;
        to_json(&update)
    }
}

/// Used only if serializing a decision fails, which serde_json does not do for these types.
const FALLBACK_DENY: &[u8] = br#"{"decision":"deny","reasons":[],"determining":[],"obligations":[],"errors":[{"code":"host_failure","message":"abi: the decision could not be serialized"}],"bundle":""}"#;
const FALLBACK_DENY_BATCH: &[u8] = br#"[{"decision":"deny","reasons":[],"determining":[],"obligations":[],"errors":[{"code":"host_failure","message":"abi: the decisions could not be serialized"}],"bundle":""}]"#;

fn bundle_hash(bundle: &Bundle) -> Arc<str> {
    Arc::from(bundle.hash())
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, Failure> {
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let mut err = DecisionError::new(
            ErrorCode::MalformedJson,
            format!("malformed {what} JSON: invalid UTF-8 at byte offset {offset}"),
        );
        err.offset = Some(offset);
        Failure::from(err)
    })
}

fn deny_json(failure: &Failure, hash: Arc<str>) -> Vec<u8> {
    let deny = Decision::deny_with(failure.errors().to_vec(), hash);
    serde_json::to_vec(&deny).unwrap_or_else(|_| FALLBACK_DENY.to_vec())
}

fn decision_json(decision: &Decision) -> (Vec<u8>, Option<Failure>) {
    match serde_json::to_vec(decision) {
        Ok(bytes) => (bytes, None),
        Err(e) => (FALLBACK_DENY.to_vec(), Some(Failure::serialize(&e))),
    }
}

fn batch_json(decisions: &[Decision]) -> (Vec<u8>, Option<Failure>) {
    match serde_json::to_vec(decisions) {
        Ok(bytes) => (bytes, None),
        Err(e) => (FALLBACK_DENY_BATCH.to_vec(), Some(Failure::serialize(&e))),
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(value).map_err(|e| Failure::serialize(&e))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn packed() -> Vec<u8> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundle");
        Bundle::load(dir).expect("fixture bundle loads").to_packed()
    }

    fn loaded() -> (Registry, u32) {
        let mut r = Registry::default();
        let h = r.load(&packed()).expect("load");
        (r, h)
    }

    fn json_of(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("valid JSON")
    }

    fn sell(resource: &str) -> Vec<u8> {
        json!({
            "principal": {"type": "Recipient", "id": "adco"},
            "action": {"type": "Action", "id": "sell"},
            "resource": {"type": "Consumer", "id": resource},
            "context": {"purpose": "advertising"}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn handles_start_at_one_and_are_not_reused() {
        let mut r = Registry::default();
        let p = packed();
        assert_eq!(r.load(&p).ok(), Some(1));
        assert_eq!(r.load(&p).ok(), Some(2));
        assert!(r.unload(1).is_ok());
        assert_eq!(r.unload(1).map_err(|f| f.code()).err(), Some(ErrorCode::NoBundle));
        assert_eq!(r.load(&p).ok(), Some(3));
    }

    #[test]
    fn decides_allow_and_deny_with_citations() {
        let (r, h) = loaded();
        let (bob, err) = r.decide(h, &sell("bob"));
        assert!(err.is_none());
        let bob = json_of(&bob);
        assert_eq!(bob["decision"], "allow", "{bob}");
        assert_eq!(bob["reasons"], json!(["sell-default"]));
        let (alice, _) = r.decide(h, &sell("alice"));
        let alice = json_of(&alice);
        assert_eq!(alice["decision"], "deny", "{alice}");
        assert_eq!(alice["reasons"], json!(["gpc-opt-out"]));
        assert_eq!(alice["determining"][0]["citation"], "Cal. Code Regs. tit. 11, § 7025");
        assert!(alice["bundle"].as_str().is_some_and(|s| s.starts_with("sha256:")));
    }

    #[test]
    fn unknown_handle_is_a_deny_with_no_bundle() {
        let (r, _) = loaded();
        let (d, err) = r.decide(99, &sell("bob"));
        let d = json_of(&d);
        assert_eq!(d["decision"], "deny");
        assert_eq!(d["errors"][0]["code"], "no_bundle");
        assert_eq!(err.map(|f| f.code()), Some(ErrorCode::NoBundle));
    }

    #[test]
    fn invalid_utf8_is_a_located_deny() {
        let (r, h) = loaded();
        let (d, err) = r.decide(h, b"{\"principal\": \"\xff\"}");
        let d = json_of(&d);
        assert_eq!(d["decision"], "deny");
        assert_eq!(d["errors"][0]["code"], "malformed_json");
        assert_eq!(d["errors"][0]["offset"], 15);
        assert!(err.is_some());
    }

    #[test]
    fn malformed_request_is_a_deny_from_the_engine() {
        let (r, h) = loaded();
        let (d, err) = r.decide(h, b"{not json");
        let d = json_of(&d);
        assert_eq!(d["decision"], "deny");
        assert_eq!(d["errors"][0]["code"], "malformed_json");
        assert!(err.is_none(), "engine-level errors ride on the decision only");
    }

    #[test]
    fn batch_keeps_order_and_count() {
        let (r, h) = loaded();
        let batch = format!(
            "[{},{}]",
            String::from_utf8(sell("alice")).unwrap_or_default(),
            String::from_utf8(sell("bob")).unwrap_or_default()
        );
        let (out, _) = r.decide_batch(h, batch.as_bytes());
        let out = json_of(&out);
        assert_eq!(out[0]["decision"], "deny");
        assert_eq!(out[1]["decision"], "allow");
        let (bad, err) = r.decide_batch(7, batch.as_bytes());
        let bad = json_of(&bad);
        assert_eq!(bad.as_array().map(Vec::len), Some(2), "one deny per request");
        assert_eq!(bad[1]["errors"][0]["code"], "no_bundle");
        assert!(err.is_some());
    }

    #[test]
    fn entity_updates_change_decisions() {
        let (mut r, h) = loaded();
        let up =
            json!([{ "uid": {"type": "Consumer", "id": "bob"}, "attrs": {"state": "CA", "gpc": true}, "parents": [] }]);
        let update = json_of(&r.upsert_entities(h, up.to_string().as_bytes()).expect("upsert"));
        assert_eq!(update["upserted"], 1);
        let (bob, _) = r.decide(h, &sell("bob"));
        assert_eq!(json_of(&bob)["decision"], "deny");
        let removed = json_of(&r.remove_entities(h, br#"["Consumer::\"bob\""]"#).expect("remove"));
        assert_eq!(removed["removed"], 1);
        let (bob, _) = r.decide(h, &sell("bob"));
        assert_eq!(json_of(&bob)["decision"], "deny", "missing resource fails closed");
    }

    #[test]
    fn rejected_update_reports_every_error() {
        let (mut r, h) = loaded();
        let bad = json!([{ "uid": {"type": "Nope", "id": "x"}, "attrs": {}, "parents": [] }]);
        let f = r.upsert_entities(h, bad.to_string().as_bytes()).expect_err("rejected");
        let j = json_of(&f.to_json());
        assert!(j["code"].is_string());
        assert!(j["errors"].as_array().is_some_and(|a| !a.is_empty()), "{j}");
    }

    #[test]
    fn load_failure_lists_diagnostics() {
        let mut r = Registry::default();
        let f = r.load(b"{\"privet_bundle\": 1}").expect_err("rejected");
        let j = json_of(&f.to_json());
        assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(j["errors"].is_array());
        let mut tampered = packed();
        if let Some(pos) = tampered.windows(5).position(|w| w == b"alice") {
            tampered[pos] = b'A';
        }
        let f = r.load(&tampered).expect_err("hash mismatch");
        assert_eq!(f.code(), ErrorCode::HashMismatch);
    }

    #[test]
    fn info_names_the_policies() {
        let (r, h) = loaded();
        let info = json_of(&r.info(h).expect("info"));
        assert_eq!(info["name"], "wasm-fixture");
        assert_eq!(info["policies"], json!(["sell-default", "gpc-opt-out", "share-service-provider"]));
    }
}
