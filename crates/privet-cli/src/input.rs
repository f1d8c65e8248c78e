//! Reading what the commands are given: bundles (rendered diagnostics on failure) and request text.

use std::io::Read;
use std::path::Path;

use privet_core::{Bundle, LoadError};

use crate::{Format, exit};

/// Loads a bundle; on failure prints every diagnostic (with source snippets for people, as JSON for programs)
/// and returns the exit code to use.
pub fn load_bundle(path: &Path, format: Format) -> Result<Bundle, u8> {
    Bundle::load(path).map_err(|err| {
        report_load_error(path, &err, format);
        exit::INVALID
    })
}

/// Prints a load error.
pub fn report_load_error(path: &Path, err: &LoadError, format: Format) {
    match format {
        Format::Human => {
            eprintln!("{:?}", miette::Report::new(err.clone()));
            eprintln!("bundle `{}` is invalid: {} problem(s)", path.display(), err.diagnostics.len());
        }
        Format::Json => {
            let out = serde_json::json!({
                "bundle": path.display().to_string(),
                "valid": false,
                "errors": err.to_decision_errors(),
            });
            outln!("{out}");
        }
    }
}

/// Prints a plain error for people (or as JSON) and returns the failure exit code.
pub fn fail(message: &str, format: Format) -> u8 {
    match format {
        Format::Human => eprintln!("{:?}", miette::miette!("{message}")),
        Format::Json => outln!("{}", serde_json::json!({"error": message})),
    }
    exit::FAILURE
}

/// The text of a `--request` argument: inline JSON when it starts with `{`, `-` for standard input, else a
/// file path.
pub fn request_text(arg: &str) -> Result<String, String> {
    let trimmed = arg.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return Ok(arg.to_string());
    }
    read_text(arg)
}

/// Reads a file, or standard input for `-`.
pub fn read_text(path: &str) -> Result<String, String> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))
}
