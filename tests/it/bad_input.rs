//! Each class of bad input: a deny, the right error code, and a location (field path, line/column/offset).

use privet::{Bundle, BundleSources, ErrorCode, SourceFile, Verdict};

use crate::{crm, req};

fn one_error(json: &str) -> privet::DecisionError {
    let d = crm().decide_json(json);
    assert_eq!(d.decision, Verdict::Deny, "{json}");
    assert!(d.reasons.is_empty());
    assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
    d.errors.into_iter().next().unwrap()
}

#[test]
fn malformed_json_is_located() {
    let e = one_error("{\"principal\": \"Crm::Recipient::\\\"adnet\\\"\",\n \"action\": }");
    assert_eq!(e.code, ErrorCode::MalformedJson);
    assert_eq!(e.line, Some(2));
    assert_eq!(e.column, Some(12));
    assert_eq!(e.offset, Some(54));
}

#[test]
fn missing_field_is_named() {
    let e = one_error(r#"{"principal": "Crm::Recipient::\"adnet\"", "resource": "Crm::Record::\"alice-cart\""}"#);
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert_eq!(e.path.as_deref(), Some("action"));
    let e = one_error("[1, 2]");
    assert_eq!(e.code, ErrorCode::InvalidRequest);
}

#[test]
fn unparsable_uid_is_named() {
    let e = one_error(
        r#"{"principal": "not a uid", "action": "Crm::Action::\"share\"", "resource": "Crm::Record::\"alice-cart\""}"#,
    );
    assert_eq!(e.code, ErrorCode::InvalidEntityUid);
    assert_eq!(e.path.as_deref(), Some("principal"));
}

#[test]
fn unknown_entity_type_is_named() {
    let e = one_error(&req("adnet", "share", "x", false).replace("Crm::Record", "Crm::Nope"));
    assert_eq!(e.code, ErrorCode::UnknownEntityType);
    assert_eq!(e.path.as_deref(), Some("resource"));
    assert!(e.message.contains("Crm::Nope"), "{}", e.message);
}

#[test]
fn unknown_action_is_named() {
    let e = one_error(&req("adnet", "teleport", "alice-cart", false));
    assert_eq!(e.code, ErrorCode::UnknownAction);
    assert_eq!(e.path.as_deref(), Some("action"));
    assert!(e.message.contains("teleport"));
}

#[test]
fn missing_context_attribute_is_named() {
    let json = req("adnet", "share", "alice-cart", false).replace(r#""purpose":"ads","#, "");
    let e = one_error(&json);
    assert_eq!(e.code, ErrorCode::InvalidContext);
    assert_eq!(e.path.as_deref(), Some("context.purpose"));
}

#[test]
fn wrongly_typed_context_attribute_is_refused() {
    let json = req("adnet", "share", "alice-cart", false).replace(r#""gpc":false"#, r#""gpc":"yes""#);
    let e = one_error(&json);
    assert_eq!(e.code, ErrorCode::InvalidContext);
    assert_eq!(e.path.as_deref(), Some("context.gpc"));
    assert!(e.message.contains("must be a boolean"), "{}", e.message);
}

#[test]
fn wrongly_typed_slice_entity_is_located() {
    let mut v: serde_json::Value = serde_json::from_str(&req("adnet", "sell", "alice-cart", false)).unwrap();
    v["entities"] = serde_json::json!([
        {"uid": {"type": "Crm::Consumer", "id": "dave"}, "attrs": {"residency": "CA", "opted_out": false}, "parents": []},
        {"uid": {"type": "Crm::Consumer", "id": "alice"}, "attrs": {"residency": "CA", "opted_out": "no"}, "parents": []}
    ]);
    let e = one_error(&v.to_string());
    assert_eq!(e.code, ErrorCode::InvalidEntity);
    assert_eq!(e.path.as_deref(), Some("entities[1]"));
    assert!(e.message.contains("opted_out"), "{}", e.message);
}

#[test]
fn entity_not_in_store_or_slice_denies() {
    let d = crm().decide_json(&req("nobody", "share", "alice-cart", false));
    assert_eq!(d.decision, Verdict::Deny);
    assert_eq!(d.errors[0].code, ErrorCode::EntityNotFound);
    assert_eq!(d.errors[0].path.as_deref(), Some("principal"));
}

#[test]
fn oversized_and_too_deep_requests_are_refused() {
    let big = format!(r#"{{"principal": "{}"}}"#, "x".repeat(2 << 20));
    assert_eq!(one_error(&big).code, ErrorCode::LimitExceeded);
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let e = one_error(&deep);
    assert_eq!(e.code, ErrorCode::LimitExceeded);
    assert_eq!(e.offset, Some(64));
    // Deep nesting inside the context, past serde's own recursion limit too.
    let ctx = format!(
        r#"{{"principal": "a", "action": "b", "resource": "c", "context": {{"x": {}1{}}}}}"#,
        "[".repeat(500),
        "]".repeat(500)
    );
    assert_eq!(one_error(&ctx).code, ErrorCode::LimitExceeded);
}

#[test]
fn batch_reports_each_bad_element_in_place() {
    let batch =
        format!("[{}, 7, {}]", req("payments", "share", "alice-cart", false), req("adnet", "share", "bob-cart", true));
    let ds = crm().decide_batch_json(&batch);
    assert_eq!(ds.len(), 3);
    assert_eq!(ds[0].decision, Verdict::Allow);
    assert_eq!(ds[1].errors[0].code, ErrorCode::InvalidRequest);
    assert_eq!(ds[1].errors[0].path.as_deref(), Some("[1]"));
    assert_eq!(ds[2].decision, Verdict::Deny);
    let ds = crm().decide_batch_json("[{");
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].errors[0].code, ErrorCode::MalformedJson);
}

/// A batch that is an array on the surface but not JSON inside one element is one malformed-JSON error for the
/// whole batch, with its byte offset, however many elements came before (batches are split before their
/// elements are parsed, and large ones are decided on several threads).
#[test]
fn batch_with_bad_json_inside_an_element_is_one_error() {
    let good = req("payments", "share", "alice-cart", false);
    for bad in ["1 2", r#"{"principal": tru}"#, r#"{"principal" "a"}"#, r#"{"a": [1,]}"#] {
        for before in [0usize, 1, 600] {
            let mut items = vec![good.clone(); before];
            items.push(bad.to_string());
            items.push(good.clone());
            let batch = format!("[{}]", items.join(","));
            let ds = crm().decide_batch_json(&batch);
            assert_eq!(ds.len(), 1, "{bad} after {before}");
            let e = &ds[0].errors[0];
            assert_eq!(e.code, ErrorCode::MalformedJson, "{bad} after {before}");
            let offset = e.offset.expect("an offset");
            let at = batch.len() - good.len() - 1 - bad.len() - 1;
            assert!(offset >= at && offset <= at + bad.len(), "{bad} after {before}: offset {offset}, element at {at}");
        }
    }
}

/// A large batch (decided on several threads) gives, in order, the decisions of its elements decided one by one.
#[test]
fn large_batch_decides_as_single_calls_in_order() {
    let bundle = crm();
    let reqs: Vec<String> = (0..1500)
        .map(|i| match i % 4 {
            0 => req("payments", "share", "alice-cart", false),
            1 => req("adnet", "share", "bob-cart", true),
            2 => req("adnet", "share", "alice-cart", i % 3 == 0),
            _ => "7".to_string(),
        })
        .collect();
    let ds = bundle.decide_batch_json(&format!("[{}]", reqs.join(",")));
    assert_eq!(ds.len(), reqs.len());
    for (i, (r, d)) in reqs.iter().zip(&ds).enumerate() {
        let mut one = bundle.decide_json(r);
        for e in &mut one.errors {
            e.path = Some(match e.path.take() {
                Some(p) => format!("[{i}].{p}"),
                None => format!("[{i}]"),
            });
        }
        assert_eq!(*d, one, "element {i}");
    }
}

/// A batch is cut for its threads at guessed element starts (after `},`, where the text goes on as the first
/// element begins); the guesses are checked, so a batch whose strings are full of `},{` and whose elements hold
/// objects that begin like the elements, with any number of threads, gives the decisions of its elements decided
/// one by one, and a bad element anywhere is still one error for the whole batch.
#[test]
fn separate_texts_decided_on_threads_equal_single_calls() {
    let bundle = crm();
    let texts: Vec<String> = (0..1500)
        .map(|i| match i % 9 {
            0 => "{\"principal\":".to_string(),
            1 => serde_json::json!({"principal": "Crm::Recipient::\"adnet\"", "action": 3}).to_string(),
            2 => req("nobody", "sell", "ghost-cart", i % 2 == 0),
            k => {
                let mut v: serde_json::Value = serde_json::from_str(&req(
                    ["payments", "adnet"][k % 2],
                    ["share", "sell"][i % 2],
                    "alice-cart",
                    k % 3 == 0,
                ))
                .expect("a request");
                v["id"] = serde_json::json!(i);
                v.to_string()
            }
        })
        .collect();
    let single: Vec<_> = texts.iter().map(|t| bundle.decide_json(t)).collect();
    for threads in [1, 2, 3, 5, 16] {
        let each = bundle.decide_json_each_on(&texts, threads);
        assert_eq!(each.len(), texts.len(), "{threads} threads");
        for (i, (d, one)) in each.iter().zip(&single).enumerate() {
            assert_eq!(d, one, "request {i}, {threads} threads");
        }
    }
    assert_eq!(bundle.decide_json_each(&texts[..10]), single[..10]);
    assert!(bundle.decide_json_each::<&str>(&[]).is_empty());
}

#[test]
fn batch_cut_guesses_inside_strings_do_not_change_decisions() {
    let bundle = crm();
    let noisy = "},{".repeat(40) + "}, {\"principal\":1},\n{";
    let reqs: Vec<String> = (0..700)
        .map(|i| {
            let mut v: serde_json::Value =
                serde_json::from_str(&req("payments", "share", "alice-cart", i % 3 == 0)).expect("a request");
            match i % 7 {
                0 => v["id"] = serde_json::json!(format!("{i}{noisy}")),
                1 => v["id"] = serde_json::json!(format!("{i}}},{{")),
                2 => v["context"]["purpose"] = serde_json::json!(noisy.clone()),
                3 => v["principal"]["id"] = serde_json::json!("adnet"),
                4 => return serde_json::json!([noisy]).to_string(),
                // Objects inside the element that begin as the batch's elements do (`{"principal"`).
                5 => v["context"]["extra"] = serde_json::json!(vec![serde_json::json!({"principal": i}); 30]),
                _ => v["id"] = serde_json::json!(i),
            }
            v.to_string()
        })
        .collect();
    let single: Vec<_> = reqs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut one = bundle.decide_json(r);
            for e in &mut one.errors {
                e.path = Some(match e.path.take() {
                    Some(p) => format!("[{i}].{p}"),
                    None => format!("[{i}]"),
                });
            }
            one
        })
        .collect();
    for sep in [",", " ,\n ", "},{"] {
        let batch = format!("[{}]", reqs.join(sep));
        for threads in [1, 2, 3, 5, 16] {
            let ds = bundle.decide_batch_json_on(&batch, threads);
            if sep == "},{" {
                assert_eq!(ds.len(), 1, "{threads} threads");
                assert_eq!(ds[0].errors[0].code, ErrorCode::MalformedJson);
                continue;
            }
            assert_eq!(ds.len(), reqs.len(), "{threads} threads: {:?}", ds[0].errors);
            for (i, (d, one)) in ds.iter().zip(&single).enumerate() {
                assert_eq!(d, one, "element {i}, {threads} threads");
            }
        }
    }
    // One bad element, at the start, inside and at the end.
    for at in [0, 350, 699] {
        let mut items = reqs.clone();
        items[at] = r#"{"principal": tru}"#.to_string();
        let batch = format!("[{}]", items.join(","));
        for threads in [1, 2, 5] {
            let ds = bundle.decide_batch_json_on(&batch, threads);
            assert_eq!(ds.len(), 1, "bad element {at}, {threads} threads");
            assert_eq!(ds[0].errors[0].code, ErrorCode::MalformedJson, "bad element {at}, {threads} threads");
        }
    }
}

fn sources(policy: &str) -> BundleSources {
    BundleSources {
        manifest: None,
        schema: SourceFile::new(
            "schema.cedarschema",
            "entity User = { n: Long };\naction go appliesTo { principal: User, resource: User };\n",
        ),
        policies: vec![SourceFile::new("p.cedar", policy)],
        entities: None,
    }
}

#[test]
fn invalid_policy_text_is_located() {
    let err =
        Bundle::from_sources(sources("permit(principal, action, resource)\nwhen { principal.n > };")).unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!(d.code, ErrorCode::InvalidPolicy);
    assert_eq!(d.file.as_deref(), Some("p.cedar"));
    assert_eq!(d.line, Some(2));
}

#[test]
fn schema_mismatch_is_located() {
    let err =
        Bundle::from_sources(sources("@id(\"bad\")\npermit(principal, action, resource)\nwhen { principal.m > 1 };"))
            .unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!(d.code, ErrorCode::ValidationFailed);
    assert_eq!(d.policy.as_deref(), Some("bad"));
    assert_eq!((d.line, d.column), (Some(3), Some(8)));
}

#[test]
fn invalid_schema_is_located() {
    let mut s = sources("permit(principal, action, resource);");
    s.schema.text = "entity User = { n: Lng };\naction go appliesTo { principal: User, resource: User };".into();
    let err = Bundle::from_sources(s).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidSchema);
    assert_eq!(err.diagnostics[0].file.as_deref(), Some("schema.cedarschema"));
}

#[test]
fn too_deep_policy_is_refused_before_parsing() {
    let text = format!("permit(principal, action, resource) when {{ {}true{} }};", "(".repeat(300), ")".repeat(300));
    let err = Bundle::from_sources(sources(&text)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::LimitExceeded);
    let chain =
        format!("permit(principal, action, resource) when {{ {} }};", vec!["principal.n > 1"; 500].join(" && "));
    assert_eq!(Bundle::from_sources(sources(&chain)).unwrap_err().code(), ErrorCode::LimitExceeded);
}

#[test]
fn bad_store_entities_are_located() {
    let mut s = sources("permit(principal, action, resource);");
    s.entities = Some(SourceFile::new(
        "entities.json",
        "[\n {\"uid\": {\"type\": \"User\", \"id\": \"a\"}, \"attrs\": {\"n\": \"one\"}, \"parents\": []}\n]",
    ));
    let err = Bundle::from_sources(s.clone()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidEntity);
    s.entities = Some(SourceFile::new("entities.json", "[\n {\"uid\": \n"));
    let err = Bundle::from_sources(s).unwrap_err();
    assert_eq!(err.code(), ErrorCode::MalformedJson);
    assert_eq!(err.diagnostics[0].line, Some(3));
}

#[test]
fn duplicate_policy_ids_are_refused() {
    let err = Bundle::from_sources(sources(
        "@id(\"a\")\npermit(principal, action, resource);\n@id(\"a\")\nforbid(principal, action, resource);",
    ))
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidPolicy);
    assert!(err.diagnostics[0].message.contains("`a`"));
}

#[test]
fn undeclared_context_attribute_is_named() {
    let json = req("adnet", "share", "alice-cart", false).replace(r#""gpc":false"#, r#""gpc":false,"bogus":1"#);
    let e = one_error(&json);
    assert_eq!(e.code, ErrorCode::InvalidContext);
    assert_eq!(e.path.as_deref(), Some("context.bogus"));
}

/// A slice whose hierarchy has a cycle is refused with the error naming one of its entities: always the same one
/// (the least, as cedar writes uids), though cedar names whichever its hash order meets first.
#[test]
fn a_cyclic_slice_is_refused_naming_the_same_entity_every_time() {
    let schema = "entity Group in [Group]; entity User in [Group]; entity Doc;
                  action view appliesTo { principal: User, resource: Doc };";
    let store = [
        serde_json::json!({"uid": {"type": "User", "id": "u"}, "attrs": {}, "parents": []}),
        serde_json::json!({"uid": {"type": "Doc", "id": "d"}, "attrs": {}, "parents": []}),
    ];
    let group = |id: &str, parent: &str| serde_json::json!({"uid": {"type": "Group", "id": id}, "attrs": {}, "parents": [{"type": "Group", "id": parent}]});
    let request = serde_json::json!({
        "principal": {"type": "User", "id": "u"}, "action": {"type": "Action", "id": "view"},
        "resource": {"type": "Doc", "id": "d"}, "context": {},
        "entities": [
            {"uid": {"type": "User", "id": "u"}, "attrs": {}, "parents": [{"type": "Group", "id": "g4"}]},
            group("g4", "g2"), group("g2", "g3"), group("g3", "g1"), group("g1", "g5"), group("g5", "g2"),
        ],
    })
    .to_string();
    let mut messages = std::collections::BTreeSet::new();
    for semantics in ["fail-closed", "cedar"] {
        for _ in 0..20 {
            // A bundle of its own each time: cedar's hash order differs from one set of maps to the next.
            let b =
                crate::bundle_of(schema, "permit (principal in Group::\"g1\", action, resource);", &store, semantics);
            let d = b.decide_json(&request);
            assert_eq!(d.decision, Verdict::Deny);
            assert_eq!(d.errors.len(), 1, "{d:?}");
            assert_eq!(d.errors[0].code, ErrorCode::InvalidEntity);
            messages.insert(d.errors[0].message.clone());
        }
    }
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = messages.pop_first().unwrap_or_default();
    // g1, g2, g3 and g5 are on the cycle; g4 leads into it.
    assert!(message.contains("cycle containing vertex `Group::\"g1\"`"), "{message}");
}
