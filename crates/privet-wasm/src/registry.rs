//! The safe half of the ABI: the loaded bundles by handle, and every operation as bytes in, bytes out.
//!
//! Nothing here touches raw memory; `abi.rs` turns pointers into slices and calls these functions. Keeping
//! the logic here means it is unit-tested natively (`cargo test -p privet-wasm`).
//!
//! Decisions are written in one of two [`Form`]s: the full `Decision` (ABI 1.0's `privet_decide`), or the
//! compact form of ABI 1.1 (`privet_decide_compact`), which leaves out what the host can rebuild from the
//! policy table it fetched once with `privet_policies` (see `ABI.md`, "Compact decisions"). ABI 1.2's
//! packed form (`privet_decide_packed`) writes the common decision (no errors, rebuilt from the table) as a
//! short binary record of policy indices instead, and anything else as the compact JSON (see `ABI.md`,
//! "Packed decisions").

use std::collections::HashMap;
use std::sync::Arc;

use privet_core::{Bundle, Decision, DecisionError, ErrorCode, Obligation, PolicyInfo, Verdict};
use serde::Serialize;

use crate::failure::Failure;

/// How decisions are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// privet-core's `Decision` as is (ABI 1.0).
    Full,
    /// The compact form (ABI 1.1): without `determining` and `obligations` when the host's expansion from
    /// the policy table gives them exactly, and without `bundle` when it is the handle's bundle.
    Compact,
    /// The packed form (ABI 1.2): a binary record ([`PACKED_TAG`], see [`write_packed`]) when the
    /// decision has no errors and its compact form would be only `id`, `decision` and `reasons`; else the
    /// compact JSON. A batch is a packed batch ([`PACKED_BATCH_TAG`]) of such records and compact JSON
    /// decisions, or the compact JSON array when the batch failed at the ABI level.
    Packed,
}

/// The first byte of a packed decision record. JSON text never starts with it (JSON starts with `{`, `[`,
/// whitespace or a scalar's first character), so a host tells the two results apart by their first byte.
pub const PACKED_TAG: u8 = 0x01;

/// A loaded bundle and its policies by id with their index in the table `privet_policies` hands out (used
/// to check that a compact decision expands to the full one, and to write packed decisions).
struct Loaded {
    handle: u32,
    bundle: Bundle,
    by_id: HashMap<String, (usize, Arc<PolicyInfo>)>,
    /// The table's policies by address (sorted), with their index: decisions share the bundle's
    /// `Arc<PolicyInfo>`s, so most lookups are a binary search on the pointer, with no hashing of the id.
    by_addr: Vec<(usize, usize, Arc<PolicyInfo>)>,
}

impl Loaded {
    fn new(handle: u32, bundle: Bundle) -> Self {
        let by_id: HashMap<String, (usize, Arc<PolicyInfo>)> =
            bundle.policies().enumerate().map(|(i, p)| (p.id.clone(), (i, Arc::clone(p)))).collect();
        let mut by_addr: Vec<(usize, usize, Arc<PolicyInfo>)> =
            by_id.values().map(|(i, p)| (address(p), *i, Arc::clone(p))).collect();
        by_addr.sort_unstable_by_key(|&(a, _, _)| a);
        Loaded { handle, bundle, by_id, by_addr }
    }

    /// The table's policy `id` (and its index) when it is `p` (the same policy, or an equal one).
    fn table_entry(&self, id: &str, p: &Arc<PolicyInfo>) -> Option<usize> {
        // The same `Arc` as the table's entry for `id`: found by address (the id is checked too, so an
        // entry found this way is the one `by_id` would give).
        if let Ok(k) = self.by_addr.binary_search_by_key(&address(p), |(a, _, _)| *a)
            && let Some((_, i, _)) = self.by_addr.get(k).filter(|(_, _, t)| t.id == id)
        {
            return Some(*i);
        }
        self.by_id.get(id).filter(|(_, t)| Arc::ptr_eq(t, p) || **t == **p).map(|(i, _)| *i)
    }

    /// True when a host that knows this bundle's policy table rebuilds `d`'s `determining` and
    /// `obligations` exactly from its `reasons`: `determining[i]` is the table's policy `reasons[i]`, and
    /// `obligations` are the determining policies' obligations in order. privet-core builds decisions this
    /// way; the check keeps the compact form exact should that ever change (the fields are then sent).
    fn expands(&self, d: &Decision) -> bool {
        d.reasons.len() == d.determining.len()
            && d.reasons.iter().zip(&d.determining).all(|(id, p)| self.table_entry(id, p).is_some())
            && self.obligations_derived(d)
    }

    /// True when `d`'s obligations are its determining policies' obligations, in order.
    fn obligations_derived(&self, d: &Decision) -> bool {
        d.obligations.iter().eq(d.determining.iter().filter_map(|p| p.obligation.as_ref()))
    }
}

/// The address of a policy, as a key (never dereferenced).
fn address(p: &Arc<PolicyInfo>) -> usize {
    Arc::as_ptr(p).addr()
}

/// The packed record of `d` (ABI 1.2, `ABI.md` "Packed decisions"), or `None` when `d` must go as JSON:
/// it has errors, another bundle's hash, or determining policies or obligations the table does not rebuild
/// (or more than 65,535 of them, or a policy past index 65,535).
///
/// Layout: byte 0 [`PACKED_TAG`]; byte 1 the verdict (0 deny, 1 allow); bytes 2..4 the number `n` of
/// determining policies (u16 little-endian); `n` u16 little-endian indices into the policy table, in the
/// order of `reasons`; then, to the end, the request id as JSON text (`serde_json::to_string` of it), or
/// nothing when the decision has no id.
#[cfg(test)]
fn packed_decision(
    d: &Decision,
    loaded_hash: &str,
    table: impl Fn(&str, &Arc<PolicyInfo>) -> Option<usize>,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(4 + 2 * d.reasons.len() + 24);
    packed_decision_into(&mut out, d, loaded_hash, table).then_some(out)
}

/// [`packed_decision`] appended to `out`; false (and `out` as it was) when `d` must go as JSON.
fn packed_decision_into(
    out: &mut Vec<u8>,
    d: &Decision,
    loaded_hash: &str,
    table: impl Fn(&str, &Arc<PolicyInfo>) -> Option<usize>,
) -> bool {
    let start = out.len();
    let written = write_packed(out, d, loaded_hash, table).is_some();
    if !written {
        out.truncate(start);
    }
    written
}

fn write_packed(
    out: &mut Vec<u8>,
    d: &Decision,
    loaded_hash: &str,
    table: impl Fn(&str, &Arc<PolicyInfo>) -> Option<usize>,
) -> Option<()> {
    // The decision's hash is usually the bundle's own string (the same bytes): checked by address first.
    let own_hash = std::ptr::eq(d.bundle.as_ptr(), loaded_hash.as_ptr()) && d.bundle.len() == loaded_hash.len()
        || *d.bundle == *loaded_hash;
    if !d.errors.is_empty() || !own_hash || d.reasons.len() != d.determining.len() {
        return None;
    }
    let n = u16::try_from(d.reasons.len()).ok()?;
    out.push(PACKED_TAG);
    out.push(match d.decision {
        Verdict::Deny => 0,
        Verdict::Allow => 1,
    });
    out.extend_from_slice(&n.to_le_bytes());
    for (id, p) in d.reasons.iter().zip(&d.determining) {
        let index = u16::try_from(table(id, p)?).ok()?;
        out.extend_from_slice(&index.to_le_bytes());
    }
    if let Some(id) = &d.id {
        match id.as_u64() {
            // The usual id, a non-negative integer: its digits, as serde_json writes them (without its writer).
            Some(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            None => serde_json::to_writer(&mut *out, id).ok()?,
        }
    }
    Some(())
}

/// The first byte of a packed batch (ABI 1.2, `privet_decide_batch_packed`); JSON never starts with it.
pub const PACKED_BATCH_TAG: u8 = 0x02;

/// Decisions as a packed batch: [`PACKED_BATCH_TAG`], the count (u32 little-endian), then per decision its
/// length (u32 little-endian) and its bytes: the packed record when it can be one, else its compact JSON.
/// `None` when some decision cannot be serialized or a length does not fit u32 (the caller sends JSON).
fn packed_batch(decisions: &[Decision], loaded: &Loaded) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(5 + decisions.len() * 12);
    packed_batch_into(&mut out, decisions, loaded)?;
    Some(out)
}

/// [`packed_batch`] appended to `out`; `None` (with `out` partly written: the caller truncates it) when the
/// batch must go as JSON.
fn packed_batch_into(out: &mut Vec<u8>, decisions: &[Decision], loaded: &Loaded) -> Option<()> {
    out.push(PACKED_BATCH_TAG);
    out.extend_from_slice(&u32::try_from(decisions.len()).ok()?.to_le_bytes());
    for d in decisions {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        if !loaded.packed_into(out, d) {
            serde_json::to_writer(&mut *out, &CompactDecision::of(d, Some(loaded))).ok()?;
        }
        let len = u32::try_from(out.len() - at - 4).ok()?;
        out.get_mut(at..at + 4)?.copy_from_slice(&len.to_le_bytes());
    }
    Some(())
}

impl Loaded {
    /// `d` as a packed record for a host holding this bundle's table, if it can be one.
    #[cfg(test)]
    fn packed(&self, d: &Decision) -> Option<Vec<u8>> {
        if !self.obligations_derived(d) {
            return None;
        }
        packed_decision(d, self.bundle.hash(), |id, p| self.table_entry(id, p))
    }

    /// [`Loaded::packed`] appended to `out`; false (and `out` as it was) when `d` must go as JSON.
    fn packed_into(&self, out: &mut Vec<u8>, d: &Decision) -> bool {
        self.obligations_derived(d) && packed_decision_into(out, d, self.bundle.hash(), |id, p| self.table_entry(id, p))
    }
}

/// The compact form of a decision, serialized from a borrow of the full one (no copy is made). Field order
/// and omission rules are the full form's, so a full decision is also a valid compact one.
#[derive(Serialize)]
struct CompactDecision<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a serde_json::Value>,
    decision: Verdict,
    reasons: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    determining: Option<&'a [Arc<PolicyInfo>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    obligations: Option<&'a [Obligation]>,
    errors: &'a [DecisionError],
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle: Option<&'a str>,
}

impl<'a> CompactDecision<'a> {
    /// `d` for a host holding `loaded`'s policy table (`None`: the handle named no bundle).
    fn of(d: &'a Decision, loaded: Option<&Loaded>) -> Self {
        let expands = match loaded {
            Some(l) => l.expands(d),
            None => d.reasons.is_empty() && d.determining.is_empty() && d.obligations.is_empty(),
        };
        let own_bundle = loaded.is_some_and(|l| *d.bundle == *l.bundle.hash());
        CompactDecision {
            id: d.id.as_ref(),
            decision: d.decision,
            reasons: &d.reasons,
            determining: if expands { None } else { Some(&d.determining) },
            obligations: if expands { None } else { Some(&d.obligations) },
            errors: &d.errors,
            bundle: if own_bundle { None } else { Some(&d.bundle) },
        }
    }
}

/// The bundles loaded into this instance. Handles are never reused within an instance, so a stale handle
/// cannot reach a bundle loaded later.
#[derive(Default)]
pub struct Registry {
    /// The last handle given out (0 = none yet; handles start at 1).
    last: u32,
    /// Live bundles by handle, in load order (a host rarely holds more than two: old and new during a swap).
    slots: Vec<Loaded>,
}

impl Registry {
    /// Loads a packed bundle and returns its handle (≥ 1).
    pub fn load(&mut self, packed: &[u8]) -> Result<u32, Failure> {
        let bundle = Bundle::from_packed(packed).map_err(|e| Failure::load(&e))?;
        let handle = self.last.checked_add(1).ok_or_else(|| {
            Failure::new(ErrorCode::LimitExceeded, "abi: no handles left in this instance; start a new instance")
        })?;
        self.last = handle;
        self.slots.push(Loaded::new(handle, bundle));
        Ok(handle)
    }

    /// Drops the bundle behind `handle`.
    pub fn unload(&mut self, handle: u32) -> Result<(), Failure> {
        let before = self.slots.len();
        self.slots.retain(|l| l.handle != handle);
        if self.slots.len() == before {
            return Err(Failure::unknown_handle(handle));
        }
        Ok(())
    }

    fn loaded(&self, handle: u32) -> Result<&Loaded, Failure> {
        self.slots.iter().find(|l| l.handle == handle).ok_or_else(|| Failure::unknown_handle(handle))
    }

    fn get(&self, handle: u32) -> Result<&Bundle, Failure> {
        self.loaded(handle).map(|l| &l.bundle)
    }

    fn get_mut(&mut self, handle: u32) -> Result<&mut Bundle, Failure> {
        self.slots
            .iter_mut()
            .find(|l| l.handle == handle)
            .map(|l| &mut l.bundle)
            .ok_or_else(|| Failure::unknown_handle(handle))
    }

    /// A deny decision (or, with `batch`, a one-element array of it) for a call that failed before the
    /// engine could run, e.g. on an out-of-bounds pointer.
    pub fn deny(&self, handle: u32, failure: &Failure, batch: bool, form: Form) -> Vec<u8> {
        let loaded = self.loaded(handle).ok();
        let hash = loaded.map(|l| bundle_hash(&l.bundle)).unwrap_or_else(|| Arc::from(""));
        let deny = Decision::deny_with(failure.errors().to_vec(), hash);
        let json = match (form, batch) {
            (Form::Full, false) => serde_json::to_vec(&deny),
            (Form::Full, true) => serde_json::to_vec(&[&deny]),
            (Form::Compact | Form::Packed, false) => serde_json::to_vec(&CompactDecision::of(&deny, loaded)),
            (Form::Compact | Form::Packed, true) => serde_json::to_vec(&[CompactDecision::of(&deny, loaded)]),
        };
        json.unwrap_or_else(|_| if batch { FALLBACK_DENY_BATCH.to_vec() } else { FALLBACK_DENY.to_vec() })
    }

    /// The bundle's info JSON.
    pub fn info(&self, handle: u32) -> Result<Vec<u8>, Failure> {
        to_json(&self.get(handle)?.info())
    }

    /// The bundle's policy table: a JSON array of its `PolicyInfo`s in load order (ABI 1.1).
    pub fn policies(&self, handle: u32) -> Result<Vec<u8>, Failure> {
        let policies: Vec<&PolicyInfo> = self.get(handle)?.policies().map(|p| &**p).collect();
        to_json(&policies)
    }

    /// One decision. Never fails: ABI-level problems become a deny carrying the error, and are also
    /// returned as the second element so the caller can record them as the last error.
    pub fn decide(&self, handle: u32, request: &[u8], form: Form) -> (Vec<u8>, Option<Failure>) {
        let mut out = Vec::new();
        let failure = self.decide_into(handle, request, form, &mut out);
        (out, failure)
    }

    /// [`Registry::decide`] appending the result to `out` (which the caller may reuse from call to call, as
    /// ABI 1.3's `privet_decide_packed_input` does). Returns the ABI-level failure, if any.
    pub fn decide_into(&self, handle: u32, request: &[u8], form: Form, out: &mut Vec<u8>) -> Option<Failure> {
        let loaded = match self.loaded(handle) {
            Ok(l) => l,
            Err(f) => return Some(self.deny_into(handle, f, false, form, out)),
        };
        let text = match utf8(request, "request") {
            Ok(t) => t,
            Err(f) => return Some(self.deny_into(handle, f, false, form, out)),
        };
        let decision = loaded.bundle.decide_json(text);
        let start = out.len();
        let json = match form {
            Form::Full => serde_json::to_writer(&mut *out, &decision),
            Form::Compact => serde_json::to_writer(&mut *out, &CompactDecision::of(&decision, Some(loaded))),
            Form::Packed => {
                if loaded.packed_into(out, &decision) {
                    return None;
                }
                serde_json::to_writer(&mut *out, &CompactDecision::of(&decision, Some(loaded)))
            }
        };
        match json {
            Ok(()) => None,
            Err(e) => {
                out.truncate(start);
                out.extend_from_slice(FALLBACK_DENY);
                Some(Failure::serialize(&e))
            }
        }
    }

    /// [`Registry::deny`] appended to `out`; hands `failure` back.
    fn deny_into(&self, handle: u32, failure: Failure, batch: bool, form: Form, out: &mut Vec<u8>) -> Failure {
        out.extend_from_slice(&self.deny(handle, &failure, batch, form));
        failure
    }

    /// Decisions for a JSON array of requests, as a JSON array in the same order. Never fails, like
    /// [`Registry::decide`]; when the problem is ABI-level every request gets the same deny (one deny when
    /// the input is not an array).
    pub fn decide_batch(&self, handle: u32, requests: &[u8], form: Form) -> (Vec<u8>, Option<Failure>) {
        let (failure, loaded) = match self.loaded(handle) {
            Ok(loaded) => match utf8(requests, "batch") {
                Ok(text) => return batch_json(&loaded.bundle.decide_batch_json(text), loaded, form),
                Err(f) => (f, Some(loaded)),
            },
            Err(f) => (f, None),
        };
        self.batch_deny(requests, failure, loaded, form)
    }

    /// [`Registry::decide_batch`] appending the result to `out` (reused from call to call by ABI 1.3's
    /// `privet_decide_batch_packed_input`). Returns the ABI-level failure, if any.
    pub fn decide_batch_into(&self, handle: u32, requests: &[u8], form: Form, out: &mut Vec<u8>) -> Option<Failure> {
        if form == Form::Packed
            && let Ok(loaded) = self.loaded(handle)
            && let Ok(text) = utf8(requests, "batch")
        {
            let decisions = loaded.bundle.decide_batch_json(text);
            let start = out.len();
            if packed_batch_into(out, &decisions, loaded).is_some() {
                return None;
            }
            out.truncate(start);
            let (bytes, failure) = batch_json(&decisions, loaded, form);
            out.extend_from_slice(&bytes);
            return failure;
        }
        let (bytes, failure) = self.decide_batch(handle, requests, form);
        out.extend_from_slice(&bytes);
        failure
    }

    /// The denies for a batch that failed at the ABI level (see [`Registry::decide_batch`]).
    fn batch_deny(
        &self,
        requests: &[u8],
        failure: Failure,
        loaded: Option<&Loaded>,
        form: Form,
    ) -> (Vec<u8>, Option<Failure>) {
        let count = serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(requests).map(|v| v.len()).unwrap_or(1);
        let hash = loaded.map(|l| bundle_hash(&l.bundle)).unwrap_or_else(|| Arc::from(""));
        let deny = Decision::deny_with(failure.errors().to_vec(), hash);
        let json = match form {
            Form::Full => serde_json::to_vec(&std::iter::repeat_n(&deny, count).collect::<Vec<_>>()),
            Form::Compact | Form::Packed => {
                let compact = CompactDecision::of(&deny, loaded);
                serde_json::to_vec(&std::iter::repeat_n(&compact, count).collect::<Vec<_>>())
            }
        };
        match json {
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

/// Used only if serializing a decision fails, which serde_json does not do for these types. Being full
/// decisions, they are valid compact decisions too (every field the compact form may omit is present).
const FALLBACK_DENY: &[u8] = br#"{"decision":"deny","reasons":[],"determining":[],"obligations":[],"errors":[{"code":"host_failure","message":"abi: the decision could not be serialized"}],"bundle":""}"#;
const FALLBACK_DENY_BATCH: &[u8] = br#"[{"decision":"deny","reasons":[],"determining":[],"obligations":[],"errors":[{"code":"host_failure","message":"abi: the decisions could not be serialized"}],"bundle":""}]"#;

fn bundle_hash(bundle: &Bundle) -> Arc<str> {
    Arc::from(bundle.hash())
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, Failure> {
    crate::abi::text(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let mut err = DecisionError::new(
            ErrorCode::MalformedJson,
            format!("malformed {what} JSON: invalid UTF-8 at byte offset {offset}"),
        );
        err.offset = Some(offset);
        Failure::from(err)
    })
}

fn batch_json(decisions: &[Decision], loaded: &Loaded, form: Form) -> (Vec<u8>, Option<Failure>) {
    if form == Form::Packed
        && let Some(bytes) = packed_batch(decisions, loaded)
    {
        return (bytes, None);
    }
    let json = match form {
        Form::Full => serde_json::to_vec(decisions),
        Form::Compact | Form::Packed => {
            serde_json::to_vec(&decisions.iter().map(|d| CompactDecision::of(d, Some(loaded))).collect::<Vec<_>>())
        }
    };
    match json {
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

    /// A packed decision's id is written as serde_json writes it, whatever the id.
    #[test]
    fn packed_ids_are_json() {
        let ids =
            [json!(0), json!(7), json!(10), json!(1234567890), json!(u64::MAX), json!(-3), json!(2.5), json!("x")];
        for id in ids {
            let d = Decision { id: Some(id.clone()), ..Decision::determined_by(Verdict::Deny, &[], Arc::from("h")) };
            let mut out = Vec::new();
            assert!(packed_decision_into(&mut out, &d, "h", |_, _| None));
            // Tag, verdict, no reasons (u16), then the id.
            assert_eq!(out.get(4..), Some(serde_json::to_vec(&id).unwrap().as_slice()), "{id}");
        }
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
        let (bob, err) = r.decide(h, &sell("bob"), Form::Full);
        assert!(err.is_none());
        let bob = json_of(&bob);
        assert_eq!(bob["decision"], "allow", "{bob}");
        assert_eq!(bob["reasons"], json!(["sell-default"]));
        let (alice, _) = r.decide(h, &sell("alice"), Form::Full);
        let alice = json_of(&alice);
        assert_eq!(alice["decision"], "deny", "{alice}");
        assert_eq!(alice["reasons"], json!(["gpc-opt-out"]));
        assert_eq!(alice["determining"][0]["citation"], "Cal. Code Regs. tit. 11, § 7025");
        assert!(alice["bundle"].as_str().is_some_and(|s| s.starts_with("sha256:")));
    }

    #[test]
    fn unknown_handle_is_a_deny_with_no_bundle() {
        let (r, _) = loaded();
        let (d, err) = r.decide(99, &sell("bob"), Form::Full);
        let d = json_of(&d);
        assert_eq!(d["decision"], "deny");
        assert_eq!(d["errors"][0]["code"], "no_bundle");
        assert_eq!(err.map(|f| f.code()), Some(ErrorCode::NoBundle));
    }

    #[test]
    fn invalid_utf8_is_a_located_deny() {
        let (r, h) = loaded();
        let (d, err) = r.decide(h, b"{\"principal\": \"\xff\"}", Form::Full);
        let d = json_of(&d);
        assert_eq!(d["decision"], "deny");
        assert_eq!(d["errors"][0]["code"], "malformed_json");
        assert_eq!(d["errors"][0]["offset"], 15);
        assert!(err.is_some());
    }

    #[test]
    fn malformed_request_is_a_deny_from_the_engine() {
        let (r, h) = loaded();
        let (d, err) = r.decide(h, b"{not json", Form::Full);
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
        let (out, _) = r.decide_batch(h, batch.as_bytes(), Form::Full);
        let out = json_of(&out);
        assert_eq!(out[0]["decision"], "deny");
        assert_eq!(out[1]["decision"], "allow");
        let (bad, err) = r.decide_batch(7, batch.as_bytes(), Form::Full);
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
        let (bob, _) = r.decide(h, &sell("bob"), Form::Full);
        assert_eq!(json_of(&bob)["decision"], "deny");
        let removed = json_of(&r.remove_entities(h, br#"["Consumer::\"bob\""]"#).expect("remove"));
        assert_eq!(removed["removed"], 1);
        let (bob, _) = r.decide(h, &sell("bob"), Form::Full);
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

    /// A host's expansion of a compact decision (ABI.md, "Compact decisions"), written independently of the
    /// guest's code: `determining` from the table by `reasons`, `obligations` from those, `bundle` known.
    /// Keys come out in the full form's order (serde_json preserves insertion order here).
    fn expand(compact: &Value, table: &[Value], hash: &str) -> Value {
        let c = compact.as_object().expect("a compact decision is an object");
        let by_id = |id: &Value| table.iter().find(|p| p["id"] == *id).cloned().expect("reason in the table");
        let determining: Vec<Value> = match c.get("determining") {
            Some(d) => d.as_array().cloned().unwrap_or_default(),
            None => c["reasons"].as_array().map(|r| r.iter().map(by_id).collect()).unwrap_or_default(),
        };
        let obligations: Vec<Value> = match c.get("obligations") {
            Some(o) => o.as_array().cloned().unwrap_or_default(),
            None => determining.iter().filter_map(|p| p.get("obligation").cloned()).collect(),
        };
        let mut out = serde_json::Map::new();
        if let Some(id) = c.get("id") {
            out.insert("id".into(), id.clone());
        }
        out.insert("decision".into(), c["decision"].clone());
        out.insert("reasons".into(), c["reasons"].clone());
        out.insert("determining".into(), Value::Array(determining));
        out.insert("obligations".into(), Value::Array(obligations));
        out.insert("errors".into(), c["errors"].clone());
        out.insert("bundle".into(), c.get("bundle").cloned().unwrap_or_else(|| json!(hash)));
        Value::Object(out)
    }

    #[test]
    fn policies_are_the_table_in_load_order() {
        let (r, h) = loaded();
        let table = json_of(&r.policies(h).expect("policies"));
        let ids: Vec<&str> =
            table.as_array().map(|a| a.iter().filter_map(|p| p["id"].as_str()).collect()).unwrap_or_default();
        assert_eq!(ids, ["sell-default", "gpc-opt-out", "share-service-provider"]);
        assert_eq!(table[1]["citation"], "Cal. Code Regs. tit. 11, § 7025");
        assert_eq!(table[1]["obligation"]["kind"], "display");
        assert_eq!(r.policies(42).map_err(|f| f.code()).err(), Some(ErrorCode::NoBundle));
    }

    #[test]
    fn compact_decisions_expand_to_the_full_ones_exactly() {
        let (r, h) = loaded();
        let table: Vec<Value> = serde_json::from_slice(&r.policies(h).expect("policies")).expect("array");
        let hash = json_of(&r.info(h).expect("info"))["hash"].as_str().unwrap_or_default().to_string();
        let mut requests: Vec<Vec<u8>> = ["alice", "bob", "nobody"].iter().map(|c| sell(c)).collect();
        requests.push(br#"{"id": 7, "principal": "Recipient::\"adco\"", "action": "Action::\"sell\"", "resource": "Consumer::\"alice\"", "context": {"purpose": "x"}}"#.to_vec());
        requests.push(br#"{"id": "bad", "principal": {"type": "Nope", "id": "x"}, "action": "Action::\"sell\"", "resource": "Consumer::\"bob\"", "context": {}}"#.to_vec());
        requests.push(b"{not json".to_vec());
        requests.push(b"{\"principal\": \"\xff\"}".to_vec());
        let mut obligations = 0;
        for q in &requests {
            let (full, _) = r.decide(h, q, Form::Full);
            let (compact, _) = r.decide(h, q, Form::Compact);
            let c = json_of(&compact);
            assert!(
                c.get("determining").is_none() && c.get("obligations").is_none() && c.get("bundle").is_none(),
                "{c}"
            );
            let expanded = expand(&c, &table, &hash);
            // Same text, so same keys in the same order with the same values.
            assert_eq!(expanded.to_string(), json_of(&full).to_string());
            obligations += expanded["obligations"].as_array().map_or(0, Vec::len);
        }
        assert!(obligations > 0, "the requests reach a policy with an obligation");

        let batch = format!(
            "[{}]",
            requests.iter().take(5).map(|q| String::from_utf8_lossy(q).into_owned()).collect::<Vec<_>>().join(",")
        );
        let (full, _) = r.decide_batch(h, batch.as_bytes(), Form::Full);
        let (compact, _) = r.decide_batch(h, batch.as_bytes(), Form::Compact);
        let expanded: Vec<Value> = json_of(&compact)
            .as_array()
            .map(|a| a.iter().map(|c| expand(c, &table, &hash)).collect())
            .unwrap_or_default();
        assert_eq!(Value::Array(expanded).to_string(), json_of(&full).to_string());
    }

    #[test]
    fn compact_denies_for_abi_failures() {
        let (r, h) = loaded();
        // No bundle behind the handle: the deny says so with `bundle: ""`, which the host keeps.
        let (d, err) = r.decide(99, &sell("bob"), Form::Compact);
        let d = json_of(&d);
        assert_eq!(d["bundle"], "");
        assert_eq!(d["errors"][0]["code"], "no_bundle");
        assert!(err.is_some());
        let (full, _) = r.decide(99, &sell("bob"), Form::Full);
        assert_eq!(expand(&d, &[], "sha256:unused").to_string(), json_of(&full).to_string());
        let (ds, _) = r.decide_batch(99, b"[1, 2]", Form::Compact);
        assert_eq!(json_of(&ds).as_array().map(Vec::len), Some(2));
        assert_eq!(json_of(&ds)[1]["bundle"], "");
        // A failure on a loaded handle: its bundle, so no `bundle`.
        let failure = Failure::new(ErrorCode::HostFailure, "abi: test");
        let d = json_of(&r.deny(h, &failure, false, Form::Compact));
        assert!(d.get("bundle").is_none(), "{d}");
        let ds = json_of(&r.deny(h, &failure, true, Form::Compact));
        assert_eq!(ds[0]["errors"][0]["code"], "host_failure");
    }

    #[test]
    fn a_decision_the_table_does_not_rebuild_keeps_its_fields() {
        let (r, h) = loaded();
        let loaded = r.loaded(h).expect("loaded");
        let (alice, _) = r.decide(h, &sell("alice"), Form::Full);
        let mut d: Decision = serde_json::from_slice(&alice).expect("a decision");
        assert!(loaded.expands(&d));
        assert!(!d.obligations.is_empty());
        // Obligations that are not the determining policies' (privet-core never does this today).
        d.obligations = Default::default();
        let c = serde_json::to_value(CompactDecision::of(&d, Some(loaded))).expect("json");
        assert_eq!(c["determining"][0]["id"], "gpc-opt-out");
        assert_eq!(c["obligations"], json!([]));
        // A determining policy that differs from the table's.
        let mut d: Decision = serde_json::from_slice(&alice).expect("a decision");
        let mut determining = d.determining.to_vec();
        if let Some(p) = determining.first_mut() {
            Arc::make_mut(p).reason = Some("another reason".into());
        }
        d.determining = determining.into();
        assert!(!loaded.expands(&d));
        // Another bundle's hash is sent.
        let mut d: Decision = serde_json::from_slice(&alice).expect("a decision");
        d.bundle = Arc::from("sha256:other");
        let c = serde_json::to_value(CompactDecision::of(&d, Some(loaded))).expect("json");
        assert_eq!(c["bundle"], "sha256:other");
        assert!(c.get("determining").is_none());
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod packed_tests {
    //! ABI 1.2's packed records: the layout, decoded here independently of the encoder, and the fallback to
    //! the compact JSON.
    use super::*;
    use serde_json::{Value, json};

    fn loaded() -> (Registry, u32) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundle");
        let packed = Bundle::load(dir).expect("fixture bundle loads").to_packed();
        let mut r = Registry::default();
        let h = r.load(&packed).expect("load");
        (r, h)
    }

    /// A packed record decoded as a host would (ABI.md, "Packed decisions"): verdict, indices, id text.
    fn decode(record: &[u8]) -> (u8, Vec<u16>, String) {
        assert_eq!(record[0], PACKED_TAG);
        let verdict = record[1];
        let n = usize::from(u16::from_le_bytes([record[2], record[3]]));
        let indices = (0..n).map(|i| u16::from_le_bytes([record[4 + 2 * i], record[5 + 2 * i]])).collect();
        let id = String::from_utf8(record[4 + 2 * n..].to_vec()).expect("the id is UTF-8");
        (verdict, indices, id)
    }

    /// The full decision a host rebuilds from a packed record, the policy table and the bundle hash, as JSON
    /// text (keys in the full form's order).
    fn expand(record: &[u8], table: &[Value], hash: &str) -> String {
        let (verdict, indices, id) = decode(record);
        let determining: Vec<Value> = indices.iter().map(|&i| table[usize::from(i)].clone()).collect();
        let mut out = serde_json::Map::new();
        if !id.is_empty() {
            out.insert("id".into(), serde_json::from_str(&id).expect("the id is JSON"));
        }
        out.insert("decision".into(), json!(if verdict == 1 { "allow" } else { "deny" }));
        out.insert("reasons".into(), determining.iter().map(|p| p["id"].clone()).collect());
        let obligations: Vec<Value> = determining.iter().filter_map(|p| p.get("obligation").cloned()).collect();
        out.insert("determining".into(), Value::Array(determining));
        out.insert("obligations".into(), Value::Array(obligations));
        out.insert("errors".into(), json!([]));
        out.insert("bundle".into(), json!(hash));
        Value::Object(out).to_string()
    }

    fn request(resource: &str, id: Option<&str>) -> Vec<u8> {
        let id = id.map(|i| format!(r#""id": {i}, "#)).unwrap_or_default();
        format!(
            r#"{{{id}"principal": "Recipient::\"adco\"", "action": "Action::\"sell\"", "resource": "Consumer::\"{resource}\"", "context": {{"purpose": "advertising"}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn packed_records_have_the_documented_layout() {
        let (r, h) = loaded();
        // alice: denied by `gpc-opt-out`, table index 1, id 7.
        let (record, err) = r.decide(h, &request("alice", Some("7")), Form::Packed);
        assert!(err.is_none());
        assert_eq!(record, [PACKED_TAG, 0, 1, 0, 1, 0, b'7']);
        // bob: allowed by `sell-default`, index 0, no id.
        let (record, _) = r.decide(h, &request("bob", None), Form::Packed);
        assert_eq!(record, [PACKED_TAG, 1, 1, 0, 0, 0]);
        // ABI.md's worked example: bob with id "q1".
        let (record, _) = r.decide(h, &request("bob", Some(r#""q1""#)), Form::Packed);
        assert_eq!(record, [0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x22, 0x71, 0x31, 0x22]);
        // A string id is its JSON text, escapes and all.
        let (record, _) = r.decide(h, &request("bob", Some(r#""q\"1 ü""#)), Form::Packed);
        assert_eq!(decode(&record).2, r#""q\"1 ü""#);
    }

    #[test]
    fn packed_records_expand_to_the_full_decisions() {
        let (r, h) = loaded();
        let table: Vec<Value> = serde_json::from_slice(&r.policies(h).expect("policies")).expect("array");
        let hash = r.get(h).expect("bundle").hash().to_string();
        let ids = [
            None,
            Some("0"),
            Some("-12"),
            Some("1.5"),
            Some("1e300"),
            Some("123456789012345678901234567890"),
            Some("true"),
            Some("false"),
            Some("null"),
            Some(r#""""#),
            Some(r#""tab\t \u00e9 \ud83d\ude42""#),
            Some(r#"{"b": [1, {"a": null}], "a": 2}"#),
            Some("[]"),
        ];
        let mut records = 0;
        for resource in ["alice", "bob", "nobody-known"] {
            for id in ids {
                let q = request(resource, id);
                let (full, _) = r.decide(h, &q, Form::Full);
                let (packed, _) = r.decide(h, &q, Form::Packed);
                let full: Value = serde_json::from_slice(&full).expect("json");
                if packed.first() == Some(&PACKED_TAG) {
                    records += 1;
                    assert_eq!(expand(&packed, &table, &hash), full.to_string(), "{resource} {id:?}");
                } else {
                    // The fallback is exactly the compact JSON.
                    assert_eq!(packed, r.decide(h, &q, Form::Compact).0);
                    assert!(
                        !full["errors"].as_array().is_some_and(Vec::is_empty),
                        "only errors fall back here: {full}"
                    );
                }
            }
        }
        assert!(records >= 2 * ids.len(), "allow and deny decisions are packed");
    }

    #[test]
    fn decisions_with_errors_or_that_do_not_rebuild_go_as_compact_json() {
        let (r, h) = loaded();
        for q in [&b"{not json"[..], b"{\"principal\": \"\xff\"}", br#"{"id": 3, "principal": {"type": "Nope", "id": "x"}, "action": "Action::\"sell\"", "resource": "Consumer::\"bob\"", "context": {}}"#] {
            let (packed, _) = r.decide(h, q, Form::Packed);
            assert_eq!(packed.first(), Some(&b'{'));
            assert_eq!(packed, r.decide(h, q, Form::Compact).0);
        }
        // No bundle behind the handle.
        let (packed, err) = r.decide(99, &request("bob", None), Form::Packed);
        assert!(err.is_some());
        assert_eq!(packed, r.decide(99, &request("bob", None), Form::Compact).0);
        // A batch that fails as a whole is the compact JSON array.
        let batch = format!("[{}]", String::from_utf8_lossy(&request("bob", Some("1"))));
        assert_eq!(
            r.decide_batch(99, batch.as_bytes(), Form::Packed).0,
            r.decide_batch(99, batch.as_bytes(), Form::Compact).0
        );

        let loaded = r.loaded(h).expect("loaded");
        let (alice, _) = r.decide(h, &request("alice", None), Form::Full);
        let base: Decision = serde_json::from_slice(&alice).expect("a decision");
        assert!(loaded.packed(&base).is_some());
        let mut d = base.clone();
        d.obligations = Default::default();
        assert!(loaded.packed(&d).is_none(), "obligations not derived from the table");
        let mut d = base.clone();
        let mut determining = d.determining.to_vec();
        if let Some(p) = determining.first_mut() {
            Arc::make_mut(p).reason = Some("another reason".into());
        }
        d.determining = determining.into();
        assert!(loaded.packed(&d).is_none(), "a policy unlike the table's");
        let mut d = base.clone();
        d.bundle = Arc::from("sha256:other");
        assert!(loaded.packed(&d).is_none(), "another bundle");
        let mut d = base.clone();
        d.reasons = d.reasons.iter().cloned().chain(["sell-default".to_string()]).collect();
        assert!(loaded.packed(&d).is_none(), "reasons that are not the determining policies");
        let mut d = base;
        d.errors.push(DecisionError::new(ErrorCode::HostFailure, "x"));
        assert!(loaded.packed(&d).is_none(), "errors");
    }

    #[test]
    fn packed_batches_hold_records_and_compact_json_in_order() {
        let (r, h) = loaded();
        let table: Vec<Value> = serde_json::from_slice(&r.policies(h).expect("policies")).expect("array");
        let hash = r.get(h).expect("bundle").hash().to_string();
        let requests: Vec<Vec<u8>> = vec![
            request("alice", Some("1")),
            request("bob", None),
            request("nobody-known", Some(r#""e""#)),
            request("bob", Some(r#"{"k": [1.5, null]}"#)),
            b"17".to_vec(),
        ];
        let text = requests.iter().map(|q| String::from_utf8_lossy(q).into_owned()).collect::<Vec<_>>().join(",");
        let batch = format!("[{text}]");
        let (packed, err) = r.decide_batch(h, batch.as_bytes(), Form::Packed);
        assert!(err.is_none());
        let (full, _) = r.decide_batch(h, batch.as_bytes(), Form::Full);
        let full: Vec<Value> = serde_json::from_slice(&full).expect("array");
        assert_eq!(packed[0], PACKED_BATCH_TAG);
        let count = u32::from_le_bytes([packed[1], packed[2], packed[3], packed[4]]);
        assert_eq!(count as usize, requests.len());
        let mut at = 5;
        let mut kinds = String::new();
        for want in &full {
            let len = u32::from_le_bytes([packed[at], packed[at + 1], packed[at + 2], packed[at + 3]]) as usize;
            let item = &packed[at + 4..at + 4 + len];
            at += 4 + len;
            if item[0] == PACKED_TAG {
                kinds.push('r');
                assert_eq!(expand(item, &table, &hash), want.to_string());
            } else {
                kinds.push('j');
                let c: Value = serde_json::from_slice(item).expect("compact JSON");
                assert!(c.get("determining").is_none() && c.get("bundle").is_none(), "{c}");
                assert_eq!(c["errors"], want["errors"]);
                assert_eq!(c["id"], want["id"]);
            }
        }
        assert_eq!(at, packed.len(), "nothing after the last decision");
        assert_eq!(kinds, "rrjrj");
    }

    /// The `_into` forms (ABI 1.3's reused output buffer) append exactly what the fresh-buffer forms return, for
    /// every form, one request or a batch, successes and failures alike, with the buffer reused from call to
    /// call (cleared between calls, as `abi.rs` does, or not).
    #[test]
    fn into_forms_append_what_the_fresh_forms_return() {
        let (r, h) = loaded();
        let mut inputs: Vec<Vec<u8>> = vec![
            request("alice", Some("7")),
            request("bob", None),
            request("nobody-known", Some(r#""e""#)),
            b"{not json".to_vec(),
            b"{\"principal\": \"\xff\"}".to_vec(),
            Vec::new(),
        ];
        let batch = format!(
            "[{}, 17]",
            inputs.iter().take(3).map(|q| String::from_utf8_lossy(q).into_owned()).collect::<Vec<_>>().join(",")
        );
        inputs.push(batch.into_bytes());
        inputs.push(b"[\xff]".to_vec());
        let mut out = b"left over".to_vec();
        let mut appended = 0;
        for form in [Form::Full, Form::Compact, Form::Packed] {
            for handle in [h, 99] {
                for q in &inputs {
                    let start = out.len();
                    let (want, want_err) = r.decide(handle, q, form);
                    let err = r.decide_into(handle, q, form, &mut out);
                    assert_eq!(&out[start..], &want[..], "{form:?} {handle} {}", String::from_utf8_lossy(q));
                    assert_eq!(err.map(|f| f.to_json()), want_err.map(|f| f.to_json()));
                    let (want, want_err) = r.decide_batch(handle, q, form);
                    out.clear();
                    let err = r.decide_batch_into(handle, q, form, &mut out);
                    assert_eq!(out, want, "batch {form:?} {handle} {}", String::from_utf8_lossy(q));
                    assert_eq!(err.map(|f| f.to_json()), want_err.map(|f| f.to_json()));
                    appended += 1;
                }
            }
        }
        assert_eq!(appended, 3 * 2 * inputs.len());
    }

    #[test]
    fn indices_past_u16_are_refused() {
        let (r, h) = loaded();
        let (alice, _) = r.decide(h, &request("alice", None), Form::Full);
        let d: Decision = serde_json::from_slice(&alice).expect("a decision");
        let hash = r.get(h).expect("bundle").hash().to_string();
        assert!(packed_decision(&d, &hash, |_, _| Some(65_535)).is_some());
        assert!(packed_decision(&d, &hash, |_, _| Some(65_536)).is_none());
    }
}
