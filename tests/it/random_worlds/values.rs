//! Values in Cedar's JSON forms for the schema's types (valid, and deliberately invalid), the id pools, and the
//! entity store: 20–200 entities with a random acyclic hierarchy, some attributes and parents naming entities
//! that are not in the store.

use serde_json::{Map, Value, json};

use super::rng::Rng;
use super::schema::{Attr, Ext, Schema, Ty};

pub const LONGS: [i64; 17] = [
    0,
    1,
    2,
    3,
    5,
    7,
    10,
    42,
    100,
    -1,
    -7,
    1000,
    i64::MAX,
    i64::MIN,
    4_611_686_018_427_387_904,
    -4_611_686_018_427_387_904,
    9_223_372_036_854_775_806,
];
pub const STRINGS: [&str; 12] =
    ["", "a", "ab", "abc", "alpha", "beta", "gamma", "a*c", "x y", "Zoë", "ads", "alphabet"];
pub const DATETIMES: [&str; 7] = [
    "2024-01-01",
    "2024-06-15T12:30:00Z",
    "2023-12-31T23:59:59.999Z",
    "2024-03-10T08:00:00+0530",
    "1970-01-01",
    "9999-12-31T23:59:59Z",
    "2024-06-15",
];
pub const DURATIONS: [&str; 8] =
    ["0ms", "1h", "-2d", "90m", "1d2h3m4s5ms", "9223372036854775807ms", "-9223372036854775808ms", "30d"];
pub const DECIMALS: [&str; 7] =
    ["0.0", "1.5", "-2.25", "3.1415", "922337203685477.5807", "-922337203685477.5808", "100.0"];
pub const IPS: [&str; 9] = [
    "127.0.0.1",
    "10.0.0.1",
    "10.0.0.0/8",
    "192.168.1.20",
    "::1",
    "2001:db8::1",
    "2001:db8::/32",
    "224.0.0.1",
    "0.0.0.0/0",
];

/// A small literal pool for an extension type.
pub fn ext_pool(e: Ext) -> &'static [&'static str] {
    match e {
        Ext::Datetime => &DATETIMES,
        Ext::Duration => &DURATIONS,
        Ext::Decimal => &DECIMALS,
        Ext::Ip => &IPS,
    }
}

/// A long, mostly small, sometimes at the edges of i64.
pub fn long(rng: &mut Rng) -> i64 {
    if rng.chance(75) { LONGS[rng.below(12)] } else { *rng.pick(&LONGS) }
}

/// The entity ids of one world: per type, the stored ones and some that are never stored.
#[derive(Debug, Clone)]
pub struct Ids {
    pub stored: Vec<Vec<String>>,
    pub ghosts: Vec<Vec<String>>,
}

impl Ids {
    /// A stored id of type `t` most of the time, else one absent from the store.
    pub fn any(&self, rng: &mut Rng, t: usize, stored_percent: u32) -> String {
        if !self.stored[t].is_empty() && rng.chance(stored_percent) {
            rng.pick(&self.stored[t]).clone()
        } else {
            rng.pick(&self.ghosts[t]).clone()
        }
    }
}

/// The world's store: its entities as JSON, by position.
#[derive(Debug, Clone)]
pub struct Store {
    pub ids: Ids,
    /// (type, id, entity JSON).
    pub entities: Vec<(usize, String, Value)>,
}

pub fn uid_json(schema: &Schema, t: usize, id: &str) -> Value {
    json!({"type": schema.entity_type(t), "id": id})
}

/// An entity reference as an attribute value: either JSON form cedar accepts with a schema.
fn entity_ref(rng: &mut Rng, schema: &Schema, t: usize, id: &str) -> Value {
    if rng.chance(50) { json!({"__entity": uid_json(schema, t, id)}) } else { uid_json(schema, t, id) }
}

pub fn ext_json(e: Ext, arg: &str) -> Value {
    json!({"__extn": {"fn": e.constructor(), "arg": arg}})
}

/// A valid value of type `ty`.
pub fn value(rng: &mut Rng, schema: &Schema, ids: &Ids, ty: &Ty) -> Value {
    match ty {
        Ty::Bool => json!(rng.chance(50)),
        Ty::Long => json!(long(rng)),
        Ty::Str => json!(rng.pick(&STRINGS)),
        Ty::Set(t) => Value::Array((0..rng.range(0, 3)).map(|_| value(rng, schema, ids, t)).collect()),
        Ty::Entity(t) => {
            let id = ids.any(rng, *t, 85);
            entity_ref(rng, schema, *t, &id)
        }
        Ty::Record(r) => record(rng, schema, ids, &schema.records[*r].fields),
        Ty::Ext(e) => {
            let arg = *rng.pick(ext_pool(*e));
            ext_json(*e, arg)
        }
    }
}

/// A valid record: the required fields, and each optional one half of the time.
pub fn record(rng: &mut Rng, schema: &Schema, ids: &Ids, fields: &[Attr]) -> Value {
    let mut m = Map::new();
    for f in fields {
        if f.required || rng.chance(50) {
            m.insert(f.name.clone(), value(rng, schema, ids, &f.ty));
        }
    }
    Value::Object(m)
}

/// A value that does not conform to `ty`.
pub fn wrong_value(rng: &mut Rng, schema: &Schema, ty: &Ty) -> Value {
    match ty {
        Ty::Bool => json!("yes"),
        Ty::Long => {
            if rng.chance(50) {
                json!("12")
            } else {
                json!(1.5)
            }
        }
        Ty::Str => json!(7),
        Ty::Set(_) => json!({"not": "a set"}),
        Ty::Entity(t) => {
            // An entity of another type, or not an entity at all.
            match (0..schema.entities.len()).find(|o| o != t) {
                Some(o) if rng.chance(60) => json!({"__entity": uid_json(schema, o, "wrong-type")}),
                _ => json!(true),
            }
        }
        Ty::Record(_) => json!([1, 2]),
        Ty::Ext(e) => match e {
            Ext::Decimal => ext_json(*e, "1.23456"),
            Ext::Ip => ext_json(*e, "300.1.1.1"),
            Ext::Datetime => ext_json(*e, "2024-13-01"),
            Ext::Duration => ext_json(*e, "1x"),
        },
    }
}

/// A valid record with one deliberate fault: a field of the wrong type, a required field missing, or an
/// undeclared field. Returns `None` when `fields` offers no way to break it but an extra field.
pub fn faulty_record(rng: &mut Rng, schema: &Schema, ids: &Ids, fields: &[Attr]) -> Value {
    let mut v = record(rng, schema, ids, fields);
    let Value::Object(m) = &mut v else { return v };
    let required: Vec<&Attr> = fields.iter().filter(|f| f.required).collect();
    match rng.below(3) {
        0 if !fields.is_empty() => {
            let f = rng.pick(fields);
            m.insert(f.name.clone(), wrong_value(rng, schema, &f.ty));
        }
        1 if !required.is_empty() => {
            let f = rng.pick(&required);
            m.remove(&f.name);
        }
        _ => {
            m.insert("undeclared_field".into(), json!(1));
        }
    }
    v
}

/// Entity JSON: uid, attributes, parents and, for a type with tags, some tags.
pub fn entity_json(
    rng: &mut Rng,
    schema: &Schema,
    ids: &Ids,
    t: usize,
    id: &str,
    parents: &[(usize, String)],
) -> Value {
    let ty = &schema.entities[t];
    let mut e = json!({
        "uid": uid_json(schema, t, id),
        "attrs": record(rng, schema, ids, &ty.attrs),
        "parents": parents.iter().map(|(p, pid)| uid_json(schema, *p, pid)).collect::<Vec<_>>(),
    });
    if let Some(tag_ty) = &ty.tags {
        let mut tags = Map::new();
        for key in TAG_KEYS {
            if rng.chance(45) {
                tags.insert(key.to_string(), value(rng, schema, ids, tag_ty));
            }
        }
        e["tags"] = Value::Object(tags);
    }
    e
}

pub const TAG_KEYS: [&str; 4] = ["k", "region", "tier", "x y"];

/// Random parents for an entity of type `t`: of the schema's allowed parent types, ids drawn by `pick_id`.
pub fn parents_for(
    rng: &mut Rng,
    schema: &Schema,
    t: usize,
    mut pick_id: impl FnMut(&mut Rng, usize) -> Option<String>,
) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let allowed = &schema.entities[t].parents;
    if allowed.is_empty() {
        return out;
    }
    for _ in 0..rng.weighted(&[3, 4, 2, 1]) {
        let p = *rng.pick(allowed);
        if let Some(id) = pick_id(rng, p) {
            if !out.contains(&(p, id.clone())) {
                out.push((p, id));
            }
        }
    }
    out
}

impl Store {
    pub fn generate(rng: &mut Rng, schema: &Schema) -> Store {
        let n_types = schema.entities.len();
        let total = rng.range(20, 200);
        let mut stored: Vec<Vec<String>> = vec![Vec::new(); n_types];
        let mut order: Vec<(usize, String)> = Vec::new();
        for i in 0..total {
            let t = rng.below(n_types);
            let base = schema.entities[t].name.to_lowercase();
            // Mostly plain ids; some with a space, a quote or a non-ASCII letter.
            let id = match rng.weighted(&[20, 1, 1, 1]) {
                0 => format!("{base}-{i}"),
                1 => format!("{base} {i}"),
                2 => format!("{base}\"q{i}"),
                _ => format!("{base}-é{i}"),
            };
            stored[t].push(id.clone());
            order.push((t, id));
        }
        let ghosts = (0..n_types)
            .map(|t| (0..3).map(|g| format!("ghost-{}-{g}", schema.entities[t].name.to_lowercase())).collect())
            .collect();
        let ids = Ids { stored, ghosts };
        // Parents come from earlier entities in `order` (so the hierarchy is acyclic) or are absent ids.
        let mut entities = Vec::with_capacity(total);
        for (pos, (t, id)) in order.iter().enumerate() {
            let earlier = &order[..pos];
            let parents = parents_for(rng, schema, *t, |rng, p| {
                let candidates: Vec<&String> = earlier.iter().filter(|(et, _)| *et == p).map(|(_, i)| i).collect();
                if !candidates.is_empty() && rng.chance(85) {
                    Some((*rng.pick(&candidates)).clone())
                } else if rng.chance(50) {
                    Some(ids.ghosts[p][rng.below(3)].clone())
                } else {
                    None
                }
            });
            let e = entity_json(rng, schema, &ids, *t, id, &parents);
            entities.push((*t, id.clone(), e));
        }
        Store { ids, entities }
    }

    pub fn json(&self) -> Value {
        Value::Array(self.entities.iter().map(|(_, _, e)| e.clone()).collect())
    }
}
