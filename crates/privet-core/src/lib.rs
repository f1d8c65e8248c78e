//! # privet-core: may this personal data flow here?
//!
//! Privet decides personal-data flows (share, sell, disclose, retain, delete, export …) under privacy law,
//! with reasons. The rules are [Cedar](https://www.cedarpolicy.com) policies; this crate loads them, decides
//! requests against them, and says why.
//!
//! ## Principal types
//!
//! - [`Bundle`]: a Cedar schema, a policy set validated strictly against it, an entity store and a manifest
//!   (`privet.toml`). Load one from a directory ([`Bundle::load`]), from in-memory text
//!   ([`Bundle::from_sources`]) or from a packed single file ([`Bundle::from_packed`]). Every bundle has a
//!   content hash (sha256 over its sources) that every decision reports. A bad bundle is refused with a
//!   [`LoadError`] whose diagnostics name file, line and column.
//! - [`Request`]: principal, action, resource and context in Cedar's JSON forms, plus an optional entity slice
//!   used together with the store for that request only.
//! - [`Decision`]: allow or deny, the determining policies ([`PolicyInfo`]: `@id`, `@citation`, `@reason`), the
//!   [`Obligation`]s they carry (`@obligation("kind")`, `@obligation_<param>("value")`), errors
//!   ([`DecisionError`], each with an [`ErrorCode`] and a location), and the bundle hash.
//!
//! ## Semantics
//!
//! Allow only when a permit applies and no forbid does (Cedar's rule). Privet fails closed by default: any
//! error on the decision path — malformed input, an entity type or action the schema does not declare, a
//! context that does not match the schema, an exceeded limit — is a deny with a structured error. Where this
//! departs from Cedar: Cedar skips a policy whose evaluation errors, so an erroring `forbid` silently stops
//! forbidding; Privet denies when any policy errored, and when the request's principal or resource is in
//! neither the store nor the slice. `semantics = "cedar"` under `[decision]` in `privet.toml` gives Cedar's
//! exact behaviour instead (errors are still reported). On well-formed requests decisions equal
//! `cedar-policy`'s.
//!
//! The decision path is pure: no clock, no I/O, no randomness. "Today" is an input (a context attribute).
//!
//! ## Example
//!
//! ```
//! use privet_core::{Bundle, BundleSources, SourceFile, Verdict};
//!
//! let bundle = Bundle::from_sources(BundleSources {
//!     manifest: None,
//!     schema: SourceFile::new("schema.cedarschema", r#"
//!         entity Consumer = { opted_out: Bool };
//!         entity Recipient;
//!         action share appliesTo { principal: Recipient, resource: Consumer };
//!     "#),
//!     policies: vec![SourceFile::new("p.cedar", r#"
//!         @id("share-unless-opted-out")
//!         @citation("Cal. Civ. Code §1798.120(a)")
//!         @reason("a consumer who has not opted out may have their data shared")
//!         permit(principal, action == Action::"share", resource) unless { resource.opted_out };
//!     "#)],
//!     entities: Some(SourceFile::new("entities.json", r#"[
//!         {"uid": {"type": "Consumer", "id": "alice"}, "attrs": {"opted_out": true}, "parents": []},
//!         {"uid": {"type": "Recipient", "id": "adnet"}, "attrs": {}, "parents": []}
//!     ]"#)),
//! })?;
//!
//! let d = bundle.decide_json(r#"{"principal": "Recipient::\"adnet\"", "action": "Action::\"share\"",
//!                                "resource": "Consumer::\"alice\""}"#);
//! assert_eq!(d.decision, Verdict::Deny);
//!
//! // The same request with a per-request entity slice in which alice has not opted out.
//! let d = bundle.decide_json(r#"{"principal": "Recipient::\"adnet\"", "action": "Action::\"share\"",
//!     "resource": {"type": "Consumer", "id": "alice"},
//!     "entities": [{"uid": {"type": "Consumer", "id": "alice"}, "attrs": {"opted_out": false}, "parents": []}]}"#);
//! assert_eq!(d.decision, Verdict::Allow);
//! assert_eq!(d.reasons, ["share-unless-opted-out"]);
//! # Ok::<(), privet_core::LoadError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bundle;
mod compiled;
mod context_diagnosis;
mod decision;
mod engine;
mod error;
mod limits;
mod manifest;
mod request;
mod slice;
mod source;
mod store;

pub use bundle::{Bundle, BundleInfo};
pub use decision::{Decision, Obligation, PolicyEffect, PolicyInfo, Shared, Verdict};
pub use engine::Explanation;
pub use error::{DecisionError, ErrorCode, LoadDiagnostic, LoadError};
pub use limits::Limits;
pub use manifest::{Manifest, Semantics};
pub use request::{Request, merge_entity_lists};
pub use source::{BundleSources, SourceFile};
pub use store::StoreUpdate;
