//! Policies compiled from cedar's JSON policy form (EST) into a small expression tree over interned names and
//! uids. A policy that uses anything not listed here is not compiled (`None`), and requests it could apply to
//! take cedar's path.

use smol_str::SmolStr;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::ext::{self, Ext};
use super::schema::{TypeId, TypedSchema};
use super::uids::Uids;
use super::value::{AttrId, EntId, EntRef, Names, Val};

/// The request variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    Principal,
    Action,
    Resource,
    Context,
}

/// Binary operators evaluated strictly (both sides).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bin {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    In,
    Contains,
    ContainsAll,
    ContainsAny,
    GetTag,
    HasTag,
}

/// One element of a `like` pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pat {
    Char(char),
    Star,
}

/// A `like` pattern, with the forms most patterns take recognised when compiled (a purpose hierarchy's
/// `"marketing.*"` is a prefix): these match by byte comparison, as cedar's character-wise matching comes out
/// on UTF-8 text.
#[derive(Debug)]
pub(crate) enum Glob {
    /// No star: the text is the literal.
    Exact(Box<str>),
    /// `lit*`.
    Prefix(Box<str>),
    /// `*lit`.
    Suffix(Box<str>),
    /// `*lit*`.
    Infix(Box<str>),
    /// Any other pattern, matched element by element.
    General(Box<[Pat]>),
}

impl Glob {
    pub(crate) fn new(pat: Vec<Pat>) -> Glob {
        let stars: Vec<usize> = pat.iter().enumerate().filter(|(_, p)| **p == Pat::Star).map(|(i, _)| i).collect();
        let lit = |from: usize, to: usize| -> Box<str> {
            pat[from..to]
                .iter()
                .filter_map(|p| match p {
                    Pat::Char(c) => Some(*c),
                    Pat::Star => None,
                })
                .collect::<String>()
                .into()
        };
        let n = pat.len();
        match stars[..] {
            [] => Glob::Exact(lit(0, n)),
            [s] if s + 1 == n => Glob::Prefix(lit(0, s)),
            [0] => Glob::Suffix(lit(1, n)),
            [0, s] if s + 1 == n => Glob::Infix(lit(1, s)),
            _ => Glob::General(pat.into_boxed_slice()),
        }
    }
}

/// A compiled expression.
#[derive(Debug)]
pub(crate) enum Expr {
    Lit(Val),
    Var(Var),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Bin(Bin, Box<Expr>, Box<Expr>),
    IsEmpty(Box<Expr>),
    Attr(Box<Expr>, AttrId),
    Has(Box<Expr>, AttrId),
    Like(Box<Expr>, Glob),
    Is(Box<Expr>, TypeId, Option<Box<Expr>>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Set(Vec<Expr>),
    Record(Vec<(AttrId, Expr)>),
    Call(Box<str>, Vec<Expr>),
    /// Always an evaluation error (e.g. a constructor applied to a bad literal).
    Error,
}

/// A scope constraint on the principal or resource.
#[derive(Debug, Clone)]
pub(crate) enum Scope {
    Any,
    Eq(EntId),
    In(EntId),
    Is(TypeId),
    IsIn(TypeId, EntId),
}

/// A compiled policy.
#[derive(Debug)]
pub(crate) struct CPolicy {
    pub(crate) permit: bool,
    pub(crate) principal: Scope,
    /// Action constraint as written, resolved against the action hierarchy by the caller.
    pub(crate) action_in: Option<(bool, Vec<EntId>)>,
    pub(crate) resource: Scope,
    /// The `when` bodies as they are and the `unless` bodies negated, in order, each split at its top-level
    /// `&&`s: evaluated in this order, the first false one makes the policy not apply (as cedar's `&&`).
    pub(crate) conditions: Vec<Conjunct>,
}

/// One conjunct of a policy's conditions.
#[derive(Debug)]
pub(crate) struct Conjunct {
    pub(crate) expr: Expr,
    /// Where its value is kept per entity, when it reads only the principal or only the resource (`facts.rs`).
    pub(crate) fact: Option<Fact>,
}

/// A conjunct whose value is kept per entity: the variable it reads and its slot in an entity's fact word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fact {
    pub(crate) resource: bool,
    pub(crate) slot: u8,
}

/// Appends the conjuncts of `e` (split at its top-level `&&`s, left to right) to `out`.
fn conjuncts(e: Expr, out: &mut Vec<Conjunct>) {
    match e {
        Expr::And(a, b) => {
            conjuncts(*a, out);
            conjuncts(*b, out);
        }
        expr => out.push(Conjunct { expr, fact: None }),
    }
}

impl Expr {
    /// The variables the expression reads, as a bit set (bit `Var as u8`).
    pub(crate) fn vars(&self) -> u8 {
        match self {
            Expr::Lit(_) | Expr::Error => 0,
            Expr::Var(v) => 1 << (*v as u8),
            Expr::Not(a) | Expr::Neg(a) | Expr::IsEmpty(a) | Expr::Attr(a, _) | Expr::Has(a, _) | Expr::Like(a, _) => {
                a.vars()
            }
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Bin(_, a, b) => a.vars() | b.vars(),
            Expr::Is(a, _, b) => a.vars() | b.as_ref().map_or(0, |b| b.vars()),
            Expr::If(c, t, f) => c.vars() | t.vars() | f.vars(),
            Expr::Set(items) | Expr::Call(_, items) => items.iter().fold(0, |m, i| m | i.vars()),
            Expr::Record(fields) => fields.iter().fold(0, |m, (_, e)| m | e.vars()),
        }
    }
}

/// What compiling needs.
pub(crate) struct Compiler<'a> {
    pub(crate) schema: &'a TypedSchema,
    pub(crate) names: &'a mut Names,
    pub(crate) uids: &'a mut Uids,
}

impl Compiler<'_> {
    fn uid(&mut self, v: &Value) -> Option<EntId> {
        let v = v.get("__entity").unwrap_or(v);
        let ty = self.schema.type_id(v.get("type")?.as_str()?)?;
        Some(self.uids.intern(ty, v.get("id")?.as_str()?))
    }

    fn scope(&mut self, v: &Value) -> Option<Scope> {
        match v.get("op")?.as_str()? {
            "All" | "all" => Some(Scope::Any),
            "==" => Some(Scope::Eq(self.uid(v.get("entity")?)?)),
            "in" => Some(Scope::In(self.uid(v.get("entity")?)?)),
            "is" => {
                let ty = self.schema.type_id(v.get("entity_type")?.as_str()?)?;
                match v.get("in") {
                    None => Some(Scope::Is(ty)),
                    Some(i) => Some(Scope::IsIn(ty, self.uid(i.get("entity")?)?)),
                }
            }
            _ => None,
        }
    }

    /// Compiles one policy's EST.
    pub(crate) fn policy(&mut self, est: &Value) -> Option<CPolicy> {
        let permit = match est.get("effect")?.as_str()? {
            "permit" => true,
            "forbid" => false,
            _ => return None,
        };
        let principal = self.scope(est.get("principal")?)?;
        let resource = self.scope(est.get("resource")?)?;
        let a = est.get("action")?;
        let action_in = match a.get("op")?.as_str()? {
            "All" | "all" => None,
            "==" => Some((false, vec![self.uid(a.get("entity")?)?])),
            "in" => match (a.get("entity"), a.get("entities")) {
                (Some(e), _) => Some((true, vec![self.uid(e)?])),
                (None, Some(Value::Array(es))) => {
                    Some((true, es.iter().map(|e| self.uid(e)).collect::<Option<Vec<_>>>()?))
                }
                _ => return None,
            },
            _ => return None,
        };
        let mut conditions = Vec::new();
        for c in est.get("conditions")?.as_array()? {
            let body = self.expr(c.get("body")?, 0)?;
            match c.get("kind")?.as_str()? {
                "when" => conjuncts(body, &mut conditions),
                "unless" => conjuncts(Expr::Not(Box::new(body)), &mut conditions),
                _ => return None,
            }
        }
        Some(CPolicy { permit, principal, action_in, resource, conditions })
    }

    fn boxed(&mut self, v: &Value, depth: usize) -> Option<Box<Expr>> {
        self.expr(v, depth + 1).map(Box::new)
    }

    fn two(&mut self, v: &Value, depth: usize) -> Option<(Box<Expr>, Box<Expr>)> {
        Some((self.boxed(v.get("left")?, depth)?, self.boxed(v.get("right")?, depth)?))
    }

    fn expr(&mut self, v: &Value, depth: usize) -> Option<Expr> {
        if depth > 200 {
            return None;
        }
        let obj = v.as_object()?;
        if obj.len() != 1 {
            return None;
        }
        let (op, arg) = obj.iter().next()?;
        let bin = |b: Bin, s: &mut Self| s.two(arg, depth).map(|(l, r)| Expr::Bin(b, l, r));
        match op.as_str() {
            "Value" => self.literal(arg, 0).map(Expr::Lit),
            "Var" => Some(Expr::Var(match arg.as_str()? {
                "principal" => Var::Principal,
                "action" => Var::Action,
                "resource" => Var::Resource,
                "context" => Var::Context,
                _ => return None,
            })),
            "!" => Some(Expr::Not(self.boxed(arg.get("arg")?, depth)?)),
            "neg" => Some(Expr::Neg(self.boxed(arg.get("arg")?, depth)?)),
            "isEmpty" => Some(Expr::IsEmpty(self.boxed(arg.get("arg")?, depth)?)),
            "&&" => self.two(arg, depth).map(|(l, r)| Expr::And(l, r)),
            "||" => self.two(arg, depth).map(|(l, r)| Expr::Or(l, r)),
            "==" => bin(Bin::Eq, self),
            "!=" => bin(Bin::Ne, self),
            "<" => bin(Bin::Lt, self),
            "<=" => bin(Bin::Le, self),
            ">" => bin(Bin::Gt, self),
            ">=" => bin(Bin::Ge, self),
            "+" => bin(Bin::Add, self),
            "-" => bin(Bin::Sub, self),
            "*" => bin(Bin::Mul, self),
            "in" => bin(Bin::In, self),
            "contains" => bin(Bin::Contains, self),
            "containsAll" => bin(Bin::ContainsAll, self),
            "containsAny" => bin(Bin::ContainsAny, self),
            "getTag" => bin(Bin::GetTag, self),
            "hasTag" => bin(Bin::HasTag, self),
            "." => {
                let left = self.boxed(arg.get("left")?, depth)?;
                Some(Expr::Attr(left, self.names.intern(arg.get("attr")?.as_str()?)))
            }
            "has" => {
                let left = arg.get("left")?;
                match arg.get("attr")? {
                    Value::String(a) => Some(Expr::Has(self.boxed(left, depth)?, self.names.intern(a))),
                    // `e has a.b.c` is `e has a && e.a has b && e.a.b has c`.
                    Value::Array(path) => {
                        let mut out: Option<Expr> = None;
                        let mut prefix = self.expr(left, depth + 1)?;
                        for (i, a) in path.iter().enumerate() {
                            let id = self.names.intern(a.as_str()?);
                            let test = Expr::Has(Box::new(prefix), id);
                            out = Some(match out {
                                None => test,
                                Some(o) => Expr::And(Box::new(o), Box::new(test)),
                            });
                            if i + 1 < path.len() {
                                prefix = self.expr(left, depth + 1)?;
                                for b in &path[..=i] {
                                    prefix = Expr::Attr(Box::new(prefix), self.names.intern(b.as_str()?));
                                }
                            } else {
                                break;
                            }
                        }
                        out
                    }
                    _ => None,
                }
            }
            "like" => {
                let left = self.boxed(arg.get("left")?, depth)?;
                let mut pat = Vec::new();
                for p in arg.get("pattern")?.as_array()? {
                    match p {
                        Value::String(s) if s == "Wildcard" => pat.push(Pat::Star),
                        Value::Object(o) => pat.extend(o.get("Literal")?.as_str()?.chars().map(Pat::Char)),
                        _ => return None,
                    }
                }
                Some(Expr::Like(left, Glob::new(pat)))
            }
            "is" => {
                let left = self.boxed(arg.get("left")?, depth)?;
                let ty = self.schema.type_id(arg.get("entity_type")?.as_str()?)?;
                let inn = match arg.get("in") {
                    Some(i) => Some(self.boxed(i, depth)?),
                    None => None,
                };
                Some(Expr::Is(left, ty, inn))
            }
            "if-then-else" => Some(Expr::If(
                self.boxed(arg.get("if")?, depth)?,
                self.boxed(arg.get("then")?, depth)?,
                self.boxed(arg.get("else")?, depth)?,
            )),
            "Set" => {
                let items: Vec<Expr> =
                    arg.as_array()?.iter().map(|e| self.expr(e, depth + 1)).collect::<Option<_>>()?;
                // A set of literals (which cannot fail to evaluate) is a literal, built once here.
                match items.iter().map(|i| if let Expr::Lit(v) = i { Some(v.clone()) } else { None }).collect() {
                    Some(values) => Some(Expr::Lit(Val::Set(values))),
                    None => Some(Expr::Set(items)),
                }
            }
            "Record" => {
                let mut fields = Vec::new();
                for (k, e) in arg.as_object()? {
                    fields.push((self.names.intern(k), self.expr(e, depth + 1)?));
                }
                fields.sort_by_key(|f| f.0);
                Some(Expr::Record(fields))
            }
            name if ext::is_function(name) => {
                let args: Vec<Expr> = arg.as_array()?.iter().map(|e| self.expr(e, depth + 1)).collect::<Option<_>>()?;
                // A constructor applied to a string literal is built once, here.
                if let [Expr::Lit(Val::Str(s))] = args.as_slice() {
                    if matches!(name, "decimal" | "ip" | "datetime" | "duration") {
                        return Some(match ext::construct(name, s) {
                            Some(e) => Expr::Lit(Val::Ext(Arc::new(e))),
                            None => Expr::Error,
                        });
                    }
                }
                Some(Expr::Call(Box::from(name), args))
            }
            _ => None,
        }
    }

    /// A literal in cedar's JSON value form.
    fn literal(&mut self, v: &Value, depth: usize) -> Option<Val> {
        if depth > 64 {
            return None;
        }
        match v {
            Value::Bool(b) => Some(Val::Bool(*b)),
            Value::Number(n) => n.as_i64().map(Val::Long),
            Value::String(s) => Some(Val::Str(SmolStr::new(s))),
            Value::Array(items) => {
                Some(Val::Set(items.iter().map(|i| self.literal(i, depth + 1)).collect::<Option<Arc<[Val]>>>()?))
            }
            Value::Object(o) => {
                if let Some(e) = o.get("__entity") {
                    return self.uid(e).map(|id| Val::Ent(EntRef::Known(id)));
                }
                if let Some(x) = o.get("__extn") {
                    let e: Ext = ext::construct(x.get("fn")?.as_str()?, x.get("arg")?.as_str()?)?;
                    return Some(Val::Ext(Arc::new(e)));
                }
                self.record_literal(o, depth)
            }
            Value::Null => None,
        }
    }

    fn record_literal(&mut self, o: &Map<String, Value>, depth: usize) -> Option<Val> {
        let mut fields = Vec::new();
        for (k, v) in o {
            fields.push((self.names.intern(k), self.literal(v, depth + 1)?));
        }
        fields.sort_by_key(|f| f.0);
        Some(Val::Rec(Arc::from(fields)))
    }
}
