//! The comparison: Privet's decisions in both semantics against cedar's answer, and a batch against the same
//! requests decided one by one; and the tallies that show the run was not degenerate.

use privet::{Decision, ErrorCode, Verdict};

use super::oracle::Answer;

/// What the run saw.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub worlds: u64,
    pub requests: usize,
    pub refused: usize,
    pub allow: usize,
    pub deny: usize,
    /// Decided requests on which at least one policy errored.
    pub with_errors: usize,
    /// Decided requests whose principal or resource is in neither store nor slice.
    pub missing_entity: usize,
    pub slices: usize,
    pub overrides: usize,
    pub reparents: usize,
    pub faulty_contexts: usize,
    pub faulty_slices: usize,
    pub batched: usize,
    /// Requests the compiled path answered (the rest took cedar's path inside Privet).
    pub compiled: usize,
    /// Requests whose principal or resource is neither stored nor in the slice, that the compiled path denied in
    /// fail-closed mode.
    pub compiled_not_found: usize,
    /// Decisions the compiled path gave with policy errors (an attribute or tag of an entity that does not
    /// exist), in either semantics.
    pub compiled_policy_errors: usize,
    pub policies: usize,
    pub rejected: usize,
    pub unparsed: usize,
}

impl Stats {
    pub fn summary(&self, seed: u64, secs: f64) -> String {
        let pct = |n: usize| 100.0 * n as f64 / self.requests.max(1) as f64;
        let tried = self.policies + self.rejected + self.unparsed;
        format!(
            "random_worlds: seed {seed:#x}: {} worlds, {} requests in {secs:.1} s; cedar: allow {} ({:.1}%), deny {} \
             ({:.1}%), refused {} ({:.1}%), policy errors on {} ({:.1}%), principal/resource missing on {}; slices {} \
             ({} overriding stored entities, {} re-parenting, {} invalid), invalid contexts {}; batched {}; \
             answered by the compiled path {} ({:.1}%); fail-closed, missing principal or resource denied by the compiled path {}; decisions with policy errors by the compiled path {}; policies {} kept of {} generated ({} failed validation, {:.1}%; {} unparsed)",
            self.worlds,
            self.requests,
            self.allow,
            pct(self.allow),
            self.deny,
            pct(self.deny),
            self.refused,
            pct(self.refused),
            self.with_errors,
            pct(self.with_errors),
            self.missing_entity,
            self.slices,
            self.overrides,
            self.reparents,
            self.faulty_slices,
            self.faulty_contexts,
            self.batched,
            self.compiled,
            pct(self.compiled),
            self.compiled_not_found,
            self.compiled_policy_errors,
            self.policies,
            tried,
            self.rejected,
            100.0 * self.rejected as f64 / tried.max(1) as f64,
            self.unparsed,
        )
    }
}

/// The parts of a decision compared between a batch and single calls.
pub fn summary(d: &Decision) -> (Verdict, Vec<String>, Vec<ErrorCode>, Vec<Option<String>>) {
    (
        d.decision,
        d.reasons.to_vec(),
        d.errors.iter().map(|e| e.code).collect(),
        d.errors.iter().map(|e| e.policy.clone()).collect(),
    )
}

/// Checks Privet's two decisions against cedar's answer; `exists` says whether principal and resource are in
/// the store or the slice. Returns what differs.
pub fn compare(answer: &Answer, exists: bool, exact: &Decision, closed: &Decision) -> Result<(), String> {
    match answer {
        Answer::Refused(why) => {
            for (mode, d) in [("cedar", exact), ("fail-closed", closed)] {
                if d.decision != Verdict::Deny || d.errors.is_empty() {
                    return Err(format!("{mode} mode: cedar refused the request ({why}) but Privet decided {d:?}"));
                }
            }
            Ok(())
        }
        Answer::Decided { allow, reasons, errors } => {
            let verdict = if *allow { Verdict::Allow } else { Verdict::Deny };
            let mut erring: Vec<Option<String>> = exact.errors.iter().map(|e| e.policy.clone()).collect();
            erring.sort();
            let want_erring: Vec<Option<String>> = errors.iter().cloned().map(Some).collect();
            if exact.decision != verdict || &exact.reasons != reasons || erring != want_erring {
                return Err(format!(
                    "cedar mode: cedar says {verdict:?} by {reasons:?} with errors in {errors:?}; Privet says {:?} by \
                     {:?} with errors {:?}",
                    exact.decision, exact.reasons, exact.errors
                ));
            }
            if errors.is_empty() && exists {
                if closed.decision != verdict || &closed.reasons != reasons || !closed.errors.is_empty() {
                    return Err(format!(
                        "fail-closed mode: cedar says {verdict:?} by {reasons:?} without errors; Privet says {:?} by \
                         {:?} with errors {:?}",
                        closed.decision, closed.reasons, closed.errors
                    ));
                }
            } else if closed.decision != Verdict::Deny || closed.errors.is_empty() {
                return Err(format!(
                    "fail-closed mode: cedar met errors in {errors:?} (principal and resource exist: {exists}); \
                     Privet must deny with errors, says {:?} by {:?} with errors {:?}",
                    closed.decision, closed.reasons, closed.errors
                ));
            }
            Ok(())
        }
    }
}
