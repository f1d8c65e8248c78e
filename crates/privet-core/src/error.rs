//! Errors: the structured error carried by a decision, and the diagnostics of a bundle that failed to load.

use std::fmt;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A stable, machine-readable error class. Serialized in `snake_case`; hosts and tests compare these strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The input was not valid JSON.
    MalformedJson,
    /// The request is not shaped like a request (missing or wrongly-typed top-level field).
    InvalidRequest,
    /// An entity uid could not be parsed.
    InvalidEntityUid,
    /// An entity type is not declared in the schema, or not allowed where it was used.
    UnknownEntityType,
    /// The action is not declared in the schema.
    UnknownAction,
    /// The context does not conform to the schema for the action.
    InvalidContext,
    /// An entity (in a slice or a store update) is malformed or does not conform to the schema.
    InvalidEntity,
    /// The request's principal or resource is neither in the store nor in the request's entity slice.
    EntityNotFound,
    /// A policy raised an error while it was evaluated.
    PolicyEvaluation,
    /// An input exceeded a configured limit (size, nesting depth, count).
    LimitExceeded,
    /// A policy file failed to parse, or a policy is not acceptable to Privet.
    InvalidPolicy,
    /// The schema failed to parse.
    InvalidSchema,
    /// The policies do not validate against the schema.
    ValidationFailed,
    /// The manifest (`privet.toml`) is invalid.
    InvalidManifest,
    /// A file could not be read.
    Io,
    /// A packed bundle's content does not match its recorded hash.
    HashMismatch,
    /// A packed bundle (or the bundle directory) is malformed.
    InvalidBundle,
    /// No bundle is loaded (hosts only).
    NoBundle,
    /// A host-level failure (trap, exhausted fuel, memory limit): the instance was discarded.
    HostFailure,
}

impl ErrorCode {
    /// The code as its serialized string, e.g. `"entity_not_found"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidEntityUid => "invalid_entity_uid",
            ErrorCode::UnknownEntityType => "unknown_entity_type",
            ErrorCode::UnknownAction => "unknown_action",
            ErrorCode::InvalidContext => "invalid_context",
            ErrorCode::InvalidEntity => "invalid_entity",
            ErrorCode::EntityNotFound => "entity_not_found",
            ErrorCode::PolicyEvaluation => "policy_evaluation",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::InvalidPolicy => "invalid_policy",
            ErrorCode::InvalidSchema => "invalid_schema",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::InvalidManifest => "invalid_manifest",
            ErrorCode::Io => "io",
            ErrorCode::HashMismatch => "hash_mismatch",
            ErrorCode::InvalidBundle => "invalid_bundle",
            ErrorCode::NoBundle => "no_bundle",
            ErrorCode::HostFailure => "host_failure",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A structured error reported with a decision (or by a store update). It says what was wrong and where:
/// `path` is a field path into the request (`context.purpose`, `entities[3]`), `line`/`column` (1-based) and
/// `offset` (0-based byte offset) locate it in the input text when known, `policy` names the policy involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Error)]
#[error("{message}")]
pub struct DecisionError {
    /// The error class.
    pub code: ErrorCode,
    /// A human-readable message (lowercase, user input in backticks).
    pub message: String,
    /// The field path of the offending input, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The policy that raised the error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// 1-based line in the input text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column in the input text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// 0-based byte offset in the input text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
}

impl DecisionError {
    /// A new error with a code and message and no location.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        DecisionError {
            code,
            message: message.into(),
            path: None,
            policy: None,
            line: None,
            column: None,
            offset: None,
        }
    }

    /// In fail-closed mode: the request's principal or resource (`path`) is neither stored nor in its slice.
    pub(crate) fn entity_not_found(uid: &cedar_policy::EntityUid, path: &str) -> Self {
        DecisionError::new(
            ErrorCode::EntityNotFound,
            format!("entity `{uid}` is in neither the store nor the request's entities"),
        )
        .at(path)
    }

    /// Sets the field path.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Sets the policy id.
    pub fn in_policy(mut self, policy: impl Into<String>) -> Self {
        self.policy = Some(policy.into());
        self
    }

    /// Sets line, column and offset from a byte offset into `text`.
    pub(crate) fn located(mut self, text: &str, offset: usize) -> Self {
        let (line, column) = line_col(text, offset);
        self.line = Some(line);
        self.column = Some(column);
        self.offset = Some(offset);
        self
    }

    /// The error for a `serde_json` failure on `text`, with line, column and byte offset.
    pub(crate) fn from_json(err: &serde_json::Error, text: &str, what: &str) -> Self {
        let offset = offset_of(text, err.line(), err.column());
        let msg = strip_json_position(&err.to_string());
        let mut e = DecisionError::new(ErrorCode::MalformedJson, format!("malformed {what} JSON: {msg}"));
        e.line = Some(err.line());
        e.column = Some(err.column());
        e.offset = Some(offset);
        e
    }
}

/// `serde_json` appends " at line L column C"; we report those as fields instead.
fn strip_json_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before.get(line_start..).map(|s| s.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

/// Byte offset of a 1-based line and column (serde_json counts columns in bytes).
pub(crate) fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return (offset + column.saturating_sub(1)).min(text.len());
        }
        offset += l.len();
    }
    text.len()
}

/// One problem found while loading a bundle, located in the file it came from.
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct LoadDiagnostic {
    /// The error class.
    pub code: ErrorCode,
    /// What is wrong.
    pub message: String,
    /// The file (relative name inside the bundle), if the problem is in one.
    pub file: Option<String>,
    /// The policy concerned, if any.
    pub policy: Option<String>,
    /// 1-based line, if located.
    pub line: Option<usize>,
    /// 1-based column, if located.
    pub column: Option<usize>,
    /// 0-based byte offset and length of the span, if located.
    pub span: Option<(usize, usize)>,
    /// Advice, if any.
    pub help: Option<String>,
    source_text: Option<NamedSource<String>>,
}

impl LoadDiagnostic {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        LoadDiagnostic {
            code,
            message: message.into(),
            file: None,
            policy: None,
            line: None,
            column: None,
            span: None,
            help: None,
            source_text: None,
        }
    }

    pub(crate) fn in_file(mut self, file: &str) -> Self {
        self.file = Some(file.to_string());
        self
    }

    /// Locates the diagnostic at `offset..offset+len` of `text` (the file's contents).
    pub(crate) fn spanned(mut self, file: &str, text: &str, offset: usize, len: usize) -> Self {
        let (line, column) = line_col(text, offset);
        self.file = Some(file.to_string());
        self.line = Some(line);
        self.column = Some(column);
        self.span = Some((offset.min(text.len()), len));
        self.source_text = Some(NamedSource::new(file, text.to_string()));
        self
    }

    pub(crate) fn with_policy(mut self, policy: impl Into<String>) -> Self {
        self.policy = Some(policy.into());
        self
    }

    pub(crate) fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Builds a diagnostic from any `miette` diagnostic (cedar's parse and validation errors), taking the first
    /// labelled span as the location in `text`.
    pub(crate) fn from_diagnostic(code: ErrorCode, file: &str, text: &str, diag: &dyn Diagnostic) -> Self {
        let mut message = diag.to_string();
        // Cedar puts the detail of parse errors in the label or in nested diagnostics.
        let span = diag.labels().and_then(|mut labels| labels.next());
        if let Some(label) = &span {
            if let Some(l) = label.label() {
                if !message.contains(l) {
                    message = format!("{message}: {l}");
                }
            }
        }
        let help = diag.help().map(|h| h.to_string());
        let d = LoadDiagnostic::new(code, message).in_file(file).with_help(help);
        match span {
            Some(label) => d.spanned(file, text, label.offset(), label.len()),
            None => d,
        }
    }

    /// The location as `file:line:column`, as far as known.
    pub fn location(&self) -> String {
        match (&self.file, self.line, self.column) {
            (Some(f), Some(l), Some(c)) => format!("{f}:{l}:{c}"),
            (Some(f), _, _) => f.clone(),
            _ => String::from("<bundle>"),
        }
    }

    /// This diagnostic as a [`DecisionError`] (for hosts that report JSON).
    pub fn to_decision_error(&self) -> DecisionError {
        let mut e = DecisionError::new(self.code, format!("{}: {}", self.location(), self.message));
        e.path = self.file.clone();
        e.policy = self.policy.clone();
        e.line = self.line;
        e.column = self.column;
        e.offset = self.span.map(|(o, _)| o);
        e
    }
}

impl Diagnostic for LoadDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!("privet::{}", self.code)))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source_text.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let (offset, len) = self.span?;
        let label = self.policy.as_ref().map(|p| format!("in policy `{p}`"));
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(label, SourceSpan::new(offset.into(), len)))))
    }
}

/// A bundle failed to load: every problem found, each located in its file.
#[derive(Debug, Clone, Error)]
#[error("{}", summary(.diagnostics))]
pub struct LoadError {
    /// The problems, in file order.
    pub diagnostics: Vec<LoadDiagnostic>,
}

fn summary(diags: &[LoadDiagnostic]) -> String {
    match diags {
        [one] => format!("invalid bundle: {}: {}", one.location(), one.message),
        many => format!("invalid bundle: {} problems, the first at {}", many.len(), {
            many.first().map(|d| d.location()).unwrap_or_default()
        }),
    }
}

impl LoadError {
    pub(crate) fn one(diag: LoadDiagnostic) -> Self {
        LoadError { diagnostics: vec![diag] }
    }

    /// The code of the first problem.
    pub fn code(&self) -> ErrorCode {
        self.diagnostics.first().map(|d| d.code).unwrap_or(ErrorCode::InvalidBundle)
    }

    /// The problems as [`DecisionError`]s (for hosts that report JSON).
    pub fn to_decision_errors(&self) -> Vec<DecisionError> {
        self.diagnostics.iter().map(LoadDiagnostic::to_decision_error).collect()
    }
}

impl Diagnostic for LoadError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!("privet::{}", self.code())))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.diagnostics.iter().map(|d| d as &dyn Diagnostic)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "ab\ncd\nef";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 4), (2, 2));
        assert_eq!(offset_of(t, 2, 2), 4);
        assert_eq!(offset_of(t, 9, 1), t.len());
    }

    #[test]
    fn json_error_is_located() {
        let text = "{\n  \"a\": ,\n}";
        let err = serde_json::from_str::<serde_json::Value>(text).err();
        let e = err.map(|e| DecisionError::from_json(&e, text, "request"));
        let e = e.unwrap_or_else(|| DecisionError::new(ErrorCode::Io, "unexpected success"));
        assert_eq!(e.code, ErrorCode::MalformedJson);
        assert_eq!(e.line, Some(2));
        assert!(!e.message.contains(" at line "), "{}", e.message);
    }
}
