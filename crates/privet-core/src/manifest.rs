//! The bundle manifest, `privet.toml`: name, version, file layout, decision semantics and limits.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, LoadDiagnostic};
use crate::limits::Limits;

/// How evaluation errors and missing entities affect a decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Semantics {
    /// Privet's default: deny when any policy errored, and when the request's principal or resource is in
    /// neither the store nor the request's entity slice. Errors are reported either way.
    #[default]
    FailClosed,
    /// Cedar's exact semantics: an erroring policy is skipped, a missing entity has no attributes. Errors are
    /// still reported with the decision.
    Cedar,
}

/// The parsed manifest. Every field has a default, so a bundle without `privet.toml` is valid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Manifest {
    /// `[bundle]`: identity and layout.
    pub bundle: BundleSection,
    /// `[decision]`: semantics.
    pub decision: DecisionSection,
    /// `[limits]`: input limits.
    pub limits: Limits,
}

/// `[bundle]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BundleSection {
    /// Bundle name (defaults to the directory name).
    pub name: Option<String>,
    /// Bundle version (free-form, e.g. `2026.11.0`).
    pub version: Option<String>,
    /// One-line description.
    pub description: Option<String>,
    /// Schema file name (default: `schema.cedarschema`, else `schema.cedarschema.json`).
    pub schema: Option<String>,
    /// Policy file names (default: every `*.cedar` file in the directory, sorted by name).
    pub policies: Option<Vec<String>>,
    /// Entity store file name (default: `entities.json` when present).
    pub entities: Option<String>,
}

/// `[decision]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionSection {
    /// `fail-closed` (default) or `cedar`.
    pub semantics: Semantics,
}

impl Manifest {
    /// Parses manifest text; errors are located in `file`.
    pub(crate) fn parse(file: &str, text: &str) -> Result<Manifest, LoadDiagnostic> {
        toml::from_str::<Manifest>(text).map_err(|e| {
            let msg = e.message().to_string();
            let d = LoadDiagnostic::new(ErrorCode::InvalidManifest, format!("invalid manifest: {msg}"));
            match e.span() {
                Some(span) => d.spanned(file, text, span.start, span.end.saturating_sub(span.start).max(1)),
                None => d.in_file(file),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_and_rejects_unknown_keys() {
        let m = Manifest::parse(
            "privet.toml",
            "[bundle]\nname = \"x\"\n[decision]\nsemantics = \"cedar\"\n[limits]\nmax_json_depth = 8\n",
        )
        .unwrap();
        assert_eq!(m.decision.semantics, Semantics::Cedar);
        assert_eq!(m.limits.max_json_depth, 8);
        assert_eq!(m.limits.max_request_bytes, Limits::default().max_request_bytes);
        let err = Manifest::parse("privet.toml", "[bundle]\nnmae = \"x\"\n").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidManifest);
        assert_eq!(err.line, Some(2));
    }
}
