//! Test suites: Privet's own format (YAML or JSON: a bundle, shared entity files, cases with expectations) and
//! the JSON format of `cedar run-tests` (an array of cases with `decision`, `reason`, `num_errors`).

use std::path::{Path, PathBuf};

use privet_core::Verdict;
use serde::Deserialize;
use serde_json::Value;

/// A loaded suite, its cases ready to run.
pub struct Suite {
    pub name: String,
    pub file: PathBuf,
    pub bundle: PathBuf,
    pub cases: Vec<Case>,
}

pub struct Case {
    pub name: String,
    /// The full request, entity slice included.
    pub request: Value,
    pub expect: Expect,
}

pub struct Expect {
    pub decision: Verdict,
    /// Exact set of determining policies (Privet format).
    pub reasons: Option<Vec<String>>,
    /// Policies that must be among the determining ones (cedar format: `reason`).
    pub reasons_include: Vec<String>,
    pub errors: ErrorExpect,
    /// Obligation kinds that must be present.
    pub obligations: Vec<String>,
}

pub enum ErrorExpect {
    Count(usize),
    Codes(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivetSuite {
    name: Option<String>,
    bundle: Option<String>,
    #[serde(default)]
    entities: Vec<String>,
    cases: Vec<PrivetCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivetCase {
    name: String,
    request: Value,
    #[serde(default)]
    entities: Vec<Value>,
    expect: PrivetExpect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivetExpect {
    decision: Verdict,
    reasons: Option<Vec<String>>,
    #[serde(default)]
    reasons_include: Vec<String>,
    errors: Option<Value>,
    #[serde(default)]
    obligations: Vec<String>,
}

#[derive(Deserialize)]
struct CedarCase {
    name: Option<String>,
    request: Value,
    #[serde(default)]
    entities: Value,
    decision: Verdict,
    #[serde(default)]
    reason: Vec<String>,
    #[serde(default)]
    num_errors: usize,
}

/// Reads a suite file. `bundle_override` replaces the suite's own `bundle` (and is required for the cedar
/// format, which names none).
pub fn load(file: &Path, bundle_override: Option<&Path>) -> Result<Suite, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let is_yaml = matches!(file.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
    let value: Value = if is_yaml {
        serde_yaml::from_str(&text).map_err(|e| {
            let at = e.location().map(|l| format!(" at line {} column {}", l.line(), l.column())).unwrap_or_default();
            format!("`{}`{at}: {e}", file.display())
        })?
    } else {
        serde_json::from_str(&text)
            .map_err(|e| format!("`{}` at line {} column {}: {e}", file.display(), e.line(), e.column()))?
    };
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    match value {
        Value::Array(items) => {
            let bundle = bundle_override.ok_or_else(|| {
                format!("`{}` is a cedar run-tests file: give the bundle with `--bundle DIR`", file.display())
            })?;
            let cases = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| cedar_case(item, i, dir, file))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Suite { name: stem, file: file.to_path_buf(), bundle: bundle.to_path_buf(), cases })
        }
        Value::Object(_) => {
            let suite: PrivetSuite =
                serde_json::from_value(value).map_err(|e| format!("`{}`: not a Privet suite: {e}", file.display()))?;
            let bundle = match (bundle_override, &suite.bundle) {
                (Some(b), _) => b.to_path_buf(),
                (None, Some(b)) => dir.join(b),
                (None, None) => {
                    return Err(format!("`{}` names no `bundle`: add one or give `--bundle DIR`", file.display()));
                }
            };
            let mut shared = Vec::new();
            for f in &suite.entities {
                let path = dir.join(f);
                let t = std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
                match serde_json::from_str::<Value>(&t) {
                    Ok(Value::Array(list)) => shared.extend(list),
                    Ok(_) => return Err(format!("`{}` must hold a JSON array of entities", path.display())),
                    Err(e) => {
                        return Err(format!("`{}` at line {} column {}: {e}", path.display(), e.line(), e.column()));
                    }
                }
            }
            let cases = suite
                .cases
                .into_iter()
                .map(|c| privet_case(c, &shared))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("`{}`: {e}", file.display()))?;
            Ok(Suite { name: suite.name.unwrap_or(stem), file: file.to_path_buf(), bundle, cases })
        }
        _ => Err(format!(
            "`{}` is neither a Privet suite (an object with `cases`) nor a cedar run-tests array",
            file.display()
        )),
    }
}

fn privet_case(c: PrivetCase, shared: &[Value]) -> Result<Case, String> {
    let mut request = c.request;
    let Value::Object(map) = &mut request else {
        return Err(format!("case `{}`: `request` must be an object", c.name));
    };
    let own = match map.remove("entities") {
        Some(Value::Array(list)) => list,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(format!("case `{}`: `request.entities` must be an array", c.name)),
    };
    let slice = privet_core::merge_entity_lists(shared.iter().chain(own.iter()).chain(c.entities.iter()));
    if !slice.is_empty() {
        map.insert("entities".into(), Value::Array(slice));
    }
    let errors = match c.expect.errors {
        None => ErrorExpect::Count(0),
        Some(Value::Number(n)) => ErrorExpect::Count(n.as_u64().unwrap_or(0) as usize),
        Some(Value::Array(codes)) => {
            ErrorExpect::Codes(codes.iter().filter_map(|c| c.as_str().map(String::from)).collect())
        }
        Some(other) => {
            return Err(format!("case `{}`: `expect.errors` must be a count or a list of codes, got {other}", c.name));
        }
    };
    Ok(Case {
        name: c.name,
        request,
        expect: Expect {
            decision: c.expect.decision,
            reasons: c.expect.reasons,
            reasons_include: c.expect.reasons_include,
            errors,
            obligations: c.expect.obligations,
        },
    })
}

fn cedar_case(item: Value, index: usize, dir: &Path, file: &Path) -> Result<Case, String> {
    let c: CedarCase = serde_json::from_value(item).map_err(|e| format!("`{}`: test {index}: {e}", file.display()))?;
    let name = c.name.unwrap_or_else(|| format!("test {index}"));
    let entities = match c.entities {
        Value::String(f) => {
            let path = dir.join(&f);
            let t = std::fs::read_to_string(&path)
                .map_err(|e| format!("test `{name}`: cannot read `{}`: {e}", path.display()))?;
            serde_json::from_str(&t).map_err(|e| format!("test `{name}`: `{}`: {e}", path.display()))?
        }
        other => other,
    };
    let mut request = c.request;
    if let Value::Object(map) = &mut request {
        if !entities.is_null() {
            map.insert("entities".into(), entities);
        }
    }
    Ok(Case {
        name,
        request,
        expect: Expect {
            decision: c.decision,
            reasons: None,
            reasons_include: c.reason,
            errors: ErrorExpect::Count(c.num_errors),
            obligations: Vec::new(),
        },
    })
}
