//! `privet validate`: parse and strictly validate a bundle.

use std::path::Path;

use crate::input::load_bundle;
use crate::{Format, exit};

pub fn run(path: &Path, format: Format) -> u8 {
    let bundle = match load_bundle(path, format) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let info = bundle.info();
    match format {
        Format::Human => {
            for w in bundle.warnings() {
                eprintln!("warning: {w}");
            }
            outln!(
                "✓ bundle `{}`{} is valid: {} policies, {} entities, {}",
                info.name,
                info.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default(),
                info.policies.len(),
                info.entities,
                info.hash
            );
        }
        Format::Json => {
            let out = serde_json::json!({
                "bundle": path.display().to_string(),
                "valid": true,
                "info": info,
                "warnings": bundle.warnings(),
            });
            outln!("{out}");
        }
    }
    exit::OK
}
