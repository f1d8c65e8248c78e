//! Requests on a world: principal, action and resource of the declared types (sometimes of a type the action
//! does not allow, sometimes undeclared, often absent from the store), a context that matches the action's
//! type (sometimes with a wrong-typed, missing or extra field, or not an object), and an optional entity slice
//! of 0–4 entities that add new entities, replace stored ones with other attributes, or give stored ones other
//! parents (sometimes invalid).

use serde_json::{Value, json};

use super::rng::Rng;
use super::schema::{Schema, escape};
use super::values::{Store, TAG_KEYS, entity_json, faulty_record, parents_for, record, uid_json, wrong_value};

/// An entity uid as (type name, id); the type may be undeclared.
pub type Uid = (String, String);

/// One generated request: the JSON Privet is given, and its parts for cedar.
#[derive(Debug, Clone)]
pub struct Req {
    pub json: Value,
    pub principal: Uid,
    pub action: Uid,
    pub resource: Uid,
    /// `None` when the request has no `context` (an empty context).
    pub context: Option<Value>,
    /// `None` when the request has no `entities`.
    pub slice: Option<Vec<Value>>,
    pub slice_uids: Vec<Uid>,
    /// Slice entities that replace stored ones (with other attributes or other parents).
    pub overrides: usize,
    pub reparents: usize,
    pub faulty_context: bool,
    pub faulty_slice: bool,
}

/// A uid in one of the forms a request accepts: `{"type", "id"}`, `{"__entity": ..}`, or `T::"id"`.
fn uid_form(rng: &mut Rng, (ty, id): &Uid) -> Value {
    match rng.weighted(&[6, 2, 2]) {
        0 => json!({"type": ty, "id": id}),
        1 => json!({"__entity": {"type": ty, "id": id}}),
        _ => json!(format!("{ty}::\"{}\"", escape(id))),
    }
}

/// A principal or resource: usually of a type the action allows, stored or not.
fn entity_uid(rng: &mut Rng, s: &Schema, store: &Store, allowed: Option<&Vec<usize>>) -> Uid {
    let n = s.entities.len();
    let t = match (rng.weighted(&[97, 2, 1]), allowed) {
        (0, Some(types)) => *rng.pick(types),
        (0 | 1, _) => rng.below(n),
        _ => return (s.qualify("Undeclared"), "x".into()),
    };
    (s.entity_type(t), store.ids.any(rng, t, 80))
}

pub fn generate(rng: &mut Rng, s: &Schema, store: &Store) -> Req {
    let concrete = s.concrete_actions();
    let a = if rng.chance(97) { *rng.pick(&concrete) } else { rng.below(s.actions.len()) };
    let applies = s.actions[a].applies.as_ref();
    let principal = entity_uid(rng, s, store, applies.map(|ap| &ap.principals));
    let resource = entity_uid(rng, s, store, applies.map(|ap| &ap.resources));
    let action: Uid = (s.action_type(), s.actions[a].name.clone());
    let fields = applies.map(|ap| ap.context.as_slice()).unwrap_or_default();

    let mut faulty_context = false;
    let context = match rng.weighted(&[93, 4, 1, 2]) {
        0 => Some(record(rng, s, &store.ids, fields)),
        1 => {
            faulty_context = true;
            Some(faulty_record(rng, s, &store.ids, fields))
        }
        2 => {
            faulty_context = true;
            Some(json!(["not", "a", "record"]))
        }
        // No context at all: valid when every field is optional.
        _ => None,
    };

    let mut req = Req {
        json: json!({
            "principal": uid_form(rng, &principal),
            "action": uid_form(rng, &action),
            "resource": uid_form(rng, &resource),
        }),
        principal,
        action,
        resource,
        context: context.clone(),
        slice: None,
        slice_uids: Vec::new(),
        overrides: 0,
        reparents: 0,
        faulty_context,
        faulty_slice: false,
    };
    if let Some(c) = context {
        req.json["context"] = c;
    }
    if rng.chance(45) {
        let slice = slice(rng, s, store, &mut req);
        req.json["entities"] = Value::Array(slice.clone());
        req.slice = Some(slice);
    }
    if rng.chance(5) {
        req.json["id"] = json!(rng.below(1000));
    }
    req
}

/// 0–4 slice entities, no two with the same uid.
fn slice(rng: &mut Rng, s: &Schema, store: &Store, req: &mut Req) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let type_index = |name: &str| (0..s.entities.len()).find(|t| s.entity_type(*t) == name);
    for _ in 0..rng.weighted(&[1, 4, 3, 2, 1]) {
        // Which entity: the request's principal or resource half of the time, else any stored or new one.
        let (t, id) = match rng.below(4) {
            0 | 1 => {
                let (ty, id) = if rng.chance(50) { &req.principal } else { &req.resource };
                match type_index(ty) {
                    Some(t) => (t, id.clone()),
                    None => continue,
                }
            }
            2 => {
                let (t, id, _) = rng.pick(&store.entities);
                (*t, id.clone())
            }
            _ => {
                let t = rng.below(s.entities.len());
                let id = if rng.chance(50) {
                    rng.pick(&store.ids.ghosts[t]).clone()
                } else {
                    format!("new-{}", rng.below(4))
                };
                (t, id)
            }
        };
        let uid: Uid = (s.entity_type(t), id.clone());
        if req.slice_uids.contains(&uid) {
            continue;
        }
        let stored = store.entities.iter().find(|(et, eid, _)| *et == t && *eid == id);
        let slice_ids: Vec<Uid> = req.slice_uids.clone();
        let pick_parent = |rng: &mut Rng, p: usize| -> Option<String> {
            let new: Vec<&String> =
                slice_ids.iter().filter(|(ty, _)| *ty == s.entity_type(p)).map(|(_, i)| i).collect();
            match rng.weighted(&[6, 2, if new.is_empty() { 0 } else { 2 }]) {
                0 if !store.ids.stored[p].is_empty() => Some(rng.pick(&store.ids.stored[p]).clone()),
                2 => Some((*rng.pick(&new)).clone()),
                _ => Some(rng.pick(&store.ids.ghosts[p]).clone()),
            }
        };
        let mut e = match stored {
            // A stored entity with the same attributes and other parents.
            Some((_, _, json)) if rng.chance(35) => {
                let mut e = json.clone();
                let parents = parents_for(rng, s, t, pick_parent);
                e["parents"] = json!(parents.iter().map(|(p, pid)| uid_json(s, *p, pid)).collect::<Vec<_>>());
                req.reparents += 1;
                e
            }
            _ => {
                let parents = parents_for(rng, s, t, pick_parent);
                entity_json(rng, s, &store.ids, t, &id, &parents)
            }
        };
        if stored.is_some() {
            req.overrides += 1;
        }
        if rng.chance(4) {
            req.faulty_slice = true;
            break_entity(rng, s, t, &mut e);
        }
        req.slice_uids.push(uid);
        out.push(e);
    }
    out
}

/// Makes an entity invalid against the schema in one of several ways.
fn break_entity(rng: &mut Rng, s: &Schema, t: usize, e: &mut Value) {
    let ty = &s.entities[t];
    match rng.below(5) {
        0 if !ty.attrs.is_empty() => {
            let a = rng.pick(&ty.attrs);
            e["attrs"][a.name.as_str()] = wrong_value(rng, s, &a.ty);
        }
        1 => e["attrs"]["undeclared_attr"] = json!(true),
        2 => {
            // A parent of a type the schema does not allow (or of no declared type).
            let bad = (0..s.entities.len()).find(|p| !ty.parents.contains(p));
            let parent = match bad {
                Some(p) => uid_json(s, p, "bad-parent"),
                None => json!({"type": s.qualify("Undeclared"), "id": "p"}),
            };
            e["parents"] = json!([parent]);
        }
        3 => match &ty.tags {
            Some(tag_ty) => e["tags"] = json!({ TAG_KEYS[0]: wrong_value(rng, s, tag_ty) }),
            None => e["tags"] = json!({"k": "v"}),
        },
        _ => match ty.attrs.iter().find(|a| a.required) {
            Some(a) => {
                if let Some(m) = e["attrs"].as_object_mut() {
                    m.remove(&a.name);
                }
            }
            None => e["uid"]["type"] = json!(s.qualify("Undeclared")),
        },
    }
}
