//! Type-directed expressions for a policy's conditions. An `Exprs` knows which entity types `principal` and
//! `resource` may have under the policy's scope and which context fields every action in scope declares, and
//! builds Boolean conditions from typed parts: attribute paths (guarded with `has` when optional), literals
//! (entity literals of stored and absent entities), arithmetic that may overflow, set, string, tag, `in`, `is`
//! and extension operations. A path's `has` guards are hoisted in front of the comparison that uses it
//! (`(principal has age && principal.age < 7)`), which is what strict validation asks; a few are deliberately
//! left out (those policies fail validation and are regenerated).

use super::rng::Rng;
use super::schema::{Attr, EXTS, Ext, Schema, Ty};
use super::values::{Ids, TAG_KEYS};

/// An expression with its type and the `has` guards that must hold before it is evaluated.
#[derive(Debug, Clone)]
pub(super) struct Path {
    pub(super) text: String,
    pub(super) ty: Ty,
    pub(super) guards: Vec<String>,
}

/// An entity-valued expression that may have several types (`principal` under a loose scope).
#[derive(Debug, Clone)]
pub(super) struct EntityExpr {
    pub(super) text: String,
    pub(super) types: Vec<usize>,
    pub(super) guards: Vec<String>,
}

pub struct Exprs<'a> {
    pub(super) s: &'a Schema,
    pub(super) ids: &'a Ids,
    pub(super) paths: Vec<Path>,
    /// `principal`, `resource`, entity-typed paths and a few entity literals.
    pub(super) entities: Vec<EntityExpr>,
    /// Entity-typed paths whose (single) type declares tags.
    pub(super) tagged: Vec<(Path, Ty)>,
    /// Record-typed paths (and `context`) with their fields.
    pub(super) records: Vec<(Path, Vec<Attr>)>,
    /// Percentage of guarded atoms emitted without their guards.
    pub drop_guard_percent: u32,
}

const LIKE_PATTERNS: [&str; 10] = ["*", "a*", "*a", "a*c", "a\\*c", "al*ha*", "", "x y", "*b*", "Zo*"];
const MAX_PATHS: usize = 160;

impl<'a> Exprs<'a> {
    pub fn new(
        rng: &mut Rng,
        s: &'a Schema,
        ids: &'a Ids,
        principal: &[usize],
        resource: &[usize],
        context: &[Attr],
    ) -> Exprs<'a> {
        let mut x = Exprs {
            s,
            ids,
            paths: Vec::new(),
            entities: Vec::new(),
            tagged: Vec::new(),
            records: Vec::new(),
            drop_guard_percent: 3,
        };
        x.entity_root(rng, "principal", principal);
        x.entity_root(rng, "resource", resource);
        let ctx = Path { text: "context".into(), ty: Ty::Bool, guards: Vec::new() };
        x.records.push((ctx.clone(), context.to_vec()));
        x.fields(rng, &ctx, context, 3);
        // A couple of entity literals whose attributes the conditions may read (stored or not).
        for _ in 0..rng.range(0, 2) {
            let t = rng.below(s.entities.len());
            let lit = s.entity_literal(t, &ids.any(rng, t, 70));
            x.entity_root(rng, &lit, &[t]);
        }
        x
    }

    fn entity_root(&mut self, rng: &mut Rng, text: &str, types: &[usize]) {
        self.entities.push(EntityExpr { text: text.into(), types: types.to_vec(), guards: Vec::new() });
        if types.is_empty() {
            return;
        }
        let root = Path { text: text.into(), ty: Ty::Bool, guards: Vec::new() };
        let common = self.common_attrs(types);
        if let [t] = types {
            self.paths.push(Path { text: text.into(), ty: Ty::Entity(*t), guards: Vec::new() });
            self.tags(rng, &root, *t, 3);
        }
        self.fields(rng, &root, &common, 3);
    }

    /// Attributes every one of `types` declares with the same type; optional if optional in any.
    fn common_attrs(&self, types: &[usize]) -> Vec<Attr> {
        let Some(first) = types.first() else { return Vec::new() };
        let mut out = Vec::new();
        for a in &self.s.entities[*first].attrs {
            let mut required = a.required;
            let mut everywhere = true;
            for t in &types[1..] {
                match self.s.entities[*t].attrs.iter().find(|b| b.name == a.name && b.ty == a.ty) {
                    Some(b) => required &= b.required,
                    None => everywhere = false,
                }
            }
            if everywhere {
                out.push(Attr { name: a.name.clone(), ty: a.ty.clone(), required });
            }
        }
        out
    }

    /// Adds `base.f` for each field (guarded when optional), and recurses into entity and record types.
    fn fields(&mut self, rng: &mut Rng, base: &Path, fields: &[Attr], hops: usize) {
        if hops == 0 {
            return;
        }
        for f in fields {
            if self.paths.len() >= MAX_PATHS {
                return;
            }
            let mut guards = base.guards.clone();
            if !f.required {
                guards.push(format!("{} has {}", base.text, f.name));
            }
            // Both access syntaxes: `e.f` and `e["f"]`.
            let text = if rng.chance(15) {
                format!("{}[\"{}\"]", base.text, f.name)
            } else {
                format!("{}.{}", base.text, f.name)
            };
            let p = Path { text, ty: f.ty.clone(), guards };
            self.paths.push(p.clone());
            match &f.ty {
                Ty::Entity(t) => {
                    self.entities.push(EntityExpr { text: p.text.clone(), types: vec![*t], guards: p.guards.clone() });
                    self.tags(rng, &p, *t, hops - 1);
                    let attrs = self.s.entities[*t].attrs.clone();
                    self.fields(rng, &p, &attrs, hops - 1);
                }
                Ty::Record(r) => {
                    let rf = self.s.records[*r].fields.clone();
                    self.records.push((p.clone(), rf.clone()));
                    self.fields(rng, &p, &rf, hops - 1);
                }
                _ => {}
            }
        }
    }

    /// For an entity path whose type declares tags: `base.getTag("k")` (guarded by `hasTag`) as a path, and
    /// on through an entity-typed tag's attributes.
    fn tags(&mut self, rng: &mut Rng, base: &Path, t: usize, hops: usize) {
        let Some(tag_ty) = self.s.entities[t].tags.clone() else { return };
        self.tagged.push((base.clone(), tag_ty.clone()));
        if hops == 0 || self.paths.len() >= MAX_PATHS {
            return;
        }
        let key = rng.pick(&TAG_KEYS);
        let mut guards = base.guards.clone();
        guards.push(format!("{}.hasTag(\"{key}\")", base.text));
        let p = Path { text: format!("{}.getTag(\"{key}\")", base.text), ty: tag_ty.clone(), guards };
        self.paths.push(p.clone());
        if let Ty::Entity(e) = tag_ty {
            self.entities.push(EntityExpr { text: p.text.clone(), types: vec![e], guards: p.guards.clone() });
            let attrs = self.s.entities[e].attrs.clone();
            self.fields(rng, &p, &attrs, hops - 1);
        }
    }

    pub(super) fn paths_of(&self, ty: &Ty) -> Vec<&Path> {
        self.paths.iter().filter(|p| &p.ty == ty).collect()
    }

    /// A type for a comparison: usually one some path has, else a primitive or extension type.
    fn some_type(&self, rng: &mut Rng) -> Ty {
        if !self.paths.is_empty() && rng.chance(65) {
            return rng.pick(&self.paths).ty.clone();
        }
        match rng.below(6) {
            0 => Ty::Long,
            1 => Ty::Str,
            2 => Ty::Bool,
            3 => Ty::Set(Box::new(if rng.chance(50) { Ty::Str } else { Ty::Long })),
            4 => Ty::Entity(rng.below(self.s.entities.len())),
            _ => Ty::Ext(*rng.pick(&EXTS)),
        }
    }

    /// A condition: a Boolean expression of nesting at most `depth`.
    pub fn condition(&self, rng: &mut Rng, depth: usize) -> String {
        let w_compound = if depth > 0 { 1 } else { 0 };
        let w_tags = if self.tagged.is_empty() { 0 } else { 3 };
        match rng.weighted(&[
            4,              // Bool path
            10,             // == / !=
            8,              // < <= > >=
            8,              // in
            4,              // is
            6,              // has
            8,              // set methods
            4,              // like
            w_tags,         // tags
            3,              // decimal and ip methods
            4 * w_compound, // !
            9 * w_compound, // && ||
            2 * w_compound, // if-then-else
            1,              // true / false
            2,              // action
            5,              // arithmetic that may overflow
        ]) {
            0 => self.atom(rng, |x, rng, g| x.value(rng, &Ty::Bool, 0, g)),
            1 => self.atom(rng, |x, rng, g| {
                let ty = x.some_type(rng);
                let op = if rng.chance(70) { "==" } else { "!=" };
                format!("({} {op} {})", x.value(rng, &ty, 1, g), x.value(rng, &ty, 1, g))
            }),
            2 => self.atom(rng, |x, rng, g| {
                let ty = match rng.weighted(&[6, 2, 2]) {
                    0 => Ty::Long,
                    1 => Ty::Ext(Ext::Datetime),
                    _ => Ty::Ext(Ext::Duration),
                };
                let op = *rng.pick(&["<", "<=", ">", ">="]);
                format!("({} {op} {})", x.value(rng, &ty, 1, g), x.value(rng, &ty, 1, g))
            }),
            3 => self.atom(rng, |x, rng, g| {
                let lhs = x.entity_expr(rng, g);
                format!("({} in {})", lhs.text, x.in_target(rng, &lhs.types, g))
            }),
            4 => self.atom(rng, |x, rng, g| {
                let lhs = x.entity_expr(rng, g);
                let t = x.type_of_interest(rng, &lhs.types);
                if rng.chance(30) {
                    format!("({} is {} in {})", lhs.text, x.s.entity_type(t), x.in_target(rng, &[t], g))
                } else {
                    format!("({} is {})", lhs.text, x.s.entity_type(t))
                }
            }),
            5 => self.atom(rng, |x, rng, g| x.has(rng, g)),
            6 => self.atom(rng, |x, rng, g| x.set_op(rng, g)),
            7 => self.atom(rng, |x, rng, g| {
                // Patterns hold no quote; `\*` is a literal star.
                let pat = rng.pick(&LIKE_PATTERNS);
                format!("({} like \"{pat}\")", x.value(rng, &Ty::Str, 1, g))
            }),
            8 => self.atom(rng, |x, rng, g| {
                let (p, tag_ty) = rng.pick(&x.tagged).clone();
                g.extend(p.guards.iter().cloned());
                let key = rng.pick(&TAG_KEYS);
                match rng.below(3) {
                    0 => format!("{}.hasTag(\"{key}\")", p.text),
                    1 => format!("{}.hasTag({})", p.text, x.value(rng, &Ty::Str, 0, g)),
                    _ => {
                        let tag = format!("{}.getTag(\"{key}\")", p.text);
                        if rng.chance(95) {
                            g.push(format!("{}.hasTag(\"{key}\")", p.text));
                        }
                        let v = x.value(rng, &tag_ty, 0, g);
                        format!("({tag} == {v})")
                    }
                }
            }),
            9 => self.atom(rng, |x, rng, g| {
                if rng.chance(50) {
                    let m = rng.pick(&["lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual"]);
                    let d = Ty::Ext(Ext::Decimal);
                    format!("{}.{m}({})", x.value(rng, &d, 1, g), x.value(rng, &d, 1, g))
                } else {
                    let ip = Ty::Ext(Ext::Ip);
                    match rng.below(5) {
                        0 => format!("{}.isIpv4()", x.value(rng, &ip, 1, g)),
                        1 => format!("{}.isIpv6()", x.value(rng, &ip, 1, g)),
                        2 => format!("{}.isLoopback()", x.value(rng, &ip, 1, g)),
                        3 => format!("{}.isMulticast()", x.value(rng, &ip, 1, g)),
                        _ => format!("{}.isInRange({})", x.value(rng, &ip, 1, g), x.value(rng, &ip, 1, g)),
                    }
                }
            }),
            10 => format!("(!{})", self.condition(rng, depth - 1)),
            11 => {
                let op = if rng.chance(55) { "&&" } else { "||" };
                format!("({} {op} {})", self.condition(rng, depth - 1), self.condition(rng, depth - 1))
            }
            12 => format!(
                "(if {} then {} else {})",
                self.condition(rng, depth - 1),
                self.condition(rng, depth - 1),
                self.condition(rng, depth - 1)
            ),
            13 => if rng.chance(60) { "true" } else { "false" }.into(),
            15 => self.atom(rng, |x, rng, g| x.arithmetic(rng, g)),
            _ => {
                let a = rng.below(self.s.actions.len());
                match rng.below(3) {
                    0 => format!("(action == {})", self.s.action_literal(a)),
                    1 => format!("(action in {})", self.s.action_literal(a)),
                    _ => {
                        let b = rng.below(self.s.actions.len());
                        format!("(action in [{}, {}])", self.s.action_literal(a), self.s.action_literal(b))
                    }
                }
            }
        }
    }

    /// An atom built by `f`, preceded by the guards its paths need (rarely, deliberately without them).
    fn atom(&self, rng: &mut Rng, f: impl FnOnce(&Self, &mut Rng, &mut Vec<String>) -> String) -> String {
        let mut guards = Vec::new();
        let body = f(self, rng, &mut guards);
        let mut unique: Vec<String> = Vec::new();
        for g in guards {
            if !unique.contains(&g) {
                unique.push(g);
            }
        }
        if unique.is_empty() || rng.chance(self.drop_guard_percent) {
            return body;
        }
        format!("({} && {body})", unique.join(" && "))
    }

    /// An entity-valued expression (with its possible types), recording its guards.
    fn entity_expr(&self, rng: &mut Rng, g: &mut Vec<String>) -> EntityExpr {
        let e = if rng.chance(80) || self.entities.is_empty() {
            // principal, resource, or an entity path (the first two are the first two entries).
            let n = self.entities.len();
            let i = if n > 2 && rng.chance(40) { rng.range(2, n - 1) } else { rng.below(n.min(2)) };
            self.entities[i].clone()
        } else {
            let t = rng.below(self.s.entities.len());
            EntityExpr { text: self.entity_lit(rng, t), types: vec![t], guards: Vec::new() }
        };
        g.extend(e.guards.iter().cloned());
        e
    }

    /// A type related to `types` (one of them, or one they may descend from), sometimes any type.
    fn type_of_interest(&self, rng: &mut Rng, types: &[usize]) -> usize {
        let n = self.s.entities.len();
        if types.is_empty() || rng.chance(20) {
            return rng.below(n);
        }
        let t = *rng.pick(types);
        let related: Vec<usize> = (0..n).filter(|a| self.s.may_descend(t, *a)).collect();
        *rng.pick(&related)
    }

    /// The right of an `in`: an entity, a set literal of entities of one type, or a `Set<Entity>` path.
    fn in_target(&self, rng: &mut Rng, lhs: &[usize], g: &mut Vec<String>) -> String {
        let t = self.type_of_interest(rng, lhs);
        let set_paths: Vec<&Path> =
            self.paths.iter().filter(|p| matches!(&p.ty, Ty::Set(e) if matches!(**e, Ty::Entity(_)))).collect();
        match rng.weighted(&[5, 2, 2, if set_paths.is_empty() { 0 } else { 2 }]) {
            0 => self.entity_lit(rng, t),
            1 => {
                let paths = self.paths_of(&Ty::Entity(t));
                if paths.is_empty() {
                    self.entity_lit(rng, t)
                } else {
                    let p = rng.pick(&paths);
                    g.extend(p.guards.iter().cloned());
                    p.text.clone()
                }
            }
            2 => format!("[{}, {}]", self.entity_lit(rng, t), self.entity_lit(rng, t)),
            _ => {
                let p = rng.pick(&set_paths);
                g.extend(p.guards.iter().cloned());
                p.text.clone()
            }
        }
    }

    pub(super) fn entity_lit(&self, rng: &mut Rng, t: usize) -> String {
        self.s.entity_literal(t, &self.ids.any(rng, t, 75))
    }

    /// `x has f` on an entity or record, usually for an attribute that is optional somewhere.
    fn has(&self, rng: &mut Rng, g: &mut Vec<String>) -> String {
        if rng.chance(40) {
            let e = self.entity_expr(rng, g);
            let name = match e.types.first() {
                Some(t) if !self.s.entities[*t].attrs.is_empty() && rng.chance(85) => {
                    rng.pick(&self.s.entities[*t].attrs).name.clone()
                }
                _ => "undeclared".to_string(),
            };
            return format!("({} has {name})", e.text);
        }
        let (p, fields) = rng.pick(&self.records).clone();
        g.extend(p.guards.iter().cloned());
        let name = if !fields.is_empty() && rng.chance(85) { rng.pick(&fields).name.clone() } else { "nope".into() };
        if rng.chance(15) { format!("({} has \"{name}\")", p.text) } else { format!("({} has {name})", p.text) }
    }

    fn set_op(&self, rng: &mut Rng, g: &mut Vec<String>) -> String {
        let elem = match self.paths.iter().filter(|p| matches!(p.ty, Ty::Set(_))).count() {
            0 => match rng.below(3) {
                0 => Ty::Str,
                1 => Ty::Long,
                _ => Ty::Entity(rng.below(self.s.entities.len())),
            },
            _ if rng.chance(80) => {
                let sets: Vec<&Path> = self.paths.iter().filter(|p| matches!(p.ty, Ty::Set(_))).collect();
                match &rng.pick(&sets).ty {
                    Ty::Set(e) => (**e).clone(),
                    _ => Ty::Str,
                }
            }
            _ => Ty::Str,
        };
        let set = Ty::Set(Box::new(elem.clone()));
        let s = self.value(rng, &set, 1, g);
        match rng.below(4) {
            0 => format!("{s}.contains({})", self.value(rng, &elem, 1, g)),
            1 => format!("{s}.containsAll({})", self.value(rng, &set, 1, g)),
            2 => format!("{s}.containsAny({})", self.value(rng, &set, 1, g)),
            _ => format!("{s}.isEmpty()"),
        }
    }
}
