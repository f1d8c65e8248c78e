//! Faults inside the guest: deny + `host_failure`, the instance is discarded, the next call works on a
//! fresh one (with the store updates replayed).

use privet_core::{ErrorCode, Verdict};
use privet_host::{Host, HostConfig, HostFault, Interrupt, RawInstance};

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

/// Finds a depth that loads but overflows the guest's stack at decide time, searching upwards; returns the
/// host on it and the failed decision.
fn find_overflow() -> (usize, Host, privet_core::Decision) {
    let module = crate::module();
    for terms in [150, 300, 500, 800, 1_200, 1_600, 2_000] {
        let host = match Host::new(module, &deep_bundle(terms)) {
            Ok(h) => h,
            Err(e) => {
                // Deeper still, the guest traps while loading: a typed fault, not a crash.
                eprintln!("{terms} terms: refused at load: {e}");
                assert!(matches!(e, privet_host::HostError::Fault(_)), "{e}");
                continue;
            }
        };
        let d = host.decide_json(REQ);
        eprintln!("{terms} terms: {:?} {:?}", d.decision, d.errors.first().map(|e| &e.message));
        if d.errors.first().is_some_and(|e| e.code == ErrorCode::HostFailure) {
            return (terms, host, d);
        }
    }
    panic!("no depth overflows the guest's stack at decide time");
}

#[test]
fn stack_overflow_in_the_guest_is_a_host_failure_and_the_next_call_gets_a_fresh_instance() {
    let (terms, host, d) = find_overflow();
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

/// `request` with `n` numbers in an undeclared context attribute: the guest parses (and refuses) it, which
/// costs fuel in proportion to `n` (about 5,000 units per number on the CPRA pack).
fn padded(request: &str, n: usize) -> String {
    let padding = vec!["0"; n].join(",");
    let out = request.replacen("\"context\":{", &format!("\"context\":{{\"pad\":[{padding}],"), 1);
    let out = out.replacen("\"context\": {", &format!("\"context\": {{\"pad\": [{padding}], "), 1);
    assert_ne!(out, request, "the request has a context");
    out
}

/// What loading `packed` costs in fuel.
fn load_cost(packed: &[u8]) -> u64 {
    let big = HostConfig { interrupt: Interrupt::Fuel(FUEL_PROBE), ..HostConfig::default() };
    let mut raw = RawInstance::with_config(crate::module(), &big).unwrap();
    let (p, l) = raw.put(packed).unwrap();
    assert_ne!(raw.load_raw(p, l).unwrap(), 0);
    FUEL_PROBE - raw.fuel_left().unwrap()
}

/// Guest calls run on a fiber stack of `HostConfig::fiber_stack` bytes, not on the caller's: from a thread
/// with a 256 KiB stack (far less than `max_wasm_stack`), loading, deciding and a guest stack overflow all
/// behave as on a big stack (the overflow is a clean `host_failure`, not a crash of the process).
#[test]
fn stack_overflow_from_a_thread_with_a_small_stack_is_a_host_failure() {
    overflow_and_parity_on_a_thread("small-stack", 256 << 10);
}

/// From a thread with more stack left than `HostConfig::fiber_stack`, guest calls run right on the caller's
/// stack (no fiber): the same overflow is the same clean `host_failure`, and decisions equal native ones.
#[test]
fn stack_overflow_on_the_callers_big_stack_is_a_host_failure() {
    overflow_and_parity_on_a_thread("big-stack", 32 << 20);
}

/// On a thread with `stack` bytes of stack: the guest's stack overflows cleanly, and decisions (single and
/// batch) on the CPRA pack equal native ones.
fn overflow_and_parity_on_a_thread(name: &str, stack: usize) {
    // Native privet-core (the expected decisions) runs here: it needs a normal stack, the host does not.
    let native = privet_core::Bundle::from_packed(cpra_packed()).unwrap();
    let cases: Vec<_> = crate::suite_requests().into_iter().take(20).map(|r| (native.decide_json(&r), r)).collect();
    let label = name.to_string();
    let t = std::thread::Builder::new()
        .name(name.into())
        .stack_size(stack)
        .spawn(move || {
            let (terms, host, d) = find_overflow();
            eprintln!("{label}: overflow at {terms} chained terms");
            assert_host_failure(&d, "trapped");
            assert_host_failure(&host.decide_json(REQ), "trapped");
            assert_eq!(host.stats().instances_discarded, 2);
            host.swap_bundle(&shallow_bundle()).unwrap();
            assert_eq!(host.decide_json(REQ).decision, Verdict::Allow);
            // A realistic bundle from the small stack: decisions equal native ones.
            let cpra = crate::cpra_host();
            for (want, r) in &cases {
                assert_eq!(&cpra.decide_json(r), want, "{r}");
            }
            let batch = format!("[{}]", cases.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>().join(","));
            let ds = cpra.decide_batch_json(&batch);
            assert!(ds.iter().zip(&cases).all(|(d, (want, _))| d == want));
        })
        .unwrap();
    t.join().unwrap();
}

#[test]
fn exhausted_fuel_is_a_host_failure_and_the_next_call_works() {
    let packed = cpra_packed();
    // Measure what loading the CPRA pack costs, then give each call twice that.
    let load_cost = load_cost(packed);
    eprintln!("loading the CPRA pack costs {load_cost} fuel");
    let config = HostConfig { interrupt: Interrupt::Fuel(load_cost * 2), ..HostConfig::default() };
    let host = Host::with_config(crate::module(), packed, config).unwrap();
    let one = crate::suite_requests().into_iter().next().unwrap();
    let native = privet_core::Bundle::from_packed(packed).unwrap().decide_json(&one);
    assert_eq!(host.decide_json(&one), native);

    // One request big enough to need more than the per-call budget (~5,000 fuel per padding number), alone
    // and as a batch of one (whose budget is the same).
    let heavy = padded(&one, ((load_cost * 3) / 5_000) as usize);
    assert_host_failure(&host.decide_json(&heavy), "ran out of fuel");
    assert_eq!(host.stats().instances_discarded, 1);
    let ds = host.decide_batch_json(&format!("[{heavy}]"));
    assert_eq!(ds.len(), 1);
    assert_host_failure(&ds[0], "ran out of fuel");
    assert_eq!(ds[0].id, serde_json::from_str::<serde_json::Value>(&one).unwrap().get("id").cloned());
    assert_eq!(host.stats().instances_discarded, 2);
    assert_eq!(host.decide_json(&one), native, "the next call works on a fresh instance");
}

/// Regression: the fuel budget was per guest call, so a batch of N requests got what one decision gets and a
/// big enough batch of cheap requests ran out of fuel. A batch now gets the budget once per request.
#[test]
fn batch_fuel_scales_with_the_number_of_requests() {
    let packed = cpra_packed();
    // Just enough for loading the pack (the costliest single call).
    let budget = load_cost(packed) * 11 / 10;
    let one = crate::suite_requests().into_iter().next().unwrap();
    let n = 20_000;
    let batch = format!("[{}]", vec![one.as_str(); n].join(","));

    // The batch costs more than one call's budget: before the fix it ran out of fuel.
    let probe = 1 << 40; // times n, still far inside wasmtime's counter
    let big = HostConfig { interrupt: Interrupt::Fuel(probe), ..HostConfig::default() };
    let mut raw = RawInstance::with_config(crate::module(), &big).unwrap();
    let (p, l) = raw.put(packed).unwrap();
    let handle = raw.load_raw(p, l).unwrap();
    let (p, l) = raw.put(batch.as_bytes()).unwrap();
    let r = raw.decide_batch_compact_raw(handle, p, l).unwrap();
    assert_ne!(r, 0);
    let batch_cost = probe * n as u64 - raw.fuel_left().unwrap();
    assert_eq!(raw.last_budget(), Some(probe * n as u64));
    eprintln!("a batch of {n} costs {batch_cost} fuel; the per-call budget is {budget}");
    assert!(batch_cost > budget, "{batch_cost} <= {budget}: the test needs a bigger batch");

    // With the per-call budget, the batch succeeds and decides as natively, on the same instance.
    let config = HostConfig { interrupt: Interrupt::Fuel(budget), max_instances: 1, ..HostConfig::default() };
    let host = Host::with_config(crate::module(), packed, config).unwrap();
    let native = privet_core::Bundle::from_packed(packed).unwrap().decide_json(&one);
    let ds = host.decide_batch_json(&batch);
    assert_eq!(ds.len(), n);
    assert!(ds.iter().all(|d| *d == native), "{:?}", ds.iter().find(|d| **d != native));
    let s = host.stats();
    assert_eq!((s.instances_discarded, s.instances_created), (0, 1), "{s:?}");
    // The 1.0 batch export is scaled the same way.
    let config = HostConfig { interrupt: Interrupt::Fuel(budget), compact_decisions: false, ..HostConfig::default() };
    let host = Host::with_config(crate::module(), packed, config).unwrap();
    let ds = host.decide_batch_json(&batch);
    assert!(ds.iter().all(|d| *d == native), "{:?}", ds.iter().find(|d| **d != native));
    assert_eq!(host.stats().instances_discarded, 0);
}

#[test]
fn deadline_interrupts_a_long_call() {
    // 300 ms against a batch of 400,000 decisions, which takes well over a second in the guest on these machines
    // (learned spellings and per-entity facts made 200,000 against 1.5 s too close to call).
    // Loading the bundle into an instance runs under the same deadline: on a loaded machine a load (the first
    // one, or the replacement's after the fault) can take longer than 300 ms, and is then tried again, up to 10
    // times. Only a deadline fault may make a load or a single decision fail.
    let config =
        HostConfig { interrupt: Interrupt::Deadline(std::time::Duration::from_millis(300)), ..HostConfig::default() };
    let host = (0..10)
        .find_map(|_| match Host::with_config(crate::module(), cpra_packed(), config.clone()) {
            Ok(h) => Some(h),
            Err(e) => {
                assert!(e.to_string().contains("deadline"), "{e}");
                None
            }
        })
        .expect("a host within 10 tries");
    let one = crate::suite_requests().into_iter().next().unwrap();
    let decides = |host: &Host| {
        (0..10).any(|_| {
            let d = host.decide_json(&one);
            if !d.errors.is_empty() {
                assert_host_failure(&d, "deadline");
            }
            d.errors.is_empty()
        })
    };
    assert!(decides(&host));
    let batch = format!("[{}]", vec![one.as_str(); 400_000].join(","));
    let ds = host.decide_batch_json(&batch);
    assert_host_failure(&ds[0], "deadline");
    assert!(decides(&host), "the host decides again after the fault");
}

#[test]
fn memory_cap_is_a_host_failure_and_the_next_call_works() {
    let config = HostConfig { memory_limit: 48 << 20, ..HostConfig::default() };
    let host = Host::with_config(crate::module(), cpra_packed(), config).unwrap();
    let one = crate::suite_requests().into_iter().next().unwrap();
    assert!(host.decide_json(&one).errors.is_empty());
    // 56 MiB of batch: the input alone does not fit in 48 MiB. (Smaller batches, counting on the parsed
    // requests and the decisions to fill the rest, stopped overflowing as the guest got leaner: its allocator,
    // packed results, guest-owned input buffers, decisions that share their determining policies' parts.)
    let count = (56 << 20) / (one.len() + 1) + 1;
    let batch = format!("[{}]", vec![one.as_str(); count].join(","));
    assert!(batch.len() > 56 << 20);
    let ds = host.decide_batch_json(&batch);
    assert_host_failure(&ds[0], "memory limit");
    assert_eq!(host.stats().instances_discarded, 1);
    assert!(host.decide_json(&one).errors.is_empty(), "the next call works");
}

#[test]
fn updates_are_replayed_into_the_instance_that_replaces_a_faulted_one() {
    let small = shallow_bundle();
    let budget = load_cost(&small) * 4;
    let config = HostConfig { max_instances: 1, interrupt: Interrupt::Fuel(budget), ..HostConfig::default() };
    let host = Host::with_config(crate::module(), &small, config).unwrap();
    assert_eq!(host.decide_json(REQ).decision, Verdict::Allow);
    host.upsert_entities_json(r#"[{"uid": {"type": "User", "id": "u"}, "attrs": {"ok": false}, "parents": []}]"#)
        .unwrap();
    assert_eq!(host.decide_json(REQ).decision, Verdict::Deny);
    // A request that exhausts the per-call fuel: the only instance is discarded.
    let heavy = padded(REQ, (budget / 1_000) as usize);
    assert_host_failure(&host.decide_json(&heavy), "fuel");
    let s = host.stats();
    assert_eq!((s.instances_discarded, s.log_len), (1, 1), "{s:?}");
    // The fresh instance replays the upsert before deciding: still deny.
    let d = host.decide_json(REQ);
    assert_eq!(d.decision, Verdict::Deny, "{d:?}");
    assert!(d.errors.is_empty(), "{d:?}");
    assert!(host.stats().updates_replayed >= 1, "{:?}", host.stats());
    assert_eq!(host.info().unwrap().store_revision, 1);
}

/// The native stack limit (`max_wasm_stack`) is enforced on the fiber: with a module limited to 64 KiB,
/// loading a deep policy is a `StackOverflow` fault (not a crash), from a thread with a 256 KiB stack too,
/// and a shallower one loads and decides.
#[test]
fn native_stack_limit_is_a_typed_fault_from_a_small_thread() {
    native_stack_limit_on_a_thread(256 << 10);
}

/// The same limit on the caller's own stack: from a thread with 8 MiB, more than the module's 1 MiB
/// `fiber_stack`, the calls run without a fiber and the limit is the same typed fault.
#[test]
fn native_stack_limit_is_a_typed_fault_on_the_callers_stack() {
    native_stack_limit_on_a_thread(8 << 20);
}

fn native_stack_limit_on_a_thread(stack: usize) {
    let config = HostConfig { max_wasm_stack: 64 << 10, fiber_stack: (64 << 10) + (1 << 20), ..HostConfig::default() };
    let module = privet_host::WasmModule::new(crate::wasm_bytes(), config).unwrap();
    let (deep, shallow) = (deep_bundle(300), deep_bundle(20));
    let t = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            match Host::new(&module, &deep) {
                Err(privet_host::HostError::Fault(HostFault::StackOverflow)) => {}
                other => panic!("expected a stack overflow, got {other:?}"),
            }
            let host = Host::new(&module, &shallow).unwrap();
            assert_eq!(host.decide_json(REQ).decision, Verdict::Allow);
        })
        .unwrap();
    t.join().unwrap();
}
