//! The cross-host conformance corpus: the CPRA pack's suite cases plus seeded generated requests (valid and
//! invalid), each decided natively by privet-core. Writes `bundle.privet`, `requests.jsonl` and
//! `expected.jsonl` (see `tests/conformance/README.md`). Deterministic: a fixed seed, no clock, no hash-map
//! iteration order in the output.
//!
//! Compiled into the privet-host test binary (`cargo test -p privet-host --test host conformance`) and the
//! example `cargo run -p privet-host --example gen-conformance`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use privet_core::Bundle;
use serde_json::{Value, json};

/// The seed of the generator. Changing it changes the corpus.
pub const SEED: u64 = 0x5052_4956_4554_0001;
/// Generated requests, on top of the suite cases.
pub const GENERATED: usize = 10_000;

/// The corpus in memory.
pub struct Corpus {
    /// The packed CPRA pack.
    pub bundle: Vec<u8>,
    /// One request text per line (not always valid JSON, never containing a newline).
    pub requests: Vec<String>,
    /// One normalized native result per line.
    pub expected: Vec<String>,
}

/// A decision reduced to what every host must agree on: verdict, determining policies, error codes.
pub fn normalize(d: &privet_core::Decision) -> String {
    let codes: Vec<&str> = d.errors.iter().map(|e| e.code.as_str()).collect();
    json!({"decision": d.decision.as_str(), "reasons": d.reasons, "errors": codes}).to_string()
}

/// Builds the corpus from the pack at `root/policies/cpra`.
pub fn build(root: &Path) -> Corpus {
    let pack = root.join("policies/cpra");
    let loaded = Bundle::load(&pack).unwrap_or_else(|e| panic!("the CPRA pack loads: {e}"));
    let bundle_bytes = loaded.to_packed();
    let native = Bundle::from_packed(&bundle_bytes).unwrap_or_else(|e| panic!("the packed pack loads: {e}"));

    let mut requests = suite_requests(&pack);
    let entities: Vec<Value> = serde_json::from_str(&read(&pack.join("entities.json"))).expect("entities.json");
    let mut g = Gen::new(SEED, entities);
    for i in 0..GENERATED {
        let text = if i % 10 < 7 { g.valid(i) } else { g.invalid(i) };
        assert!(!text.contains('\n'), "request {i} holds a newline");
        requests.push(text);
    }
    let expected = requests.iter().map(|r| normalize(&native.decide_json(r))).collect();
    Corpus { bundle: bundle_bytes, requests, expected }
}

/// Writes the corpus to `dir` (`bundle.privet`, `requests.jsonl`, `expected.jsonl`).
pub fn write(corpus: &Corpus, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("bundle.privet"), &corpus.bundle)?;
    std::fs::write(dir.join("requests.jsonl"), lines(&corpus.requests))?;
    std::fs::write(dir.join("expected.jsonl"), lines(&corpus.expected))
}

/// `target/conformance` under the workspace root (or `PRIVET_CONFORMANCE_DIR`).
pub fn default_dir(root: &Path) -> PathBuf {
    std::env::var_os("PRIVET_CONFORMANCE_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target/conformance"))
}

fn lines(items: &[String]) -> String {
    let mut s = String::with_capacity(items.iter().map(|l| l.len() + 1).sum());
    for l in items {
        s.push_str(l);
        s.push('\n');
    }
    s
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read `{}`: {e}", p.display()))
}

/// Every case of `pack/tests/*.yaml`, as the CLI sends it (suite entity files, then the request's own
/// `entities`, then the case's, merged by uid), with an `id` naming the suite and case.
fn suite_requests(pack: &Path) -> Vec<String> {
    let dir = pack.join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list `{}`: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let suite: Value = serde_yaml::from_str(&read(&file)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let mut shared = Vec::new();
        for f in suite.get("entities").and_then(Value::as_array).into_iter().flatten() {
            let p = file.parent().unwrap_or(Path::new(".")).join(f.as_str().unwrap_or_default());
            if let Ok(Value::Array(list)) = serde_json::from_str::<Value>(&read(&p)) {
                shared.extend(list);
            }
        }
        for (n, case) in suite.get("cases").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let mut request = case.get("request").cloned().unwrap_or(Value::Null);
            let Value::Object(map) = &mut request else { continue };
            let own = match map.remove("entities") {
                Some(Value::Array(list)) => list,
                _ => Vec::new(),
            };
            let case_entities = case.get("entities").and_then(Value::as_array).cloned().unwrap_or_default();
            let slice = privet_core::merge_entity_lists(shared.iter().chain(own.iter()).chain(case_entities.iter()));
            if !slice.is_empty() {
                map.insert("entities".into(), Value::Array(slice));
            }
            map.insert("id".into(), json!(format!("suite:{stem}:{n}")));
            out.push(request.to_string());
        }
    }
    out
}

const NS: &str = "Cpra";
const FLOW_ACTIONS: &[&str] = &["disclose", "sell", "share", "use"];
const ADMIN_RECORD_ACTIONS: &[&str] = &["retain", "delete"];
const ADMIN_CONSUMER_ACTIONS: &[&str] = &["prompt_opt_in", "handle_request", "extend_response"];
const PURPOSES: &[&str] = &[
    "marketing.advertising.third_party.targeted",
    "marketing.advertising.first_party.targeted",
    "marketing.advertising.profiling",
    "marketing.communications.email",
    "essential.legal_obligation",
    "essential.service.payment_processing",
    "essential.service.operations",
    "essential.service.operations.improve",
    "essential.service.notifications",
    "essential.fraud_detection",
    "analytics.reporting",
    "third_party_sharing",
    "personalize",
    "",
];
const DATES: &[&str] = &[
    "2022-12-31",
    "2023-01-01",
    "2024-07-01",
    "2025-06-15",
    "2025-12-31",
    "2026-01-01",
    "2026-03-01",
    "2026-06-30",
    "2027-01-15",
    "2026-03-01T12:30:00Z",
];
const REQUEST_TYPES: &[&str] = &["know", "delete", "correct", "opt_out", "limit", "portability"];

/// SplitMix64: small, seeded, the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

struct Gen {
    rng: Rng,
    entities: Vec<Value>,
    by_type: BTreeMap<String, Vec<String>>,
}

impl Gen {
    fn new(seed: u64, entities: Vec<Value>) -> Gen {
        let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in &entities {
            let t = e["uid"]["type"].as_str().unwrap_or_default().to_string();
            let id = e["uid"]["id"].as_str().unwrap_or_default().to_string();
            by_type.entry(t).or_default().push(id);
        }
        Gen { rng: Rng(seed), entities, by_type }
    }

    fn id_of(&mut self, ty: &str) -> String {
        let ids = self.by_type.get(&format!("{NS}::{ty}")).cloned().unwrap_or_default();
        if ids.is_empty() { "none".into() } else { self.rng.pick(&ids).clone() }
    }

    /// A uid in one of the two accepted forms.
    fn uid(&mut self, ty: &str, id: &str) -> Value {
        if self.rng.chance(50) {
            json!(format!("{NS}::{ty}::{}", Value::String(id.to_string())))
        } else {
            json!({"type": format!("{NS}::{ty}"), "id": id})
        }
    }

    fn datetime(&mut self) -> Value {
        json!({"__extn": {"fn": "datetime", "arg": *self.rng.pick(DATES)}})
    }

    fn flow_context(&mut self) -> Value {
        let mut c = serde_json::Map::new();
        c.insert("now".into(), self.datetime());
        c.insert("purpose".into(), json!(*self.rng.pick(PURPOSES)));
        c.insert("gpc".into(), json!(self.rng.chance(40)));
        c.insert("consideration".into(), json!(*self.rng.pick(&["none", "monetary", "other"])));
        for key in ["consumer_known", "consumer_directed", "infers_characteristics", "fcra_activity"] {
            if self.rng.chance(25) {
                c.insert(key.into(), json!(self.rng.chance(50)));
            }
        }
        Value::Object(c)
    }

    fn admin_context(&mut self) -> Value {
        let mut c = serde_json::Map::new();
        c.insert("now".into(), self.datetime());
        if self.rng.chance(40) {
            c.insert("purpose".into(), json!(*self.rng.pick(PURPOSES)));
        }
        if self.rng.chance(20) {
            c.insert("gpc".into(), json!(self.rng.chance(50)));
        }
        if self.rng.chance(50) {
            c.insert("request_type".into(), json!(*self.rng.pick(REQUEST_TYPES)));
        }
        if self.rng.chance(40) {
            c.insert("received_at".into(), self.datetime());
        }
        if self.rng.chance(20) {
            c.insert("extension_notice_at".into(), self.datetime());
        }
        Value::Object(c)
    }

    /// A slice: a stored entity changed (a consumer's signals, a record's storage), or a new consumer and
    /// record pair.
    fn slice(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        let n = 1 + self.rng.below(2);
        for _ in 0..n {
            let e = self.rng.pick(&self.entities).clone();
            let mut e = e;
            let ty = e["uid"]["type"].as_str().unwrap_or_default().to_string();
            if let Some(attrs) = e.get_mut("attrs").and_then(Value::as_object_mut) {
                match ty.as_str() {
                    "Cpra::Consumer" => {
                        for key in ["opted_out_at", "sale_share_consent_at", "limit_spi_at", "deletion_verified_at"] {
                            if self.rng.chance(30) {
                                attrs.insert(
                                    key.into(),
                                    json!({"__extn": {"fn": "datetime", "arg": *self.rng.pick(DATES)}}),
                                );
                            } else if self.rng.chance(20) {
                                attrs.remove(key);
                            }
                        }
                        if self.rng.chance(30) {
                            attrs.insert("age".into(), json!(10 + self.rng.below(60)));
                        }
                        if self.rng.chance(20) {
                            attrs.insert("residency".into(), json!(*self.rng.pick(&["CA", "VA", "NY", "TX"])));
                        }
                    }
                    "Cpra::Record" => {
                        if self.rng.chance(40) {
                            attrs.insert("storage".into(), json!(*self.rng.pick(&["active", "backup"])));
                        }
                        if self.rng.chance(30) {
                            attrs.insert("glba".into(), json!(self.rng.chance(50)));
                        }
                    }
                    "Cpra::Recipient" => {
                        if self.rng.chance(40) {
                            attrs.insert("sp_contract".into(), json!(self.rng.chance(50)));
                        }
                        if self.rng.chance(30) {
                            attrs.insert(
                                "role".into(),
                                json!(*self.rng.pick(&["service_provider", "contractor", "third_party", "affiliate"])),
                            );
                        }
                    }
                    _ => {}
                }
            }
            out.push(e);
        }
        out
    }

    fn valid(&mut self, i: usize) -> String {
        let r = self.rng.below(10);
        let (action, principal, resource, context) = if r < 6 {
            let a = *self.rng.pick(FLOW_ACTIONS);
            let p = if a == "use" && self.rng.chance(40) {
                let id = self.id_of("Business");
                self.uid("Business", &id)
            } else {
                let id = self.id_of("Recipient");
                self.uid("Recipient", &id)
            };
            let rid = self.id_of("Record");
            (a, p, self.uid("Record", &rid), self.flow_context())
        } else if r < 8 {
            let a = *self.rng.pick(ADMIN_RECORD_ACTIONS);
            let (b, rid) = (self.id_of("Business"), self.id_of("Record"));
            (a, self.uid("Business", &b), self.uid("Record", &rid), self.admin_context())
        } else {
            let a = *self.rng.pick(ADMIN_CONSUMER_ACTIONS);
            let (b, cid) = (self.id_of("Business"), self.id_of("Consumer"));
            (a, self.uid("Business", &b), self.uid("Consumer", &cid), self.admin_context())
        };
        let mut req = json!({
            "id": format!("gen:{i}"),
            "principal": principal,
            "action": format!("{NS}::Action::\"{action}\""),
            "resource": resource,
            "context": context,
        });
        if self.rng.chance(25) {
            req["entities"] = Value::Array(self.slice());
        }
        req.to_string()
    }

    fn invalid(&mut self, i: usize) -> String {
        let base = self.valid(i);
        let mut req: Value = serde_json::from_str(&base).unwrap_or(Value::Null);
        match self.rng.below(12) {
            // malformed JSON: cut anywhere, or a stray character
            0 => {
                let cut = self.rng.below(base.len());
                return base.chars().take(cut).collect();
            }
            1 => return format!("{base}}}"),
            // unknown entity type / action
            2 => req["principal"] = json!({"type": "Cpra::Robot", "id": "r2"}),
            3 => req["action"] = json!("Cpra::Action::\"teleport\""),
            // wrongly typed context
            4 => req["context"]["gpc"] = json!("yes"),
            5 => req["context"]["now"] = json!(20260301),
            // missing fields
            6 => {
                let field = *self.rng.pick(&["principal", "action", "resource", "context"]);
                if let Some(m) = req.as_object_mut() {
                    m.remove(field);
                }
            }
            // deep nesting (past the JSON depth limit, or just under it)
            7 => {
                let depth = *self.rng.pick(&[40usize, 63, 65, 100, 500]);
                let mut v = json!(true);
                for d in 0..depth {
                    v = if d % 2 == 0 { json!([v]) } else { json!({"x": v}) };
                }
                req["context"]["deep"] = v;
            }
            // entity not found
            8 => {
                let ty = if self.rng.chance(50) { "Recipient" } else { "Record" };
                let key = if ty == "Recipient" { "principal" } else { "resource" };
                req[key] = json!({"type": format!("{NS}::{ty}"), "id": format!("ghost-{}", self.rng.below(1000))});
            }
            // bad slices
            9 => req["entities"] = json!({"not": "an array"}),
            10 => {
                let cid = self.id_of("Consumer");
                req["entities"] =
                    json!([{"uid": {"type": "Cpra::Consumer", "id": cid}, "attrs": {"residency": 6}, "parents": []}]);
            }
            _ => req["entities"] = json!([{"attrs": {}, "parents": []}, 7]),
        }
        req.to_string()
    }
}
