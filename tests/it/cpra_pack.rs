//! The shipped CPRA pack: loads, and every policy carries `@id`, a citation and a human reason.

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
