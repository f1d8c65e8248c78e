//! ABI 1.1's compact decisions: the bundle's policy table, fetched once per instance with `privet_policies`,
//! and the expansion of a compact decision into privet-core's full [`Decision`] (ABI.md, "Compact
//! decisions"). The guest leaves out `determining` and `obligations` only when this expansion gives them
//! exactly, and `bundle` only when it is the hash of the bundle behind the handle.
//!
//! ABI 1.2's packed decisions (ABI.md, "Packed decisions") are read here too, straight from guest memory:
//! a record (tag `0x01`: verdict, policy-table indices, the id's JSON text) expands to what the compact
//! decision `{id?, decision, reasons}` would, and anything else is compact JSON; a packed batch (tag `0x02`)
//! is a count and length-prefixed decisions of either form.

use std::collections::HashMap;
use std::sync::Arc;

use privet_core::{Decision, DecisionError, Obligation, PolicyInfo, Verdict};
use serde::Deserialize;
use serde_json::Value;

use crate::error::HostFault;

/// The policies of one loaded bundle by id, as `privet_policies` lists them.
#[derive(Debug)]
pub(crate) struct PolicyTable {
    by_id: HashMap<String, Arc<PolicyInfo>>,
    /// The same policies in load order (the indices of packed records).
    list: Vec<Arc<PolicyInfo>>,
    /// The decision a record expands to when no policy determined it, and by index in `list` when that policy
    /// alone did (most decisions), built once ([`Decision::determined_by`]): a record's decision is a clone with
    /// its verdict, id and bundle, sharing the policy lists.
    none: Decision,
    alone: Vec<Decision>,
}

/// First byte of a packed decision record.
const RECORD_TAG: u8 = 0x01;
/// First byte of a packed batch.
const BATCH_TAG: u8 = 0x02;

impl PolicyTable {
    /// The table from `privet_policies`' JSON (an array of `PolicyInfo`).
    pub(crate) fn from_json(bytes: &[u8]) -> Result<PolicyTable, HostFault> {
        let list: Vec<PolicyInfo> = serde_json::from_slice(bytes)
            .map_err(|e| HostFault::Abi(format!("`privet_policies` returned invalid JSON: {e}")))?;
        let list: Vec<Arc<PolicyInfo>> = list.into_iter().map(Arc::new).collect();
        // The templates' verdict and bundle are replaced by each record's.
        let no_hash: Arc<str> = Arc::from("");
        Ok(PolicyTable {
            by_id: list.iter().map(|p| (p.id.clone(), Arc::clone(p))).collect(),
            none: Decision::determined_by(Verdict::Deny, &[], Arc::clone(&no_hash)),
            alone: list
                .iter()
                .map(|p| Decision::determined_by(Verdict::Deny, std::slice::from_ref(p), Arc::clone(&no_hash)))
                .collect(),
            list,
        })
    }

    /// The full decision from `privet_decide_packed`'s result: a packed record, else compact JSON.
    pub(crate) fn expand_packed(&self, bytes: &[u8], hash: &Arc<str>) -> Result<Decision, HostFault> {
        match bytes.first() {
            Some(&RECORD_TAG) => self.expand_record(bytes, hash),
            _ => {
                let c = serde_json::from_slice::<CompactDecision>(bytes).map_err(|e| {
                    HostFault::Abi(format!("`privet_decide_packed` returned invalid compact JSON: {e}"))
                })?;
                self.expand(c, hash)
            }
        }
    }

    /// The full decisions from `privet_decide_batch_packed`'s result: a packed batch, else the JSON array of
    /// compact decisions (a batch that failed as a whole at the ABI level).
    pub(crate) fn expand_packed_batch(&self, bytes: &[u8], hash: &Arc<str>) -> Result<Vec<Decision>, HostFault> {
        let Some((&BATCH_TAG, rest)) = bytes.split_first() else {
            let list = serde_json::from_slice::<Vec<CompactDecision>>(bytes).map_err(|e| {
                HostFault::Abi(format!("`privet_decide_batch_packed` returned invalid compact JSON: {e}"))
            })?;
            return list.into_iter().map(|c| self.expand(c, hash)).collect();
        };
        let broken = |what: String| HostFault::Abi(format!("`privet_decide_batch_packed` returned {what}"));
        let (count, mut rest) = take_u32(rest).ok_or_else(|| broken("a batch shorter than its header".into()))?;
        // Every decision takes at least 5 bytes, so a count the bytes cannot hold is refused before allocating.
        if count as usize > rest.len() / 5 {
            return Err(broken(format!("a batch of {count} decisions in {} bytes", bytes.len())));
        }
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count {
            let (len, after) =
                take_u32(rest).ok_or_else(|| broken(format!("a batch that ends after {i} of {count} decisions")))?;
            let (item, after) = match after.split_at_checked(len as usize) {
                Some(split) if len > 0 => split,
                _ => return Err(broken(format!("decision {i} of a batch overrunning it"))),
            };
            out.push(self.expand_packed(item, hash)?);
            rest = after;
        }
        if !rest.is_empty() {
            return Err(broken("bytes after the last decision of a batch".into()));
        }
        Ok(out)
    }

    /// A packed record (ABI.md, "Packed decisions"): what [`PolicyTable::expand`] gives for the compact
    /// decision `{id?, decision, reasons}` (no errors, the handle's bundle) it stands for.
    fn expand_record(&self, bytes: &[u8], hash: &Arc<str>) -> Result<Decision, HostFault> {
        let broken = |what: String| HostFault::Abi(format!("`privet_decide_packed` returned a record with {what}"));
        let [_, verdict, n0, n1, rest @ ..] = bytes else { return Err(broken("no room for its header".into())) };
        let decision = match verdict {
            0 => Verdict::Deny,
            1 => Verdict::Allow,
            v => return Err(broken(format!("verdict byte {v}"))),
        };
        let n = usize::from(u16::from_le_bytes([*n0, *n1]));
        let (indices, id_text) =
            rest.split_at_checked(2 * n).ok_or_else(|| broken(format!("{n} indices that do not fit")))?;
        let index = |pair: &[u8]| {
            let i = usize::from(u16::from_le_bytes([pair[0], pair[1]]));
            (i < self.list.len()).then_some(i).ok_or_else(|| broken(format!("policy index {i}, not in the table")))
        };
        let id = if id_text.is_empty() {
            None
        } else {
            Some(id_value(id_text).map_err(|e| broken(format!("an id that is not JSON: {e}")))?)
        };
        let template = match indices {
            [] => &self.none,
            [a, b] => &self.alone[index(&[*a, *b])?],
            _ => {
                let policies = indices.chunks_exact(2).map(|pair| Ok(Arc::clone(&self.list[index(pair)?])));
                let policies = policies.collect::<Result<Vec<_>, HostFault>>()?;
                return Ok(Decision { id, ..Decision::determined_by(decision, &policies, Arc::clone(hash)) });
            }
        };
        // Field by field: cloning the template whole would clone its id and bundle only to drop them.
        Ok(Decision {
            id,
            decision,
            reasons: template.reasons.clone(),
            determining: template.determining.clone(),
            obligations: template.obligations.clone(),
            errors: Vec::new(),
            bundle: Arc::clone(hash),
        })
    }

    /// The full decision: `determining` = the table's policy for each id in `reasons` (in order),
    /// `obligations` = their obligations (in order), `bundle` = `hash`; fields the guest sent are kept.
    pub(crate) fn expand(&self, c: CompactDecision, hash: &Arc<str>) -> Result<Decision, HostFault> {
        let (determining, obligations) = match c.determining {
            Some(determining) => (determining, c.obligations.unwrap_or_default()),
            None => {
                let determining = c
                    .reasons
                    .iter()
                    .map(|id| {
                        self.by_id.get(id).cloned().ok_or_else(|| {
                            HostFault::Abi(format!("a compact decision names policy `{id}`, which is not in the table"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let obligations = match c.obligations {
                    Some(o) => o,
                    None => determining.iter().filter_map(|p| p.obligation.clone()).collect(),
                };
                (determining, obligations)
            }
        };
        Ok(Decision {
            id: c.id,
            decision: c.decision,
            reasons: c.reasons.into(),
            determining: determining.into(),
            obligations: obligations.into(),
            errors: c.errors,
            bundle: c.bundle.unwrap_or_else(|| Arc::clone(hash)),
        })
    }
}

/// A decision as `privet_decide_compact` writes it. Unknown fields are ignored (ABI.md, "Versioning").
#[derive(Debug, Deserialize)]
pub(crate) struct CompactDecision {
    #[serde(default)]
    id: Option<Value>,
    decision: Verdict,
    reasons: Vec<String>,
    #[serde(default)]
    determining: Option<Vec<Arc<PolicyInfo>>>,
    #[serde(default)]
    obligations: Option<Vec<Obligation>>,
    #[serde(default)]
    errors: Vec<DecisionError>,
    #[serde(default)]
    bundle: Option<Arc<str>>,
}

/// A little-endian u32 and the bytes after it.
fn take_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}
/// A request id from the JSON text the guest wrote for it. A non-negative integer (the usual id, which the guest
/// writes as its digits) is read here, the value serde_json would give; any other text goes through serde_json.
fn id_value(text: &[u8]) -> Result<Value, serde_json::Error> {
    // Up to 19 digits, no leading zero: always a u64 (below 10^19).
    let plain = matches!(text, [b'0'] | [b'1'..=b'9', ..]) && text.len() <= 19 && text.iter().all(u8::is_ascii_digit);
    let n = || text.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')));
    match plain.then(n).flatten() {
        Some(n) => Ok(Value::from(n)),
        None => serde_json::from_slice(text),
    }
}

#[cfg(test)]
mod tests {
    use super::id_value;

    /// `id_value` gives what serde_json gives, value or error, for integers of every length up to 20 digits,
    /// leading zeros, signs, floats, strings and text that is not JSON.
    #[test]
    fn ids_read_as_serde_json_reads_them() {
        let mut texts: Vec<String> = (0..=20).map(|n| "9".repeat(n)).collect();
        texts.extend((1..=20).map(|n| "1".repeat(n)));
        texts.extend(
            ["0", "00", "01", "10", "-1", "-0", "1.5", "1e3", "\"7\"", "u64", "18446744073709551615"].map(String::from),
        );
        texts.push("18446744073709551616".into());
        for t in &texts {
            let ours = id_value(t.as_bytes());
            let theirs = serde_json::from_slice::<serde_json::Value>(t.as_bytes());
            assert_eq!(ours.as_ref().ok(), theirs.as_ref().ok(), "{t:?}");
            assert_eq!(ours.is_err(), theirs.is_err(), "{t:?}");
        }
    }
}
