//! A world's schema: a namespace (or none), 2–5 entity types with a type hierarchy, attributes of every Cedar
//! type (optional ones too), tags, common record types, actions with `appliesTo` and action groups; and its
//! text in Cedar's schema syntax.

use std::fmt::Write;

use super::rng::Rng;

/// An attribute, context field or record field type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Bool,
    Long,
    Str,
    Set(Box<Ty>),
    /// An entity type, by index.
    Entity(usize),
    /// A record type, by index.
    Record(usize),
    Ext(Ext),
}

/// The extension types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ext {
    Datetime,
    Duration,
    Decimal,
    Ip,
}

pub const EXTS: [Ext; 4] = [Ext::Datetime, Ext::Duration, Ext::Decimal, Ext::Ip];

impl Ext {
    /// Constructor name, in policies and in `__extn` JSON.
    pub fn constructor(self) -> &'static str {
        match self {
            Ext::Datetime => "datetime",
            Ext::Duration => "duration",
            Ext::Decimal => "decimal",
            Ext::Ip => "ip",
        }
    }

    fn schema_name(self) -> &'static str {
        match self {
            Ext::Datetime => "datetime",
            Ext::Duration => "duration",
            Ext::Decimal => "decimal",
            Ext::Ip => "ipaddr",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attr {
    pub name: String,
    pub ty: Ty,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct RecordTy {
    /// Declared as a common type (`type Name = {..}`) when named, else written inline.
    pub alias: Option<String>,
    pub fields: Vec<Attr>,
}

#[derive(Debug, Clone)]
pub struct EntityTy {
    pub name: String,
    pub parents: Vec<usize>,
    pub attrs: Vec<Attr>,
    pub tags: Option<Ty>,
}

#[derive(Debug, Clone)]
pub struct Applies {
    pub principals: Vec<usize>,
    pub resources: Vec<usize>,
    pub context: Vec<Attr>,
}

#[derive(Debug, Clone)]
pub struct Action {
    pub name: String,
    /// Actions (groups or not) this action is declared `in`.
    pub parents: Vec<usize>,
    /// `None` for a pure action group.
    pub applies: Option<Applies>,
}

#[derive(Debug, Clone)]
pub struct Schema {
    /// Empty for the empty namespace.
    pub namespace: String,
    pub entities: Vec<EntityTy>,
    pub records: Vec<RecordTy>,
    pub actions: Vec<Action>,
}

const NAMESPACES: [&str; 4] = ["App", "Acme::Privacy", "Shop", "Crm"];
const ENTITY_NAMES: [&str; 8] = ["User", "Group", "Doc", "Folder", "Org", "Device", "Team", "Vendor"];
const ATTR_NAMES: [&str; 18] = [
    "active", "level", "name", "labels", "scores", "owner", "members", "info", "created", "ttl", "ratio", "addr",
    "nickname", "rank", "manager", "friends", "budget", "since",
];
const FIELD_NAMES: [&str; 8] = ["street", "zip", "city", "code", "primary", "score", "ref", "until"];
const CONTEXT_NAMES: [&str; 12] =
    ["flag", "n", "s", "tags", "who", "when", "place", "amount", "dur", "src", "meta", "level"];
const RECORD_ALIASES: [&str; 3] = ["Address", "Meta", "Quota"];
const ACTION_NAMES: [&str; 7] = ["view", "edit", "share", "sell data", "delete", "export-all", "retain"];
const GROUP_NAMES: [&str; 3] = ["all", "readers", "writes"];

impl Schema {
    pub fn generate(rng: &mut Rng) -> Schema {
        let namespace = if rng.chance(20) { String::new() } else { rng.pick(&NAMESPACES).to_string() };
        let n_entities = rng.range(2, 5);
        let mut names = ENTITY_NAMES.to_vec();
        rng.shuffle(&mut names);
        let mut s = Schema { namespace, entities: Vec::new(), records: Vec::new(), actions: Vec::new() };

        // Common record types first: each may nest the earlier ones.
        for (r, alias) in RECORD_ALIASES.iter().enumerate().take(rng.range(1, 3)) {
            let mut fields = Vec::new();
            let mut names = FIELD_NAMES.to_vec();
            rng.shuffle(&mut names);
            for name in names.into_iter().take(rng.range(1, 4)) {
                let ty = random_ty(rng, n_entities, r, 1);
                fields.push(Attr { name: name.to_string(), ty, required: rng.chance(70) });
            }
            let alias = if rng.chance(60) { Some(alias.to_string()) } else { None };
            s.records.push(RecordTy { alias, fields });
        }
        let n_records = s.records.len();

        // One attribute pool per world, so that types sharing an attribute name share its type.
        let mut pool: Vec<(String, Ty)> = Vec::new();
        let mut attr_names = ATTR_NAMES.to_vec();
        rng.shuffle(&mut attr_names);
        for name in attr_names.into_iter().take(rng.range(8, 14)) {
            pool.push((name.to_string(), random_ty(rng, n_entities, n_records, 0)));
        }
        for name in names.iter().take(n_entities) {
            let parents = (0..n_entities).filter(|_| rng.chance(35)).collect();
            let mut attrs = Vec::new();
            for (name, ty) in rng.subset(&pool, 45).into_iter().take(7) {
                attrs.push(Attr { name, ty, required: rng.chance(65) });
            }
            let tags = if rng.chance(30) {
                let entity = Ty::Entity(rng.below(n_entities));
                Some(rng.pick(&[Ty::Str, Ty::Long, Ty::Bool, Ty::Set(Box::new(Ty::Str)), entity]).clone())
            } else {
                None
            };
            s.entities.push(EntityTy { name: name.to_string(), parents, attrs, tags });
        }

        // Context pool, then action groups and actions.
        let mut context_pool: Vec<(String, Ty)> = Vec::new();
        for name in CONTEXT_NAMES {
            if rng.chance(70) {
                context_pool.push((name.to_string(), random_ty(rng, n_entities, n_records, 0)));
            }
        }
        for (g, name) in GROUP_NAMES.iter().enumerate().take(rng.range(0, 2)) {
            let parents = if g > 0 && rng.chance(50) { vec![0] } else { Vec::new() };
            s.actions.push(Action { name: name.to_string(), parents, applies: None });
        }
        let n_groups = s.actions.len();
        let mut action_names = ACTION_NAMES.to_vec();
        rng.shuffle(&mut action_names);
        for name in action_names.into_iter().take(rng.range(2, 5)) {
            let n_before = s.actions.len();
            let mut parents: Vec<usize> = (0..n_groups).filter(|_| rng.chance(60)).collect();
            if n_before > n_groups && rng.chance(15) {
                parents.push(rng.range(n_groups, n_before - 1));
            }
            let principals = nonempty_subset(rng, n_entities, 40);
            let resources = nonempty_subset(rng, n_entities, 40);
            let mut context = Vec::new();
            for (name, ty) in rng.subset(&context_pool, 55) {
                context.push(Attr { name, ty, required: rng.chance(60) });
            }
            s.actions.push(Action {
                name: name.to_string(),
                parents,
                applies: Some(Applies { principals, resources, context }),
            });
        }
        s
    }

    /// `Ns::Name`, or `Name` in the empty namespace.
    pub fn qualify(&self, name: &str) -> String {
        if self.namespace.is_empty() { name.to_string() } else { format!("{}::{name}", self.namespace) }
    }

    pub fn entity_type(&self, t: usize) -> String {
        self.qualify(&self.entities[t].name)
    }

    pub fn action_type(&self) -> String {
        self.qualify("Action")
    }

    /// An entity literal in policy syntax.
    pub fn entity_literal(&self, t: usize, id: &str) -> String {
        format!("{}::\"{}\"", self.entity_type(t), escape(id))
    }

    pub fn action_literal(&self, a: usize) -> String {
        format!("{}::\"{}\"", self.action_type(), escape(&self.actions[a].name))
    }

    /// Indices of the actions that apply to requests (not pure groups).
    pub fn concrete_actions(&self) -> Vec<usize> {
        (0..self.actions.len()).filter(|a| self.actions[*a].applies.is_some()).collect()
    }

    /// `a` and every action it is (transitively) declared in.
    pub fn action_ancestors(&self, a: usize) -> Vec<usize> {
        let mut out = vec![a];
        let mut i = 0;
        while i < out.len() {
            for p in &self.actions[out[i]].parents {
                if !out.contains(p) {
                    out.push(*p);
                }
            }
            i += 1;
        }
        out
    }

    /// Whether an entity of type `t` may have an ancestor of type `ancestor` (or is of that type).
    pub fn may_descend(&self, t: usize, ancestor: usize) -> bool {
        let mut seen = vec![t];
        let mut i = 0;
        while i < seen.len() {
            if seen[i] == ancestor {
                return true;
            }
            for p in &self.entities[seen[i]].parents {
                if !seen.contains(p) {
                    seen.push(*p);
                }
            }
            i += 1;
        }
        false
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let indent = if self.namespace.is_empty() { "" } else { "  " };
        if !self.namespace.is_empty() {
            let _ = writeln!(out, "namespace {} {{", self.namespace);
        }
        for r in &self.records {
            if let Some(alias) = &r.alias {
                let _ = writeln!(out, "{indent}type {alias} = {};", self.fields_text(&r.fields));
            }
        }
        for e in &self.entities {
            let _ = write!(out, "{indent}entity {}", e.name);
            if !e.parents.is_empty() {
                let parents: Vec<&str> = e.parents.iter().map(|p| self.entities[*p].name.as_str()).collect();
                let _ = write!(out, " in [{}]", parents.join(", "));
            }
            if !e.attrs.is_empty() {
                let _ = write!(out, " = {}", self.fields_text(&e.attrs));
            }
            if let Some(t) = &e.tags {
                let _ = write!(out, " tags {}", self.ty_text(t));
            }
            out.push_str(";\n");
        }
        for a in &self.actions {
            let _ = write!(out, "{indent}action \"{}\"", a.name);
            if !a.parents.is_empty() {
                let parents: Vec<String> = a.parents.iter().map(|p| format!("\"{}\"", self.actions[*p].name)).collect();
                let _ = write!(out, " in [{}]", parents.join(", "));
            }
            if let Some(ap) = &a.applies {
                let names = |ts: &[usize]| ts.iter().map(|t| self.entities[*t].name.clone()).collect::<Vec<_>>();
                let _ = write!(
                    out,
                    " appliesTo {{ principal: [{}], resource: [{}], context: {} }}",
                    names(&ap.principals).join(", "),
                    names(&ap.resources).join(", "),
                    self.fields_text(&ap.context)
                );
            }
            out.push_str(";\n");
        }
        if !self.namespace.is_empty() {
            out.push_str("}\n");
        }
        out
    }

    fn fields_text(&self, fields: &[Attr]) -> String {
        let inner: Vec<String> = fields
            .iter()
            .map(|f| format!("\"{}\"{}: {}", f.name, if f.required { "" } else { "?" }, self.ty_text(&f.ty)))
            .collect();
        format!("{{{}}}", inner.join(", "))
    }

    pub fn ty_text(&self, ty: &Ty) -> String {
        match ty {
            Ty::Bool => "Bool".into(),
            Ty::Long => "Long".into(),
            Ty::Str => "String".into(),
            Ty::Set(t) => format!("Set<{}>", self.ty_text(t)),
            Ty::Entity(t) => self.entities[*t].name.clone(),
            Ty::Record(r) => match &self.records[*r].alias {
                Some(a) => a.clone(),
                None => self.fields_text(&self.records[*r].fields),
            },
            Ty::Ext(e) => e.schema_name().into(),
        }
    }
}

/// A random attribute type; records only among the first `n_records`, sets nest at most once.
fn random_ty(rng: &mut Rng, n_entities: usize, n_records: usize, depth: usize) -> Ty {
    let record_weight = if n_records > 0 { 8 } else { 0 };
    match rng.weighted(&[10, 18, 16, if depth == 0 { 16 } else { 6 }, 14, record_weight, 14]) {
        0 => Ty::Bool,
        1 => Ty::Long,
        2 => Ty::Str,
        3 => Ty::Set(Box::new(match rng.weighted(&[5, 4, 5, 1]) {
            0 => Ty::Str,
            1 => Ty::Long,
            2 => Ty::Entity(rng.below(n_entities)),
            _ => Ty::Ext(*rng.pick(&EXTS)),
        })),
        4 => Ty::Entity(rng.below(n_entities)),
        5 => Ty::Record(rng.below(n_records)),
        _ => Ty::Ext(*rng.pick(&EXTS)),
    }
}

fn nonempty_subset(rng: &mut Rng, n: usize, percent: u32) -> Vec<usize> {
    let mut out: Vec<usize> = (0..n).filter(|_| rng.chance(percent)).collect();
    if out.is_empty() {
        out.push(rng.below(n));
    }
    out
}

/// A string as the body of a Cedar string literal.
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
