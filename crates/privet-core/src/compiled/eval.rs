//! Evaluating compiled policies against one request: the store, the request's slice (entities that replace or
//! add to stored ones for this request), and the four variables. Follows cedar's evaluator operator by
//! operator: the same short-circuits, the same type rules. Any evaluation error is a `Bail`: the caller then
//! decides the request on cedar's path, which reports the error exactly, except for one error the caller
//! reports itself: an attribute or tag read from an entity that does not exist (`Env::missing`), which cedar
//! reports as a policy's error without stopping the request's other policies.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::Arc;

use super::expr::{Bin, CPolicy, Expr, Glob, Pat, Scope, Var};
use super::ext::{self, ExtArg, ExtOut};
use super::facts;
use super::schema::TypeId;
use super::store::{EntityData, FastStore};
use super::value::{AttrId, Context, EntId, EntRef, Tags, Val, field};

/// Evaluation stopped: an error (or a case the fast path leaves to cedar).
#[derive(Debug)]
pub(crate) struct Bail;

type R<T> = Result<T, Bail>;

/// An entity of the request's slice, with its ancestors computed over slice and store.
#[derive(Debug)]
pub(crate) struct SliceEntity {
    pub(crate) uid: EntRef,
    pub(crate) attrs: Arc<[(AttrId, Val)]>,
    pub(crate) tags: Option<Tags>,
    pub(crate) parents: Vec<EntRef>,
    pub(crate) ancestors: Vec<EntRef>,
}

/// An entity as evaluation sees it.
enum View<'a> {
    Stored(&'a EntityData),
    Slice(&'a SliceEntity),
}

impl<'a> View<'a> {
    fn attrs(&self) -> &'a [(AttrId, Val)] {
        match self {
            View::Stored(d) => &d.attrs,
            View::Slice(s) => &s.attrs,
        }
    }
    fn tags(&self) -> &'a [(Box<str>, Val)] {
        match self {
            View::Stored(d) => d.tags.as_deref().unwrap_or_default(),
            View::Slice(s) => s.tags.as_deref().unwrap_or_default(),
        }
    }
}

/// What one request is evaluated against.
pub(crate) struct Env<'a> {
    store: &'a FastStore,
    slice: &'a [SliceEntity],
    /// principal, action, resource.
    vars: &'a [Val; 3],
    context: &'a Context<'a>,
    /// The fact words of the principal and the resource (`facts.rs`); zero (no fact known) when the request
    /// has a slice.
    facts: [u64; 2],
    /// Set when an evaluation failed because it read an attribute or a tag of an entity that does not exist:
    /// that entity (see `missing`).
    absent: Cell<Option<EntRef>>,
}

impl<'a> Env<'a> {
    /// `facts`: the principal's and the resource's fact words, ignored (no fact known) when there is a slice.
    pub(crate) fn new(
        store: &'a FastStore,
        slice: &'a [SliceEntity],
        vars: &'a [Val; 3],
        context: &'a Context<'a>,
        facts: [u64; 2],
    ) -> Env<'a> {
        let facts = if slice.is_empty() { facts } else { [0, 0] };
        Env { store, slice, vars, context, facts, absent: Cell::new(None) }
    }

    /// After an evaluation failed (`Err(Bail)`): the entity whose absence failed it, when that is why, which
    /// cedar reports as the policy's error "entity `uid` does not exist" (its evaluation order is followed, so
    /// it meets the same one first); `None` when it failed for any other reason. Reading it forgets it.
    pub(crate) fn missing(&self) -> Option<EntRef> {
        self.absent.take()
    }

    /// The entity an attribute or a tag is read from: an error when it does not exist (as in cedar; `has`, `in`
    /// and `hasTag` are false for such an entity instead, and look it up with `entity`).
    #[inline]
    fn existing(&self, r: &EntRef) -> R<View<'a>> {
        match self.entity(r) {
            Some(v) => Ok(v),
            None => Err(self.absent_entity(r)),
        }
    }

    #[cold]
    #[inline(never)]
    fn absent_entity(&self, r: &EntRef) -> Bail {
        self.absent.set(Some(r.clone()));
        Bail
    }

    #[inline]
    fn entity(&self, r: &EntRef) -> Option<View<'a>> {
        if let Some(s) = self.slice.iter().find(|s| s.uid == *r) {
            return Some(View::Slice(s));
        }
        match r {
            EntRef::Known(e) => self.store.get(*e).map(View::Stored),
            EntRef::Local(_) => None,
        }
    }

    /// Whether the entity exists (in the slice or the store).
    pub(crate) fn exists(&self, r: &EntRef) -> bool {
        self.entity(r).is_some()
    }

    fn type_of(&self, r: &EntRef) -> Option<TypeId> {
        self.store.uids.parts(r).map(|(t, _)| t)
    }

    /// `a in b` for entities: equal, or `b` among `a`'s ancestors.
    fn is_in(&self, a: &EntRef, b: &EntRef) -> bool {
        if a == b {
            return true;
        }
        match self.entity(a) {
            Some(View::Stored(d)) => match b {
                EntRef::Known(id) => d.ancestors.binary_search(id).is_ok(),
                EntRef::Local(_) => false,
            },
            Some(View::Slice(s)) => s.ancestors.contains(b),
            None => false,
        }
    }

    fn scope(&self, s: &Scope, v: &Val) -> R<bool> {
        let Val::Ent(r) = v else { return Err(Bail) };
        Ok(match s {
            Scope::Any => true,
            Scope::Eq(e) => *r == EntRef::Known(*e),
            Scope::In(e) => self.is_in(r, &EntRef::Known(*e)),
            Scope::Is(t) => self.type_of(r) == Some(*t),
            Scope::IsIn(t, e) => self.type_of(r) == Some(*t) && self.is_in(r, &EntRef::Known(*e)),
        })
    }

    /// Whether a policy's scope and conditions hold (its action constraint was checked by the index).
    pub(crate) fn satisfied(&self, p: &'a CPolicy) -> R<bool> {
        // An unconstrained scope (the usual case) holds for the entity every request has there.
        let holds = |s: &Scope, v: &Val| match s {
            Scope::Any if matches!(v, Val::Ent(_)) => Ok(true),
            _ => self.scope(s, v),
        };
        if !holds(&p.principal, &self.vars[0])? || !holds(&p.resource, &self.vars[2])? {
            return Ok(false);
        }
        for c in &p.conditions {
            // A fact that is an error is evaluated again, for the error (which may be a policy's error, see
            // `missing`).
            let value = match c.fact.and_then(|f| facts::read(self.facts, f)) {
                Some(Ok(known)) => known,
                Some(Err(())) | None => self.bool(&c.expr)?,
            };
            if !value {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A conjunct's value (for `facts.rs`).
    pub(crate) fn conjunct(&self, e: &'a Expr) -> R<bool> {
        self.bool(e)
    }

    /// A boolean expression. The connectives and comparisons are evaluated here directly (the same rules as
    /// `eval`, without wrapping each intermediate result in a value).
    fn bool(&self, e: &'a Expr) -> R<bool> {
        match e {
            Expr::And(a, b) => Ok(self.bool(a)? && self.bool(b)?),
            Expr::Or(a, b) => Ok(self.bool(a)? || self.bool(b)?),
            Expr::Not(a) => Ok(!self.bool(a)?),
            Expr::Bin(op @ (Bin::Add | Bin::Sub | Bin::Mul | Bin::GetTag), a, b) => match self.binary(*op, a, b)? {
                Val::Bool(b) => Ok(b),
                _ => Err(Bail),
            },
            Expr::Bin(op, a, b) => self.test(*op, a, b),
            _ => match &*self.operand(e)? {
                Val::Bool(b) => Ok(*b),
                _ => Err(Bail),
            },
        }
    }

    fn long(&self, e: &'a Expr) -> R<i64> {
        match &*self.eval(e)? {
            Val::Long(n) => Ok(*n),
            _ => Err(Bail),
        }
    }

    fn eval(&self, e: &'a Expr) -> R<Cow<'a, Val>> {
        Ok(match e {
            Expr::Lit(v) => Cow::Borrowed(v),
            Expr::Var(v) => Cow::Borrowed(self.var(*v)),
            Expr::Not(a) => Cow::Owned(Val::Bool(!self.bool(a)?)),
            Expr::Neg(a) => Cow::Owned(Val::Long(self.long(a)?.checked_neg().ok_or(Bail)?)),
            Expr::And(a, b) => Cow::Owned(Val::Bool(self.bool(a)? && self.bool(b)?)),
            Expr::Or(a, b) => Cow::Owned(Val::Bool(self.bool(a)? || self.bool(b)?)),
            Expr::Bin(op, a, b) => Cow::Owned(self.binary(*op, a, b)?),
            Expr::IsEmpty(a) => match &*self.eval(a)? {
                Val::Set(s) => Cow::Owned(Val::Bool(s.is_empty())),
                _ => return Err(Bail),
            },
            Expr::Attr(a, id) => self.attr(a, *id)?,
            Expr::Has(a, id) if matches!(**a, Expr::Var(Var::Context)) => {
                Cow::Owned(Val::Bool(self.context.field(*id).is_some()))
            }
            Expr::Has(a, id) => Cow::Owned(Val::Bool(match self.eval(a)? {
                Cow::Borrowed(Val::Ent(r)) => self.entity(r).is_some_and(|v| field(v.attrs(), *id).is_some()),
                Cow::Owned(Val::Ent(r)) => self.entity(&r).is_some_and(|v| field(v.attrs(), *id).is_some()),
                v => match &*v {
                    Val::Rec(fields) => field(fields, *id).is_some(),
                    _ => return Err(Bail),
                },
            })),
            Expr::Like(a, glob) => match self.context_text(a) {
                Some(t) => Cow::Owned(Val::Bool(glob_matches(t, glob))),
                None => match &*self.operand(a)? {
                    Val::Str(s) => Cow::Owned(Val::Bool(glob_matches(s, glob))),
                    _ => return Err(Bail),
                },
            },
            Expr::Is(a, t, inn) => {
                let Val::Ent(r) = &*self.eval(a)? else { return Err(Bail) };
                let r = r.clone();
                let is = self.type_of(&r) == Some(*t);
                match inn {
                    None => Cow::Owned(Val::Bool(is)),
                    Some(b) if !is => {
                        // Cedar evaluates `is T in e` as `is T && in e`: the right side is not evaluated.
                        let _ = b;
                        Cow::Owned(Val::Bool(false))
                    }
                    Some(b) => Cow::Owned(Val::Bool(self.in_value(&r, &*self.eval(b)?)?)),
                }
            }
            Expr::If(c, t, f) => {
                if self.bool(c)? {
                    self.eval(t)?
                } else {
                    self.eval(f)?
                }
            }
            Expr::Set(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(i)?.into_owned());
                }
                Cow::Owned(Val::Set(Arc::from(out)))
            }
            Expr::Record(fields) => {
                let mut out = Vec::with_capacity(fields.len());
                for (k, v) in fields {
                    out.push((*k, self.eval(v)?.into_owned()));
                }
                Cow::Owned(Val::Rec(Arc::from(out)))
            }
            Expr::Call(name, args) => {
                let vals = args.iter().map(|a| self.eval(a)).collect::<R<Vec<_>>>()?;
                let mut ext_args = Vec::with_capacity(vals.len());
                for v in &vals {
                    ext_args.push(match &**v {
                        Val::Ext(x) => ExtArg::Ext(x),
                        Val::Long(n) => ExtArg::Long(*n),
                        Val::Str(s) => ExtArg::Str(s),
                        Val::Bool(b) => ExtArg::Bool(*b),
                        _ => return Err(Bail),
                    });
                }
                Cow::Owned(match ext::call(name, &ext_args).map_err(|()| Bail)? {
                    ExtOut::Bool(b) => Val::Bool(b),
                    ExtOut::Long(n) => Val::Long(n),
                    ExtOut::Ext(x) => Val::Ext(Arc::new(x)),
                })
            }
            Expr::Error => return Err(Bail),
        })
    }

    /// An operator's operand: literals and attributes of a variable (the usual operands) read here, without a
    /// round through `eval`'s frame.
    #[inline(always)]
    fn operand(&self, e: &'a Expr) -> R<Cow<'a, Val>> {
        match e {
            Expr::Lit(v) => Ok(Cow::Borrowed(v)),
            Expr::Attr(a, id) => match &**a {
                Expr::Var(Var::Context) => self.context.field(*id).map(Cow::Borrowed).ok_or(Bail),
                _ => self.attr(a, *id),
            },
            _ => self.eval(e),
        }
    }

    fn var(&self, v: Var) -> &'a Val {
        match v {
            Var::Principal => &self.vars[0],
            Var::Action => &self.vars[1],
            Var::Resource => &self.vars[2],
            Var::Context => self.context.whole(),
        }
    }

    fn attr(&self, a: &'a Expr, id: AttrId) -> R<Cow<'a, Val>> {
        // `principal.x`, `context.x`: the most common access, without a round through `eval`.
        if let Expr::Var(v) = a {
            if *v == Var::Context {
                return self.context.field(id).map(Cow::Borrowed).ok_or(Bail);
            }
            return match self.var(*v) {
                Val::Ent(r) => {
                    let view = self.existing(r)?;
                    field(view.attrs(), id).map(Cow::Borrowed).ok_or(Bail)
                }
                Val::Rec(fields) => field(fields, id).map(Cow::Borrowed).ok_or(Bail),
                _ => Err(Bail),
            };
        }
        match self.operand(a)? {
            Cow::Borrowed(Val::Ent(r)) => {
                let view = self.existing(r)?;
                field(view.attrs(), id).map(Cow::Borrowed).ok_or(Bail)
            }
            Cow::Borrowed(Val::Rec(fields)) => field(fields, id).map(Cow::Borrowed).ok_or(Bail),
            Cow::Owned(Val::Ent(r)) => {
                let view = self.existing(&r)?;
                field(view.attrs(), id).map(Cow::Borrowed).ok_or(Bail)
            }
            Cow::Owned(Val::Rec(fields)) => field(&fields, id).cloned().map(Cow::Owned).ok_or(Bail),
            _ => Err(Bail),
        }
    }

    /// `a in b` where `b` is an entity or a set of entities.
    fn in_value(&self, a: &EntRef, b: &Val) -> R<bool> {
        match b {
            Val::Ent(b) => Ok(self.is_in(a, b)),
            Val::Set(items) => {
                let mut found = false;
                for i in items.iter() {
                    let Val::Ent(b) = i else { return Err(Bail) };
                    found = found || self.is_in(a, b);
                }
                Ok(found)
            }
            _ => Err(Bail),
        }
    }

    /// A binary operation's value: a long for the arithmetic operators, a tag's value for `getTag`, else a
    /// boolean (see `test`).
    fn binary(&self, op: Bin, a: &'a Expr, b: &'a Expr) -> R<Val> {
        match op {
            Bin::Add | Bin::Sub | Bin::Mul => {
                let l = self.operand(a)?;
                let r = self.operand(b)?;
                let (Val::Long(x), Val::Long(y)) = (&*l, &*r) else { return Err(Bail) };
                let n = match op {
                    Bin::Add => x.checked_add(*y),
                    Bin::Sub => x.checked_sub(*y),
                    _ => x.checked_mul(*y),
                };
                n.map(Val::Long).ok_or(Bail)
            }
            Bin::GetTag => {
                let l = self.operand(a)?;
                let r = self.operand(b)?;
                let (Val::Ent(x), Val::Str(t)) = (&*l, &*r) else { return Err(Bail) };
                let view = self.existing(x)?;
                tag(view.tags(), t).cloned().ok_or(Bail)
            }
            _ => self.test(op, a, b).map(Val::Bool),
        }
    }

    /// A binary operation whose value is a boolean (every operator but the arithmetic ones and `getTag`),
    /// without wrapping it in a value: conditions are mostly comparisons.
    fn test(&self, op: Bin, a: &'a Expr, b: &'a Expr) -> R<bool> {
        if let Some(known) = self.text_test(op, a, b) {
            return known;
        }
        let l = self.operand(a)?;
        let r = self.operand(b)?;
        let (l, r) = (&*l, &*r);
        Ok(match op {
            Bin::Eq => l == r,
            Bin::Ne => l != r,
            Bin::Lt | Bin::Le | Bin::Gt | Bin::Ge => {
                let ord = match (l, r) {
                    (Val::Long(x), Val::Long(y)) => x.cmp(y),
                    (Val::Ext(x), Val::Ext(y)) => ext::compare(x, y).ok_or(Bail)?,
                    _ => return Err(Bail),
                };
                match op {
                    Bin::Lt => ord.is_lt(),
                    Bin::Le => ord.is_le(),
                    Bin::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                }
            }
            Bin::In => {
                let Val::Ent(x) = l else { return Err(Bail) };
                self.in_value(x, r)?
            }
            Bin::Contains => {
                let Val::Set(s) = l else { return Err(Bail) };
                s.iter().any(|x| x == r)
            }
            Bin::ContainsAll | Bin::ContainsAny => {
                let (Val::Set(x), Val::Set(y)) = (l, r) else { return Err(Bail) };
                if matches!(op, Bin::ContainsAll) {
                    y.iter().all(|v| x.iter().any(|w| w == v))
                } else {
                    y.iter().any(|v| x.iter().any(|w| w == v))
                }
            }
            Bin::HasTag => {
                let (Val::Ent(x), Val::Str(t)) = (l, r) else { return Err(Bail) };
                self.entity(x).is_some_and(|v| tag(v.tags(), t).is_some())
            }
            // Not boolean: evaluated by `binary`, which does not send them here.
            Bin::Add | Bin::Sub | Bin::Mul | Bin::GetTag => return Err(Bail),
        })
    }
}

impl<'a> Env<'a> {
    /// The text of `e` when it reads a string field of the context (`context.x`), without making its value.
    fn context_text(&self, e: &Expr) -> Option<&str> {
        match e {
            Expr::Attr(a, id) if matches!(**a, Expr::Var(Var::Context)) => self.context.text(*id),
            _ => None,
        }
    }

    /// `test` for the comparisons that read a string context field: equality with it, and whether a set holds
    /// it, compared as text (no value made for the field, none copied). `None` when `op` is not one of these or
    /// no operand is such a field. Neither reading fails, so evaluating the other operand first keeps
    /// `test`'s errors.
    #[inline]
    fn text_test(&self, op: Bin, a: &'a Expr, b: &'a Expr) -> Option<R<bool>> {
        let is = |v: &Val, t: &str| matches!(v, Val::Str(s) if s == t);
        match op {
            Bin::Contains => {
                let t = self.context_text(b)?;
                Some(self.operand(a).and_then(|l| match &*l {
                    Val::Set(s) => Ok(s.iter().any(|x| is(x, t))),
                    _ => Err(Bail),
                }))
            }
            Bin::Eq | Bin::Ne => {
                let equal = match (self.context_text(a), self.context_text(b)) {
                    (Some(x), Some(y)) => Ok(x == y),
                    (Some(t), None) => self.operand(b).map(|r| is(&r, t)),
                    (None, Some(t)) => self.operand(a).map(|l| is(&l, t)),
                    (None, None) => return None,
                };
                Some(equal.map(|e| e == matches!(op, Bin::Eq)))
            }
            _ => None,
        }
    }
}

fn tag<'t>(tags: &'t [(Box<str>, Val)], name: &str) -> Option<&'t Val> {
    tags.binary_search_by(|(k, _)| (**k).cmp(name)).ok().map(|i| &tags[i].1)
}

/// Cedar's `like` by the pattern's compiled form.
fn glob_matches(text: &str, glob: &Glob) -> bool {
    match glob {
        Glob::Exact(lit) => text == &**lit,
        Glob::Prefix(lit) => text.starts_with(&**lit),
        Glob::Suffix(lit) => text.ends_with(&**lit),
        Glob::Infix(lit) => text.contains(&**lit),
        Glob::General(pat) => like(text, pat),
    }
}

/// Cedar's `like`: `*` matches any run of characters (including none); everything else matches itself. Walks
/// the text by byte offsets (no copy), backtracking to the last `*`.
fn like(text: &str, pat: &[Pat]) -> bool {
    let next = |i: usize| text.get(i..).and_then(|t| t.chars().next());
    let (mut i, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(c) = next(i) {
        match pat.get(p) {
            Some(Pat::Char(x)) if *x == c => {
                i += c.len_utf8();
                p += 1;
            }
            Some(Pat::Star) => {
                star = Some((p, i));
                p += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    // The star takes one more character.
                    let skip = next(si).map_or(1, char::len_utf8);
                    p = sp + 1;
                    i = si + skip;
                    star = Some((sp, i));
                }
                None => return false,
            },
        }
    }
    pat[p.min(pat.len())..].iter().all(|x| *x == Pat::Star)
}

/// The ancestors of a slice entity: its parents and theirs, through the slice and the store. `None` on a cycle
/// within the slice.
pub(crate) fn slice_ancestors(store: &FastStore, slice: &[SliceEntity], start: usize) -> Option<Vec<EntRef>> {
    let mut out: Vec<EntRef> = Vec::new();
    let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
    let mut seen_slice = vec![false; slice.len()];
    seen_slice[start] = true;
    while let Some((si, depth)) = stack.pop() {
        if depth > slice.len() {
            return None;
        }
        for p in &slice[si].parents {
            if !out.contains(p) {
                out.push(p.clone());
            }
            if let Some(j) = slice.iter().position(|s| s.uid == *p) {
                if j == start {
                    return None;
                }
                if !seen_slice[j] {
                    seen_slice[j] = true;
                    stack.push((j, depth + 1));
                }
            } else if let EntRef::Known(e) = p {
                if let Some(d) = store.get(*e) {
                    for a in d.ancestors.iter() {
                        let a = EntRef::Known(*a);
                        // A stored ancestor replaced by the slice with other parents is the caller's fallback case.
                        if !out.contains(&a) {
                            out.push(a);
                        }
                    }
                }
            }
        }
    }
    Some(out)
}

/// The `EntId` of a known reference.
#[allow(dead_code)]
pub(crate) fn known(r: &EntRef) -> Option<EntId> {
    match r {
        EntRef::Known(e) => Some(*e),
        EntRef::Local(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{Glob, Pat, glob_matches, like};

    /// The definition, by recursion over characters.
    fn reference(t: &[char], p: &[Pat]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((Pat::Star, rest)) => (0..=t.len()).any(|k| reference(&t[k..], rest)),
            Some((Pat::Char(c), rest)) => t.first() == Some(c) && reference(&t[1..], rest),
        }
    }

    #[test]
    fn like_matches_the_definition_on_multibyte_text() {
        let alphabet = ['a', 'é', '中', '*'];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..20_000 {
            let text: String = (0..next(7)).map(|_| alphabet[next(4)]).collect();
            let pat: Vec<Pat> = (0..next(6))
                .map(|_| match next(5) {
                    0 | 1 => Pat::Star,
                    k => Pat::Char(alphabet[k - 2]),
                })
                .collect();
            let chars: Vec<char> = text.chars().collect();
            let expected = reference(&chars, &pat);
            assert_eq!(like(&text, &pat), expected, "{text:?} like {pat:?}");
            // The compiled form (prefix, suffix, infix, exact or general) agrees.
            let glob = Glob::new(pat.clone());
            assert_eq!(glob_matches(&text, &glob), expected, "{text:?} like {glob:?}");
        }
    }
}
