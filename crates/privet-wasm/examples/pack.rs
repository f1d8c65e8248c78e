//! Packs a bundle directory into the single-file form `privet_load` takes (what `privet pack` does), for
//! `scripts/test-js.sh`: `cargo run -p privet-wasm --example pack -- <bundle-dir> <out.privet.json>`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, out] = args.as_slice() else {
        eprintln!("usage: pack <bundle-dir> <out-file>");
        return ExitCode::from(2);
    };
    let bundle = match privet_core::Bundle::load(dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("pack: {e}");
            for d in &e.diagnostics {
                eprintln!("  {}: {}", d.location(), d.message);
            }
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(out, bundle.to_packed()) {
        eprintln!("pack: cannot write `{out}`: {e}");
        return ExitCode::FAILURE;
    }
    println!("pack: wrote {out} ({})", bundle.hash());
    ExitCode::SUCCESS
}
