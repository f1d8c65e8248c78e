//! ABI 1.1's compact decisions: the bundle's policy table, fetched once per instance with `privet_policies`,
//! and the expansion of a compact decision into privet-core's full [`Decision`] (ABI.md, "Compact
//! decisions"). The guest leaves out `determining` and `obligations` only when this expansion gives them
//! exactly, and `bundle` only when it is the hash of the bundle behind the handle.

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
}

impl PolicyTable {
    /// The table from `privet_policies`' JSON (an array of `PolicyInfo`).
    pub(crate) fn from_json(bytes: &[u8]) -> Result<PolicyTable, HostFault> {
        let list: Vec<PolicyInfo> = serde_json::from_slice(bytes)
            .map_err(|e| HostFault::Abi(format!("`privet_policies` returned invalid JSON: {e}")))?;
        Ok(PolicyTable { by_id: list.into_iter().map(|p| (p.id.clone(), Arc::new(p))).collect() })
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
            reasons: c.reasons,
            determining,
            obligations,
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
