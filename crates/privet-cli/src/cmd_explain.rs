//! `privet explain`: why a request is decided as it is.

use std::path::PathBuf;

use clap::Args;
use privet_core::{Bundle, Request};

use crate::input::{fail, load_bundle, read_text, request_text};
use crate::render;
use crate::{Format, exit};

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// Bundle directory or packed `.privet` file
    pub bundle: PathBuf,
    /// One request: inline JSON, a file path, or `-` for standard input
    #[arg(long, conflicts_with = "requests", required_unless_present = "requests")]
    pub request: Option<String>,
    /// A JSONL file of requests to explain one after another
    #[arg(long)]
    pub requests: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: &ExplainArgs) -> u8 {
    let bundle = match load_bundle(&args.bundle, args.format) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let texts: Vec<String> = match (&args.request, &args.requests) {
        (Some(r), _) => match request_text(r) {
            Ok(t) => vec![t],
            Err(e) => return fail(&e, args.format),
        },
        (None, Some(f)) => match read_text(f) {
            Ok(t) => t.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect(),
            Err(e) => return fail(&e, args.format),
        },
        (None, None) => return fail("give `--request JSON` or `--requests FILE.jsonl`", args.format),
    };
    let mut all_allowed = true;
    for text in &texts {
        all_allowed &= explain_one(&bundle, text, args.format);
    }
    if texts.len() == 1 && !all_allowed { exit::DENY } else { exit::OK }
}

fn explain_one(bundle: &Bundle, text: &str, format: Format) -> bool {
    match Request::parse(text, bundle.limits()) {
        Ok(request) => {
            let e = bundle.explain(&request);
            match format {
                Format::Human => outln!("{}", render::explanation(&request, &e)),
                Format::Json => outln!("{}", serde_json::to_string(&e).unwrap_or_default()),
            }
            e.decision.is_allowed()
        }
        Err(_) => {
            let d = bundle.decide_json(text);
            match format {
                Format::Human => outln!("{}", render::decision(&d)),
                Format::Json => outln!("{}", serde_json::to_string(&d).unwrap_or_default()),
            }
            false
        }
    }
}
