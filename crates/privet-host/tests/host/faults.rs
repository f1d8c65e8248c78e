//! Faults inside the guest: deny + `host_failure`, the instance is discarded, the next call works on a
//! fresh one (with the store updates replayed).

use privet_core::{ErrorCode, Verdict};
use privet_host::{Host, HostConfig, Interrupt, RawInstance};

use crate::{cpra_packed, pack};

/// A fuel budget no test call exhausts, to measure what a call costs.
const FUEL_PROBE: u64 = 1 << 50;

const SCHEMA: &str = r#"
entity User = { ok: Bool };
action go appliesTo { principal: User, resource: User, context: { a: Bool } };
"#;
const ENTITIES: &str = r#"[{"uid": {"type": "User", "id": "u"}, "attrs": {"ok": true}, "parents": []}]"#;
const REQ: &str =
    r#"{"principal": "User::\"u\"", "action": "Action::\"go\"", "resource": "User::\"u\"", "context": {"a": true}}"#;

/// A bundle whose one policy chains `terms` `&&` terms, with the engine's depth limits raised so that it
/// gets past privet-core to cedar's recursive evaluator.
fn deep_bundle(terms: usize) -> Vec<u8> {
    let cond = vec!["context.a"; terms].join(" && ");
    let deep = format!("@id(\"deep\")\npermit(principal, action, resource) when {{ {cond} }};\n");
    let shallow = "@id(\"shallow\")\npermit(principal, action, resource) when { resource.ok };\n";
    let manifest = "[limits]\nmax_expression_depth = 1000000\nmax_policy_nesting = 1000000\n";
    pack(Some(manifest), SCHEMA, &[("deep.cedar", &deep), ("shallow.cedar", shallow)], Some(ENTITIES))
}

fn shallow_bundle() -> Vec<u8> {
    let p = "@id(\"shallow\")\npermit(principal, action, resource) when { resource.ok };\n";
    pack(None, SCHEMA, &[("p.cedar", p)], Some(ENTITIES))
}

fn assert_host_failure(d: &privet_core::Decision, needle: &str) {
    assert_eq!(d.decision, Verdict::Deny, "{d:?}");
    assert_eq!(d.errors.len(), 1, "{d:?}");
    assert_eq!(d.errors[0].code, ErrorCode::HostFailure, "{d:?}");
    assert!(d.errors[0].message.contains(needle), "{:?} lacks {needle}", d.errors[0].message);
}

/// Finds a depth that loads but overflows the guest's stack at decide time, searching upwards.
#[test]
fn stack_overflow_in_the_guest_is_a_host_failure_and_the_next_call_gets_a_fresh_instance() {
    let module = crate::module();
    let mut found = None;
    let mut refused_at_load = 0;
    for terms in [150, 300, 500, 800, 1_200, 1_600, 2_000] {
        let host = match Host::new(module, &deep_bundle(terms)) {
            Ok(h) => h,
            Err(e) => {
                // Deeper still, the guest traps while loading: a typed fault, not a crash.
                eprintln!("{terms} terms: refused at load: {e}");
                assert!(matches!(e, privet_host::HostError::Fault(_)), "{e}");
                refused_at_load += 1;
                continue;
            }
        };
        let d = host.decide_json(REQ);
        eprintln!("{terms} terms: {:?} {:?}", d.decision, d.errors.first().map(|e| &e.message));
        if d.errors.first().is_some_and(|e| e.code == ErrorCode::HostFailure) {
            found = Some((terms, host, d));
            break;
        }
    }
    let (terms, host, d) = found.expect("some depth overflows the guest's stack at decide time");
    let _ = refused_at_load;
    eprintln!("stack overflow at {terms} chained terms");
    // cedar's evaluator overflows either wasmtime's native stack limit (a stack-overflow trap) or the
    // guest's shadow stack in linear memory (an out-of-bounds trap): both are host failures.
    assert_host_failure(&d, "trapped");
    let before = host.stats();
    assert_eq!(before.instances_discarded, 1);
    // The next call runs on a fresh instance and traps the same way (the policy is still there), and a
    // request that does not reach the deep policy... every request evaluates every policy; so check the
    // host still answers, with a fresh instance each time.
    let d2 = host.decide_json(REQ);
    assert_host_failure(&d2, "trapped");
    let after = host.stats();
    assert_eq!(after.instances_discarded, 2);
    assert!(after.instances_created > before.instances_created, "{before:?} -> {after:?}");
    // Swapping to a sane bundle recovers fully.
    host.swap_bundle(&shallow_bundle()).unwrap();
    let ok = host.decide_json(REQ);
    assert_eq!(ok.decision, Verdict::Allow, "{ok:?}");
}

#[test]
fn exhausted_fuel_is_a_host_failure_and_the_next_call_works() {
    let packed = cpra_packed();
    // Measure what loading the CPRA pack costs, then give each call twice that.
    let big = HostConfig { interrupt: Interrupt::Fuel(FUEL_PROBE), ..HostConfig::default() };
    let mut raw = RawInstance::with_config(crate::module(), &big).unwrap();
    let (p, l) = raw.put(packed).unwrap();
    assert_ne!(raw.load_raw(p, l).unwrap(), 0);
    let load_cost = FUEL_PROBE - raw.fuel_left().unwrap();
    eprintln!("loading the CPRA pack costs {load_cost} fuel");
    drop(raw);

    let config = HostConfig { interrupt: Interrupt::Fuel(load_cost * 2), ..HostConfig::default() };
    let host = Host::with_config(crate::module(), packed, config).unwrap();
    let one = crate::suite_requests().into_iter().next().unwrap();
    let native = privet_core::Bundle::from_packed(packed).unwrap().decide_json(&one);
    assert_eq!(host.decide_json(&one), native);

    // A batch big enough to need more than the per-call budget.
    let batch = format!("[{}]", vec![one.as_str(); 20_000].join(","));
    let ds = host.decide_batch_json(&batch);
    assert_eq!(ds.len(), 20_000);
    assert_host_failure(&ds[0], "ran out of fuel");
    assert_eq!(ds[0].id, serde_json::from_str::<serde_json::Value>(&one).unwrap().get("id").cloned());
    assert_eq!(host.stats().instances_discarded, 1);
    assert_eq!(host.decide_json(&one), native, "the next call works on a fresh instance");
}

#[test]
fn deadline_interrupts_a_long_call() {
    let config =
        HostConfig { interrupt: Interrupt::Deadline(std::time::Duration::from_millis(1500)), ..HostConfig::default() };
    let host = Host::with_config(crate::module(), cpra_packed(), config).unwrap();
    let one = crate::suite_requests().into_iter().next().unwrap();
    assert!(host.decide_json(&one).errors.is_empty());
    let batch = format!("[{}]", vec![one.as_str(); 200_000].join(","));
    let ds = host.decide_batch_json(&batch);
    assert_host_failure(&ds[0], "deadline");
    assert!(host.decide_json(&one).errors.is_empty());
}

#[test]
fn memory_cap_is_a_host_failure_and_the_next_call_works() {
    let config = HostConfig { memory_limit: 48 << 20, ..HostConfig::default() };
    let host = Host::with_config(crate::module(), cpra_packed(), config).unwrap();
    let one = crate::suite_requests().into_iter().next().unwrap();
    assert!(host.decide_json(&one).errors.is_empty());
    // ~20 MB of batch: the copy, the parsed JSON and the decisions do not fit in 48 MiB.
    let batch = format!("[{}]", vec![one.as_str(); 30_000].join(","));
    let ds = host.decide_batch_json(&batch);
    assert_host_failure(&ds[0], "memory limit");
    assert_eq!(host.stats().instances_discarded, 1);
    assert!(host.decide_json(&one).errors.is_empty(), "the next call works");
}

#[test]
fn updates_are_replayed_into_the_instance_that_replaces_a_faulted_one() {
    let small = shallow_bundle();
    let big = HostConfig { interrupt: Interrupt::Fuel(FUEL_PROBE), ..HostConfig::default() };
    let mut raw = RawInstance::with_config(crate::module(), &big).unwrap();
    let (p, l) = raw.put(&small).unwrap();
    assert_ne!(raw.load_raw(p, l).unwrap(), 0);
    let load_cost = FUEL_PROBE - raw.fuel_left().unwrap();
    let config = HostConfig { max_instances: 1, interrupt: Interrupt::Fuel(load_cost * 4), ..HostConfig::default() };
    let host = Host::with_config(crate::module(), &small, config).unwrap();
    assert_eq!(host.decide_json(REQ).decision, Verdict::Allow);
    host.upsert_entities_json(r#"[{"uid": {"type": "User", "id": "u"}, "attrs": {"ok": false}, "parents": []}]"#)
        .unwrap();
    assert_eq!(host.decide_json(REQ).decision, Verdict::Deny);
    // A batch that exhausts the per-call fuel: the only instance is discarded.
    let batch = format!("[{}]", vec![REQ; 50_000].join(","));
    assert_host_failure(&host.decide_batch_json(&batch)[0], "fuel");
    let s = host.stats();
    assert_eq!((s.instances_discarded, s.log_len), (1, 1), "{s:?}");
    // The fresh instance replays the upsert before deciding: still deny.
    let d = host.decide_json(REQ);
    assert_eq!(d.decision, Verdict::Deny, "{d:?}");
    assert!(d.errors.is_empty(), "{d:?}");
    assert!(host.stats().updates_replayed >= 1, "{:?}", host.stats());
    assert_eq!(host.info().unwrap().store_revision, 1);
}
