//! Enumerated entity types (`entity Color enum ["red", …]`). Their entities are known by the schema and never
//! declared in data. Generated requests name them in every position, valid and invalid ids, in the context and
//! in slices. Privet's compiled path must answer exactly as its cedar path does, wherever it answers; both
//! semantics must answer as `cedar-policy`'s `Authorizer` does.

use std::str::FromStr;

use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request, Schema};
use privet::{Bundle, Verdict};
use serde_json::{Value, json};

use crate::random_worlds::rng::Rng;

const SCHEMA: &str = r#"namespace E {
  entity Color enum ["red", "blue", "green"];
  entity Team in [Team];
  entity User in [Team] = { fav: Color, colors: Set<Color>, level: Long, best?: Color };
  entity Doc = { color: Color, owner: User };
  action view appliesTo { principal: [User, Color], resource: [Doc, Color], context: { c: Color, n: Long } };
}
"#;

const POLICIES: &str = r#"
@id("fav-matches")
permit (principal is E::User, action, resource is E::Doc) when { principal.fav == resource.color };
@id("red-context")
permit (principal, action, resource) when { context.c == E::Color::"red" && resource is E::Doc };
@id("blocked-color")
forbid (principal is E::User, action, resource) when { principal.colors.contains(context.c) };
@id("blue-resource")
permit (principal, action, resource == E::Color::"blue");
@id("in-green")
permit (principal, action, resource) when { resource in E::Color::"green" };
@id("green-high")
forbid (principal is E::User, action, resource) when { principal has best && principal.best == E::Color::"green" && context.n > 3 };
@id("red-principal")
permit (principal == E::Color::"red", action, resource);
@id("owner-team")
permit (principal, action, resource is E::Doc) when { resource.owner in E::Team::"t0" && principal in E::Team::"t1" };
@id("set-of-enum")
permit (principal, action, resource) when { [E::Color::"red", E::Color::"blue"].contains(context.c) && context.n == 0 };
"#;

const COLORS: [&str; 5] = ["red", "blue", "green", "purple", "Red"];

fn uid(ty: &str, id: &str) -> Value {
    json!({"type": format!("E::{ty}"), "id": id})
}

fn user(rng: &mut Rng, id: &str) -> Value {
    let mut attrs = json!({
        "fav": uid("Color", COLORS[rng.below(3)]),
        "colors": (0..rng.below(3)).map(|_| uid("Color", COLORS[rng.below(3)])).collect::<Vec<_>>(),
        "level": rng.below(5),
    });
    if rng.below(2) == 0 {
        attrs["best"] = uid("Color", COLORS[rng.below(3)]);
    }
    json!({"uid": uid("User", id), "attrs": attrs, "parents": [uid("Team", &format!("t{}", rng.below(3)))]})
}

fn doc(rng: &mut Rng, id: &str) -> Value {
    let attrs =
        json!({"color": uid("Color", COLORS[rng.below(3)]), "owner": uid("User", &format!("u{}", rng.below(8)))});
    json!({"uid": uid("Doc", id), "attrs": attrs, "parents": []})
}

fn store(rng: &mut Rng) -> Vec<Value> {
    let mut out: Vec<Value> = (0..3)
        .map(|t| json!({"uid": uid("Team", &format!("t{t}")), "attrs": {}, "parents": if t == 0 { vec![uid("Team", "t1")] } else { vec![] }}))
        .collect();
    out.extend((0..6).map(|u| user(rng, &format!("u{u}"))));
    out.extend((0..6).map(|d| doc(rng, &format!("d{d}"))));
    out
}

fn request(rng: &mut Rng) -> Value {
    let principal = match rng.below(3) {
        0 => uid("Color", COLORS[rng.below(COLORS.len())]),
        _ => uid("User", &format!("u{}", rng.below(8))),
    };
    let resource = match rng.below(3) {
        0 => uid("Color", COLORS[rng.below(COLORS.len())]),
        _ => uid("Doc", &format!("d{}", rng.below(8))),
    };
    let c = match rng.below(8) {
        0 => json!("red"),
        _ => uid("Color", COLORS[rng.below(COLORS.len())]),
    };
    let mut r = json!({
        "principal": principal,
        "action": {"type": "E::Action", "id": "view"},
        "resource": resource,
        "context": {"c": c, "n": rng.below(6)},
    });
    let n = rng.below(8);
    match rng.below(6) {
        0 => r["entities"] = json!([user(rng, &format!("u{n}"))]),
        1 => r["entities"] = json!([doc(rng, &format!("d{n}"))]),
        2 => r["entities"] = json!([{"uid": uid("Color", COLORS[rng.below(3)]), "attrs": {}, "parents": []}]),
        _ => {}
    }
    r
}

/// Cedar's answer, the store with the slice's entities replacing stored ones: decision, determining policies by
/// `@id`, whether it met errors. `None` when cedar refuses the request or the entities.
fn cedar(schema: &Schema, policies: &PolicySet, store: &[Value], r: &Value) -> Option<(Verdict, Vec<String>, bool)> {
    let u = |v: &Value| EntityUid::from_json(v.clone()).ok();
    let action = u(&r["action"])?;
    let context = Context::from_json_value(r["context"].clone(), Some((schema, &action))).ok()?;
    let req = Request::new(u(&r["principal"])?, action, u(&r["resource"])?, context, Some(schema)).ok()?;
    let slice = r["entities"].as_array().cloned().unwrap_or_default();
    let mut all: Vec<Value> = store.iter().filter(|e| !slice.iter().any(|s| s["uid"] == e["uid"])).cloned().collect();
    all.extend(slice);
    let entities = Entities::from_json_value(Value::Array(all), Some(schema)).ok()?;
    let resp = Authorizer::new().is_authorized(&req, policies, &entities);
    let mut reasons: Vec<String> =
        resp.diagnostics().reason().map(|id| policies.annotation(id, "id").unwrap_or_default().to_string()).collect();
    reasons.sort();
    let verdict = if resp.decision() == Decision::Allow { Verdict::Allow } else { Verdict::Deny };
    Some((verdict, reasons, resp.diagnostics().errors().next().is_some()))
}

fn bundle(store: &[Value], semantics: &str) -> Bundle {
    crate::bundle_of(SCHEMA, POLICIES, store, semantics)
}

#[test]
fn enumerated_entity_types_decide_as_cedar_on_both_paths() {
    let mut rng = Rng::derive(0x5eed_e0f5, 0);
    let store = store(&mut rng);
    let (schema, _) = Schema::from_cedarschema_str(SCHEMA).unwrap();
    let policies = PolicySet::from_str(POLICIES).unwrap();
    let (exact, closed) = (bundle(&store, "cedar"), bundle(&store, "fail-closed"));
    let (mut compiled, mut clean, mut total, mut allowed) = (0, 0, 0, 0);
    for _ in 0..3000 {
        let r = request(&mut rng);
        let text = r.to_string();
        let want = cedar(&schema, &policies, &store, &r);
        for (b, exact_mode) in [(&exact, true), (&closed, false)] {
            total += 1;
            let reference = b.decide_json_reference(&text);
            if let Some(fast) = b.decide_json_compiled(&text) {
                compiled += 1;
                assert_eq!(fast, reference, "compiled and cedar's path differ on {text}");
            }
            match &want {
                None => assert!(reference.decision == Verdict::Deny && !reference.errors.is_empty(), "{text}"),
                Some((verdict, reasons, errors)) if exact_mode || !errors => {
                    let closed_denies = !exact_mode && !reference.errors.is_empty();
                    if !closed_denies {
                        assert_eq!(reference.decision, *verdict, "{text}");
                        assert_eq!(&reference.reasons, reasons, "{text}");
                        assert_eq!(!reference.errors.is_empty(), *errors, "{text}");
                    } else {
                        assert_eq!(reference.decision, Verdict::Deny, "{text}");
                    }
                }
                Some(_) => assert_eq!(reference.decision, Verdict::Deny, "fail-closed denies on errors: {text}"),
            }
            allowed += usize::from(reference.decision == Verdict::Allow);
            clean += usize::from(reference.errors.is_empty());
        }
    }
    // The generator must reach both answers, and the compiled path must answer most of the requests cedar's path
    // answers without an error (it leaves slices that declare an enumerated entity to cedar's path).
    assert!(allowed > total / 10 && allowed < total * 9 / 10, "{allowed} of {total} allowed");
    assert!(compiled > clean * 3 / 4, "the compiled path answered {compiled} of {clean} requests without errors");
}
