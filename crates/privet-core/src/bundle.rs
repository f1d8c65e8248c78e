//! Loading a bundle: parse the manifest, schema, policies and entity store, validate the policies strictly
//! against the schema, and index the policies' annotations. Everything here runs once, at load.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use cedar_policy::{
    Authorizer, Effect, Entities, Entity, EntityUid, Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator,
};
use serde::{Deserialize, Serialize};

use crate::compiled::{Compiled, FastStore};
use crate::context_diagnosis::{ContextTypes, schema_json};
use crate::decision::{Obligation, PolicyEffect, PolicyInfo};
use crate::error::{DecisionError, ErrorCode, LoadDiagnostic, LoadError, line_col};
use crate::limits::{Limits, check_json_depth, check_policy_text};
use crate::manifest::{Manifest, Semantics};
use crate::slice::{StoreIndex, policy_literals};
use crate::source::{BundleSources, SourceFile};

/// A loaded, validated bundle: schema, policies, entity store and manifest. Decisions are made with
/// [`Bundle::decide`] and friends (see `engine.rs`); the store changes with [`Bundle::upsert_entities_json`] and
/// [`Bundle::remove_entities_json`].
#[derive(Debug, Clone)]
pub struct Bundle {
    pub(crate) meta: Arc<BundleMeta>,
    /// Cedar's form of the store, for cedar's path. With a compiled store it is built from it on first need
    /// (and dropped on the next update); without one it is always there.
    pub(crate) cedar: Arc<OnceLock<Option<Arc<CedarStore>>>>,
    pub(crate) store_revision: u64,
    /// The compiled store (see `compiled/`), `None` when the bundle or store is not compiled.
    pub(crate) fast: Option<Arc<FastStore>>,
}

/// Cedar's entity store with the index the slice path uses.
#[derive(Debug)]
pub(crate) struct CedarStore {
    pub(crate) entities: Entities,
    pub(crate) index: StoreIndex,
}

impl CedarStore {
    pub(crate) fn new(entities: Entities) -> CedarStore {
        let index = StoreIndex::build(&entities);
        CedarStore { entities, index }
    }
}

/// The immutable part of a bundle, shared by clones.
#[derive(Debug)]
pub(crate) struct BundleMeta {
    pub(crate) name: String,
    pub(crate) version: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) hash: Arc<str>,
    pub(crate) semantics: Semantics,
    pub(crate) limits: Limits,
    pub(crate) schema: Schema,
    pub(crate) policies: PolicySet,
    /// The permits alone, to tell which permits applied when a forbid won (explanations).
    pub(crate) permits: PolicySet,
    pub(crate) infos: HashMap<PolicyId, Arc<PolicyInfo>>,
    pub(crate) order: Vec<PolicyId>,
    pub(crate) actions: HashSet<EntityUid>,
    /// Entity literals in the policies: roots of what evaluation may reach.
    pub(crate) policy_literals: Vec<EntityUid>,
    /// Context types by action, to name the field of a context cedar refuses.
    pub(crate) context_types: ContextTypes,
    pub(crate) authorizer: Authorizer,
    /// The compiled policy set, `None` when the schema uses something the compiled path does not model.
    pub(crate) compiled: Option<Compiled>,
    pub(crate) sources: BundleSources,
    pub(crate) warnings: Vec<String>,
}

/// A summary of a loaded bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleInfo {
    /// Bundle name.
    pub name: String,
    /// Bundle version, if the manifest gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Description, if the manifest gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Content hash (`sha256:…`).
    pub hash: String,
    /// `fail-closed` or `cedar`.
    pub semantics: Semantics,
    /// Policy ids in load order.
    pub policies: Vec<String>,
    /// Number of entities in the store (including the schema's action entities).
    pub entities: usize,
    /// Store revision: 0 at load, +1 per applied update.
    pub store_revision: u64,
    /// The limits in force.
    pub limits: Limits,
}

impl Bundle {
    /// Loads a bundle directory (see [`BundleSources::from_dir`]) or a packed `.privet` file.
    pub fn load(path: impl AsRef<Path>) -> Result<Bundle, LoadError> {
        let path = path.as_ref();
        if path.is_file() {
            let bytes = std::fs::read(path).map_err(|e| {
                LoadError::one(LoadDiagnostic::new(ErrorCode::Io, format!("cannot read `{}`: {e}", path.display())))
            })?;
            return Bundle::from_packed(&bytes);
        }
        let sources = BundleSources::from_dir(path)?;
        let default_name = path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "bundle".into());
        Bundle::build(sources, &default_name)
    }

    /// Loads a bundle from in-memory sources.
    pub fn from_sources(sources: BundleSources) -> Result<Bundle, LoadError> {
        Bundle::build(sources, "bundle")
    }

    /// Loads a packed single-file bundle, checking its hash.
    pub fn from_packed(bytes: &[u8]) -> Result<Bundle, LoadError> {
        Bundle::build(BundleSources::from_packed(bytes)?, "bundle")
    }

    /// The packed single-file form of this bundle's sources (the store as loaded, without later updates).
    pub fn to_packed(&self) -> Vec<u8> {
        self.meta.sources.to_packed()
    }

    /// The sources this bundle was loaded from.
    pub fn sources(&self) -> &BundleSources {
        &self.meta.sources
    }

    /// The content hash (`sha256:…`) reported with every decision.
    pub fn hash(&self) -> &str {
        &self.meta.hash
    }

    /// The policies with their annotations, in load order.
    pub fn policies(&self) -> impl Iterator<Item = &Arc<PolicyInfo>> {
        self.meta.order.iter().filter_map(|id| self.meta.infos.get(id))
    }

    /// Validator warnings found at load (the bundle loaded anyway).
    pub fn warnings(&self) -> &[String] {
        &self.meta.warnings
    }

    /// The semantics in force.
    pub fn semantics(&self) -> Semantics {
        self.meta.semantics
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.meta.limits
    }

    /// Cedar's form of the store, rebuilt from the compiled store when needed. `None` only if that fails, which
    /// the load-time check rules out.
    pub(crate) fn cedar_store(&self) -> Option<&CedarStore> {
        self.cedar
            .get_or_init(|| {
                let (compiled, fast) = (self.meta.compiled.as_ref()?, self.fast.as_deref()?);
                let json = compiled.export(fast)?;
                let entities = Entities::from_json_value(json, Some(&self.meta.schema)).ok()?;
                Some(Arc::new(CedarStore::new(entities)))
            })
            .as_deref()
    }

    /// Entities in the store, actions included.
    pub(crate) fn entity_count(&self) -> usize {
        match (&self.fast, self.cedar.get()) {
            (Some(f), _) => f.len(),
            (None, Some(Some(c))) => c.entities.len(),
            (None, _) => 0,
        }
    }

    /// A summary: name, version, hash, policy ids, store size.
    pub fn info(&self) -> BundleInfo {
        BundleInfo {
            name: self.meta.name.clone(),
            version: self.meta.version.clone(),
            description: self.meta.description.clone(),
            hash: self.meta.hash.to_string(),
            semantics: self.meta.semantics,
            policies: self.policies().map(|p| p.id.clone()).collect(),
            entities: self.entity_count(),
            store_revision: self.store_revision,
            limits: self.meta.limits.clone(),
        }
    }

    fn build(sources: BundleSources, default_name: &str) -> Result<Bundle, LoadError> {
        let hash: Arc<str> = Arc::from(sources.hash());
        let manifest = match &sources.manifest {
            Some(f) => Manifest::parse(&f.name, &f.text).map_err(LoadError::one)?,
            None => Manifest::default(),
        };
        let limits = manifest.limits.clone();
        let mut diags = Vec::new();

        let schema = parse_schema(&sources.schema, &mut diags);

        // Policies: per file, checked for depth before cedar's recursive parser sees them.
        let mut parsed: Vec<(Policy, &SourceFile)> = Vec::new();
        for file in &sources.policies {
            let deep = check_policy_text(&file.name, &file.text, &limits);
            if !deep.is_empty() {
                diags.extend(deep);
                continue;
            }
            match PolicySet::from_str(&file.text) {
                Ok(set) => {
                    if let Some(t) = set.templates().next() {
                        diags.push(
                            LoadDiagnostic::new(
                                ErrorCode::InvalidPolicy,
                                format!("template `{}` is not supported: Privet bundles hold static policies", t.id()),
                            )
                            .in_file(&file.name),
                        );
                    }
                    let mut policies: Vec<Policy> = set.policies().cloned().collect();
                    policies.sort_by_key(|p| auto_index(p.id()));
                    parsed.extend(policies.into_iter().map(|p| (p, file)));
                }
                Err(errs) => {
                    for e in errs.iter() {
                        diags.push(LoadDiagnostic::from_diagnostic(
                            ErrorCode::InvalidPolicy,
                            &file.name,
                            &file.text,
                            e,
                        ));
                    }
                }
            }
        }

        // Ids: `@id` when present, else cedar's positional `policyN` over all files in order.
        let mut policies = PolicySet::new();
        let mut permits = PolicySet::new();
        let mut infos = HashMap::new();
        let mut order = Vec::new();
        let mut file_of: HashMap<PolicyId, &SourceFile> = HashMap::new();
        for (index, (policy, file)) in parsed.into_iter().enumerate() {
            let id = policy.annotation("id").map(str::to_string).unwrap_or_else(|| format!("policy{index}"));
            let pid = PolicyId::new(&id);
            let line = policy_line(&policy, &file.text);
            if infos.contains_key(&pid) {
                let prev = file_of.get(&pid).map(|f| f.name.clone()).unwrap_or_default();
                diags.push(
                    LoadDiagnostic::new(
                        ErrorCode::InvalidPolicy,
                        format!("policy id `{id}` is used twice (first in `{prev}`)"),
                    )
                    .spanned(&file.name, &file.text, line_offset(&file.text, line), 1)
                    .with_policy(&id),
                );
                continue;
            }
            let policy = policy.new_id(pid.clone());
            let info = policy_info(&policy, &id, file, line);
            if policy.effect() == Effect::Permit {
                if let Err(e) = permits.add(policy.clone()) {
                    diags.push(LoadDiagnostic::new(ErrorCode::InvalidPolicy, e.to_string()).in_file(&file.name));
                }
            }
            if let Err(e) = policies.add(policy) {
                diags.push(LoadDiagnostic::new(ErrorCode::InvalidPolicy, e.to_string()).in_file(&file.name));
            }
            infos.insert(pid.clone(), Arc::new(info));
            file_of.insert(pid.clone(), file);
            order.push(pid);
        }

        let Some(schema) = schema else {
            return Err(LoadError { diagnostics: diags });
        };

        // Strict validation against the schema.
        let mut warnings = Vec::new();
        if diags.is_empty() {
            let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
            for e in result.validation_errors() {
                let id = e.policy_id().to_string();
                let d = match file_of.get(e.policy_id()) {
                    Some(f) => LoadDiagnostic::from_diagnostic(ErrorCode::ValidationFailed, &f.name, &f.text, e),
                    None => LoadDiagnostic::new(ErrorCode::ValidationFailed, e.to_string()),
                };
                diags.push(d.with_policy(id));
            }
            for w in result.validation_warnings() {
                warnings.push(format!("policy `{}`: {w}", w.policy_id()));
            }
        }

        let store = match &sources.entities {
            Some(file) => parse_store(file, &schema, &limits, &mut diags),
            None => schema
                .action_entities()
                .map_err(|e| {
                    diags.push(LoadDiagnostic::new(ErrorCode::InvalidSchema, e.to_string()));
                })
                .ok(),
        };

        if !diags.is_empty() {
            return Err(LoadError { diagnostics: diags });
        }
        let Some(store) = store else {
            return Err(LoadError::one(LoadDiagnostic::new(ErrorCode::InvalidBundle, "entity store failed to load")));
        };
        let actions = schema.actions().cloned().collect();
        let policy_literals = policy_literals(policies.policies());
        let schema_json = schema_json(&sources.schema.name, &sources.schema.text);
        let compiled = schema_json.as_ref().and_then(|json| compile(json, &policies, &order, &infos, &limits, &hash));
        let fast = compiled.as_ref().and_then(|c| c.build_store(sources.entities.as_ref().map(|f| f.text.as_str())));
        let meta = BundleMeta {
            name: manifest.bundle.name.clone().unwrap_or_else(|| default_name.to_string()),
            version: manifest.bundle.version.clone(),
            description: manifest.bundle.description.clone(),
            hash,
            semantics: manifest.decision.semantics,
            limits,
            schema,
            policies,
            permits,
            infos,
            order,
            actions,
            policy_literals,
            context_types: ContextTypes::from_schema_json(schema_json.as_ref()),
            authorizer: Authorizer::new(),
            compiled,
            sources,
            warnings,
        };
        // With a compiled store that cedar's store can be rebuilt from, only the compiled one is kept.
        let rebuildable = match (&meta.compiled, &fast) {
            (Some(c), Some(f)) => c
                .export(f)
                .and_then(|json| Entities::from_json_value(json, Some(&meta.schema)).ok())
                .is_some_and(|rebuilt| rebuilt.len() == store.len()),
            _ => false,
        };
        let (cedar, fast) = if rebuildable {
            (OnceLock::new(), fast.map(Arc::new))
        } else {
            (OnceLock::from(Some(Arc::new(CedarStore::new(store)))), None)
        };
        Ok(Bundle { meta: Arc::new(meta), cedar: Arc::new(cedar), store_revision: 0, fast })
    }
}

/// Compiles the validated policies for the fast path (see `compiled/`).
fn compile(
    schema_json: &serde_json::Value,
    policies: &PolicySet,
    order: &[PolicyId],
    infos: &HashMap<PolicyId, Arc<PolicyInfo>>,
    limits: &Limits,
    hash: &Arc<str>,
) -> Option<Compiled> {
    let mut list = Vec::with_capacity(order.len());
    for id in order {
        let est = policies.policy(id)?.to_json().ok()?;
        list.push((est, infos.get(id)?.clone()));
    }
    Compiled::build(schema_json, &list, limits, hash)
}

fn parse_schema(file: &SourceFile, diags: &mut Vec<LoadDiagnostic>) -> Option<Schema> {
    if let Err(e) = check_json_depth(&file.text, 64, "schema") {
        let offset = e.offset.unwrap_or(0);
        diags.push(LoadDiagnostic::new(ErrorCode::LimitExceeded, e.message).spanned(&file.name, &file.text, offset, 1));
        return None;
    }
    if file.name.ends_with(".json") {
        match Schema::from_json_str(&file.text) {
            Ok(s) => Some(s),
            Err(e) => {
                diags.push(LoadDiagnostic::from_diagnostic(ErrorCode::InvalidSchema, &file.name, &file.text, &e));
                None
            }
        }
    } else {
        match Schema::from_cedarschema_str(&file.text) {
            Ok((s, _warnings)) => Some(s),
            Err(e) => {
                diags.push(LoadDiagnostic::from_diagnostic(ErrorCode::InvalidSchema, &file.name, &file.text, &e));
                None
            }
        }
    }
}

fn parse_store(
    file: &SourceFile,
    schema: &Schema,
    limits: &Limits,
    diags: &mut Vec<LoadDiagnostic>,
) -> Option<Entities> {
    let to_diag = |e: DecisionError| {
        let d = LoadDiagnostic::new(e.code, e.message);
        match e.offset {
            Some(o) => d.spanned(&file.name, &file.text, o, 1),
            None => d.in_file(&file.name),
        }
    };
    let entities = match parse_entity_list(&file.text, schema, limits.max_json_depth, usize::MAX, "entities") {
        Ok(list) => list,
        Err(errs) => {
            diags.extend(errs.into_iter().map(to_diag));
            return None;
        }
    };
    match Entities::from_entities(entities, Some(schema)) {
        Ok(store) => Some(store),
        Err(e) => {
            diags.push(LoadDiagnostic::new(ErrorCode::InvalidEntity, e.to_string()).in_file(&file.name));
            None
        }
    }
}

/// Parses a JSON text holding a list of entities, each checked against the schema; errors carry the path
/// `{what}[i]` and the byte offset of the offending entity.
pub(crate) fn parse_entity_list(
    text: &str,
    schema: &Schema,
    max_depth: usize,
    max_count: usize,
    what: &str,
) -> Result<Vec<Entity>, Vec<DecisionError>> {
    check_json_depth(text, max_depth, what).map_err(|e| vec![e])?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| vec![DecisionError::from_json(&e, text, what)])?;
    parse_entity_values(&value, schema, max_count, what)
}

/// Parses a JSON array of entities (already a value), each checked against the schema.
pub(crate) fn parse_entity_values(
    value: &serde_json::Value,
    schema: &Schema,
    max_count: usize,
    what: &str,
) -> Result<Vec<Entity>, Vec<DecisionError>> {
    let serde_json::Value::Array(items) = value else {
        return Err(vec![
            DecisionError::new(ErrorCode::InvalidEntity, format!("`{what}` must be a JSON array of entities")).at(what),
        ]);
    };
    if items.len() > max_count {
        return Err(vec![
            DecisionError::new(
                ErrorCode::LimitExceeded,
                format!("`{what}` holds {} entities, over the limit of {max_count}", items.len()),
            )
            .at(what),
        ]);
    }
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let uid = item.get("uid").map(|u| u.to_string()).unwrap_or_default();
        match Entity::from_json_value(item.clone(), Some(schema)) {
            Ok(e) => out.push(e),
            Err(e) => errors.push(
                DecisionError::new(ErrorCode::InvalidEntity, format!("entity {uid}: {}", crate::engine::flatten(&e)))
                    .at(format!("{what}[{i}]")),
            ),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// The position cedar gives an unnamed policy: `policyN` → N.
fn auto_index(id: &PolicyId) -> usize {
    id.to_string().strip_prefix("policy").and_then(|n| n.parse().ok()).unwrap_or(usize::MAX)
}

/// 1-based line where a policy starts in its file text.
fn policy_line(policy: &Policy, text: &str) -> usize {
    // Policy text is a slice of the file when parsed from it; find where it starts.
    let src = policy.to_string();
    let first = src.lines().next().unwrap_or_default().trim();
    if first.is_empty() {
        return 1;
    }
    text.find(first).map(|o| line_col(text, o).0).unwrap_or(1)
}

fn line_offset(text: &str, line: usize) -> usize {
    text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum()
}

fn policy_info(policy: &Policy, id: &str, file: &SourceFile, line: usize) -> PolicyInfo {
    let annotations: BTreeMap<String, String> =
        policy.annotations().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let obligation = annotations.get("obligation").map(|kind| Obligation {
        kind: kind.clone(),
        policy: id.to_string(),
        params: annotations
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("obligation_").map(|p| (p.to_string(), v.clone())))
            .collect(),
    });
    PolicyInfo {
        id: id.to_string(),
        effect: match policy.effect() {
            Effect::Permit => PolicyEffect::Permit,
            Effect::Forbid => PolicyEffect::Forbid,
        },
        file: file.name.clone(),
        line,
        citation: annotations.get("citation").cloned(),
        reason: annotations.get("reason").cloned(),
        obligation,
        annotations,
    }
}
