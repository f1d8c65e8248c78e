//! Per-entity facts. A policy conjunct that reads only the principal (say `principal.role == "third_party"`) or
//! only the resource (`resource.subject.opted_out`) has the same value in every request about the same stored
//! entity, as long as the store does not change. The first request about an entity computes the values of all
//! the conjuncts that can apply to it (those of policies whose actions admit its type in that position) and
//! keeps them in two bits each of the entity's fact word: not computed, false, true, or an error (at load, every
//! stored entity's word is computed at once, so that no early request pays for it). Later requests
//! without a slice read those bits instead of evaluating the conjuncts; a conjunct whose bits say error is
//! evaluated again, for the error itself.
//!
//! Facts are only used when the request has no slice (a slice entity can replace the principal, the resource,
//! or any entity a conjunct reads through them). Every change to the store empties the fact words
//! (`FastStore::touch`), and `Compiled` gives the changed store fresh, uncomputed words when the change is
//! complete: an update costs one pass that zeroes a word per entity, whatever it changed (a conjunct can read
//! other entities through attributes and the hierarchy).

use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;

use super::ActionPlan;
use super::eval::Env;
use super::expr::{CPolicy, Fact, Var};
use super::schema::TypeId;
use super::store::FastStore;
use super::value::{Context, EntId, EntRef, Fields, Val, held};

/// Facts kept per entity: two bits each in a `u64`, whose top bit says the word was computed and the next one
/// that the entity is stored.
const MAX_FACTS: usize = 31;
const COMPUTED: u64 = 1 << 63;
const STORED: u64 = 1 << 62;

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
    /// Marks the conjuncts of `policies` that read only the principal or only the resource as facts (up to 31),
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

    /// The fact words of a request's principal and resource (computed now for an entity met for the first time
    /// since the store last changed); none for entities not stored.
    pub(crate) fn words(&self, policies: &[Option<CPolicy>], store: &FastStore, p: &EntRef, r: &EntRef) -> [u64; 2] {
        if self.slots.is_empty() {
            return [UNKNOWN; 2];
        }
        [self.word(policies, store, p), self.word(policies, store, r)]
    }

    #[inline]
    fn word(&self, policies: &[Option<CPolicy>], store: &FastStore, r: &EntRef) -> u64 {
        let EntRef::Known(e) = r else { return UNKNOWN };
        let Some(cell) = store.facts.0.get(*e as usize) else { return UNKNOWN };
        let word = cell.load(Ordering::Relaxed);
        if word & COMPUTED != 0 {
            return word;
        }
        // Two threads may compute the same word at once: they store the same value.
        let word = self.compute(policies, store, *e);
        cell.store(word, Ordering::Relaxed);
        word
    }

    /// Computes every entity's word now, as `word` would on first use.
    pub(crate) fn fill(&self, policies: &[Option<CPolicy>], store: &FastStore) {
        if self.slots.is_empty() {
            return;
        }
        for (e, cell) in store.facts.0.iter().enumerate() {
            let Ok(e) = EntId::try_from(e) else { break };
            cell.store(self.compute(policies, store, e), Ordering::Relaxed);
        }
    }

    /// Every fact of a stored entity.
    fn compute(&self, policies: &[Option<CPolicy>], store: &FastStore, e: EntId) -> u64 {
        let mut word = COMPUTED;
        if store.get(e).is_none() {
            return word;
        }
        word |= STORED;
        let Some(ty) = store.uids.uid(e).map(|u| u.0) else { return word };
        // Conjuncts that are facts read no context: an empty one stands in.
        let none = held();
        let context = Context::new(Fields::Held(0), &none);
        // The entity as the principal, and as the resource (a fact reads only that variable).
        let as_principal = [Val::Ent(EntRef::Known(e)), Val::Bool(false), Val::Bool(false)];
        let as_resource = [Val::Bool(false), Val::Bool(false), Val::Ent(EntRef::Known(e))];
        for (slot, (pi, ci, resource, types)) in self.slots.iter().enumerate() {
            if !types.contains(&ty) {
                continue;
            }
            let conjunct =
                policies.get(*pi as usize).and_then(Option::as_ref).and_then(|p| p.conditions.get(*ci as usize));
            let Some(c) = conjunct else { continue };
            let vars = if *resource { &as_resource } else { &as_principal };
            // No fact words: the conjunct is evaluated.
            let value = match Env::new(store, &[], vars, &context, [UNKNOWN; 2]).conjunct(&c.expr) {
                Ok(false) => FALSE,
                Ok(true) => TRUE,
                Err(_) => ERROR,
            };
            word |= value << (2 * slot);
        }
        word
    }
}

/// The fact words of a store, one per entity id (empty while the store is being changed).
#[derive(Debug, Default)]
pub(crate) struct FactWords(Vec<AtomicU64>);

impl FactWords {
    /// Forgets every word (keeping the allocation).
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Uncomputed words for `n` entity ids, in place.
    pub(crate) fn reset(&mut self, n: usize) {
        self.0.clear();
        self.0.resize_with(n, || AtomicU64::new(UNKNOWN));
    }
}

impl Clone for FactWords {
    fn clone(&self) -> FactWords {
        FactWords(self.0.iter().map(|w| AtomicU64::new(w.load(Ordering::Relaxed))).collect())
    }
}

/// Whether a fact word says its entity is stored (false when the word was not computed).
pub(crate) fn stored(word: u64) -> bool {
    word & STORED != 0
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
