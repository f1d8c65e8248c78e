//! The cross-host conformance corpus through wasmtime: (re)writes `target/conformance` (deterministic) and
//! asserts every line's normalized decision equal to native privet-core's. Also prints decisions/s for
//! native, wasmtime one call per request, and wasmtime batches, side by side.

use std::sync::OnceLock;
use std::time::Instant;

use crate::{module, root};
use privet_host::Host;

#[path = "../../../../tests/conformance/gen.rs"]
mod corpus_gen;

pub use corpus_gen::Corpus;

/// The corpus, built once per test binary.
pub fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| corpus_gen::build(&root()))
}

#[test]
fn corpus_through_wasmtime_equals_native() {
    let c = corpus();
    assert!(c.requests.len() >= 10_000, "{} requests", c.requests.len());
    assert_eq!(c.requests.len(), c.expected.len());
    corpus_gen::write(c, &corpus_gen::default_dir(&root())).expect("write target/conformance");

    // Deterministic: a second build is byte-identical.
    let again = corpus_gen::build(&root());
    assert!(again.requests == c.requests && again.expected == c.expected && again.bundle == c.bundle);

    let host = Host::new(module(), &c.bundle).expect("host loads the corpus bundle");
    let native = privet_core::Bundle::from_packed(&c.bundle).expect("native loads the corpus bundle");

    let t = Instant::now();
    for r in &c.requests {
        std::hint::black_box(native.decide_json(r));
    }
    let native_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut mismatches = Vec::new();
    for (i, (r, want)) in c.requests.iter().zip(&c.expected).enumerate() {
        let got = corpus_gen::normalize(&host.decide_json(r));
        if &got != want {
            mismatches.push(format!("line {}: request {r}\n  native {want}\n  wasm   {got}", i + 1));
        }
    }
    let single_s = t.elapsed().as_secs_f64();

    // Batches of 500 of the lines decided without errors (an invalid line can make a whole batch fail,
    // e.g. nesting past the limit, which is checked on the batch as a whole).
    let valid: Vec<(usize, &String)> =
        c.requests.iter().enumerate().filter(|(i, _)| c.expected[*i].ends_with("\"errors\":[]}")).collect();
    let t = Instant::now();
    for chunk in valid.chunks(500) {
        let array = format!("[{}]", chunk.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>().join(","));
        let ds = host.decide_batch_json(&array);
        assert_eq!(ds.len(), chunk.len());
        for ((i, r), d) in chunk.iter().zip(&ds) {
            let got = corpus_gen::normalize(d);
            if got != c.expected[*i] {
                mismatches.push(format!(
                    "batch line {}: request {r}\n  native {}\n  wasm   {got}",
                    i + 1,
                    c.expected[*i]
                ));
            }
        }
    }
    let batch_s = t.elapsed().as_secs_f64();

    let n = c.requests.len() as f64;
    eprintln!(
        "conformance: {} requests; native {:.0}/s, wasmtime decide {:.0}/s, wasmtime batch(500) {:.0}/s ({} valid)",
        c.requests.len(),
        n / native_s,
        n / single_s,
        valid.len() as f64 / batch_s,
        valid.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches, the first:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(5)].join("\n")
    );
}
