//! Interleaved, in-process A/B of the store mode: native privet-core against Privet's wasm module in wasmtime
//! (privet-host), in one process, alternating short slices of the same requests between the engines so that
//! the machine's drift (shared, noisy cores) hits every engine alike. For deciding whether a host or module
//! change pays; `scripts/bench-compare.sh` stays the reference comparison.
//!
//! ```sh
//! cargo run --release --example host-ab -- --dir target/bench-compare/workload \
//!     [--wasm A.wasm --wasm B.wasm] [--config default|no-guest-buffers|no-epoch|...] [--rounds 20] [--slice 5000]
//! ```
//!
//! Every `--wasm` module is run with every `--config` (default: `default`). Configs: `default` (the default
//! `HostConfig`), `no-guest-buffers` (ABI 1.2's packed exports instead of 1.3's guest-owned buffers), `no-packed`
//! (1.1's compact exports), `no-epoch` (no deadline: no epoch checks compiled in). Prints decisions/s per engine
//! over all rounds, and each wasmtime engine's time per decision relative to native's, with the spread of that
//! ratio over the rounds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark driver may panic on bad input

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use privet_host::{Host, HostConfig, Interrupt, WasmModule};

/// The allocator `bench-compare` uses (mimalloc; it also counts bytes there), so native figures match its.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn config(name: &str) -> HostConfig {
    let d = HostConfig::default();
    match name {
        "default" => d,
        "no-guest-buffers" => HostConfig { guest_buffers: false, ..d },
        "no-packed" => HostConfig { packed_decisions: false, ..d },
        "no-epoch" => HostConfig { epoch_interruption: false, interrupt: Interrupt::None, ..d },
        other => panic!("unknown --config {other:?}"),
    }
}

fn main() {
    let mut dir = PathBuf::from("target/bench-compare/workload");
    let (mut wasms, mut configs) = (Vec::new(), Vec::new());
    let (mut rounds, mut slice) = (20usize, 5000usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--dir" => dir = PathBuf::from(v),
            "--wasm" => wasms.push(PathBuf::from(v)),
            "--config" => configs.push(v),
            "--rounds" => rounds = v.parse().unwrap(),
            "--slice" => slice = v.parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
    }
    if wasms.is_empty() {
        wasms.push(PathBuf::from("target/wasm/privet.wasm"));
    }
    if configs.is_empty() {
        configs.push("default".into());
    }
    let text = std::fs::read_to_string(dir.join("requests-store.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let packed = std::fs::read(dir.join("bundle.privet")).expect("bundle.privet (run bench-compare --engine privet)");
    let native = privet::Bundle::from_packed(&packed).unwrap();

    let mut names = vec!["native".to_string()];
    let mut hosts = Vec::new();
    for w in &wasms {
        for c in &configs {
            let module = WasmModule::from_file(w, config(c)).unwrap();
            hosts.push(Host::new(&module, &packed).unwrap());
            names.push(format!("{} [{c}]", w.display()));
        }
    }
    let decide = |e: usize, l: &str| -> bool {
        let d = if e == 0 { native.decide_json(l) } else { hosts[e - 1].decide_json(l) };
        d.decision == privet::Verdict::Allow
    };
    // Warm-up: one slice each.
    for e in 0..names.len() {
        for l in lines.iter().take(slice) {
            black_box(decide(e, l));
        }
    }
    let mut secs = vec![0f64; names.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut at = 0usize;
    for _ in 0..rounds {
        let chunk: Vec<&str> = lines.iter().cycle().skip(at).take(slice).copied().collect();
        at = (at + slice) % lines.len();
        let mut round = vec![0f64; names.len()];
        for (e, r) in round.iter_mut().enumerate() {
            let t = Instant::now();
            for l in &chunk {
                black_box(decide(e, l));
            }
            *r = t.elapsed().as_secs_f64();
            secs[e] += *r;
        }
        for e in 1..names.len() {
            ratios[e].push(round[e] / round[0]);
        }
    }
    let n = (rounds * slice) as f64;
    for (e, name) in names.iter().enumerate() {
        let mut r = ratios[e].clone();
        r.sort_by(f64::total_cmp);
        let spread = if r.is_empty() {
            String::new()
        } else {
            format!(
                "  ratio {:.3} (rounds: min {:.3} median {:.3} max {:.3})",
                secs[e] / secs[0],
                r[0],
                r[r.len() / 2],
                r[r.len() - 1]
            )
        };
        println!("{name:60} {:>10.0} decisions/s{spread}", n / secs[e]);
    }
}
