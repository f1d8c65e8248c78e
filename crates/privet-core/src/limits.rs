//! Limits on input size and nesting, checked before anything recursive (serde, cedar's parser or evaluator)
//! sees the input. Cedar's parser and evaluator recurse on expression depth; inside a wasm guest a few
//! hundred levels overflow the stack, so Privet refuses such input up front with a located error.

use serde::{Deserialize, Serialize};

use crate::error::{DecisionError, ErrorCode, LoadDiagnostic};

/// Limits applied to bundles and requests. Set in `privet.toml` under `[limits]`; the defaults suit
/// interactive decision traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request JSON accepted, in bytes.
    pub max_request_bytes: usize,
    /// Largest batch JSON (or store update) accepted, in bytes.
    pub max_batch_bytes: usize,
    /// Deepest JSON nesting (arrays and objects) accepted in requests, entities and updates.
    pub max_json_depth: usize,
    /// Most entities accepted in one request's entity slice.
    pub max_slice_entities: usize,
    /// Most requests accepted in one batch.
    pub max_batch_requests: usize,
    /// Deepest bracket nesting (`(`, `[`, `{`) accepted in a policy.
    pub max_policy_nesting: usize,
    /// Deepest estimated expression depth accepted in a policy (operator chains count one level per operator).
    pub max_expression_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 1 << 20,
            max_batch_bytes: 256 << 20,
            max_json_depth: 64,
            max_slice_entities: 10_000,
            max_batch_requests: 1_000_000,
            max_policy_nesting: 32,
            max_expression_depth: 64,
        }
    }
}

/// Checks the nesting depth of a JSON text without parsing it. Returns the error located at the byte where
/// the limit was crossed.
pub(crate) fn check_json_depth(text: &str, max_depth: usize, what: &str) -> Result<(), DecisionError> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(DecisionError::new(
                        ErrorCode::LimitExceeded,
                        format!("{what} JSON nests deeper than the limit of {max_depth} levels"),
                    )
                    .located(text, i));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Checks the byte size of an input.
pub(crate) fn check_size(text: &str, max: usize, what: &str) -> Result<(), DecisionError> {
    if text.len() > max {
        return Err(DecisionError::new(
            ErrorCode::LimitExceeded,
            format!("{what} is {} bytes, over the limit of {max} bytes", text.len()),
        ));
    }
    Ok(())
}

/// Scans a policy file (skipping strings and comments) for bracket nesting and an estimate of expression
/// depth, and reports the first place in each policy that crosses a limit.
pub(crate) fn check_policy_text(file: &str, text: &str, limits: &Limits) -> Vec<LoadDiagnostic> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    // Per open bracket level: the operators seen at that level so far.
    let mut levels: Vec<usize> = vec![0];
    let mut reported_in_this_policy = false;
    let mut i = 0;
    let n = bytes.len();
    while i < n {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied().unwrap_or(0);
        match b {
            b'"' => {
                i += 1;
                while i < n && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if next == b'/' => {
                while i < n && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                levels.push(0);
                let nesting = levels.len() - 1;
                if nesting > limits.max_policy_nesting && !reported_in_this_policy {
                    reported_in_this_policy = true;
                    out.push(
                        LoadDiagnostic::new(
                            ErrorCode::LimitExceeded,
                            format!(
                                "policy nests brackets deeper than the limit of {} levels",
                                limits.max_policy_nesting
                            ),
                        )
                        .spanned(file, text, i, 1)
                        .with_help(Some(
                            "simplify the expression, or raise `max_policy_nesting` under [limits] in privet.toml"
                                .into(),
                        )),
                    );
                }
            }
            b')' | b']' | b'}' => {
                if levels.len() > 1 {
                    levels.pop();
                }
            }
            b';' if levels.len() == 1 => {
                levels[0] = 0;
                reported_in_this_policy = false;
            }
            _ => {
                let op_len = chain_operator_len(b, next);
                if op_len > 0 {
                    if let Some(last) = levels.last_mut() {
                        *last += 1;
                    }
                    let depth: usize = levels.iter().sum::<usize>() + 2 * levels.len();
                    if depth > limits.max_expression_depth && !reported_in_this_policy {
                        reported_in_this_policy = true;
                        out.push(
                            LoadDiagnostic::new(
                                ErrorCode::LimitExceeded,
                                format!(
                                    "policy expression is deeper than the limit of {} levels (long operator chains nest)",
                                    limits.max_expression_depth
                                ),
                            )
                            .spanned(file, text, i, op_len)
                            .with_help(Some("split the policy, use a set literal with `.contains(..)`, or raise `max_expression_depth` under [limits] in privet.toml".into())),
                        );
                    }
                    i += op_len;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

/// Length of the chaining operator token starting with `b`, `next`, or 0 when there is none. Chains of these
/// (`a && b && c …`, `a + b + c …`) become left-nested trees in cedar, one level per operator.
fn chain_operator_len(b: u8, next: u8) -> usize {
    match (b, next) {
        (b'&', b'&') | (b'|', b'|') => 2,
        (b'+', _) | (b'*', _) => 1,
        (b'-', n) if !n.is_ascii_digit() => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_depth_is_enforced_with_offset() {
        let deep = format!("{}{}", "[".repeat(70), "]".repeat(70));
        let err = check_json_depth(&deep, 64, "request").unwrap_err();
        assert_eq!(err.code, ErrorCode::LimitExceeded);
        assert_eq!(err.offset, Some(64));
        assert!(check_json_depth(r#"{"a":"[[[[[[[[[["}"#, 3, "request").is_ok());
    }

    #[test]
    fn deep_policies_are_refused() {
        let limits = Limits::default();
        let parens =
            format!("permit(principal, action, resource) when {{ {}true{} }};", "(".repeat(200), ")".repeat(200));
        let d = check_policy_text("p.cedar", &parens, &limits);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line, Some(1));
        let chain = format!("permit(principal, action, resource) when {{ {} }};", vec!["true"; 400].join(" && "));
        assert_eq!(check_policy_text("p.cedar", &chain, &limits).len(), 1);
        let fine = "permit(principal, action, resource) when { context.a == \"((((((\" && principal.b > -1 };";
        assert!(check_policy_text("p.cedar", fine, &limits).is_empty());
    }
}
