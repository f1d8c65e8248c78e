//! What a decision says: the verdict, the policies that determined it with their citations and reasons, the
//! obligations they carry, and any errors.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::DecisionError;

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The flow may happen.
    Allow,
    /// The flow may not happen.
    Deny,
}

impl Verdict {
    /// `"allow"` or `"deny"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        }
    }
}

/// `permit` or `forbid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyEffect {
    /// A `permit` policy.
    Permit,
    /// A `forbid` policy.
    Forbid,
}

/// A duty that comes with a decision, carried by the determining policy's annotations: `@obligation("kind")`
/// and `@obligation_<param>("value")`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obligation {
    /// What must be done, e.g. `delete`, `notify_downstream`, `display`.
    pub kind: String,
    /// The policy that imposes it.
    pub policy: String,
    /// Parameters, e.g. `deadline_days = "45"`, `display = "Opt-Out Request Honored"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// A policy of the bundle with the annotations Privet reads. Every field comes from the policy's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    /// The policy id: its `@id` annotation, else `policyN` by position (as cedar numbers policies).
    pub id: String,
    /// `permit` or `forbid`.
    pub effect: PolicyEffect,
    /// The file the policy came from.
    pub file: String,
    /// 1-based line where the policy starts in its file.
    pub line: usize,
    /// `@citation`: the statute or regulation the policy encodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citation: Option<String>,
    /// `@reason`: one sentence a person can read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The obligation the policy imposes when it determines a decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obligation: Option<Obligation>,
    /// Every annotation, verbatim.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The request's `id`, echoed when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// Allow or deny.
    pub decision: Verdict,
    /// Ids of the determining policies: the permits that allowed, or the forbids that denied (sorted).
    pub reasons: Vec<String>,
    /// The determining policies with their citations and reasons.
    #[serde(default)]
    pub determining: Vec<Arc<PolicyInfo>>,
    /// Duties from the determining policies.
    #[serde(default)]
    pub obligations: Vec<Obligation>,
    /// Errors met on the way. Under fail-closed semantics any error means deny.
    #[serde(default)]
    pub errors: Vec<DecisionError>,
    /// The content hash of the bundle that decided.
    pub bundle: Arc<str>,
}

impl Decision {
    /// A deny that carries errors and no determining policy.
    pub fn deny_with(errors: Vec<DecisionError>, bundle: Arc<str>) -> Self {
        Decision {
            id: None,
            decision: Verdict::Deny,
            reasons: Vec::new(),
            determining: Vec::new(),
            obligations: Vec::new(),
            errors,
            bundle,
        }
    }

    /// True when the decision is allow.
    pub fn is_allowed(&self) -> bool {
        self.decision == Verdict::Allow
    }
}
