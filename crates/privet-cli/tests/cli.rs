//! The `privet` binary end to end: exit codes, JSON output, located errors for every class of bad input, the
//! CPRA pack's suites with full coverage, cedar run-tests files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests and benches may panic

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn privet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_privet")).args(args).current_dir(root()).output().expect("privet runs")
}

fn privet_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_privet"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("privet runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const CRM: &str = "tests/fixtures/crm";

fn request(principal: &str, action: &str, resource: &str, gpc: bool) -> String {
    format!(
        r#"{{"principal":"Crm::Recipient::\"{principal}\"","action":"Crm::Action::\"{action}\"","resource":"Crm::Record::\"{resource}\"","context":{{"purpose":"ads","gpc":{gpc}}}}}"#
    )
}

#[test]
fn validate_accepts_the_pack_and_exits_3_on_invalid_bundles() {
    let ok = privet(&["validate", "policies/cpra"]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(stdout(&ok).contains("is valid"));

    let dir = tempdir("invalid-policy");
    for f in ["schema.cedarschema", "entities.json"] {
        std::fs::copy(root().join(CRM).join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("p.cedar"), "permit(principal, action, resource)\nwhen { principal.nope };").unwrap();
    let bad = privet(&["validate", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(bad.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_str(&stdout(&bad)).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["code"], "validation_failed");
    assert_eq!(v["errors"][0]["line"], 2);

    std::fs::write(dir.join("p.cedar"), "permit(principal, action, resource)\nwhen { principal. };").unwrap();
    let bad = privet(&["validate", dir.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(3));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("p.cedar:2:"), "{err}");
}

#[test]
fn eval_exit_code_is_the_decision() {
    let allow = privet(&["eval", CRM, "--request", &request("payments", "share", "alice-cart", false)]);
    assert_eq!(allow.status.code(), Some(0));
    assert!(stdout(&allow).starts_with("ALLOW"));
    let deny = privet(&["eval", CRM, "--request", &request("adnet", "sell", "bob-cart", true), "--format", "json"]);
    assert_eq!(deny.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(&stdout(&deny)).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["reasons"][0], "opt-out-forbids-flows");
    assert_eq!(v["determining"][0]["citation"], "Cal. Civ. Code §1798.120(a); 11 CCR §7025(b)");
    assert_eq!(v["obligations"][0]["kind"], "display");
}

#[test]
fn eval_requests_writes_one_decision_per_line_and_goes_on_after_bad_lines() {
    let lines = [
        request("payments", "share", "alice-cart", false),
        "{not json".to_string(),
        request("adnet", "teleport", "alice-cart", false),
        request("adnet", "share", "alice-cart", false).replace("Crm::Record", "Crm::Nope"),
        request("adnet", "share", "alice-cart", false).replace(r#""purpose":"ads","#, ""),
        request("adnet", "share", "alice-cart", false).replace(r#""gpc":false"#, r#""gpc":"no""#),
        request("ghost", "share", "alice-cart", false),
        format!("{}{}", "[".repeat(80), "]".repeat(80)),
        request("adnet", "sell", "bob-cart", true),
    ];
    let out = privet_stdin(&["eval", CRM, "--requests", "-"], &(lines.join("\n") + "\n"));
    assert_eq!(out.status.code(), Some(0));
    let decisions: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(decisions.len(), lines.len());
    assert_eq!(decisions[0]["decision"], "allow");
    let codes: Vec<&str> = decisions[1..8].iter().map(|d| d["errors"][0]["code"].as_str().unwrap()).collect();
    assert_eq!(
        codes,
        [
            "malformed_json",
            "unknown_action",
            "unknown_entity_type",
            "invalid_context",
            "invalid_context",
            "entity_not_found",
            "limit_exceeded"
        ]
    );
    for d in &decisions[1..8] {
        assert_eq!(d["decision"], "deny");
    }
    assert_eq!(decisions[1]["errors"][0]["line"], 2, "errors carry the input line");
    assert_eq!(decisions[4]["errors"][0]["path"], "context.purpose");
    assert_eq!(decisions[8]["reasons"][0], "opt-out-forbids-flows");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("9 requests: 1 allow, 8 deny (7 with errors)"), "{summary}");
    assert!(summary.contains("decisions/s"), "{summary}");
}

#[test]
fn eval_requests_writes_to_an_output_file() {
    let dir = tempdir("eval-output");
    let input = dir.join("in.jsonl");
    let output = dir.join("out.jsonl");
    std::fs::write(
        &input,
        format!(
            "{}\n{}\n",
            request("payments", "share", "alice-cart", false),
            request("adnet", "sell", "carol-cart", false)
        ),
    )
    .unwrap();
    let out = privet(&[
        "eval",
        CRM,
        "--requests",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--jobs",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&output).unwrap();
    let v: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(v[0]["decision"], "allow");
    assert_eq!(v[1]["reasons"][0], "minors-no-sale");
}

#[test]
fn eval_requests_reports_the_threads_it_used() {
    // Fewer requests than a thread's share (128) are decided on one thread, whatever `--jobs` allows.
    let threads = |n: usize| {
        let lines = vec![request("payments", "share", "alice-cart", false); n];
        let out = privet_stdin(
            &["eval", CRM, "--requests", "-", "--jobs", "2", "--format", "json"],
            &(lines.join("\n") + "\n"),
        );
        assert_eq!(out.status.code(), Some(0));
        let summary: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(summary["summary"]["requests"], n);
        summary["threads"].as_u64().unwrap()
    };
    assert_eq!(threads(3), 1);
    assert!((1..=2).contains(&threads(600)));
}

#[test]
fn explain_names_blocking_forbids_and_overridden_permits() {
    let out = privet(&["explain", CRM, "--request", &request("adnet", "sell", "carol-cart", false)]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("blocked by:"), "{text}");
    assert!(text.contains("minors-no-sale"));
    assert!(text.contains("cites: Cal. Civ. Code §1798.120(c)"));
    assert!(text.contains("permits that applied but were overridden:"));
    assert!(text.contains("sell-unless-opted-out"));
}

#[test]
fn the_cpra_suites_pass_with_full_coverage() {
    let mut args = vec!["test".to_string(), "--require-coverage".to_string()];
    for e in std::fs::read_dir(root().join("policies/cpra/tests")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            args.push(p.to_string_lossy().into_owned());
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = privet(&args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(", 0 failed"));
    assert!(text.contains("policies determined at least one decision"));
}

#[test]
fn test_runs_cedar_run_tests_files_and_reports_failures() {
    let dir = tempdir("cedar-tests");
    let tests = serde_json::json!([
        {"name": "sp share", "request": {"principal": "Crm::Recipient::\"payments\"", "action": "Crm::Action::\"share\"", "resource": "Crm::Record::\"alice-cart\"", "context": {"purpose": "x", "gpc": false}},
         "entities": [], "decision": "allow", "reason": ["share-with-service-provider"], "num_errors": 0},
        {"name": "wrong on purpose", "request": {"principal": "Crm::Recipient::\"adnet\"", "action": "Crm::Action::\"sell\"", "resource": "Crm::Record::\"bob-cart\"", "context": {"purpose": "x", "gpc": false}},
         "entities": [], "decision": "allow", "reason": [], "num_errors": 0}
    ]);
    let file = dir.join("tests.json");
    std::fs::write(&file, tests.to_string()).unwrap();
    let out = privet(&["test", "--bundle", CRM, file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["passed"], 1);
    assert_eq!(v["failed"], 1);
    assert_eq!(v["cases"][1]["pass"], false);
    let uncovered = v["coverage"][0]["uncovered"].as_array().unwrap();
    assert!(uncovered.iter().any(|u| u.as_str().unwrap().starts_with("minors-no-sale")));
}

#[test]
fn pack_writes_a_bundle_that_eval_loads_and_tampering_is_refused() {
    let dir = tempdir("pack");
    let file = dir.join("crm.privet");
    let out = privet(&["pack", CRM, "-o", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let ok = privet(&["eval", file.to_str().unwrap(), "--request", &request("payments", "share", "alice-cart", false)]);
    assert_eq!(ok.status.code(), Some(0));
    let text = std::fs::read_to_string(&file).unwrap().replace("service_provider", "service_providr");
    std::fs::write(&file, text).unwrap();
    let bad = privet(&["validate", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(bad.status.code(), Some(3));
    assert!(stdout(&bad).contains("hash_mismatch"));
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("privet-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
