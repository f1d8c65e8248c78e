//! Human-readable renderings of decisions and explanations.

use std::fmt::Write;

use privet_core::{Decision, DecisionError, Explanation, PolicyInfo, Request, Verdict};

/// A decision: verdict, determining policies with reasons and citations, obligations, errors.
pub fn decision(d: &Decision) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", verdict_line(d));
    for p in &d.determining {
        policy(&mut s, p, "  ");
    }
    if d.determining.is_empty() && d.errors.is_empty() && d.decision == Verdict::Deny {
        let _ = writeln!(s, "  no permit applied (default deny)");
    }
    obligations(&mut s, d);
    errors(&mut s, &d.errors);
    s
}

/// An explanation of one request.
pub fn explanation(request: &Request, e: &Explanation) -> String {
    let d = &e.decision;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}  {} → {} on {}",
        verdict_line(d),
        uid(&request.principal),
        uid(&request.action),
        uid(&request.resource)
    );
    if let Some(ctx) = &request.context {
        let _ = writeln!(s, "  context: {ctx}");
    }
    match d.decision {
        Verdict::Allow => {
            let _ = writeln!(s, "  allowed by:");
            for p in &d.determining {
                policy(&mut s, p, "    ");
            }
        }
        Verdict::Deny if !d.determining.is_empty() => {
            let _ = writeln!(s, "  blocked by:");
            for p in &d.determining {
                policy(&mut s, p, "    ");
            }
            if !e.permits_applied.is_empty() {
                let _ = writeln!(s, "  permits that applied but were overridden:");
                for p in &e.permits_applied {
                    policy(&mut s, p, "    ");
                }
            }
        }
        Verdict::Deny if d.errors.is_empty() => {
            let _ = writeln!(s, "  no permit applied and no forbid applied: denied by default");
        }
        Verdict::Deny => {
            let _ = writeln!(s, "  denied because of errors (fail closed):");
        }
    }
    obligations(&mut s, d);
    errors(&mut s, &d.errors);
    s
}

fn verdict_line(d: &Decision) -> String {
    let v = match d.decision {
        Verdict::Allow => "ALLOW",
        Verdict::Deny => "DENY",
    };
    match &d.id {
        Some(id) => format!("{v} [{id}]"),
        None => v.to_string(),
    }
}

fn uid(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => {
            match (m.get("type").and_then(|t| t.as_str()), m.get("id").and_then(|i| i.as_str())) {
                (Some(t), Some(i)) => format!("{t}::{i:?}"),
                _ => v.to_string(),
            }
        }
        other => other.to_string(),
    }
}

fn policy(s: &mut String, p: &PolicyInfo, indent: &str) {
    let mark = match p.effect {
        privet_core::PolicyEffect::Permit => "✓",
        privet_core::PolicyEffect::Forbid => "✗",
    };
    let _ = writeln!(s, "{indent}{mark} {}  ({}:{})", p.id, p.file, p.line);
    if let Some(r) = &p.reason {
        let _ = writeln!(s, "{indent}    {r}");
    }
    if let Some(c) = &p.citation {
        let _ = writeln!(s, "{indent}    cites: {c}");
    }
}

fn obligations(s: &mut String, d: &Decision) {
    if d.obligations.is_empty() {
        return;
    }
    let _ = writeln!(s, "  obligations:");
    for o in &d.obligations {
        let params: Vec<String> = o.params.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        let _ = writeln!(s, "    • {} {} (from {})", o.kind, params.join(" "), o.policy);
    }
}

fn errors(s: &mut String, errors: &[DecisionError]) {
    for e in errors {
        let mut at = Vec::new();
        if let Some(p) = &e.path {
            at.push(format!("at `{p}`"));
        }
        if let Some(p) = &e.policy {
            at.push(format!("in policy `{p}`"));
        }
        if let (Some(l), Some(c)) = (e.line, e.column) {
            at.push(format!("line {l} column {c}"));
        }
        if let Some(o) = e.offset {
            at.push(format!("byte {o}"));
        }
        let _ = writeln!(
            s,
            "  error[{}] {}{}",
            e.code,
            e.message,
            if at.is_empty() { String::new() } else { format!(" ({})", at.join(", ")) }
        );
    }
}
