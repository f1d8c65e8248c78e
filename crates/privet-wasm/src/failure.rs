//! The error an export reports through `privet_last_error`: one or more [`DecisionError`]s, the first being
//! the summary. A load failure carries every diagnostic of the bundle.

use privet_core::{DecisionError, ErrorCode, LoadError};
use serde::Serialize;

/// A failed export call.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The summary error (code, message, location).
    summary: Box<DecisionError>,
    /// Every error (for a load failure: each diagnostic; otherwise just the summary).
    errors: Vec<DecisionError>,
}

/// The JSON shape of `privet_last_error`: the summary's fields, plus `errors` with every error.
#[derive(Serialize)]
struct LastErrorJson<'a> {
    #[serde(flatten)]
    summary: &'a DecisionError,
    errors: &'a [DecisionError],
}

impl Failure {
    /// A failure with one error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Failure::from(DecisionError::new(code, message))
    }

    /// A bundle that failed to load.
    pub fn load(err: &LoadError) -> Self {
        let errors = err.to_decision_errors();
        let summary = DecisionError::new(err.code(), err.to_string());
        Failure { summary: Box::new(summary), errors }
    }

    /// A failure with several errors (a rejected store update); the first is the summary.
    pub fn many(errors: Vec<DecisionError>) -> Self {
        let summary = match errors.as_slice() {
            [one] => one.clone(),
            [first, ..] => DecisionError {
                message: format!("{} errors, the first: {}", errors.len(), first.message),
                ..first.clone()
            },
            [] => DecisionError::new(ErrorCode::HostFailure, "abi: the engine reported a failure without errors"),
        };
        Failure { summary: Box::new(summary), errors }
    }

    /// A handle that names no loaded bundle.
    pub fn unknown_handle(handle: u32) -> Self {
        Failure::new(ErrorCode::NoBundle, format!("abi: no bundle is loaded under handle `{handle}`"))
    }

    /// Output that could not be serialized (not expected to happen).
    pub fn serialize(err: &serde_json::Error) -> Self {
        Failure::new(ErrorCode::HostFailure, format!("abi: could not serialize the result: {err}"))
    }

    /// The summary error's code.
    pub fn code(&self) -> ErrorCode {
        self.summary.code
    }

    /// Every error.
    pub fn errors(&self) -> &[DecisionError] {
        &self.errors
    }

    /// The `privet_last_error` JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let json = LastErrorJson { summary: &self.summary, errors: &self.errors };
        serde_json::to_vec(&json).unwrap_or_else(|_| {
            br#"{"code":"host_failure","message":"abi: the error could not be serialized","errors":[]}"#.to_vec()
        })
    }
}

impl From<DecisionError> for Failure {
    fn from(err: DecisionError) -> Self {
        Failure { summary: Box::new(err.clone()), errors: vec![err] }
    }
}
