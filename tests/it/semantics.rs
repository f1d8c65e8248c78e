//! Fail-closed versus Cedar-exact semantics; explanations and obligations.

use privet::{Bundle, BundleSources, ErrorCode, SourceFile, Verdict};

use crate::{crm, req, root};

fn crm_with_semantics(semantics: &str) -> Bundle {
    let mut s = BundleSources::from_dir(&root().join("tests/fixtures/crm")).unwrap();
    s.manifest = Some(SourceFile::new("privet.toml", format!("[decision]\nsemantics = \"{semantics}\"\n")));
    Bundle::from_sources(s).unwrap()
}

#[test]
fn permits_and_forbids_decide_with_reasons() {
    let b = crm();
    let d = b.decide_json(&req("payments", "share", "alice-cart", false));
    assert_eq!(d.decision, Verdict::Allow);
    assert_eq!(d.reasons, ["share-with-service-provider"]);
    assert_eq!(d.determining[0].citation.as_deref(), Some("Cal. Civ. Code §1798.140(ag)"));
    assert_eq!(&*d.bundle, b.hash());

    let d = b.decide_json(&req("adnet", "sell", "carol-cart", false));
    assert_eq!(d.decision, Verdict::Deny);
    assert_eq!(d.reasons, ["minors-no-sale"]);
}

#[test]
fn obligations_ride_on_the_determining_policy() {
    let d = crm().decide_json(&req("adnet", "sell", "bob-cart", true));
    assert_eq!(d.decision, Verdict::Deny);
    assert_eq!(d.obligations.len(), 1);
    assert_eq!(d.obligations[0].kind, "display");
    assert_eq!(d.obligations[0].params.get("display").map(String::as_str), Some("Opt-Out Request Honored"));
}

#[test]
fn decisions_one_policy_determined_share_its_parts() {
    let b = crm();
    // Two requests the same forbid decides, on the compiled path and through a batch.
    let one = b.decide_json(&req("adnet", "sell", "bob-cart", true));
    let two = b.decide_json(&req("adnet", "sell", "bob-cart", true));
    assert_eq!(one.reasons, ["opt-out-forbids-flows"]);
    assert_eq!(one, two);
    assert!(std::ptr::eq(one.reasons.as_ptr(), two.reasons.as_ptr()), "reasons are shared");
    assert!(std::ptr::eq(one.obligations.as_ptr(), two.obligations.as_ptr()), "obligations are shared");
    let batch = b.decide_batch_json(&format!(
        "[{},{}]",
        req("adnet", "sell", "bob-cart", true),
        req("payments", "share", "alice-cart", false)
    ));
    assert_eq!(batch[0], one);
    assert_eq!(batch[1].reasons, vec!["share-with-service-provider".to_string()]);
    // The JSON form is unchanged: arrays.
    let json = serde_json::to_value(&one).unwrap();
    assert_eq!(json["reasons"], serde_json::json!(["opt-out-forbids-flows"]));
    assert_eq!(json["obligations"][0]["kind"], "display");
    let back: privet::Decision = serde_json::from_value(json).unwrap();
    assert_eq!(back, one);
}

#[test]
fn erroring_forbid_denies_by_default_but_not_under_cedar_semantics() {
    // ghost-cart's subject is in no store: the forbid errors, the permit (which does not look at it) applies.
    let json = req("payments", "share", "ghost-cart", false);
    let d = crm().decide_json(&json);
    assert_eq!(d.decision, Verdict::Deny);
    assert_eq!(d.errors[0].code, ErrorCode::PolicyEvaluation);
    assert_eq!(d.errors[0].policy.as_deref(), Some("opt-out-forbids-flows"));
    assert!(d.reasons.is_empty());

    let d = crm_with_semantics("cedar").decide_json(&json);
    assert_eq!(d.decision, Verdict::Allow);
    assert_eq!(d.reasons, ["share-with-service-provider"]);
    assert_eq!(d.errors.len(), 1, "errors are still reported");
    assert_eq!(
        d.errors[0].message,
        "error while evaluating policy `opt-out-forbids-flows`: entity `Crm::Consumer::\"ghost\"` does not exist"
    );
}

#[test]
fn policy_errors_on_an_entity_that_does_not_exist_are_the_compiled_paths_own() {
    // The forbid reads the record's subject, which is in no store. In the second request the principal is in
    // none either, and the permit reads it: two errors, in the bundle's order (the permit's file order; not
    // alphabetical). In the third the forbid reads the resource, which is in no store.
    let mut on_ghost_principal: serde_json::Value =
        serde_json::from_str(&req("payments", "share", "ghost-cart", false)).unwrap();
    on_ghost_principal["principal"]["id"] = "nobody".into();
    let mut on_ghost_resource: serde_json::Value =
        serde_json::from_str(&req("payments", "share", "alice-cart", false)).unwrap();
    on_ghost_resource["resource"]["id"] = "not-stored".into();
    let requests =
        [req("payments", "share", "ghost-cart", false), on_ghost_principal.to_string(), on_ghost_resource.to_string()];
    for semantics in ["fail-closed", "cedar"] {
        let b = crm_with_semantics(semantics);
        for json in &requests {
            let fast = b.decide_json_compiled(json).unwrap_or_else(|| panic!("{semantics}: not compiled: {json}"));
            assert_eq!(fast, b.decide_json_reference(json), "{semantics}: {json}");
            // A batch's decision is the same but for the element's index before each error's path.
            let mut batched = b.decide_batch_json(&format!("[{json}]"));
            for e in &mut batched[0].errors {
                let path = e.path.take().unwrap_or_default();
                let rest = path.strip_prefix("[0]").unwrap_or_else(|| panic!("{semantics}: {path}"));
                e.path = Some(rest.trim_start_matches('.').to_string()).filter(|p| !p.is_empty());
            }
            assert_eq!(batched, [fast], "{semantics}: batched {json}");
        }
    }
    let b = crm_with_semantics("cedar");
    let d = b.decide_json(&requests[1]);
    assert_eq!(d.decision, Verdict::Deny);
    let policies: Vec<_> = d.errors.iter().map(|e| e.policy.as_deref().unwrap_or_default()).collect();
    assert_eq!(policies, ["share-with-service-provider", "opt-out-forbids-flows"]);
    assert!(d.errors[0].message.ends_with("entity `Crm::Recipient::\"nobody\"` does not exist"), "{d:?}");
    assert!(d.errors[1].message.ends_with("entity `Crm::Consumer::\"ghost\"` does not exist"), "{d:?}");
    let d = b.decide_json(&requests[2]);
    assert_eq!((d.decision, d.errors.len()), (Verdict::Allow, 1), "{d:?}");
    assert!(d.errors[0].message.ends_with("entity `Crm::Record::\"not-stored\"` does not exist"), "{d:?}");
}

#[test]
fn missing_principal_denies_by_default_but_not_under_cedar_semantics() {
    let mut v: serde_json::Value = serde_json::from_str(&req("payments", "share", "alice-cart", false)).unwrap();
    v["resource"] = serde_json::json!({"type": "Crm::Record", "id": "not-stored"});
    let d = crm().decide_value(v.clone());
    assert_eq!(d.errors[0].code, ErrorCode::EntityNotFound);
    assert_eq!(d.errors[0].path.as_deref(), Some("resource"));
    let d = crm_with_semantics("cedar").decide_value(v);
    assert_eq!(d.decision, Verdict::Allow);
}

#[test]
fn explanation_lists_permits_overridden_by_a_forbid() {
    let b = crm();
    let r = privet::Request::parse(&req("adnet", "sell", "carol-cart", false), b.limits()).unwrap();
    let e = b.explain(&r);
    assert_eq!(e.decision.decision, Verdict::Deny);
    assert_eq!(e.permits_applied.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["sell-unless-opted-out"]);
    assert_eq!(e.forbids_applied.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["minors-no-sale"]);
}

#[test]
fn request_id_is_echoed_and_uids_take_every_form() {
    let b = crm();
    let d = b.decide_json(
        r#"{"id": 42, "principal": {"__entity": {"type": "Crm::Recipient", "id": "payments"}},
        "action": "Crm::Action::\"share\"", "resource": {"type": "Crm::Record", "id": "alice-cart"},
        "context": {"purpose": "p", "gpc": false}}"#,
    );
    assert_eq!(d.decision, Verdict::Allow, "{:?}", d.errors);
    assert_eq!(d.id, Some(serde_json::json!(42)));
}

#[test]
fn unnamed_policies_get_cedar_positional_ids() {
    let s = BundleSources {
        manifest: None,
        schema: SourceFile::new("s.cedarschema", "entity U;\naction a appliesTo { principal: U, resource: U };"),
        policies: vec![
            SourceFile::new(
                "1.cedar",
                "permit(principal, action, resource);\n@id(\"named\") permit(principal, action, resource);",
            ),
            SourceFile::new("2.cedar", "forbid(principal, action, resource) when { false };"),
        ],
        entities: None,
    };
    let b = Bundle::from_sources(s).unwrap();
    assert_eq!(b.info().policies, ["policy0", "named", "policy2"]);
}

#[test]
fn packed_bundle_decides_like_the_directory() {
    let b = crm();
    let packed = Bundle::from_packed(&b.to_packed()).unwrap();
    assert_eq!(packed.hash(), b.hash());
    for (p, a, r, g) in [
        ("payments", "share", "alice-cart", false),
        ("adnet", "sell", "bob-cart", true),
        ("adnet", "sell", "alice-cart", false),
    ] {
        assert_eq!(packed.decide_json(&req(p, a, r, g)), b.decide_json(&req(p, a, r, g)));
    }
}
