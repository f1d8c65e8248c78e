//! The shipped CPRA pack: loads, every policy carries `@id`, a citation and a human reason, and its demo requests
//! take the compiled path with the same answers as cedar's path.

use privet::Bundle;

use crate::root;

#[test]
fn cpra_pack_loads_and_every_policy_cites_its_law() {
    let b = Bundle::load(root().join("policies/cpra")).expect("the CPRA pack loads");
    let info = b.info();
    assert!(info.policies.len() >= 20, "{} policies", info.policies.len());
    for p in b.policies() {
        assert!(p.annotations.contains_key("id"), "{} has no @id", p.id);
        assert!(p.citation.as_deref().is_some_and(|c| c.contains('§')), "{} cites no section", p.id);
        assert!(p.reason.as_deref().is_some_and(|r| r.len() > 20), "{} gives no reason", p.id);
    }
}

#[test]
fn cpra_demo_requests_take_the_compiled_path_and_decide_as_cedar() {
    let b = privet::Bundle::load(root().join("policies/cpra")).unwrap();
    let text = std::fs::read_to_string(root().join("policies/cpra/demo/requests.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in lines {
        let compiled = b.decide_json_compiled(l).unwrap_or_else(|| panic!("not compiled: {l}"));
        assert_eq!(compiled, b.decide_json_reference(l), "{l}");
    }
}
