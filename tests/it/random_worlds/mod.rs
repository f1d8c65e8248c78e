//! Random worlds decided by Privet and by `cedar-policy`: the large differential test.
//!
//! From one seed it generates *worlds* — a schema (`schema.rs`), an entity store (`values.rs`) and 5–25 policies
//! that pass strict validation (`policies.rs`, `exprs.rs`, `terms.rs`) — and asks each many random requests
//! (`requests.rs`), some with entity slices that add, replace or re-parent entities, some invalid. Cedar's answer
//! is computed independently from the same texts (`oracle.rs`); Privet decides each request in both semantics
//! modes, and `check.rs` holds it to cedar: under `semantics = "cedar"` the same decision, determining policies
//! and erroring policies; under fail-closed the same decision and reasons when cedar met no error and principal
//! and resource exist, else a deny with errors; a refused request is a deny with errors in both. A sample of
//! requests is decided again as one batch, which must agree with the single calls.
//!
//! Environment: `PRIVET_DIFF_SEED` (decimal or `0x` hex) replaces the seed, `PRIVET_DIFF_CASES` the number of
//! requests, `PRIVET_DIFF_WORLD=N` runs world N alone (all its requests: what a failure message asks for),
//! `PRIVET_DIFF_VERBOSE` prints the policies that failed validation, `PRIVET_DIFF_DUMP` writes every world out.
//! A failure names seed, world and request and writes the world and the request under the target tmpdir.

mod check;
mod exprs;
mod oracle;
mod policies;
mod requests;
pub(crate) mod rng;
mod schema;
mod terms;
mod values;
mod world;

use std::time::Instant;

use serde_json::Value;

use check::{Stats, compare, summary};
use oracle::Answer;
use privet::Decision;
use rng::Rng;
use world::World;

const DEFAULT_SEED: u64 = 0x00C0_FFEE_5EED;
/// Small enough for CI's debug build; `PRIVET_DIFF_CASES=1000000` for the full run.
const DEFAULT_CASES: u64 = 6_000;
/// Below this many requests the mix of answers is too noisy to hold to the thresholds.
const MIN_CASES_FOR_MIX: usize = 2_000;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim().replace('_', "");
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}=`{v}`: {e}")))
}

#[test]
fn random_worlds_decide_as_cedar_policy() {
    let seed = env_u64("PRIVET_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    let cases = env_u64("PRIVET_DIFF_CASES").unwrap_or(DEFAULT_CASES) as usize;
    let only = env_u64("PRIVET_DIFF_WORLD");
    let verbose = std::env::var_os("PRIVET_DIFF_VERBOSE").is_some();
    let start = Instant::now();
    let mut stats = Stats::default();
    let mut index = only.unwrap_or(0);
    while only.is_some() || stats.requests < cases {
        let world = World::generate(seed, index);
        if std::env::var_os("PRIVET_DIFF_DUMP").is_some() {
            eprintln!("{}", world.dump(None));
        }
        if verbose {
            for s in &world.policies.samples {
                eprintln!("world {index}: rejected policy: {s}\n");
            }
        }
        let n = if only.is_some() { world.requests } else { world.requests.min(cases - stats.requests) };
        run_world(&world, n, &mut stats);
        if only.is_some() {
            break;
        }
        index += 1;
    }
    eprintln!("{}", stats.summary(seed, start.elapsed().as_secs_f64()));
    if only.is_some() || stats.requests < MIN_CASES_FOR_MIX {
        return;
    }
    let share = |n: usize| n as f64 / stats.requests as f64;
    let tried = stats.policies + stats.rejected + stats.unparsed;
    assert!(share(stats.allow) >= 0.10, "the generator collapsed: too few allows");
    assert!(share(stats.deny) >= 0.10, "the generator collapsed: too few denies");
    assert!(share(stats.with_errors) >= 0.01, "the generator collapsed: too few policy errors");
    assert!(
        stats.refused > 0 && stats.missing_entity > 0,
        "the generator collapsed: no refused requests or missing entities"
    );
    assert!(stats.overrides > 0 && stats.reparents > 0 && stats.faulty_slices > 0, "the generator collapsed: slices");
    assert!(stats.batched > 0, "no request was batched");
    assert!(share(stats.compiled) >= 0.25, "too few requests reached the compiled path");
    assert!(stats.compiled_not_found > 0, "the compiled path denied no request for a missing entity");
    assert!(stats.compiled_policy_errors > 0, "the compiled path reported no policy error");
    assert!(stats.policies * 10 >= tried * 7, "most generated policies must validate: {} of {tried}", stats.policies);
}

/// One decision of each semantics, with the request it answers, for the batch check.
struct Batched {
    json: Value,
    exact: Decision,
    closed: Decision,
}

/// A request's JSON text as producers spell it: compact, in the order it was built (serde_json, JavaScript's
/// `JSON.stringify`); with a space after every `,` and `:` (Python's `json.dumps`); or compact with every
/// object's keys in a random order (objects built from hash maps). The compiled path learns spellings and reads
/// later requests by them, so the texts it is held to cedar's answers on must vary as these do.
fn spelled(rng: &mut Rng, v: &Value) -> String {
    fn write(out: &mut String, v: &Value, spaced: bool, rng: &mut Option<&mut Rng>) {
        let (comma, colon) = if spaced { (", ", ": ") } else { (",", ":") };
        match v {
            Value::Array(items) => {
                out.push('[');
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        out.push_str(comma);
                    }
                    write(out, item, spaced, rng);
                }
                out.push(']');
            }
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                if let Some(r) = rng.as_deref_mut() {
                    r.shuffle(&mut entries);
                }
                out.push('{');
                for (k, (key, value)) in entries.into_iter().enumerate() {
                    if k > 0 {
                        out.push_str(comma);
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push_str(colon);
                    write(out, value, spaced, rng);
                }
                out.push('}');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    match rng.below(3) {
        0 => return v.to_string(),
        1 => write(&mut out, v, true, &mut None),
        _ => write(&mut out, v, false, &mut Some(rng)),
    }
    out
}

fn run_world(world: &World, n: usize, stats: &mut Stats) {
    stats.worlds += 1;
    stats.policies += world.policies.count;
    stats.rejected += world.policies.rejected;
    stats.unparsed += world.policies.unparsed;
    let mut batch: Vec<Batched> = Vec::new();
    for i in 0..n {
        let mut rng = world.request_rng(i);
        let req = requests::generate(&mut rng, &world.schema, &world.store);
        let answer = world.oracle.answer(&req);
        let text = spelled(&mut rng, &req.json);
        if world.exact.decide_json_compiled(&text).is_some() {
            stats.compiled += 1;
        }
        // Both entry points: JSON text and JSON value.
        let (exact, closed) = if rng.chance(50) {
            (world.exact.decide_json(&text), world.closed.decide_json(&text))
        } else {
            (world.exact.decide_value(req.json.clone()), world.closed.decide_value(req.json.clone()))
        };
        let exists =
            [&req.principal, &req.resource].into_iter().all(|u| world.stored.contains(u) || req.slice_uids.contains(u));
        // The request's `id` comes back (Privet does not read it from a request whose shape it refuses, such as
        // one whose `context` is not an object).
        let echoed = req.json.get("id");
        let shaped = req.context.as_ref().is_none_or(Value::is_object);
        let outcome = compare(&answer, exists, &exact, &closed).and_then(|()| {
            match (!shaped || exact.id.as_ref() == echoed, !shaped || closed.id.as_ref() == echoed) {
                (true, true) => Ok(()),
                _ => Err(format!("the request's id {echoed:?} is not echoed: {:?}, {:?}", exact.id, closed.id)),
            }
        });
        // A principal or resource neither stored nor in the slice: in fail-closed mode the compiled path denies it
        // itself, with the errors cedar's path gives (their messages and fields too); when it leaves the request,
        // cedar's path decides it, and the decision is the same again (a cyclic slice's message too, which names
        // the cycle's least entity, not the one cedar's hash order met). Compared on the text, as messages quote
        // slice entities as written.
        let outcome = outcome.and_then(|()| match !exists {
            false => Ok(()),
            true => {
                stats.compiled_not_found += usize::from(world.closed.decide_json_compiled(&text).is_some());
                let (privet, reference) = (world.closed.decide_json(&text), world.closed.decide_json_reference(&text));
                match privet == reference {
                    true => Ok(()),
                    false => Err(format!("fail-closed mode: cedar's path decides {reference:?}, Privet {privet:?}")),
                }
            }
        });
        // A policy that read an attribute or a tag of an entity that does not exist: the compiled path reports the
        // error itself, in either semantics; the whole decision (messages, their order, fields) must be cedar's
        // path's.
        let outcome = outcome.and_then(|()| {
            for (bundle, mode) in [(&world.exact, "cedar-exact"), (&world.closed, "fail-closed")] {
                let Some(fast) = bundle.decide_json_compiled(&text) else { continue };
                if fast.errors.iter().all(|e| e.policy.is_none()) {
                    continue;
                }
                stats.compiled_policy_errors += 1;
                let reference = bundle.decide_json_reference(&text);
                if fast != reference {
                    return Err(format!("{mode} mode: cedar's path decides {reference:?}, the compiled path {fast:?}"));
                }
            }
            Ok(())
        });
        if let Err(msg) = outcome {
            let request = serde_json::to_string_pretty(&req.json).unwrap();
            panic!(
                "seed {:#x} world {} request {i}: {msg}\nrequest: {request}\nas text: {text}\ncedar: {answer:?}\nreproduce: \
                 PRIVET_DIFF_SEED={:#x} PRIVET_DIFF_WORLD={} cargo test --release --test it random_worlds -- \
                 --nocapture\n{}",
                world.seed,
                world.index,
                world.seed,
                world.index,
                world.dump(Some(&request))
            );
        }
        stats.requests += 1;
        match &answer {
            Answer::Refused(_) => stats.refused += 1,
            Answer::Decided { allow, errors, .. } => {
                if *allow {
                    stats.allow += 1;
                } else {
                    stats.deny += 1;
                }
                if !errors.is_empty() {
                    stats.with_errors += 1;
                }
                if !exists {
                    stats.missing_entity += 1;
                }
            }
        }
        stats.slices += usize::from(req.slice.is_some());
        stats.overrides += req.overrides;
        stats.reparents += req.reparents;
        stats.faulty_contexts += usize::from(req.faulty_context);
        stats.faulty_slices += usize::from(req.faulty_slice);
        if rng.chance(10) {
            batch.push(Batched { json: req.json, exact, closed });
        }
    }
    check_batch(world, &batch);
    stats.batched += batch.len();
}

/// The sampled requests decided again as one batch, in both modes: the same decisions as one by one.
fn check_batch(world: &World, batch: &[Batched]) {
    let text = Value::Array(batch.iter().map(|b| b.json.clone()).collect()).to_string();
    for (mode, bundle, single) in [
        ("cedar", &world.exact, batch.iter().map(|b| &b.exact).collect::<Vec<_>>()),
        ("fail-closed", &world.closed, batch.iter().map(|b| &b.closed).collect()),
    ] {
        let decided = bundle.decide_batch_json(&text);
        assert_eq!(decided.len(), single.len(), "seed {:#x} world {}: batch length", world.seed, world.index);
        for (k, (b, s)) in decided.iter().zip(single).enumerate() {
            assert_eq!(
                summary(b),
                summary(s),
                "seed {:#x} world {} ({mode} mode): batch element {k} differs from the single decision of {}",
                world.seed,
                world.index,
                batch[k].json
            );
        }
    }
}
