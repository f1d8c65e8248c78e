//! Generated requests (principal, action, resource, context and an entity slice drawn at random) decided by
//! Privet and by `cedar-policy`'s `Authorizer` built independently from the same texts: under Cedar semantics
//! decision, determining policies and error count are equal; under fail-closed semantics they are equal
//! whenever Cedar met no error and both entities exist, and otherwise Privet denies.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::LazyLock;

use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request, Schema};
use privet::{Bundle, BundleSources, SourceFile, Verdict};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::root;

struct Reference {
    schema: Schema,
    policies: PolicySet,
    store: Vec<Value>,
}

fn reference() -> Reference {
    let s = BundleSources::from_dir(&root().join("tests/fixtures/crm")).unwrap();
    let (schema, _) = Schema::from_cedarschema_str(&s.schema.text).unwrap();
    let text: String = s.policies.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join("\n");
    let policies = PolicySet::from_str(&text).unwrap();
    let store: Vec<Value> = serde_json::from_str(&s.entities.unwrap().text).unwrap();
    Reference { schema, policies, store }
}

/// Cedar's answer: decision, determining policies by `@id`, number of errors.
fn cedar_answer(r: &Reference, request: &Value) -> Option<(Verdict, Vec<String>, usize)> {
    let uid = |v: &Value| EntityUid::from_json(v.clone()).ok();
    let action = uid(&request["action"])?;
    let context = Context::from_json_value(request["context"].clone(), Some((&r.schema, &action))).ok()?;
    let req =
        Request::new(uid(&request["principal"])?, action, uid(&request["resource"])?, context, Some(&r.schema)).ok()?;
    // Store, with the slice replacing entities of the same uid.
    let mut by_uid: BTreeMap<String, Value> = r.store.iter().map(|e| (e["uid"].to_string(), e.clone())).collect();
    for e in request["entities"].as_array().into_iter().flatten() {
        by_uid.insert(e["uid"].to_string(), e.clone());
    }
    let entities = Entities::from_json_value(Value::Array(by_uid.into_values().collect()), Some(&r.schema)).ok()?;
    let resp = Authorizer::new().is_authorized(&req, &r.policies, &entities);
    let mut reasons: Vec<String> = resp
        .diagnostics()
        .reason()
        .map(|id| r.policies.annotation(id, "id").map(str::to_string).unwrap_or_else(|| id.to_string()))
        .collect();
    reasons.sort();
    let verdict = if resp.decision() == Decision::Allow { Verdict::Allow } else { Verdict::Deny };
    Some((verdict, reasons, resp.diagnostics().errors().count()))
}

fn consumer(id: &str, opted_out: bool, age: Option<i64>, household: Option<&str>) -> Value {
    let mut attrs = json!({"residency": "CA", "opted_out": opted_out});
    if let Some(a) = age {
        attrs["age"] = json!(a);
    }
    // A household parent changes the ancestry of the consumer's stored records (the slow, exact path).
    let parents: Vec<Value> = household.into_iter().map(|h| json!({"type": "Crm::Household", "id": h})).collect();
    json!({"uid": {"type": "Crm::Consumer", "id": id}, "attrs": attrs, "parents": parents})
}

fn request_strategy() -> impl Strategy<Value = Value> {
    let principal = prop::sample::select(vec!["payments", "adnet", "nobody"]);
    let action = prop::sample::select(vec!["share", "sell"]);
    let resource = prop::sample::select(vec!["alice-cart", "bob-cart", "carol-cart", "ghost-cart", "absent"]);
    let slice_entry = (
        prop::sample::select(vec!["alice", "bob", "carol", "ghost"]),
        any::<bool>(),
        prop::option::of(5i64..30),
        prop::option::of(prop::sample::select(vec!["opted-out", "other"])),
    );
    (principal, action, resource, any::<bool>(), prop::collection::vec(slice_entry, 0..3)).prop_map(
        |(p, a, r, gpc, slice)| {
            let entities: Vec<Value> = slice.iter().map(|(id, o, age, h)| consumer(id, *o, *age, *h)).collect();
            json!({
                "principal": {"type": "Crm::Recipient", "id": p},
                "action": {"type": "Crm::Action", "id": a},
                "resource": {"type": "Crm::Record", "id": r},
                "context": {"purpose": "ads", "gpc": gpc},
                "entities": entities,
            })
        },
    )
}

fn bundle(semantics: &str) -> Bundle {
    let mut s = BundleSources::from_dir(&root().join("tests/fixtures/crm")).unwrap();
    s.manifest = Some(SourceFile::new("privet.toml", format!("[decision]\nsemantics = \"{semantics}\"\n")));
    Bundle::from_sources(s).unwrap()
}

static REFERENCE: LazyLock<Reference> = LazyLock::new(reference);
static EXACT: LazyLock<Bundle> = LazyLock::new(|| bundle("cedar"));
static FAIL_CLOSED: LazyLock<Bundle> = LazyLock::new(|| bundle("fail-closed"));

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn decisions_equal_cedar_policy(request in request_strategy()) {
        let want = cedar_answer(&REFERENCE, &request);
        let exact = EXACT.decide_value(request.clone());
        let closed = FAIL_CLOSED.decide_value(request.clone());
        let (verdict, reasons, errors) = want.expect("generated requests are well formed");
        prop_assert_eq!(exact.decision, verdict);
        prop_assert_eq!(&exact.reasons, &reasons);
        prop_assert_eq!(exact.errors.len(), errors);
        let exists = |field: &str| {
            let id = request[field]["id"].as_str().unwrap_or_default();
            !matches!(id, "nobody" | "absent")
        };
        if errors == 0 && exists("principal") && exists("resource") {
            prop_assert_eq!(closed.decision, verdict);
            prop_assert_eq!(&closed.reasons, &reasons);
        } else {
            prop_assert_eq!(closed.decision, Verdict::Deny);
            prop_assert!(!closed.errors.is_empty());
        }
    }
}
