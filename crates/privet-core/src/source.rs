//! Where a bundle's text comes from: a directory, in-memory files, or a packed single-file bundle. This is the
//! only module that touches the file system, and only when asked to read a directory.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DecisionError, ErrorCode, LoadDiagnostic, LoadError};
use crate::manifest::Manifest;

/// One named text file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// File name, relative to the bundle (used in diagnostics).
    pub name: String,
    /// Contents.
    pub text: String,
}

impl SourceFile {
    /// A named file.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        SourceFile { name: name.into(), text: text.into() }
    }
}

/// The text parts of a bundle, before parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleSources {
    /// `privet.toml`, if any.
    #[serde(default)]
    pub manifest: Option<SourceFile>,
    /// The Cedar schema, in the human syntax (`*.cedarschema`) or JSON (`*.json`).
    pub schema: SourceFile,
    /// Policy files, in evaluation-id order.
    pub policies: Vec<SourceFile>,
    /// The entity store, in Cedar's entity JSON format.
    #[serde(default)]
    pub entities: Option<SourceFile>,
}

/// The packed single-file format: the sources plus their hash, as one JSON document.
#[derive(Serialize, Deserialize)]
struct Packed {
    privet_bundle: u32,
    hash: String,
    #[serde(flatten)]
    sources: BundleSources,
}

const PACK_FORMAT: u32 = 1;

impl BundleSources {
    /// The content hash: `sha256:` + hex over every part, each length-prefixed, in a fixed order.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"privet-bundle-v1\0");
        let mut part = |name: &str, text: &str| {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        };
        match &self.manifest {
            Some(m) => part(&m.name, &m.text),
            None => part("", ""),
        }
        part(&self.schema.name, &self.schema.text);
        for p in &self.policies {
            part(&p.name, &p.text);
        }
        match &self.entities {
            Some(e) => part(&e.name, &e.text),
            None => part("", ""),
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    }

    /// Reads a bundle directory: `privet.toml` (optional), the schema, the policy files and `entities.json`
    /// (optional). The manifest may name other files.
    pub fn from_dir(dir: &Path) -> Result<BundleSources, LoadError> {
        let read = |name: &str| -> Result<SourceFile, LoadError> {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map(|text| SourceFile::new(name, text)).map_err(|e| {
                LoadError::one(LoadDiagnostic::new(ErrorCode::Io, format!("cannot read `{}`: {e}", path.display())))
            })
        };
        if !dir.is_dir() {
            return Err(LoadError::one(LoadDiagnostic::new(
                ErrorCode::Io,
                format!("`{}` is not a bundle directory", dir.display()),
            )));
        }
        let manifest_file = if dir.join("privet.toml").is_file() { Some(read("privet.toml")?) } else { None };
        let manifest = match &manifest_file {
            Some(f) => Manifest::parse(&f.name, &f.text).map_err(LoadError::one)?,
            None => Manifest::default(),
        };
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| {
                LoadError::one(LoadDiagnostic::new(ErrorCode::Io, format!("cannot list `{}`: {e}", dir.display())))
            })?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().is_file())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        names.sort();
        let schema_name = match &manifest.bundle.schema {
            Some(s) => s.clone(),
            None => find_schema(&names).ok_or_else(|| {
                LoadError::one(LoadDiagnostic::new(
                    ErrorCode::InvalidBundle,
                    format!(
                        "`{}` has no schema: expected `schema.cedarschema`, `schema.cedarschema.json`, `schema.json`, \
                         or a single `*.cedarschema` file (or name it with `schema` under [bundle] in privet.toml)",
                        dir.display()
                    ),
                ))
            })?,
        };
        let policy_names: Vec<String> = match &manifest.bundle.policies {
            Some(list) => list.clone(),
            None => names.iter().filter(|n| n.ends_with(".cedar")).cloned().collect(),
        };
        let policies = policy_names.iter().map(|n| read(n)).collect::<Result<Vec<_>, _>>()?;
        let entities = match &manifest.bundle.entities {
            Some(n) => Some(read(n)?),
            None if names.iter().any(|n| n == "entities.json") => Some(read("entities.json")?),
            None => None,
        };
        Ok(BundleSources { manifest: manifest_file, schema: read(&schema_name)?, policies, entities })
    }

    /// The packed single-file form (JSON) with its content hash.
    pub fn to_packed(&self) -> Vec<u8> {
        let packed = Packed { privet_bundle: PACK_FORMAT, hash: self.hash(), sources: self.clone() };
        serde_json::to_vec(&packed).unwrap_or_default()
    }

    /// Reads a packed bundle and checks its hash.
    pub fn from_packed(bytes: &[u8]) -> Result<BundleSources, LoadError> {
        let invalid = |msg: String| LoadError::one(LoadDiagnostic::new(ErrorCode::InvalidBundle, msg));
        let text = std::str::from_utf8(bytes).map_err(|e| {
            invalid(format!("packed bundle is not UTF-8 text (at byte {}): not a `.privet` file", e.valid_up_to()))
        })?;
        crate::limits::check_json_depth(text, 16, "packed bundle").map_err(|e| invalid(e.message))?;
        let packed: Packed = serde_json::from_str(text).map_err(|e| {
            let de = DecisionError::from_json(&e, text, "packed bundle");
            invalid(format!("{} (line {}, column {})", de.message, e.line(), e.column()))
        })?;
        if packed.privet_bundle != PACK_FORMAT {
            return Err(invalid(format!(
                "packed bundle format {} is not supported (this build reads format {PACK_FORMAT})",
                packed.privet_bundle
            )));
        }
        let actual = packed.sources.hash();
        if actual != packed.hash {
            return Err(LoadError::one(LoadDiagnostic::new(
                ErrorCode::HashMismatch,
                format!(
                    "packed bundle's content hash is `{actual}`, but it records `{}`: the file was altered or damaged",
                    packed.hash
                ),
            )));
        }
        Ok(packed.sources)
    }
}

/// The schema file of a directory listing: a conventional name, else the only `*.cedarschema(.json)` file.
fn find_schema(names: &[String]) -> Option<String> {
    if let Some(n) = ["schema.cedarschema", "schema.cedarschema.json", "schema.json"]
        .into_iter()
        .find(|n| names.iter().any(|m| m == n))
    {
        return Some(n.to_string());
    }
    let mut candidates = names.iter().filter(|n| n.ends_with(".cedarschema") || n.ends_with(".cedarschema.json"));
    match (candidates.next(), candidates.next()) {
        (Some(only), None) => Some(only.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> BundleSources {
        BundleSources {
            manifest: None,
            schema: SourceFile::new("schema.cedarschema", "entity User;"),
            policies: vec![SourceFile::new("a.cedar", "permit(principal, action, resource);")],
            entities: None,
        }
    }

    #[test]
    fn pack_round_trips_and_detects_tampering() {
        let s = sources();
        let packed = s.to_packed();
        assert_eq!(BundleSources::from_packed(&packed).unwrap(), s);
        let tampered = String::from_utf8(packed).unwrap().replace("permit", "forbid");
        let err = BundleSources::from_packed(tampered.as_bytes()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::HashMismatch);
        assert_eq!(BundleSources::from_packed(b"\0asm\x01").unwrap_err().code(), ErrorCode::InvalidBundle);
        assert_eq!(BundleSources::from_packed(&[0xff, 0xfe]).unwrap_err().code(), ErrorCode::InvalidBundle);
    }

    #[test]
    fn schema_file_is_found_by_name_or_alone() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(find_schema(&names(&["a.cedar", "schema.json"])).as_deref(), Some("schema.json"));
        assert_eq!(find_schema(&names(&["a.cedar", "crm.cedarschema"])).as_deref(), Some("crm.cedarschema"));
        assert_eq!(find_schema(&names(&["a.cedarschema", "b.cedarschema"])), None);
    }

    #[test]
    fn hash_separates_parts() {
        let a = sources();
        let mut b = sources();
        b.policies[0].name = "a.cedarpermit".into();
        b.policies[0].text = "(principal, action, resource);".into();
        assert_ne!(a.hash(), b.hash());
    }
}
