//! Deciding with a per-request entity slice without copying the store.
//!
//! The plain way — clone the store, upsert the slice, recompute the transitive closure — costs time in
//! proportion to the whole store for every request. Evaluation only ever touches the entities reachable from the
//! request (principal, action, resource, entities named in the context or in policy literals) by following
//! entity references in attributes and tags, and an `in` test only reads the left entity's ancestor set. So a
//! request can be decided against just that reachable part: the slice's entities plus the reachable store
//! entities (whose ancestor sets are already closed), with the closure recomputed over that small set.
//!
//! That is exact unless the slice changes the ancestry of a store entity: when a slice entity replaces (or
//! creates) an entity that is an ancestor of some store entity, and its ancestors differ from what the store
//! recorded, the descendants' ancestor sets would change. Then, and when a slice entity's parent is itself in the
//! slice, we fall back to the full upsert.

use std::collections::{HashMap, HashSet};

use cedar_policy::{Entities, Entity, EntityUid, EvalResult, Policy};
use serde_json::Value;

/// What the store knows that the reachable-subset path needs, rebuilt when the store changes.
#[derive(Debug, Default)]
pub(crate) struct StoreIndex {
    /// Entity uids referenced from each store entity's attributes and tags.
    refs: HashMap<EntityUid, Vec<EntityUid>>,
    /// Every uid that is an ancestor of some store entity (whether or not it is itself stored).
    ancestor_uids: HashSet<EntityUid>,
}

impl StoreIndex {
    pub(crate) fn build(store: &Entities) -> StoreIndex {
        let mut index = StoreIndex::default();
        for e in store.iter() {
            let uid = e.uid();
            if let Some(ancestors) = store.ancestors(&uid) {
                index.ancestor_uids.extend(ancestors.cloned());
            }
            let mut refs = Vec::new();
            for (_, v) in e.attrs().chain(e.tags()) {
                if let Ok(v) = v {
                    collect_eval_refs(&v, &mut refs);
                }
            }
            if !refs.is_empty() {
                index.refs.insert(uid, refs);
            }
        }
        index
    }
}

fn collect_eval_refs(v: &EvalResult, out: &mut Vec<EntityUid>) {
    match v {
        EvalResult::EntityUid(u) => out.push(u.clone()),
        EvalResult::Set(s) => s.iter().for_each(|x| collect_eval_refs(x, out)),
        EvalResult::Record(r) => r.iter().for_each(|(_, x)| collect_eval_refs(x, out)),
        _ => {}
    }
}

/// Entity uids written in a JSON value: `{"__entity": {...}}`, or `{"type": .., "id": ..}` objects (the form
/// schema-based parsing accepts, and the form of policy scopes in Cedar's policy JSON).
pub(crate) fn collect_json_refs(v: &Value, out: &mut Vec<EntityUid>) {
    match v {
        Value::Object(m) => {
            if let Some(inner) = m.get("__entity") {
                if let Ok(u) = EntityUid::from_json(inner.clone()) {
                    out.push(u);
                }
            } else if m.len() == 2
                && m.get("type").is_some_and(Value::is_string)
                && m.get("id").is_some_and(Value::is_string)
            {
                if let Ok(u) = EntityUid::from_json(v.clone()) {
                    out.push(u);
                }
            }
            m.values().for_each(|x| collect_json_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_json_refs(x, out)),
        _ => {}
    }
}

/// Entity literals in the policies (their attributes may be read during evaluation).
pub(crate) fn policy_literals<'a>(policies: impl Iterator<Item = &'a Policy>) -> Vec<EntityUid> {
    let mut out = Vec::new();
    for p in policies {
        if let Ok(json) = p.to_json() {
            collect_json_refs(&json, &mut out);
        }
    }
    out.sort_by_key(|u| u.to_string());
    out.dedup();
    out
}

/// One slice entity with the references found in its JSON form.
pub(crate) struct SliceEntity {
    pub(crate) entity: Entity,
    pub(crate) parents: Vec<EntityUid>,
    pub(crate) refs: Vec<EntityUid>,
}

impl SliceEntity {
    pub(crate) fn new(entity: Entity, json: &Value) -> SliceEntity {
        let mut parents = Vec::new();
        if let Some(p) = json.get("parents") {
            collect_json_refs(p, &mut parents);
        }
        let mut refs = Vec::new();
        for key in ["attrs", "tags"] {
            if let Some(a) = json.get(key) {
                collect_json_refs(a, &mut refs);
            }
        }
        SliceEntity { entity, parents, refs }
    }
}

/// The uids (as cedar writes them, sorted) of the entities on a cycle of the hierarchy the slice makes with the
/// store (a slice entity's parents replace the stored entity's). Cedar's error for a cyclic hierarchy names one
/// of them, whichever its hash order meets first, so that the same input gets a different message from run to
/// run; `Bundle` names the first of these instead. Every cycle passes through a slice entity (the store has
/// none), so only the entities reachable from the slice are visited. A stored entity's edges are its ancestors,
/// as in the entities cedar's path builds from the store.
pub(crate) fn cycle_members(store: &Entities, slice: &[SliceEntity]) -> Vec<String> {
    let by_uid: HashMap<EntityUid, &SliceEntity> = slice.iter().map(|s| (s.entity.uid(), s)).collect();
    let up = |u: &EntityUid| -> Vec<EntityUid> {
        match by_uid.get(u) {
            Some(s) => s.parents.clone(),
            None => store.ancestors(u).map(|a| a.cloned().collect()).unwrap_or_default(),
        }
    };
    // The entities reachable from `from` through one edge or more.
    let above = |from: &EntityUid| -> HashSet<EntityUid> {
        let mut seen = HashSet::new();
        let mut todo = up(from);
        while let Some(u) = todo.pop() {
            if seen.insert(u.clone()) {
                todo.extend(up(&u));
            }
        }
        seen
    };
    let mut candidates: HashSet<EntityUid> = HashSet::new();
    for s in by_uid.keys() {
        candidates.insert(s.clone());
        candidates.extend(above(s));
    }
    let mut members: Vec<String> =
        candidates.into_iter().filter(|v| above(v).contains(v)).map(|v| v.to_string()).collect();
    members.sort();
    members
}

/// The entities for one request: the reachable part of store + slice, or `None` when the slice changes the
/// ancestry of store entities (the caller then upserts the slice into a copy of the store).
pub(crate) fn reachable_entities(
    store: &Entities,
    index: &StoreIndex,
    slice: &[SliceEntity],
    roots: impl Iterator<Item = EntityUid>,
) -> Option<Result<Entities, cedar_policy::entities_errors::EntitiesError>> {
    // Last version of each uid wins, as in an upsert.
    let by_uid: HashMap<EntityUid, &SliceEntity> = slice.iter().map(|s| (s.entity.uid(), s)).collect();
    for (uid, s) in &by_uid {
        if index.ancestor_uids.contains(uid) {
            if s.parents.iter().any(|p| by_uid.contains_key(p)) {
                return None;
            }
            let mut new: HashSet<EntityUid> = HashSet::new();
            for p in &s.parents {
                new.insert(p.clone());
                if let Some(a) = store.ancestors(p) {
                    new.extend(a.cloned());
                }
            }
            let old: HashSet<EntityUid> = store.ancestors(uid).map(|a| a.cloned().collect()).unwrap_or_default();
            if new != old {
                return None;
            }
        }
    }
    let mut visited: HashSet<EntityUid> = HashSet::new();
    let mut queue: Vec<EntityUid> = roots.chain(by_uid.keys().cloned()).collect();
    let mut out: Vec<Entity> = Vec::new();
    while let Some(uid) = queue.pop() {
        if !visited.insert(uid.clone()) {
            continue;
        }
        if let Some(s) = by_uid.get(&uid) {
            out.push(s.entity.clone());
            queue.extend(s.parents.iter().cloned());
            queue.extend(s.refs.iter().cloned());
        } else if let Some(e) = store.get(&uid) {
            out.push(e.clone());
            if let Some(r) = index.refs.get(&uid) {
                queue.extend(r.iter().cloned());
            }
        }
    }
    Some(Entities::from_entities(out, None))
}
