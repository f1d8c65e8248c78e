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
///
/// The determining policies, their ids and their obligations are [`Shared`] lists: a decision that one policy
/// determined shares them with every other decision that policy determined, so deciding allocates nothing for
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The request's `id`, echoed when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// Allow or deny.
    pub decision: Verdict,
    /// Ids of the determining policies: the permits that allowed, or the forbids that denied (sorted).
    pub reasons: Shared<String>,
    /// The determining policies with their citations and reasons.
    #[serde(default)]
    pub determining: Shared<Arc<PolicyInfo>>,
    /// Duties from the determining policies.
    #[serde(default)]
    pub obligations: Shared<Obligation>,
    /// Errors met on the way. Under fail-closed semantics any error means deny.
    #[serde(default)]
    pub errors: Vec<DecisionError>,
    /// The content hash of the bundle that decided.
    pub bundle: Arc<str>,
}

/// An immutable list that decisions share (an `Arc<[T]>`): cloning it copies a pointer. It reads as a slice
/// (`len`, `iter`, indexing, `for x in &list`), compares equal to slices, arrays and vectors of comparable
/// items, and serializes as a JSON array. Build one from a `Vec`, a slice or an iterator (`.into()`,
/// `collect()`); to change one, copy it out with `to_vec()`.
#[derive(PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Shared<T>(Arc<[T]>);

impl<T: std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Shared(Arc::from(Vec::new()))
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> AsRef<[T]> for Shared<T> {
    fn as_ref(&self) -> &[T] {
        &self.0
    }
}

impl<'a, T> IntoIterator for &'a Shared<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T> From<Vec<T>> for Shared<T> {
    fn from(v: Vec<T>) -> Self {
        Shared(Arc::from(v))
    }
}

impl<T: Clone> From<&[T]> for Shared<T> {
    fn from(v: &[T]) -> Self {
        Shared(Arc::from(v))
    }
}

impl<T> FromIterator<T> for Shared<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Shared(iter.into_iter().collect())
    }
}

impl<T: PartialEq<U>, U> PartialEq<[U]> for Shared<T> {
    fn eq(&self, other: &[U]) -> bool {
        self.0[..] == other[..]
    }
}

impl<T: PartialEq<U>, U> PartialEq<&[U]> for Shared<T> {
    fn eq(&self, other: &&[U]) -> bool {
        self.0[..] == other[..]
    }
}

impl<T: PartialEq<U>, U, const N: usize> PartialEq<[U; N]> for Shared<T> {
    fn eq(&self, other: &[U; N]) -> bool {
        self.0[..] == other[..]
    }
}

impl<T: PartialEq<U>, U> PartialEq<Vec<U>> for Shared<T> {
    fn eq(&self, other: &Vec<U>) -> bool {
        self.0[..] == other[..]
    }
}

impl Decision {
    /// A decision without errors that `determining` (in the order given) determined: its reasons are their ids
    /// and its obligations theirs, in order. Its `id` is `None`. Clones of one such decision share these lists,
    /// which is how Privet's engines decide without allocating them: built once per policy, then cloned.
    pub fn determined_by(verdict: Verdict, determining: &[Arc<PolicyInfo>], bundle: Arc<str>) -> Self {
        Decision {
            id: None,
            decision: verdict,
            reasons: determining.iter().map(|p| p.id.clone()).collect(),
            determining: Shared::from(determining),
            obligations: determining.iter().filter_map(|p| p.obligation.clone()).collect(),
            errors: Vec::new(),
            bundle,
        }
    }

    /// A deny that carries errors and no determining policy.
    pub fn deny_with(errors: Vec<DecisionError>, bundle: Arc<str>) -> Self {
        Decision {
            id: None,
            decision: Verdict::Deny,
            reasons: Shared::default(),
            determining: Shared::default(),
            obligations: Shared::default(),
            errors,
            bundle,
        }
    }

    /// True when the decision is allow.
    pub fn is_allowed(&self) -> bool {
        self.decision == Verdict::Allow
    }
}
