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
        self.slots
            .iter()
            .find(|(h, _)| *h == handle)
            .map(|(_, b)| b)
            .ok_or_else(|| Failure::unknown_handle(handle))
    }

    fn get_mut(&mut self, handle: u32) -> Result<&mut Bundle, Failure> {
        self.slots
            .iter_mut()
            .find(|(h, _)| *h == handle)
            .map(|(_, b)| b)
            .ok_or_else(|| Failure::unknown_handle(handle))
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
        let count = serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(requests)
            .map(|v| v.len())
            .unwrap_or(1);
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
