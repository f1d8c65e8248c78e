//! `privet`: the command line for policy authors and operators.
//!
//! - `privet validate BUNDLE` — parse and strictly validate a bundle (exit 3 when invalid).
//! - `privet eval BUNDLE --request JSON` — decide one request (exit 0 allow, 2 deny).
//! - `privet eval BUNDLE --requests FILE.jsonl [--output FILE]` — decide one request per line.
//! - `privet explain BUNDLE --request JSON | --requests FILE` — say why, with citations and obligations.
//! - `privet test SUITE...` — run test suites (Privet YAML/JSON, or `cedar run-tests` JSON) with coverage.
//! - `privet pack BUNDLE -o FILE.privet` — write the single-file bundle.
//!
//! Every command takes `--format human|json`. A BUNDLE is a directory or a packed `.privet` file.
#![forbid(unsafe_code)]

/// mimalloc rather than glibc's malloc: a batch's decisions (`privet eval --requests`) are alive together, and
/// glibc's malloc measured about 0.65× the decisions/s of single calls then (see the workspace `Cargo.toml`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `println!` that ignores a closed standard output (e.g. piped into `head`) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that ignores a closed standard output.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

mod cmd_eval;
mod cmd_explain;
mod cmd_pack;
mod cmd_test;
mod cmd_validate;
mod input;
mod render;
mod suite;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Privet: may this personal data flow here? Decisions with reasons, on Cedar policies.
#[derive(Parser, Debug)]
#[command(name = "privet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// For people.
    #[default]
    Human,
    /// For programs.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and validate a bundle against its schema (exit 3 when invalid)
    Validate {
        /// Bundle directory or packed `.privet` file
        bundle: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Decide one request (exit 0 allow, 2 deny) or a JSONL file of requests
    Eval(cmd_eval::EvalArgs),
    /// Explain why requests are decided as they are: policies, citations, obligations
    Explain(cmd_explain::ExplainArgs),
    /// Run test suites and report per-policy coverage (exit 1 on any failure)
    Test(cmd_test::TestArgs),
    /// Pack a bundle directory into one `.privet` file carrying its content hash
    Pack {
        /// Bundle directory
        bundle: PathBuf,
        /// Output file
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// Exit codes shared by the commands.
pub mod exit {
    /// Success; for `eval` of one request: allow.
    pub const OK: u8 = 0;
    /// Failure: a test failed, an input could not be read.
    pub const FAILURE: u8 = 1;
    /// `eval` of one request: deny.
    pub const DENY: u8 = 2;
    /// The bundle is invalid (cedar CLI's convention).
    pub const INVALID: u8 = 3;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Validate { bundle, format } => cmd_validate::run(&bundle, format),
        Command::Eval(args) => cmd_eval::run(&args),
        Command::Explain(args) => cmd_explain::run(&args),
        Command::Test(args) => cmd_test::run(&args),
        Command::Pack { bundle, output, format } => cmd_pack::run(&bundle, &output, format),
    };
    ExitCode::from(code)
}
