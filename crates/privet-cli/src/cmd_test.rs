//! `privet test`: run suites, report pass/fail per case and per-policy coverage.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use clap::Args;
use privet_core::{Bundle, Decision};
use serde::Serialize;

use crate::input::load_bundle;
use crate::suite::{self, Case, ErrorExpect};
use crate::{Format, exit};

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Suite files: Privet suites (`.yaml`, `.yml`, `.json` with `cases`) or `cedar run-tests` JSON arrays
    #[arg(required = true)]
    pub suites: Vec<PathBuf>,
    /// Bundle to test against, instead of the one each suite names (required for cedar run-tests files)
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Fail when some policy determined no decision in the suites
    #[arg(long)]
    pub require_coverage: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Serialize)]
struct CaseResult {
    suite: String,
    name: String,
    pass: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<String>,
    decision: Decision,
}

#[derive(Serialize)]
struct Coverage {
    bundle: String,
    hash: String,
    total: usize,
    covered: usize,
    uncovered: Vec<String>,
}

pub fn run(args: &TestArgs) -> u8 {
    let mut bundles: HashMap<PathBuf, Bundle> = HashMap::new();
    let mut determined: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let mut results = Vec::new();
    let mut load_failures = 0usize;
    for file in &args.suites {
        let suite = match suite::load(file, args.bundle.as_deref()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                load_failures += 1;
                continue;
            }
        };
        let key = suite.bundle.canonicalize().unwrap_or_else(|_| suite.bundle.clone());
        if !bundles.contains_key(&key) {
            match load_bundle(&suite.bundle, Format::Human) {
                Ok(b) => {
                    bundles.insert(key.clone(), b);
                }
                Err(_) => {
                    load_failures += 1;
                    continue;
                }
            }
        }
        let Some(bundle) = bundles.get(&key) else { continue };
        if args.format == Format::Human {
            outln!(
                "suite `{}` ({}) on bundle `{}` {}",
                suite.name,
                suite.file.display(),
                bundle.info().name,
                short(bundle.hash())
            );
        }
        let seen = determined.entry(key.clone()).or_default();
        for case in &suite.cases {
            let decision = bundle.decide_value(case.request.clone());
            seen.extend(decision.reasons.iter().cloned());
            let problems = check(case, &decision);
            if args.format == Format::Human {
                if problems.is_empty() {
                    outln!("  ✓ {}", case.name);
                } else {
                    outln!("  ✗ {}: {}", case.name, problems.join("; "));
                }
            }
            results.push(CaseResult {
                suite: suite.name.clone(),
                name: case.name.clone(),
                pass: problems.is_empty(),
                problems,
                decision,
            });
        }
    }
    let coverage: Vec<Coverage> = determined
        .iter()
        .filter_map(|(key, seen)| {
            let bundle = bundles.get(key)?;
            let all: Vec<_> = bundle.policies().collect();
            let uncovered: Vec<String> = all
                .iter()
                .filter(|p| !seen.contains(&p.id))
                .map(|p| format!("{} ({}:{})", p.id, p.file, p.line))
                .collect();
            Some(Coverage {
                bundle: bundle.info().name,
                hash: bundle.hash().to_string(),
                total: all.len(),
                covered: all.len() - uncovered.len(),
                uncovered,
            })
        })
        .collect();
    let passed = results.iter().filter(|r| r.pass).count();
    let failed = results.len() - passed + load_failures;
    let coverage_failed = args.require_coverage && coverage.iter().any(|c| !c.uncovered.is_empty());
    match args.format {
        Format::Human => {
            for c in &coverage {
                outln!(
                    "coverage of `{}`: {}/{} policies determined at least one decision",
                    c.bundle,
                    c.covered,
                    c.total
                );
                for u in &c.uncovered {
                    outln!("  never determining: {u}");
                }
            }
            outln!("{passed} passed, {failed} failed");
        }
        Format::Json => {
            let out = serde_json::json!({"passed": passed, "failed": failed, "cases": results, "coverage": coverage});
            outln!("{out}");
        }
    }
    if failed > 0 || coverage_failed || results.is_empty() { exit::FAILURE } else { exit::OK }
}

fn short(hash: &str) -> &str {
    hash.get(..19).unwrap_or(hash)
}

/// What differs between the expectation and the decision.
fn check(case: &Case, d: &Decision) -> Vec<String> {
    let e = &case.expect;
    let mut problems = Vec::new();
    if d.decision != e.decision {
        problems.push(format!(
            "expected {}, got {} (reasons {:?})",
            e.decision.as_str(),
            d.decision.as_str(),
            d.reasons
        ));
    }
    if let Some(reasons) = &e.reasons {
        let want: BTreeSet<&String> = reasons.iter().collect();
        let got: BTreeSet<&String> = d.reasons.iter().collect();
        if want != got {
            problems.push(format!("expected reasons {want:?}, got {got:?}"));
        }
    }
    let missing: Vec<&String> = e.reasons_include.iter().filter(|r| !d.reasons.contains(r)).collect();
    if !missing.is_empty() {
        problems.push(format!("missing reason(s) {missing:?}, got {:?}", d.reasons));
    }
    match &e.errors {
        ErrorExpect::Count(n) if *n != d.errors.len() => problems.push(format!(
            "expected {n} error(s), got {}: {}",
            d.errors.len(),
            d.errors.iter().map(|e| format!("[{}] {}", e.code, e.message)).collect::<Vec<_>>().join(" | ")
        )),
        ErrorExpect::Codes(codes) => {
            let got: Vec<&str> = d.errors.iter().map(|e| e.code.as_str()).collect();
            if codes.iter().map(String::as_str).collect::<Vec<_>>() != got {
                problems.push(format!("expected errors {codes:?}, got {got:?}"));
            }
        }
        ErrorExpect::Count(_) => {}
    }
    for kind in &e.obligations {
        if !d.obligations.iter().any(|o| &o.kind == kind) {
            problems.push(format!(
                "expected obligation `{kind}`, got {:?}",
                d.obligations.iter().map(|o| &o.kind).collect::<Vec<_>>()
            ));
        }
    }
    problems
}
