//! The schema as the compiled evaluator needs it: entity types and actions numbered, every attribute type
//! resolved (common types inlined, names qualified), and each action's principal, resource and context types.
//! Built once from the schema's JSON form; `None` when the schema uses something the fast path does not model
//! (open records), in which case every request takes cedar's path.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::Value;

use super::value::{AttrId, Names};

/// An entity type, numbered in the order the schema declares it.
pub(crate) type TypeId = u32;

/// A resolved attribute type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    Bool,
    Long,
    String,
    Entity(TypeId),
    Set(Box<Ty>),
    Record(Arc<RecordTy>),
    Ext(ExtTy),
}

/// The four extension types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExtTy {
    Decimal,
    Ip,
    Datetime,
    Duration,
}

impl ExtTy {
    fn from_name(name: &str) -> Option<ExtTy> {
        match name.strip_prefix("__cedar::").unwrap_or(name) {
            "decimal" => Some(ExtTy::Decimal),
            "ipaddr" => Some(ExtTy::Ip),
            "datetime" => Some(ExtTy::Datetime),
            "duration" => Some(ExtTy::Duration),
            _ => None,
        }
    }

    /// The constructor that makes values of this type.
    pub(crate) fn constructor(self) -> &'static str {
        match self {
            ExtTy::Decimal => "decimal",
            ExtTy::Ip => "ip",
            ExtTy::Datetime => "datetime",
            ExtTy::Duration => "duration",
        }
    }
}

/// A closed record type: attributes sorted by id, each with whether it is required.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct RecordTy {
    pub(crate) fields: Vec<(AttrId, Ty, bool)>,
    /// Number of required fields.
    pub(crate) required: usize,
    /// The fields' names, in the order of `fields`, when every one is plain (no quote, backslash or control
    /// character: spelled in JSON by its own bytes); else empty. The request scanner matches keys against them.
    pub(crate) plain_names: Box<[Box<str>]>,
}

impl RecordTy {
    pub(crate) fn field(&self, id: AttrId) -> Option<(&Ty, bool)> {
        self.fields.iter().find(|(a, _, _)| *a == id).map(|(_, t, r)| (t, *r))
    }
}

/// An entity type of the schema.
#[derive(Debug)]
pub(crate) struct EntityTy {
    pub(crate) name: Box<str>,
    pub(crate) shape: Arc<RecordTy>,
    /// Types an entity of this type may have as parents.
    pub(crate) member_of: Vec<TypeId>,
    pub(crate) tags: Option<Ty>,
    /// The action type of a namespace (its entities come from the schema, never from data).
    pub(crate) is_action: bool,
    /// An enumerated type's ids. Entity data that declares one of its entities is left to cedar's path.
    pub(crate) enum_ids: Option<Box<[Box<str>]>>,
}

/// An action with what it applies to.
#[derive(Debug)]
pub(crate) struct ActionTy {
    pub(crate) id: Box<str>,
    pub(crate) type_id: TypeId,
    /// Direct parents (action groups) as (type, id).
    pub(crate) member_of: Vec<(TypeId, Box<str>)>,
    pub(crate) principals: Vec<TypeId>,
    pub(crate) resources: Vec<TypeId>,
    pub(crate) context: Option<Arc<RecordTy>>,
}

/// The whole schema, resolved.
#[derive(Debug)]
pub(crate) struct TypedSchema {
    pub(crate) types: Vec<EntityTy>,
    pub(crate) by_name: FxHashMap<Box<str>, TypeId>,
    pub(crate) actions: Vec<ActionTy>,
    /// Deepest nesting of any record or set type, for the JSON depth limit.
    pub(crate) max_depth: usize,
    /// The types a request's principal, action and resource can have (by the actions' `appliesTo`), which the
    /// request scanner tries first.
    pub(crate) slot_types: [Vec<TypeId>; 3],
}

impl TypedSchema {
    pub(crate) fn type_id(&self, name: &str) -> Option<TypeId> {
        self.by_name.get(name).copied()
    }

    /// Whether `ty` is an enumerated entity type.
    pub(crate) fn is_enum(&self, ty: TypeId) -> bool {
        self.types.get(ty as usize).is_some_and(|t| t.enum_ids.is_some())
    }

    /// Builds the resolved schema from cedar's JSON schema form, interning attribute names into `names`.
    pub(crate) fn from_json(json: &Value, names: &mut Names) -> Option<TypedSchema> {
        let namespaces = json.as_object()?;
        let mut b = Builder { json, types: Vec::new(), by_name: FxHashMap::default(), names, depth: 0 };
        // Entity types first (numbering), then shapes, which may reference any type.
        for (ns, body) in namespaces {
            let qualify = |n: &str| if ns.is_empty() { n.to_string() } else { format!("{ns}::{n}") };
            if let Some(ets) = body.get("entityTypes").and_then(Value::as_object) {
                for (name, et) in ets {
                    let name = qualify(name);
                    b.add_type(&name, false);
                    if let Some(ids) = et.get("enum") {
                        let ids: Option<Box<[Box<str>]>> =
                            ids.as_array()?.iter().map(|id| id.as_str().map(Box::from)).collect();
                        let id = b.type_id(&name)?;
                        b.types[id as usize].enum_ids = Some(ids?);
                    }
                }
            }
            b.add_type(&qualify("Action"), true);
        }
        for (ns, body) in namespaces {
            let qualify = |n: &str| if ns.is_empty() { n.to_string() } else { format!("{ns}::{n}") };
            if let Some(ets) = body.get("entityTypes").and_then(Value::as_object) {
                for (name, et) in ets {
                    let id = b.type_id(&qualify(name))?;
                    let shape = match et.get("shape") {
                        Some(s) => match b.resolve(ns, s, 0)? {
                            Ty::Record(r) => r,
                            _ => return None,
                        },
                        None => Arc::new(RecordTy::default()),
                    };
                    let mut member_of = Vec::new();
                    for m in et.get("memberOfTypes").and_then(Value::as_array).into_iter().flatten() {
                        member_of.push(b.entity_type(ns, m.as_str()?)?);
                    }
                    let tags = match et.get("tags") {
                        Some(t) => Some(b.resolve(ns, t, 0)?),
                        None => None,
                    };
                    let t = &mut b.types[id as usize];
                    t.shape = shape;
                    t.member_of = member_of;
                    t.tags = tags;
                }
            }
        }
        let mut actions = Vec::new();
        for (ns, body) in namespaces {
            let action_type = b.type_id(&if ns.is_empty() { "Action".to_string() } else { format!("{ns}::Action") })?;
            let Some(acts) = body.get("actions").and_then(Value::as_object) else { continue };
            for (id, a) in acts {
                let mut member_of = Vec::new();
                for m in a.get("memberOf").and_then(Value::as_array).into_iter().flatten() {
                    let gid = m.get("id").and_then(Value::as_str)?;
                    let ty = match m.get("type").and_then(Value::as_str) {
                        Some(t) => b.type_id(t).or_else(|| b.type_id(&format!("{ns}::{t}")))?,
                        None => action_type,
                    };
                    member_of.push((ty, Box::from(gid)));
                }
                let (mut principals, mut resources, mut context) = (Vec::new(), Vec::new(), None);
                if let Some(at) = a.get("appliesTo") {
                    for p in at.get("principalTypes").and_then(Value::as_array).into_iter().flatten() {
                        principals.push(b.entity_type(ns, p.as_str()?)?);
                    }
                    for r in at.get("resourceTypes").and_then(Value::as_array).into_iter().flatten() {
                        resources.push(b.entity_type(ns, r.as_str()?)?);
                    }
                    context = match at.get("context") {
                        Some(c) => match b.resolve(ns, c, 0)? {
                            Ty::Record(r) => Some(r),
                            _ => return None,
                        },
                        None => Some(Arc::new(RecordTy::default())),
                    };
                }
                actions.push(ActionTy {
                    id: Box::from(id.as_str()),
                    type_id: action_type,
                    member_of,
                    principals,
                    resources,
                    context,
                });
            }
        }
        // Actions with alike context types share one `Arc`, so that a request spelling learned from one action's
        // requests serves the others' too (`shape.rs` compares context types by address).
        for i in 1..actions.len() {
            let (done, rest) = actions.split_at_mut(i);
            let Some(this) = rest.first_mut() else { break };
            let same = done.iter().filter_map(|a| a.context.as_ref()).find(|c| Some(*c) == this.context.as_ref());
            if let Some(same) = same {
                this.context = Some(same.clone());
            }
        }
        let max_depth = b.depth;
        let mut slot_types: [Vec<TypeId>; 3] = Default::default();
        for a in &actions {
            for (slot, tys) in [(0, &a.principals[..]), (1, std::slice::from_ref(&a.type_id)), (2, &a.resources[..])] {
                for t in tys {
                    if !slot_types[slot].contains(t) {
                        slot_types[slot].push(*t);
                    }
                }
            }
        }
        Some(TypedSchema { types: b.types, by_name: b.by_name, actions, max_depth, slot_types })
    }
}

struct Builder<'a> {
    json: &'a Value,
    types: Vec<EntityTy>,
    by_name: FxHashMap<Box<str>, TypeId>,
    names: &'a mut Names,
    depth: usize,
}

impl Builder<'_> {
    fn add_type(&mut self, name: &str, is_action: bool) {
        if self.by_name.contains_key(name) {
            return;
        }
        let id = self.types.len() as TypeId;
        self.types.push(EntityTy {
            name: Box::from(name),
            shape: Arc::new(RecordTy::default()),
            member_of: Vec::new(),
            tags: None,
            is_action,
            enum_ids: None,
        });
        self.by_name.insert(Box::from(name), id);
    }

    fn type_id(&self, name: &str) -> Option<TypeId> {
        self.by_name.get(name).copied()
    }

    /// An entity type name as written in namespace `ns`: qualified, or relative to `ns`, or in the empty
    /// namespace.
    fn entity_type(&self, ns: &str, name: &str) -> Option<TypeId> {
        if !ns.is_empty() {
            if let Some(id) = self.type_id(&format!("{ns}::{name}")) {
                return Some(id);
            }
        }
        self.type_id(name)
    }

    fn common(&self, ns: &str, name: &str) -> Option<&'_ Value> {
        let lookup = |ns: &str, n: &str| self.json.get(ns)?.get("commonTypes")?.get(n);
        if let Some((qual, last)) = name.rsplit_once("::") {
            return lookup(qual, last);
        }
        lookup(ns, name).or_else(|| lookup("", name))
    }

    /// Resolves a type by name: common type, then entity type, then primitive or extension (cedar's order).
    fn named(&mut self, ns: &str, name: &str, depth: usize) -> Option<Ty> {
        if let Some(c) = self.common(ns, name) {
            let c = c.clone();
            return self.resolve(ns_of(name).unwrap_or(ns), &c, depth);
        }
        if let Some(id) = self.entity_type(ns, name) {
            return Some(Ty::Entity(id));
        }
        match name.strip_prefix("__cedar::").unwrap_or(name) {
            "Bool" | "Boolean" => Some(Ty::Bool),
            "Long" => Some(Ty::Long),
            "String" => Some(Ty::String),
            other => ExtTy::from_name(other).map(Ty::Ext),
        }
    }

    fn resolve(&mut self, ns: &str, ty: &Value, depth: usize) -> Option<Ty> {
        if depth > 32 {
            return None;
        }
        self.depth = self.depth.max(depth);
        let kind = ty.get("type").and_then(Value::as_str)?;
        match kind {
            "Boolean" => Some(Ty::Bool),
            "Long" => Some(Ty::Long),
            "String" => Some(Ty::String),
            "Set" => Some(Ty::Set(Box::new(self.resolve(ns, ty.get("element")?, depth + 1)?))),
            "Entity" => Some(Ty::Entity(self.entity_type(ns, ty.get("name")?.as_str()?)?)),
            "Extension" => ExtTy::from_name(ty.get("name")?.as_str()?).map(Ty::Ext),
            "EntityOrCommon" => {
                let name = ty.get("name")?.as_str()?.to_string();
                self.named(ns, &name, depth)
            }
            "Record" => {
                if ty.get("additionalAttributes").and_then(Value::as_bool) == Some(true) {
                    return None;
                }
                let mut fields = Vec::new();
                for (name, attr) in ty.get("attributes").and_then(Value::as_object).into_iter().flatten() {
                    let required = attr.get("required").and_then(Value::as_bool).unwrap_or(true);
                    let t = self.resolve(ns, attr, depth + 1)?;
                    fields.push((self.names.intern(name), t, required));
                }
                fields.sort_by_key(|f| f.0);
                let required = fields.iter().filter(|f| f.2).count();
                let names: Box<[Box<str>]> = fields.iter().map(|f| Box::from(self.names.name(f.0))).collect();
                let plain = names.iter().all(|n| !n.is_empty() && super::scan::is_plain(n));
                let plain_names = if plain { names } else { Box::default() };
                Some(Ty::Record(Arc::new(RecordTy { fields, required, plain_names })))
            }
            other => {
                let name = other.to_string();
                self.named(ns, &name, depth)
            }
        }
    }
}

fn ns_of(name: &str) -> Option<&str> {
    name.rsplit_once("::").map(|(ns, _)| ns)
}
