//! `privet eval`: decide one request, or a JSONL file of requests (one decision per line, in order).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use privet_core::{Bundle, Decision, DecisionError, Obligation, Verdict};
use serde::Serialize;

use crate::input::{fail, load_bundle, request_text};
use crate::render;
use crate::{Format, exit};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Bundle directory or packed `.privet` file
    pub bundle: PathBuf,
    /// One request: inline JSON, a file path, or `-` for standard input
    #[arg(long, conflicts_with = "requests", required_unless_present = "requests")]
    pub request: Option<String>,
    /// A JSONL file of requests (`-` for standard input); one JSON decision per line is written
    #[arg(long)]
    pub requests: Option<String>,
    /// Where to write the decisions of `--requests` (default: standard output)
    #[arg(short, long, requires = "requests")]
    pub output: Option<PathBuf>,
    /// Worker threads for `--requests` (default: the machine's cores)
    #[arg(long)]
    pub jobs: Option<usize>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: &EvalArgs) -> u8 {
    let bundle = match load_bundle(&args.bundle, args.format) {
        Ok(b) => b,
        Err(code) => return code,
    };
    match (&args.request, &args.requests) {
        (Some(req), _) => eval_one(&bundle, req, args.format),
        (None, Some(file)) => eval_many(&bundle, file, args),
        (None, None) => fail("give `--request JSON` or `--requests FILE.jsonl`", args.format),
    }
}

fn eval_one(bundle: &Bundle, arg: &str, format: Format) -> u8 {
    let text = match request_text(arg) {
        Ok(t) => t,
        Err(e) => return fail(&e, format),
    };
    let decision = bundle.decide_json(&text);
    match format {
        Format::Human => out!("{}", render::decision(&decision)),
        Format::Json => outln!("{}", serde_json::to_string(&decision).unwrap_or_default()),
    }
    if decision.is_allowed() { exit::OK } else { exit::DENY }
}

/// One output line: the decision without the policy texts (see `explain` for those).
#[derive(Serialize)]
struct Line<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: &'a Option<serde_json::Value>,
    decision: Verdict,
    reasons: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    obligations: &'a [Obligation],
    errors: &'a [DecisionError],
}

/// Counts for the summary.
#[derive(Default, Serialize)]
struct Summary {
    requests: usize,
    allow: usize,
    deny: usize,
    with_errors: usize,
    #[serde(skip)]
    decide_time: Duration,
    /// The most threads a chunk was decided on.
    #[serde(skip)]
    threads: usize,
}

const CHUNK: usize = 8192;

fn eval_many(bundle: &Bundle, file: &str, args: &EvalArgs) -> u8 {
    let reader: Box<dyn BufRead> = if file == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        match std::fs::File::open(file) {
            Ok(f) => Box::new(BufReader::with_capacity(1 << 20, f)),
            Err(e) => return fail(&format!("cannot read `{file}`: {e}"), args.format),
        }
    };
    let writer: Box<dyn Write> = match &args.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(f),
            Err(e) => return fail(&format!("cannot write `{}`: {e}", path.display()), args.format),
        },
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, writer);
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    let mut summary = Summary::default();
    let mut chunk: Vec<(usize, usize, String)> = Vec::with_capacity(CHUNK);
    let mut line_no = 0usize;
    let mut offset = 0usize;
    let wall = Instant::now();
    for line in reader.split(b'\n') {
        let bytes = match line {
            Ok(b) => b,
            Err(e) => return fail(&format!("cannot read `{file}` at line {}: {e}", line_no + 1), args.format),
        };
        line_no += 1;
        let start = offset;
        offset += bytes.len() + 1;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if text.trim().is_empty() {
            continue;
        }
        chunk.push((line_no, start, text));
        if chunk.len() == CHUNK {
            if let Err(e) = flush(bundle, &mut chunk, jobs, &mut out, &mut summary) {
                return fail(&e, args.format);
            }
        }
    }
    if let Err(e) = flush(bundle, &mut chunk, jobs, &mut out, &mut summary) {
        return fail(&e, args.format);
    }
    if let Err(e) = out.flush() {
        return fail(&format!("cannot write decisions: {e}"), args.format);
    }
    let secs = summary.decide_time.as_secs_f64();
    let rate = if secs > 0.0 { summary.requests as f64 / secs } else { 0.0 };
    match args.format {
        Format::Human => eprintln!(
            "{} requests: {} allow, {} deny ({} with errors); {:.0} decisions/s over the decide loop ({} thread{}), {:.2}s total",
            summary.requests,
            summary.allow,
            summary.deny,
            summary.with_errors,
            rate,
            summary.threads.max(1),
            if summary.threads > 1 { "s" } else { "" },
            wall.elapsed().as_secs_f64()
        ),
        Format::Json => eprintln!(
            "{}",
            serde_json::json!({"summary": summary, "decisions_per_second": rate.round(), "threads": summary.threads.max(1)})
        ),
    }
    exit::OK
}

/// Decides a chunk of lines (in parallel, order kept) and writes the decisions.
fn flush(
    bundle: &Bundle,
    chunk: &mut Vec<(usize, usize, String)>,
    jobs: usize,
    out: &mut impl Write,
    summary: &mut Summary,
) -> Result<(), String> {
    if chunk.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let texts: Vec<&str> = chunk.iter().map(|(_, _, text)| text.as_str()).collect();
    summary.threads = summary.threads.max(bundle.each_threads(texts.len(), jobs));
    let mut decisions = bundle.decide_json_each_on(&texts, jobs);
    summary.decide_time += started.elapsed();
    if decisions.len() != chunk.len() {
        return Err("a worker thread failed; no decisions written for this chunk".into());
    }
    for (d, (line, start, _)) in decisions.iter_mut().zip(chunk.iter()) {
        relocate(d, *line, *start);
    }
    for d in &decisions {
        summary.requests += 1;
        match d.decision {
            Verdict::Allow => summary.allow += 1,
            Verdict::Deny => summary.deny += 1,
        }
        if !d.errors.is_empty() {
            summary.with_errors += 1;
        }
        let line = Line {
            id: &d.id,
            decision: d.decision,
            reasons: &d.reasons,
            obligations: &d.obligations,
            errors: &d.errors,
        };
        serde_json::to_writer(&mut *out, &line).map_err(|e| format!("cannot write decisions: {e}"))?;
        out.write_all(b"\n").map_err(|e| format!("cannot write decisions: {e}"))?;
    }
    chunk.clear();
    Ok(())
}

/// Errors located in a request's text, re-located in the file (line, byte offset).
fn relocate(d: &mut Decision, line: usize, start: usize) {
    for e in &mut d.errors {
        if let Some(o) = e.offset {
            e.offset = Some(start + o);
            e.line = Some(line);
        } else if e.line.is_none() {
            e.line = Some(line);
        }
    }
}
