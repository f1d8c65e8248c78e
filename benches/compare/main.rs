//! Side-by-side comparison, native half: Privet (privet-core via the `privet` facade), `cedar-policy` 4.14.1's
//! `Authorizer`, and Privet's wasm module in wasmtime (privet-host), all on one workload directory written by
//! `benches/gen_workload.rs`. Driven by `scripts/bench-compare.sh`, which also runs `benches/compare/node.mjs`
//! and prints the table (`benches/compare/report.mjs`).
//!
//! ```sh
//! cargo run --release --example bench-compare -- --dir target/bench-compare/workload --engine privet
//! ```
//!
//! `--engine privet|cedar|wasmtime` picks one engine per process, so each process's peak RSS (VmHWM) is that
//! engine's. Options: `--requests N` (timed requests per mode, default: every line), `--warmup N` (untimed
//! calls before each mode, default 1000), `--slow N` (requests for the modes whose cost grows with the store,
//! default 300), `--wasm PATH` (default target/wasm/privet.wasm), `--max-seconds S` (a mode stops early once it has run
//! this long, default 20; its row then counts the requests it did run, and the agreement check covers that
//! prefix), `--min-seconds S` (a mode whose pass over its requests took less makes further passes until it has run
//! this long, default 0; its row counts every decision as `decided`), `--only MODE` (run just that mode, e.g.
//! `store`).
//!
//! Output: one JSON line per engine/mode on stdout (`engine`, `mode`, `requests`, `decided`, `seconds`, `per_sec`,
//! `errors`, `allow`), and one `{"kind": "process", …}` line at the end with `vmhwm_kb`, load time and sizes. The
//! decisions of each mode (one `a`/`d` byte per request, in workload order) go to
//! `DIR/decisions/<engine>--<mode>.txt` for the cross-engine agreement check.
//!
//! Entity-store memory is measured by `benches/compare/memory.rs` (example `bench-memory`), in a process of
//! its own: the counting allocator it needs would otherwise add a shared atomic add to every allocation of every
//! timed mode. This harness uses mimalloc, the allocator of Privet's binaries (the CLI included), for every
//! engine it runs.
//!
//! Modes (every mode starts from the JSONL line text of each request, as it arrives over the wire):
//! - `store`: requests-store.jsonl; the entity store is loaded once; the request JSON is parsed per call.
//! - `slice`: requests.jsonl; request + entity slice JSON per call; slice entities replace stored ones with
//!   the same uid, for that request only.
//! - `store-batch1000` / `slice-batch1000` (Privet only): the same lines, 1,000 per `decide_batch_json` call
//!   (the array text is assembled before timing).
//! - cedar `slice`: per call, parse the request, parse each slice entity with the schema, then build an
//!   `Entities` holding exactly the entities reachable from principal, resource and context (through
//!   attributes and parents), taken from the slice first and else from the pre-parsed store
//!   (`Entities::from_entities` with the schema). Evaluation can reach no other entity, so this decides
//!   exactly as "store with the slice upserted", and it is the fastest correct way cedar offers.
//! - cedar `slice-upsert` (`--slow` requests): the literal equivalent, `store.clone().upsert_entities(slice)`;
//!   cost grows with the store (clone + transitive closure), shown for reference.
//! - wasmtime: `privet_host::Host` with the default `HostConfig` (fuel metering on, 2 instances), plus
//!   `store-nofuel`: the store mode on a module compiled without fuel or epoch checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark driver may panic on bad input

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityUid, PolicySet, Request as CedarRequest,
    Schema,
};
use serde_json::{Value, json};

/// mimalloc, as in Privet's binaries (the CLI): the same for every engine this harness runs natively.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    dir: PathBuf,
    engine: String,
    requests: usize,
    warmup: usize,
    slow: usize,
    wasm: PathBuf,
    max_seconds: f64,
    min_seconds: f64,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        dir: PathBuf::from("target/bench-compare/workload"),
        engine: String::new(),
        requests: usize::MAX,
        warmup: 1000,
        slow: 300,
        wasm: PathBuf::from("target/wasm/privet.wasm"),
        max_seconds: 20.0,
        min_seconds: 0.0,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--dir" => a.dir = v.into(),
            "--engine" => a.engine = v,
            "--requests" => a.requests = v.parse().expect("--requests N"),
            "--warmup" => a.warmup = v.parse().expect("--warmup N"),
            "--slow" => a.slow = v.parse().expect("--slow N"),
            "--wasm" => a.wasm = v.into(),
            "--max-seconds" => a.max_seconds = v.parse().expect("--max-seconds S"),
            "--min-seconds" => a.min_seconds = v.parse().expect("--min-seconds S"),
            "--only" => a.only = Some(v),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn lines(path: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.trim().is_empty()).take(n).map(str::to_string).collect()
}

/// Peak resident set size of this process, from /proc/self/status.
fn vmhwm_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Out {
    dir: PathBuf,
    engine: &'static str,
    /// A mode stops early (at a multiple of 16 requests, or after a batch) once it has run this long; the row
    /// then reports the requests it did run.
    max_seconds: f64,
    /// A mode whose pass over its inputs took less than this runs further passes until it has run this long
    /// (or `max_seconds`); its row then counts every decision it made, the figure being steadier for it. The
    /// decisions file holds the first pass's, and a later pass that decides an input otherwise stops the run.
    min_seconds: f64,
    /// `--only MODE`: run just this mode (the others are skipped, and write no row).
    only: Option<String>,
}

impl Out {
    /// Warm up on the first `warmup` inputs, then time `f` over every input; `f` returns 'a' or 'd' (and
    /// whether the decision carried errors) per input, appended to the decisions file.
    fn run<T>(&self, mode: &str, inputs: &[T], warmup: usize, mut f: impl FnMut(&T) -> (u8, bool)) {
        if self.skip(mode) {
            return;
        }
        // Warm-up, also cut short (after a tenth of the time budget) for slow modes.
        let w = Instant::now();
        for x in inputs.iter().cycle().take(warmup.min(inputs.len() * 4)) {
            black_box(f(x));
            if w.elapsed().as_secs_f64() > self.max_seconds / 10.0 {
                break;
            }
        }
        let mut decisions = Vec::with_capacity(inputs.len());
        let mut errors = 0usize;
        let t = Instant::now();
        for (i, x) in inputs.iter().enumerate() {
            let (d, e) = f(x);
            decisions.push(d);
            errors += usize::from(e);
            if i % 16 == 15 && t.elapsed().as_secs_f64() > self.max_seconds {
                break;
            }
        }
        let mut made = decisions.len();
        let complete = made == inputs.len();
        while complete && self.more(&t) {
            for (x, first) in inputs.iter().zip(&decisions) {
                assert_eq!(f(x).0, *first, "{mode}: a later pass decided input {} otherwise", made % inputs.len());
                made += 1;
            }
        }
        self.emit(mode, t.elapsed().as_secs_f64(), made, decisions, errors);
    }

    /// Whether a mode that has run since `t` should make another pass (see `min_seconds`).
    fn more(&self, t: &Instant) -> bool {
        let s = t.elapsed().as_secs_f64();
        s < self.min_seconds && s < self.max_seconds
    }

    fn skip(&self, mode: &str) -> bool {
        self.only.as_deref().is_some_and(|o| o != mode)
    }

    /// One row: `made` decisions in `secs` (every pass's), and the first pass's `decisions` to the file.
    fn emit(&self, mode: &str, secs: f64, made: usize, decisions: Vec<u8>, errors: usize) {
        let n = decisions.len();
        let allow = decisions.iter().filter(|&&d| d.eq_ignore_ascii_case(&b'a')).count();
        let ddir = self.dir.join("decisions");
        std::fs::create_dir_all(&ddir).unwrap();
        std::fs::write(ddir.join(format!("{}--{mode}.txt", self.engine)), &decisions).unwrap();
        println!(
            "{}",
            json!({"engine": self.engine, "mode": mode, "requests": n, "decided": made, "seconds": secs,
                   "per_sec": made as f64 / secs, "errors": errors, "allow": allow})
        );
    }

    /// Batch mode: `chunks` are JSON array texts; `f` returns one decision byte per element.
    fn run_batch(
        &self,
        mode: &str,
        chunks: &[String],
        warmup_chunks: usize,
        mut f: impl FnMut(&str) -> Vec<(u8, bool)>,
    ) {
        if self.skip(mode) {
            return;
        }
        for c in chunks.iter().cycle().take(warmup_chunks) {
            black_box(f(c));
        }
        let mut decisions = Vec::new();
        let mut errors = 0usize;
        let t = Instant::now();
        let mut passed = 0;
        for c in chunks {
            for (d, e) in f(c) {
                decisions.push(d);
                errors += usize::from(e);
            }
            passed += 1;
            if t.elapsed().as_secs_f64() > self.max_seconds {
                break;
            }
        }
        let mut made = decisions.len();
        while passed == chunks.len() && self.more(&t) {
            let mut at = 0;
            for c in chunks {
                for (d, _) in f(c) {
                    assert_eq!(Some(&d), decisions.get(at), "{mode}: a later pass decided element {at} otherwise");
                    at += 1;
                }
            }
            made += at;
        }
        self.emit(mode, t.elapsed().as_secs_f64(), made, decisions, errors);
    }
}

fn batches(lines: &[String], size: usize) -> Vec<String> {
    lines.chunks(size).map(|c| format!("[{}]", c.join(","))).collect()
}

/// 'a' or 'd', upper-case when the decision carried errors (cedar's evaluation errors, or a request refused), and
/// whether it did; 'n' for a fail-closed deny whose every error is `entity_not_found` (the principal or resource
/// is not stored: cedar evaluates such a request, Privet's fail-closed mode denies it by design; `report.mjs`
/// does not compare cedar's answer there).
fn verdict(d: &privet::Decision) -> (u8, bool) {
    let errors = !d.errors.is_empty();
    let not_found = errors && d.errors.iter().all(|e| e.code == privet::ErrorCode::EntityNotFound);
    match (d.is_allowed(), not_found) {
        (true, _) => (letter(b'a', errors), errors),
        (false, true) => (b'n', false),
        (false, false) => (letter(b'd', errors), errors),
    }
}

/// A decision's letter, upper-case when it carried errors.
fn letter(verdict: u8, errors: bool) -> u8 {
    if errors { verdict.to_ascii_uppercase() } else { verdict }
}

fn main() {
    let a = args();
    let store_lines = lines(&a.dir.join("requests-store.jsonl"), a.requests);
    let slice_lines = lines(&a.dir.join("requests.jsonl"), a.requests);
    let warm_chunks = a.warmup.div_ceil(1000).max(1);
    let t0 = Instant::now();
    let mut sizes = json!({});
    match a.engine.as_str() {
        "privet" => {
            let out = Out {
                dir: a.dir.clone(),
                engine: "privet-native",
                max_seconds: a.max_seconds,
                min_seconds: a.min_seconds,
                only: a.only.clone(),
            };
            let t_load = Instant::now();
            let bundle = privet::Bundle::load(&a.dir).expect("load bundle");
            let load_ms = t_load.elapsed().as_secs_f64() * 1e3;
            // How the report compares Privet's decisions with cedar's (fail-closed or Cedar-exact).
            sizes["semantics"] = json!(bundle.semantics());
            // The packed bundle is what the wasm hosts (wasmtime, Node) load.
            let packed = bundle.to_packed();
            std::fs::write(a.dir.join("bundle.privet"), &packed).unwrap();
            sizes["packed_bundle_bytes"] = json!(packed.len());
            sizes["load_ms"] = json!(load_ms);
            out.run("store", &store_lines, a.warmup, |l| verdict(&bundle.decide_json(l)));
            out.run("slice", &slice_lines, a.warmup, |l| verdict(&bundle.decide_json(l)));
            let sb = if out.skip("store-batch1000") { Vec::new() } else { batches(&store_lines, 1000) };
            out.run_batch("store-batch1000", &sb, warm_chunks, |c| {
                bundle.decide_batch_json(c).iter().map(verdict).collect()
            });
            let lb = if out.skip("slice-batch1000") { Vec::new() } else { batches(&slice_lines, 1000) };
            out.run_batch("slice-batch1000", &lb, warm_chunks, |c| {
                bundle.decide_batch_json(c).iter().map(verdict).collect()
            });
        }
        "wasmtime" => {
            let out = Out {
                dir: a.dir.clone(),
                engine: "privet-wasmtime",
                max_seconds: a.max_seconds,
                min_seconds: a.min_seconds,
                only: a.only.clone(),
            };
            let packed = std::fs::read(a.dir.join("bundle.privet")).expect("bundle.privet (run --engine privet first)");
            let module =
                privet_host::WasmModule::from_file(&a.wasm, privet_host::HostConfig::default()).expect("module");
            let host = privet_host::Host::new(&module, &packed).expect("host");
            // Instances are created lazily: one call so load time includes instantiation + bundle load.
            black_box(host.decide_json(&store_lines[0]));
            sizes["load_ms"] = json!(t0.elapsed().as_secs_f64() * 1e3);
            sizes["wasm_bytes"] = json!(std::fs::metadata(&a.wasm).map(|m| m.len()).unwrap_or(0));
            out.run("store", &store_lines, a.warmup, |l| verdict(&host.decide_json(l)));
            out.run("slice", &slice_lines, a.warmup, |l| verdict(&host.decide_json(l)));
            let sb = if out.skip("store-batch1000") { Vec::new() } else { batches(&store_lines, 1000) };
            out.run_batch("store-batch1000", &sb, warm_chunks, |c| {
                host.decide_batch_json(c).iter().map(verdict).collect()
            });
            let lb = if out.skip("slice-batch1000") { Vec::new() } else { batches(&slice_lines, 1000) };
            out.run_batch("slice-batch1000", &lb, warm_chunks, |c| {
                host.decide_batch_json(c).iter().map(verdict).collect()
            });
            drop(host);
            // The module without fuel or epoch checks is compiled only when its mode runs.
            if !out.skip("store-nofuel") {
                let cfg = privet_host::HostConfig {
                    fuel_metering: false,
                    epoch_interruption: false,
                    interrupt: privet_host::Interrupt::None,
                    ..privet_host::HostConfig::default()
                };
                let module = privet_host::WasmModule::from_file(&a.wasm, cfg).expect("module (no fuel)");
                let host = privet_host::Host::new(&module, &packed).expect("host (no fuel)");
                out.run("store-nofuel", &store_lines, a.warmup, |l| verdict(&host.decide_json(l)));
            }
        }
        "cedar" => {
            let out = Out {
                dir: a.dir.clone(),
                engine: "cedar-native",
                max_seconds: a.max_seconds,
                min_seconds: a.min_seconds,
                only: a.only.clone(),
            };
            let c = CedarSide::load(&a.dir);
            sizes["load_ms"] = json!(t0.elapsed().as_secs_f64() * 1e3);
            let auth = Authorizer::new();
            // The decision's letter (upper-case with evaluation errors, see `verdict`), and whether it had errors.
            let decide = |r: &CedarRequest, es: &Entities| {
                let response = auth.is_authorized(r, &c.policies, es);
                let errors = response.diagnostics().errors().next().is_some();
                let v = match response.decision() {
                    CedarDecision::Allow => b'a',
                    CedarDecision::Deny => b'd',
                };
                (letter(v, errors), errors)
            };
            out.run("store", &store_lines, a.warmup, |l| {
                let v: Value = serde_json::from_str(l).unwrap();
                match c.request(&v) {
                    Ok(r) => decide(&r, &c.store),
                    Err(()) => (b'D', true),
                }
            });
            out.run("slice", &slice_lines, a.warmup, |l| {
                let v: Value = serde_json::from_str(l).unwrap();
                match (c.request(&v), c.reachable_entities(&v)) {
                    (Ok(r), Ok(es)) => decide(&r, &es),
                    _ => (b'D', true),
                }
            });
            let slow = &slice_lines[..a.slow.min(slice_lines.len())];
            out.run("slice-upsert", slow, a.warmup.min(20), |l| {
                let v: Value = serde_json::from_str(l).unwrap();
                let slice = c.parse_slice(&v);
                match (c.request(&v), slice) {
                    (Ok(r), Ok(slice)) => match c.store.clone().upsert_entities(slice.into_values(), Some(&c.schema)) {
                        Ok(es) => decide(&r, &es),
                        Err(_) => (b'D', true),
                    },
                    _ => (b'D', true),
                }
            });
        }
        other => panic!("--engine privet|cedar|wasmtime, not {other:?}"),
    }
    let entities_bytes = std::fs::metadata(a.dir.join("entities.json")).map(|m| m.len()).unwrap_or(0);
    sizes["entities_json_bytes"] = json!(entities_bytes);
    let engine = match a.engine.as_str() {
        "privet" => "privet-native",
        "wasmtime" => "privet-wasmtime",
        _ => "cedar-native",
    };
    let mut line = json!({"kind": "process", "engine": engine, "vmhwm_kb": vmhwm_kb()});
    for (k, v) in sizes.as_object().unwrap() {
        line[k] = v.clone();
    }
    println!("{line}");
}

/// cedar-policy, set up the way an application would: schema, policies and the store parsed once.
struct CedarSide {
    schema: Schema,
    policies: PolicySet,
    store: Entities,
    /// The store again, by uid: each entity pre-parsed, with the uids it references (attributes and parents).
    by_uid: HashMap<EntityUid, (Entity, Vec<EntityUid>)>,
}

impl CedarSide {
    fn load(dir: &Path) -> CedarSide {
        let schema_text = std::fs::read_to_string(dir.join("schema.cedarschema")).unwrap();
        let (schema, _) = Schema::from_cedarschema_str(&schema_text).unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
            .collect();
        files.sort();
        let text: Vec<String> = files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
        let policies: PolicySet = text.join("\n").parse().unwrap();
        let entities_text = std::fs::read_to_string(dir.join("entities.json")).unwrap();
        let store = Entities::from_json_str(&entities_text, Some(&schema)).unwrap();
        let raw: Vec<Value> = serde_json::from_str(&entities_text).unwrap();
        let mut by_uid = HashMap::with_capacity(raw.len());
        for v in raw {
            let refs = refs_of_entity(&v);
            let e = Entity::from_json_value(v, Some(&schema)).unwrap();
            by_uid.insert(e.uid(), (e, refs));
        }
        CedarSide { schema, policies, store, by_uid }
    }

    fn request(&self, v: &Value) -> Result<CedarRequest, ()> {
        let uid = |k: &str| EntityUid::from_json(v[k].clone()).map_err(|_| ());
        let action = uid("action")?;
        let ctx = Context::from_json_value(v["context"].clone(), Some((&self.schema, &action))).map_err(|_| ())?;
        CedarRequest::new(uid("principal")?, action, uid("resource")?, ctx, Some(&self.schema)).map_err(|_| ())
    }

    /// The slice's entities, parsed with the schema, with the uids each references.
    fn parse_slice(&self, v: &Value) -> Result<HashMap<EntityUid, Entity>, ()> {
        let mut out = HashMap::new();
        for e in v["entities"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let e = Entity::from_json_value(e.clone(), Some(&self.schema)).map_err(|_| ())?;
            out.insert(e.uid(), e);
        }
        Ok(out)
    }

    /// Store + slice (slice wins), restricted to what evaluation can reach from the request.
    fn reachable_entities(&self, v: &Value) -> Result<Entities, ()> {
        let mut slice: HashMap<EntityUid, (Entity, Vec<EntityUid>)> = HashMap::new();
        for e in v["entities"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let refs = refs_of_entity(e);
            let e = Entity::from_json_value(e.clone(), Some(&self.schema)).map_err(|_| ())?;
            slice.insert(e.uid(), (e, refs));
        }
        let mut todo: Vec<EntityUid> = Vec::new();
        for k in ["principal", "resource"] {
            todo.push(EntityUid::from_json(v[k].clone()).map_err(|_| ())?);
        }
        let mut ctx_refs = Vec::new();
        collect_refs(&v["context"], &mut ctx_refs);
        todo.extend(ctx_refs);
        let mut seen: HashSet<EntityUid> = HashSet::new();
        let mut found = Vec::new();
        while let Some(u) = todo.pop() {
            if !seen.insert(u.clone()) {
                continue;
            }
            if let Some((e, refs)) = slice.get(&u).or_else(|| self.by_uid.get(&u)) {
                found.push(e.clone());
                todo.extend(refs.iter().cloned());
            }
        }
        Entities::from_entities(found, Some(&self.schema)).map_err(|_| ())
    }
}

/// Uids an entity JSON references: its parents and every `__entity` in its attributes.
fn refs_of_entity(e: &Value) -> Vec<EntityUid> {
    let mut out = Vec::new();
    for p in e["parents"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        if let Ok(u) = EntityUid::from_json(p.clone()) {
            out.push(u);
        }
    }
    collect_refs(&e["attrs"], &mut out);
    out
}

fn collect_refs(v: &Value, out: &mut Vec<EntityUid>) {
    match v {
        Value::Object(m) => {
            if m.contains_key("__entity") || (m.len() == 2 && m.contains_key("type") && m.contains_key("id")) {
                // Explicit `__entity`, or an implicit `{type, id}` the schema may read as an entity: including
                // an entity evaluation does not reach changes nothing, so over-approximating is safe.
                if let Ok(u) = EntityUid::from_json(v.clone()) {
                    out.push(u);
                }
            } else {
                m.values().for_each(|x| collect_refs(x, out));
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}
