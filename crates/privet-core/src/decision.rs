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

/// An immutable list that decisions share (an `Arc<[T]>`): cloning it copies a pointer, and an empty list
/// holds none (most decisions have no obligations, and a default deny no reasons: cloning those touches no
/// reference count). It reads as a slice (`len`, `iter`, indexing, `for x in &list`), compares equal to slices,
/// arrays and vectors of comparable items, and serializes as a JSON array. Build one from a `Vec`, a slice or an
/// iterator (`.into()`, `collect()`); to change one, copy it out with `to_vec()`.
#[derive(PartialEq, Eq, Hash)]
pub struct Shared<T>(Option<Arc<[T]>>);

impl<T> Shared<T> {
    /// The list held by `items`: none when it is empty, so that equal lists are equal values.
    fn new(items: Arc<[T]>) -> Self {
        Shared(if items.is_empty() { None } else { Some(items) })
    }

    fn items(&self) -> &[T] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.items().serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Shared<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(deserializer).map(Shared::from)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.items()).finish()
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Shared(None)
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.items()
    }
}

impl<T> AsRef<[T]> for Shared<T> {
    fn as_ref(&self) -> &[T] {
        self.items()
    }
}

impl<'a, T> IntoIterator for &'a Shared<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items().iter()
    }
}

impl<T> From<Vec<T>> for Shared<T> {
    fn from(v: Vec<T>) -> Self {
        Shared::new(Arc::from(v))
    }
}

impl<T: Clone> From<&[T]> for Shared<T> {
    fn from(v: &[T]) -> Self {
        Shared::new(Arc::from(v))
    }
}

impl<T> FromIterator<T> for Shared<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Shared::new(iter.into_iter().collect())
    }
}

impl<T: PartialEq<U>, U> PartialEq<[U]> for Shared<T> {
    fn eq(&self, other: &[U]) -> bool {
        self.items() == other
    }
}

impl<T: PartialEq<U>, U> PartialEq<&[U]> for Shared<T> {
    fn eq(&self, other: &&[U]) -> bool {
        self.items() == &other[..]
    }
}

impl<T: PartialEq<U>, U, const N: usize> PartialEq<[U; N]> for Shared<T> {
    fn eq(&self, other: &[U; N]) -> bool {
        self.items() == &other[..]
    }
}

impl<T: PartialEq<U>, U> PartialEq<Vec<U>> for Shared<T> {
    fn eq(&self, other: &Vec<U>) -> bool {
        self.items() == &other[..]
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

#[cfg(test)]
mod tests {
    use super::Shared;

    /// An empty list holds nothing, however it was made, and is equal to (and hashes as) every other empty list;
    /// lists serialize as JSON arrays and read back equal.
    #[test]
    fn shared_lists_are_equal_by_their_items() {
        use std::hash::BuildHasher;
        let hasher = std::collections::hash_map::RandomState::new();
        let empties: [Shared<String>; 4] =
            [Shared::default(), Vec::new().into(), (&[][..]).into(), std::iter::empty().collect()];
        for e in &empties {
            assert!(e.0.is_none(), "{e:?} holds an allocation");
            assert_eq!(e, &empties[0]);
            assert_eq!(hasher.hash_one(e), hasher.hash_one(&empties[0]));
            assert_eq!(serde_json::to_string(e).unwrap(), "[]");
            assert_eq!(&serde_json::from_str::<Shared<String>>("[]").unwrap(), e);
        }
        let two: Shared<String> = vec!["a".to_string(), "b".to_string()].into();
        assert_ne!(two, empties[0]);
        assert_eq!(two, ["a", "b"].map(String::from));
        assert_eq!(two.clone(), two);
        let json = serde_json::to_string(&two).unwrap();
        assert_eq!(json, r#"["a","b"]"#);
        assert_eq!(serde_json::from_str::<Shared<String>>(&json).unwrap(), two);
        assert_eq!(two.len(), 2);
        assert_eq!(two.iter().map(String::as_str).collect::<Vec<_>>(), ["a", "b"]);
    }
}
