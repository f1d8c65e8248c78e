//! Cross-crate tests of the engine, one binary with topical modules:
//! - `bad_input`: every class of bad input gives a deny with a precise, located error.
//! - `semantics`: fail-closed versus Cedar-exact semantics, explanations, obligations.
//! - `store`: entity store updates are seen by the next decision and are all-or-nothing.
//! - `differential`: on generated requests Privet's decisions equal `cedar-policy`'s.
//! - `enum_types`: enumerated entity types, on the compiled path and cedar's, as `cedar-policy` decides.
//! - `facts`: per-entity facts stay true to the store through every kind of update.
//! - `random_worlds`: random schemas, policy sets, stores and requests (with slices, some invalid) decided by
//!   Privet in both semantics modes equal `cedar-policy`'s answers (`PRIVET_DIFF_CASES`, `PRIVET_DIFF_SEED`).
//! - `cpra_pack`: the shipped CPRA pack loads and its suites' scenarios decide as written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests and benches may panic

mod bad_input;
mod cpra_pack;
mod differential;
mod enum_types;
mod facts;
mod random_worlds;
mod semantics;
mod store;

use std::path::PathBuf;

use privet::Bundle;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The small CRM fixture bundle.
pub fn crm() -> Bundle {
    Bundle::load(root().join("tests/fixtures/crm")).expect("fixture bundle loads")
}

/// A bundle of one schema, one policy file and a store given as entity values, in `semantics` ("cedar" or
/// "fail-closed").
pub fn bundle_of(schema: &str, policies: &str, store: &[serde_json::Value], semantics: &str) -> Bundle {
    Bundle::from_sources(privet::BundleSources {
        manifest: Some(privet::SourceFile::new("privet.toml", format!("[decision]\nsemantics = \"{semantics}\"\n"))),
        schema: privet::SourceFile::new("schema.cedarschema", schema),
        policies: vec![privet::SourceFile::new("p.cedar", policies)],
        entities: Some(privet::SourceFile::new("entities.json", serde_json::Value::Array(store.to_vec()).to_string())),
    })
    .expect("the bundle loads")
}

/// A request on the CRM fixture.
pub fn req(principal: &str, action: &str, resource: &str, gpc: bool) -> String {
    serde_json::json!({
        "principal": {"type": "Crm::Recipient", "id": principal},
        "action": {"type": "Crm::Action", "id": action},
        "resource": {"type": "Crm::Record", "id": resource},
        "context": {"purpose": "ads", "gpc": gpc},
    })
    .to_string()
}
