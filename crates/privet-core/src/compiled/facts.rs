//! Per-entity facts. A policy conjunct that reads only the principal (say `principal.role == "third_party"`) or
//! only the resource (`resource.subject.opted_out`) has the same value in every request about the same stored
//! entity, as long as the store does not change. Its value is computed for every stored entity that can be the
//! principal (or resource) of an action the policy applies to, when the store is built and after each update,
//! and kept in two bits of the entity's fact word: not computed, false, true, or an error. A request without a
//! slice reads those bits instead of evaluating the conjunct; an error bit sends it down cedar's path, as the
//! evaluation would have.
//!
//! Facts are only read when the request has no slice (a slice entity can replace the principal, the resource,
//! or any entity a conjunct reads through them). Every change to the store clears the fact words
//! (`FastStore::touch`); `Compiled` computes them again when the change is complete.

use rustc_hash::FxHashMap;

use super::ActionPlan;
use super::eval::Env;
use super::expr::{CPolicy, Fact, Var};
use super::schema::TypeId;
use super::store::FastStore;
use super::value::{EntId, EntRef, Val};

/// Facts kept per entity: two bits each in a `u64`.
const MAX_FACTS: usize = 32;

/// A fact's meaning in an entity's word: the conjunct's value was not computed for it.
const UNKNOWN: u64 = 0;
const FALSE: u64 = 1;
const TRUE: u64 = 2;
const ERROR: u64 = 3;

/// Which conjuncts are facts, and the entity types each is computed for.
#[derive(Debug, Default)]
pub(crate) struct FactSlots {
    /// Per slot: the policy, the conjunct's index in it, whether it reads the resource (else the principal), and
    /// the types the variable can have in the actions the policy applies to.
    slots: Vec<(u32, u32, bool, Vec<TypeId>)>,
}

impl FactSlots {
    /// Marks the conjuncts of `policies` that read only the principal or only the resource as facts (up to 32),
    /// for the types the variable can have in the plans that evaluate the policy.
    pub(crate) fn assign(policies: &mut [Option<CPolicy>], plans: &FxHashMap<EntId, ActionPlan>) -> FactSlots {
        let (p, r) = (1u8 << (Var::Principal as u8), 1u8 << (Var::Resource as u8));
        let mut slots = Vec::new();
        for (pi, policy) in policies.iter_mut().enumerate() {
            let Some(policy) = policy else { continue };
            let (mut principals, mut resources): (Vec<TypeId>, Vec<TypeId>) = (Vec::new(), Vec::new());
            let evaluated_by = |plan: &&ActionPlan| plan.policies.as_deref().is_some_and(|l| l.contains(&(pi as u32)));
            for plan in plans.values().filter(evaluated_by) {
                for (have, add) in [(&mut principals, &plan.principals), (&mut resources, &plan.resources)] {
                    for t in add {
                        if !have.contains(t) {
                            have.push(*t);
                        }
                    }
                }
            }
            for (ci, c) in policy.conditions.iter_mut().enumerate() {
                if slots.len() == MAX_FACTS {
                    break;
                }
                let resource = match c.expr.vars() {
                    v if v == p => false,
                    v if v == r => true,
                    _ => continue,
                };
                let types = if resource { resources.clone() } else { principals.clone() };
                if types.is_empty() {
                    continue;
                }
                c.fact = Some(Fact { resource, slot: slots.len() as u8 });
                slots.push((pi as u32, ci as u32, resource, types));
            }
        }
        FactSlots { slots }
    }

    /// Computes every fact of every stored entity into `store.facts`.
    pub(crate) fn compute(&self, policies: &[Option<CPolicy>], store: &mut FastStore) {
        if self.slots.is_empty() {
            return;
        }
        let mut words = vec![0u64; store.entities.len()];
        let view: &FastStore = store;
        for (e, word) in words.iter_mut().enumerate() {
            if view.entities.get(e).is_none_or(Option::is_none) {
                continue;
            }
            let Some(ty) = view.uids.uid(e as EntId).map(|u| u.0) else { continue };
            for (slot, (pi, ci, resource, types)) in self.slots.iter().enumerate() {
                if !types.contains(&ty) {
                    continue;
                }
                let Some(c) =
                    policies.get(*pi as usize).and_then(Option::as_ref).and_then(|p| p.conditions.get(*ci as usize))
                else {
                    continue;
                };
                let mut vars = [const { Val::Bool(false) }; 4];
                vars[if *resource { 2 } else { 0 }] = Val::Ent(EntRef::Known(e as EntId));
                let value = match Env::new(view, &[], &vars).conjunct(&c.expr) {
                    Ok(false) => FALSE,
                    Ok(true) => TRUE,
                    Err(_) => ERROR,
                };
                *word |= value << (2 * slot);
            }
        }
        store.facts = words;
    }
}

/// A fact read from the principal's and the resource's words: `Some(value)`, `Some(Err)` for an error, or `None`
/// when it was not computed for that entity (the conjunct is then evaluated).
pub(crate) fn read(words: [u64; 2], fact: Fact) -> Option<Result<bool, ()>> {
    match (words[usize::from(fact.resource)] >> (2 * u32::from(fact.slot))) & 3 {
        FALSE => Some(Ok(false)),
        TRUE => Some(Ok(true)),
        ERROR => Some(Err(())),
        _ => None,
    }
}

/// The fact words of a request's principal and resource: those of stored entities, none for others.
pub(crate) fn words(store: &FastStore, principal: &EntRef, resource: &EntRef) -> [u64; 2] {
    let word = |r: &EntRef| match r {
        EntRef::Known(e) => store.facts.get(*e as usize).copied().unwrap_or(UNKNOWN),
        EntRef::Local(_) => UNKNOWN,
    };
    [word(principal), word(resource)]
}
