//! Entity store updates: seen by the next decision, all-or-nothing, schema-checked.

use privet::{ErrorCode, Verdict};

use crate::{crm, req};

#[test]
fn revoked_opt_in_changes_the_next_decision() {
    let mut b = crm();
    assert_eq!(b.decide_json(&req("adnet", "sell", "alice-cart", false)).decision, Verdict::Allow);
    let u = b
        .upsert_entities_json(r#"[{"uid": {"type": "Crm::Consumer", "id": "alice"}, "attrs": {"residency": "CA", "opted_out": true}, "parents": []}]"#)
        .unwrap();
    assert_eq!((u.revision, u.upserted), (1, 1));
    let d = b.decide_json(&req("adnet", "sell", "alice-cart", false));
    assert_eq!(d.decision, Verdict::Deny);
    assert_eq!(d.reasons, ["opt-out-forbids-flows"]);
    assert_eq!(b.info().store_revision, 1);
}

#[test]
fn removal_makes_the_entity_unknown() {
    let mut b = crm();
    let u = b
        .remove_entities_json(r#"["Crm::Record::\"alice-cart\"", {"type": "Crm::Record", "id": "never-there"}]"#)
        .unwrap();
    assert_eq!(u.removed, 1);
    let d = b.decide_json(&req("payments", "share", "alice-cart", false));
    assert_eq!(d.errors[0].code, ErrorCode::EntityNotFound);
}

#[test]
fn a_bad_update_changes_nothing() {
    let mut b = crm();
    let before = b.info();
    let errs = b
        .upsert_entities_json(r#"[{"uid": {"type": "Crm::Consumer", "id": "alice"}, "attrs": {"residency": "CA", "opted_out": true}, "parents": []},
                                  {"uid": {"type": "Crm::Consumer", "id": "zed"}, "attrs": {"residency": 5, "opted_out": true}, "parents": []}]"#)
        .unwrap_err();
    assert_eq!(errs[0].code, ErrorCode::InvalidEntity);
    assert_eq!(errs[0].path.as_deref(), Some("entities[1]"));
    assert_eq!(b.info(), before);
    assert_eq!(b.decide_json(&req("adnet", "sell", "alice-cart", false)).decision, Verdict::Allow);
    let errs = b
        .upsert_entities_json(r#"[{"uid": {"type": "Crm::Action", "id": "sell"}, "attrs": {}, "parents": []}]"#)
        .unwrap_err();
    assert_eq!(errs[0].code, ErrorCode::InvalidEntity);
    assert_eq!(b.remove_entities_json("{").unwrap_err()[0].code, ErrorCode::MalformedJson);
}
