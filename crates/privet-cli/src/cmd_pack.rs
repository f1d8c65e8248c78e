//! `privet pack`: write a bundle as one file carrying its content hash.

use std::path::Path;

use crate::input::{fail, load_bundle};
use crate::{Format, exit};

pub fn run(bundle: &Path, output: &Path, format: Format) -> u8 {
    let bundle = match load_bundle(bundle, format) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let bytes = bundle.to_packed();
    if let Err(e) = std::fs::write(output, &bytes) {
        return fail(&format!("cannot write `{}`: {e}", output.display()), format);
    }
    match format {
        Format::Human => outln!("packed `{}` ({} bytes, {})", output.display(), bytes.len(), bundle.hash()),
        Format::Json => outln!(
            "{}",
            serde_json::json!({"output": output.display().to_string(), "bytes": bytes.len(), "hash": bundle.hash()})
        ),
    }
    exit::OK
}
