//! Per-entity facts (conjuncts that read only the principal or only the resource, kept per stored entity) stay
//! true to the store: after every kind of update — an entity's attributes, its parents, an entity other entities
//! read through an attribute (a document's owner), removals — the compiled path decides exactly as cedar's path.
//! The policies mix facts with conjuncts that read the context or both entities, short-circuits that guard an
//! error (`has` before an access), and facts that are errors (a manager or owner not in the store, an overflow).

use privet::{Bundle, Verdict};
use serde_json::{Value, json};

use crate::random_worlds::rng::Rng;

const SCHEMA: &str = r#"namespace F {
  entity Group in [Group];
  entity Folder = { locked: Bool };
  entity User in [Group] = { role: String, level: Long, flags: Set<String>, manager?: User };
  entity Doc in [Folder] = { owner: User, secret: Bool, tier: Long, tags: Set<String> };
  action view, edit appliesTo { principal: [User], resource: [Doc], context: { purpose: String, n: Long } };
}
"#;

const POLICIES: &str = r#"
@id("editor-tier")
permit (principal, action == F::Action::"view", resource) when { principal.role == "editor" && resource.tier <= 2 && context.n > 0 };
@id("manager-admin")
permit (principal, action == F::Action::"edit", resource) when { principal has manager && principal.manager.role == "admin" && resource.owner == principal };
@id("secret")
forbid (principal, action, resource) when { resource.secret && !(principal in F::Group::"cleared") };
@id("vault")
forbid (principal, action, resource) when { resource in F::Folder::"vault" && resource.owner.level < 3 };
@id("flags")
permit (principal, action == F::Action::"view", resource) when { principal.flags.contains(context.purpose) && resource.tags.contains(context.purpose) };
@id("unless-managed")
forbid (principal, action == F::Action::"edit", resource) unless { resource.owner has manager || context.purpose == "audit" };
@id("guarded")
permit (principal, action, resource) when { principal has manager && principal.manager.level > 2 && resource.owner has manager && resource.owner.manager == principal.manager };
@id("owner-above")
forbid (principal, action, resource) when { resource.owner.level > principal.level && resource.tier > 4 };
@id("view-tagged")
permit (principal, action == F::Action::"view", resource) when { resource.tags.contains("ads") && context.n < 2 };
@id("big-level")
permit (principal, action, resource) when { principal.level * 1000000000000 > 1 && resource.tier == 1 };
"#;

const ROLES: [&str; 3] = ["editor", "admin", "viewer"];
const PURPOSES: [&str; 3] = ["ads", "audit", "x"];

fn uid(ty: &str, id: &str) -> Value {
    json!({"type": format!("F::{ty}"), "id": id})
}

fn strings(rng: &mut Rng) -> Vec<&'static str> {
    (0..rng.below(3)).map(|_| PURPOSES[rng.below(3)]).collect()
}

/// A user: `u12` and up are never stored, so a manager or owner may be missing; a level may overflow.
fn user(rng: &mut Rng, id: &str) -> Value {
    let level = [0, 1, 2, 3, 4, 10_000_000][rng.below(6)];
    let mut attrs = json!({
        "role": ROLES[rng.below(3)],
        "level": level,
        "flags": strings(rng),
    });
    if rng.below(3) > 0 {
        attrs["manager"] = uid("User", &format!("u{}", rng.below(13)));
    }
    let parents: Vec<Value> = (0..rng.below(3)).map(|_| uid("Group", ["g0", "g1", "cleared"][rng.below(3)])).collect();
    json!({"uid": uid("User", id), "attrs": attrs, "parents": parents})
}

fn doc(rng: &mut Rng, id: &str) -> Value {
    let attrs = json!({
        "owner": uid("User", &format!("u{}", rng.below(13))),
        "secret": rng.below(6) == 0,
        "tier": rng.below(6),
        "tags": strings(rng),
    });
    json!({"uid": uid("Doc", id), "attrs": attrs, "parents": [uid("Folder", ["f0", "f0", "f0", "vault"][rng.below(4)])]})
}

fn store(rng: &mut Rng) -> Vec<Value> {
    let mut out = vec![
        json!({"uid": uid("Group", "g0"), "attrs": {}, "parents": []}),
        json!({"uid": uid("Group", "g1"), "attrs": {}, "parents": [uid("Group", "g0")]}),
        json!({"uid": uid("Group", "cleared"), "attrs": {}, "parents": []}),
        json!({"uid": uid("Folder", "f0"), "attrs": {"locked": false}, "parents": []}),
        json!({"uid": uid("Folder", "vault"), "attrs": {"locked": true}, "parents": []}),
    ];
    out.extend((0..12).map(|u| user(rng, &format!("u{u}"))));
    out.extend((0..16).map(|d| doc(rng, &format!("d{d}"))));
    out
}

/// A request about a user and a document (some never stored); one in ten carries a slice that replaces the
/// principal, the document or the document's owner.
fn request(rng: &mut Rng) -> String {
    let mut r = json!({
        "principal": uid("User", &format!("u{}", rng.below(13))),
        "action": uid("Action", ["view", "edit"][rng.below(2)]),
        "resource": uid("Doc", &format!("d{}", rng.below(17))),
        "context": {"purpose": PURPOSES[rng.below(3)], "n": rng.below(3)},
    });
    if rng.below(10) == 0 {
        let n = rng.below(12);
        r["entities"] =
            json!([if rng.below(2) == 0 { user(rng, &format!("u{n}")) } else { doc(rng, &format!("d{n}")) }]);
    }
    r.to_string()
}

/// One random change to the store: users, documents or both replaced, or an entity removed.
fn update(rng: &mut Rng, bundles: &mut [Bundle]) {
    let (u, d) = (format!("u{}", rng.below(12)), format!("d{}", rng.below(16)));
    let change = match rng.below(6) {
        0 | 1 => Some(json!([user(rng, &u)])),
        2 | 3 => Some(json!([doc(rng, &d)])),
        4 => Some(json!([user(rng, &u), doc(rng, &d)])),
        _ => None,
    };
    let removed = json!([if rng.below(2) == 0 { uid("User", &u) } else { uid("Doc", &d) }]);
    for b in bundles {
        match &change {
            Some(c) => b.upsert_entities_json(&c.to_string()).map(|_| ()),
            None => b.remove_entities_json(&removed.to_string()).map(|_| ()),
        }
        .expect("the update applies");
    }
}

fn bundle(store: &[Value], semantics: &str) -> Bundle {
    crate::bundle_of(SCHEMA, POLICIES, store, semantics)
}

#[test]
fn facts_follow_every_store_update() {
    let mut rng = Rng::derive(0xfac7_5eed, 0);
    let store = store(&mut rng);
    let mut bundles = [bundle(&store, "cedar"), bundle(&store, "fail-closed")];
    let (mut compiled, mut total, mut allowed, mut errors) = (0, 0, 0, 0);
    for _ in 0..400 {
        update(&mut rng, &mut bundles);
        for _ in 0..25 {
            let text = request(&mut rng);
            for b in &bundles {
                total += 1;
                let reference = b.decide_json_reference(&text);
                if let Some(fast) = b.decide_json_compiled(&text) {
                    compiled += 1;
                    assert_eq!(fast, reference, "compiled and cedar's path differ on {text}");
                }
                allowed += usize::from(reference.decision == Verdict::Allow);
                errors += usize::from(!reference.errors.is_empty());
            }
        }
    }
    // Both answers, some errors, and a quarter or more of the requests answered by the compiled path (it leaves
    // requests that meet an error, missing entities among them, to cedar's path).
    assert!(allowed > total / 10 && allowed < total * 9 / 10, "{allowed} of {total} allowed");
    assert!(errors > total / 50, "{errors} of {total} with errors");
    assert!(compiled > total / 4, "the compiled path answered {compiled} of {total}");
}
