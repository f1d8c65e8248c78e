//! Learned request spellings. A producer spells its requests alike: the same keys in the same order, the same
//! whitespace, the same entity types; only the values change. After the scanner (`scan.rs`) has read a request,
//! its text with the values cut out is kept as a [`Shape`] (a few per compiled policy set). A later request is
//! matched against those first: the literal runs compared as bytes, the values between them read by the
//! scanner's own readers. A request that matches a shape is, outside its values, byte for byte a request the
//! scanner read, so it reads to exactly what the scanner would read from it; one that matches none is read by
//! the scanner.
//!
//! A shape holds the three uids spelled `{"type": "T", "id": "x"}` (either key order, any whitespace; the type in
//! the literal, the id a value), the request id, and the context's fields: bools, longs and strings read in the hot
//! loop, any other value (a set, record, entity or extension value) as one value of the spelling, read by the
//! scanner's reader of values. A request with a slice is not learned, and is always read by the scanner. An entity
//! in the context is resolved where it is read, before the whole text has matched: a read that fails after it puts
//! back the request's invalid mark it may have set (see `Shapes::read`).
//!
//! The spellings of a policy set whose actions have several context types differ in the context: a request's
//! action, read before its context, tells which of them can read it (`Shapes::read` passes over the others), and
//! the one to try goes on from where the spelling that read the action stopped when they are alike up to there
//! (`Shape::prefix`). Before, a request for the fifth context type learned was read up to its context by the four
//! spellings before its own.
//!
//! Producers often build a context from a map, so its fields come in changing orders, and optional fields come
//! and go. A request that matches a spelling up to its context, but whose context then differs from the learned
//! one, has its context read field by field (`Scan::held_fields`, which reads what the scanner reads) and the
//! rest of the spelling matched after it: such requests need no spelling of their own.

use std::sync::{Arc, OnceLock};

use super::json::{Cx, ParsedRequest};
use super::scan::Scan;
use super::schema::{RecordTy, TypeId};
use super::value::{AttrId, EntRef, Fields, HELD_FIELDS, Held, HeldField, Val};

/// How many spellings a compiled policy set learns: one for each context type its actions have, and each way of
/// spelling requests a producer has. A request is tried against the spellings of its action's context type only
/// (see `Shapes::read`); one that matches none of them costs a failed comparison per such spelling. 32 (was 16):
/// requests in 24 key orders over the reference workload took 6,986 instructions a decision (callgrind), 8 of
/// the orders read by the scanner, and take 6,157; 32 is also the longest array `Default` makes.
const SLOTS: usize = 32;

/// The most context fields a shape holds.
const MAX_FIELDS: usize = HELD_FIELDS;

/// A value of a request that a learned spelling leaves out, as the scanner reports it while learning.
#[derive(Debug, Clone, Copy)]
pub(super) enum Hole {
    /// The request's `id`: a scalar.
    Id,
    /// The id string of the principal (slot 0), action (1) or resource (2), whose type is in the literal.
    Uid(u8, TypeId),
    /// A context field's value.
    Field(AttrId, Scalar),
    /// Where the context object starts (an empty span, at its `{`).
    ContextOpen,
    /// Where the context object ends (an empty span, just after its `}`).
    ContextClose,
}

/// The type of a context field a shape holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scalar {
    Bool,
    Long,
    String,
    /// Any other value (a set, record, entity or extension value): the field's index in the fields of the context
    /// type, read by the scanner's reader of values.
    Data(u8),
}

/// A value a spelling reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Id,
    /// The id of the principal (slot 0) or resource (2), of this type.
    Uid(u8, TypeId),
    /// The id of the action, of this type: resolved where it is read, to check its context type (see `Miss`).
    Action(TypeId),
    /// A context field: its attribute, and its type.
    Field(AttrId, Scalar),
}

/// The bytes before a value (they must be there as they are; possibly none), and the value.
#[derive(Debug, PartialEq, Eq)]
struct Step {
    lit: Box<[u8]>,
    part: Part,
}

/// One learned spelling.
#[derive(Debug)]
pub(crate) struct Shape {
    steps: Box<[Step]>,
    /// The bytes after the last value.
    tail: Box<[u8]>,
    /// Where the context's `{` is: the step whose literal holds it (`steps.len()`: the tail), and its offset
    /// in that literal.
    open: (usize, usize),
    /// Where the context ends (just after its `}`): the step whose literal holds that offset, and the offset.
    close: (usize, usize),
    /// The context type the fields were read with: the learning request's action's. A request whose action has
    /// another context type does not match.
    context: Arc<RecordTy>,
    /// The spellings with the same steps up to and including the action, which precedes the context, have the same
    /// `prefix`: the slot of the first of them (see `Shapes::add`); a spelling whose context comes first has a
    /// `prefix` of its own.
    prefix: usize,
}

/// What a spelling has read of a request so far.
struct Read<'de> {
    s: Scan<'de>,
    /// The principal (slot 0) and resource (2), resolved once the whole text has matched.
    uids: [(TypeId, &'de str); 3],
    /// The action, resolved where it is read.
    action: Option<(TypeId, EntRef)>,
    id: Option<serde_json::Value>,
}

/// Why a spelling did not read a request.
#[derive(Debug, Clone, Copy)]
enum Miss {
    /// The text differs from the spelling before its action.
    Text,
    /// The request's action is one whose requests have another context type (the address of its `RecordTy`;
    /// `None`: no context type, no plan): no spelling of this one's context type reads it.
    Action(Option<*const RecordTy>),
    /// The request's action has this spelling's context type, and the text differs from the spelling after it.
    After,
}

/// A request read by a spelling up to and including its action, which precedes its context, when the action has
/// another context type: a spelling with the same `prefix` goes on from there.
struct Upto<'de> {
    /// The step after the action's.
    step: usize,
    /// Where the scan is, just after the action's id.
    at: usize,
    uids: [(TypeId, &'de str); 3],
    action: (TypeId, EntRef),
    id: Option<serde_json::Value>,
}

impl Shape {
    /// The spelling of the request `bytes` (which start at offset `start` of the text the hole spans index),
    /// given its holes in text order. `None` when the holes do not make a shape (a uid not matched in place, too
    /// many fields, no context).
    pub(super) fn new(
        bytes: &[u8],
        start: usize,
        holes: &[(usize, usize, Hole)],
        context: &Arc<RecordTy>,
    ) -> Option<Shape> {
        let mut fields: Vec<AttrId> = holes
            .iter()
            .filter_map(|(_, _, h)| match h {
                Hole::Field(a, _) => Some(*a),
                _ => None,
            })
            .collect();
        fields.sort_unstable();
        if fields.len() > MAX_FIELDS || fields.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        let mut uids = [false; 3];
        let (mut open, mut close) = (None, None);
        let mut steps = Vec::with_capacity(holes.len());
        let mut at = start;
        for &(from, to, hole) in holes {
            // A reversed range (a hole before the previous one's end) is `None`.
            let lit = bytes.get(at.checked_sub(start)?..from.checked_sub(start)?)?;
            let part = match hole {
                Hole::Id => Part::Id,
                Hole::Uid(slot, t) => {
                    *uids.get_mut(usize::from(slot))? = true;
                    if slot == 1 { Part::Action(t) } else { Part::Uid(slot, t) }
                }
                // A context field is within the context's braces.
                Hole::Field(a, k) if open.is_some() && close.is_none() => Part::Field(a, k),
                // The context's ends are places in the literals, not values.
                Hole::ContextOpen if open.is_none() => {
                    open = Some((steps.len(), lit.len()));
                    continue;
                }
                Hole::ContextClose if open.is_some() && close.is_none() => {
                    close = Some((steps.len(), lit.len()));
                    continue;
                }
                Hole::Field(..) | Hole::ContextOpen | Hole::ContextClose => return None,
            };
            steps.push(Step { lit: lit.into(), part });
            at = to;
        }
        let tail = bytes.get(at.checked_sub(start)?..)?.into();
        let (open, close) = (open?, close?);
        (uids == [true; 3]).then(|| Shape {
            steps: steps.into(),
            tail,
            open,
            close,
            context: context.clone(),
            prefix: usize::MAX,
        })
    }

    /// The literal of step `k`, or the tail for `k == steps.len()`.
    fn lit(&self, k: usize) -> &[u8] {
        self.steps.get(k).map_or(&self.tail, |s| &s.lit)
    }

    /// Reads `steps` (literal, then value, each) at `r`'s position.
    #[inline(always)]
    fn run<'de>(
        &self,
        steps: &[Step],
        r: &mut Read<'de>,
        cx: &mut Cx<'_>,
        held: &mut Held<'de>,
        of: Of<'_>,
    ) -> Option<()> {
        for Step { lit, part } in steps {
            r.s.word(lit)?;
            match part {
                Part::Id => r.id = Some(r.s.id()?),
                Part::Uid(slot, t) => *r.uids.get_mut(usize::from(*slot))? = (*t, r.s.str()?),
                Part::Action(t) => r.action = Some((*t, self.action(&mut r.s, *t, cx, of)?.ok()?)),
                Part::Field(a, k) => held.try_push(self.field(&mut r.s, *a, *k, cx)?).ok()?,
            }
        }
        Some(())
    }

    /// The action whose id is the string at `s`'s position (`None`: no string there), of type `ty`, resolved: `Ok`
    /// when its requests have this spelling's context type, else `Err` with their context type (the address of its
    /// `RecordTy`; `None`: the action has no plan).
    #[inline(always)]
    fn action(
        &self,
        s: &mut Scan<'_>,
        ty: TypeId,
        cx: &mut Cx<'_>,
        of: Of<'_>,
    ) -> Option<Result<EntRef, (EntRef, Option<*const RecordTy>)>> {
        let action = cx.uid(ty, s.str()?);
        Some(match of(&action) {
            Some(c) if Arc::ptr_eq(c, &self.context) => Ok(action),
            other => {
                let context = other.map(Arc::as_ptr);
                Err((action, context))
            }
        })
    }

    /// The steps up to and including the action's, when the action precedes the context.
    fn up_to_action(&self) -> Option<&[Step]> {
        let k = self.steps.iter().position(|s| matches!(s.part, Part::Action(_)))?;
        (k < self.open.0).then(|| self.steps.get(..=k)).flatten()
    }

    /// The value of the context field `a` of type `kind` at `s`'s position.
    #[inline(always)]
    fn field<'de>(&self, s: &mut Scan<'de>, a: AttrId, kind: Scalar, cx: &mut Cx<'_>) -> Option<HeldField<'de>> {
        Some(match kind {
            Scalar::Bool => HeldField::value(a, Val::Bool(s.bool()?)),
            Scalar::Long => HeldField::value(a, Val::Long(s.long()?)),
            Scalar::String => HeldField::string(a, s.str()?),
            Scalar::Data(k) => self.data(s, a, k, cx)?,
        })
    }

    /// The value of the context field `a`, the `k`th of the context type, not a scalar (out of line: the common
    /// fields are scalars, read in the hot loop).
    #[inline(never)]
    fn data<'de>(&self, s: &mut Scan<'de>, a: AttrId, k: u8, cx: &mut Cx<'_>) -> Option<HeldField<'de>> {
        Some(HeldField::value(a, s.value(&self.context.fields.get(usize::from(k))?.1, cx)?))
    }

    /// Reads the request at `start` of `text` again, its context field by field (as the scanner reads it: any
    /// order, optional fields present or not, whitespace), the rest as spelled.
    #[inline(never)]
    #[cold]
    fn reread<'de>(
        &self,
        text: &'de str,
        start: usize,
        cx: &mut Cx<'_>,
        held: &mut Held<'de>,
        of: Of<'_>,
    ) -> Option<Read<'de>> {
        let mut r = Read { s: Scan::new(text, start), uids: [(0, ""); 3], action: None, id: None };
        held.clear();
        self.run(self.steps.get(..self.open.0)?, &mut r, cx, held, of)?;
        self.resume(r, cx, held, of)
    }

    /// Goes on reading a request whose steps before the one whose literal holds the context's `{` were read (`r`
    /// is at that literal's start): its context field by field, the rest as spelled.
    #[inline(never)]
    #[cold]
    fn resume<'de>(&self, mut r: Read<'de>, cx: &mut Cx<'_>, held: &mut Held<'de>, of: Of<'_>) -> Option<Read<'de>> {
        let ((os, oo), (cs, co)) = (self.open, self.close);
        r.s.word(self.lit(os).get(..oo)?)?;
        held.clear();
        r.s.held_fields(&self.context, cx, held)?;
        r.s.word(self.lit(cs).get(co..)?)?;
        if let Some(Step { part, .. }) = self.steps.get(cs) {
            // The step's value, then the steps after it, then the tail.
            let one = [Step { lit: Box::default(), part: *part }];
            self.run(&one, &mut r, cx, held, of)?;
            self.run(self.steps.get(cs + 1..)?, &mut r, cx, held, of)?;
            r.s.word(&self.tail)?;
        }
        Some(r)
    }

    /// Reads the request at `start` of `text` if it has this spelling: the request and the offset just past its
    /// closing brace, as `scan::request_at` gives them. From `upto` when it holds where a spelling of the same
    /// `prefix` stopped (it is then emptied); when the action precedes the context and has another context type,
    /// what was read up to there is left in `upto` (else `None`).
    #[inline(always)]
    fn read<'de>(
        &self,
        text: &'de str,
        start: usize,
        cx: &mut Cx<'_>,
        of: Of<'_>,
        held: &mut Held<'de>,
        upto: &mut Option<Upto<'de>>,
    ) -> Result<(ParsedRequest<'de>, usize), Miss> {
        let mut s = Scan::new(text, start);
        let mut uids: [(TypeId, &str); 3] = [(0, ""); 3];
        let mut action = None;
        let mut id = None;
        let mut first = 0;
        if let Some(u) = upto.take() {
            (s.i, uids, action, id, first) = (u.at, u.uids, Some(u.action), u.id, u.step);
        }
        held.clear();
        // The step the text differs from the spelling at (`steps.len()`: the tail), if any, and whether it differs
        // in the step's literal (the scan is then at the literal's start). The steps are read as `run` reads them,
        // here in a loop of its own that also tells where it stopped (through `run`, the hot loop measured up to 60
        // instructions a decision more).
        let failed = 'read: {
            let mut steps = self.steps.get(first..).unwrap_or_default().iter();
            while let Some(Step { lit, part }) = steps.next() {
                // Counted from what is left of the iteration: nothing is counted while steps match.
                let Some(()) = s.word(lit) else { break 'read Some((self.steps.len() - steps.len() - 1, true)) };
                let read = match part {
                    Part::Id => s.id().map(|v| id = Some(v)),
                    Part::Uid(slot, t) => match (uids.get_mut(usize::from(*slot)), s.str()) {
                        (Some(u), Some(text)) => {
                            *u = (*t, text);
                            Some(())
                        }
                        _ => None,
                    },
                    // An action of another context type ends the read: no spelling of this one reads the request.
                    Part::Action(t) => match self.action(&mut s, *t, cx, of) {
                        Some(Ok(a)) => {
                            action = Some((*t, a));
                            Some(())
                        }
                        Some(Err((a, context))) => {
                            let step = self.steps.len() - steps.len();
                            *upto = (step <= self.open.0).then(|| Upto {
                                step,
                                at: s.i,
                                uids,
                                action: (*t, a),
                                id: id.take(),
                            });
                            return Err(Miss::Action(context));
                        }
                        None => None,
                    },
                    Part::Field(a, kind) => match kind {
                        Scalar::Bool => s.bool().map(|b| HeldField::value(*a, Val::Bool(b))),
                        Scalar::Long => s.long().map(|n| HeldField::value(*a, Val::Long(n))),
                        Scalar::String => s.str().map(|t| HeldField::string(*a, t)),
                        Scalar::Data(k) => self.data(&mut s, *a, *k, cx),
                    }
                    .and_then(|f| held.try_push(f).ok()),
                };
                if read.is_none() {
                    break 'read Some((self.steps.len() - steps.len() - 1, false));
                }
            }
            s.word(&self.tail).is_none().then_some((self.steps.len(), true))
        };
        // Once the action has been read, the request is known to have this spelling's context type.
        let miss = match action.is_some() {
            true => Miss::After,
            false => Miss::Text,
        };
        let Read { s, uids, action, id } = match failed {
            None => Read { s, uids, action, id },
            // The text differs from the spelling within the steps that read the context (from the one whose
            // literal holds its `{` to the one whose literal holds its end): its context may only be spelled
            // otherwise, and it is read with its context field by field: from where the scan is when it differs
            // in the literal that holds the `{` (the usual case: the first field is another), else from the start.
            // A text that differs anywhere else does not have this spelling.
            Some((k, true)) if k == self.open.0 => {
                self.resume(Read { s, uids, action, id }, cx, held, of).ok_or(miss)?
            }
            Some((k, _)) if k >= self.open.0 && k <= self.close.0 => {
                self.reread(text, start, cx, held, of).ok_or(miss)?
            }
            Some(_) => return Err(miss),
        };
        // The principal and resource are resolved only once the whole text has matched (resolving has effects:
        // see the resolver). Every spelling has an action part, so a text that matched has its action.
        let (at, action) = action.ok_or(Miss::Text)?;
        let [(pt, p), _, (rt, r_)] = uids;
        let principal = cx.uid(pt, p);
        let resource = cx.uid(rt, r_);
        let req = ParsedRequest {
            principal: (pt, principal),
            action: (at, action),
            resource: (rt, resource),
            // Every field was read into `held` (emptied above; a spelling has a part for each).
            context: Some(Fields::Held(held.len() as u8)),
            raw_context: None,
            entities: Vec::new(),
            id,
        };
        Ok((req, s.i))
    }
}

/// The context type of an action's requests (`Compiled::context_of`).
type Of<'c> = &'c dyn Fn(&EntRef) -> Option<&'c Arc<RecordTy>>;

/// The spellings a compiled policy set has learned, tried in the order they were learned.
#[derive(Debug, Default)]
pub(crate) struct Shapes([OnceLock<Shape>; SLOTS]);

impl Shapes {
    /// The request at `start` of `text` read by the first learned spelling it matches, its context fields into
    /// `held`.
    #[inline(always)]
    pub(crate) fn read<'de, 'c>(
        &self,
        text: &'de str,
        start: usize,
        cx: &mut Cx<'_>,
        context_of: Of<'c>,
        held: &mut Held<'de>,
    ) -> Option<(ParsedRequest<'de>, usize)> {
        // An entity in a context is resolved where it is read, which may mark the request invalid (see
        // `Resolve::Request`); a spelling that then does not match leaves the mark as it found it.
        let mark = cx.invalid_mark();
        // The context type of the request's action, once a spelling has read the action: the spellings of other
        // context types are passed over (each would read up to its context before it failed). A policy set whose
        // actions have several context types has a spelling for each.
        let mut context: Option<*const RecordTy> = None;
        // What the spelling that found the action read up to it, and that spelling's `prefix`: a spelling with the
        // same prefix goes on from there.
        let mut upto: Option<Upto<'de>> = None;
        let mut upto_prefix = usize::MAX;
        for slot in &self.0 {
            let shape = slot.get()?;
            if context.is_some_and(|c| !std::ptr::eq(c, Arc::as_ptr(&shape.context))) {
                continue;
            }
            if shape.prefix != upto_prefix {
                upto = None;
            }
            let miss = match shape.read(text, start, cx, context_of, held, &mut upto) {
                Ok(r) => return Some(r),
                Err(miss) => miss,
            };
            cx.reset_invalid_mark(mark);
            match miss {
                Miss::Text => {}
                Miss::After => context = Some(Arc::as_ptr(&shape.context)),
                // An action without a plan: no spelling reads the request.
                Miss::Action(None) => return None,
                Miss::Action(c) => {
                    context = c;
                    upto_prefix = shape.prefix;
                }
            }
        }
        None
    }

    /// Whether another spelling can be learned.
    pub(crate) fn has_room(&self) -> bool {
        self.0.last().is_some_and(|s| s.get().is_none())
    }

    /// Keeps `shape` in the first free slot (if another thread takes it first, `shape` is dropped).
    pub(crate) fn add(&self, mut shape: Shape) {
        let Some(free) = self.0.iter().position(|s| s.get().is_none()) else { return };
        // Its prefix: the first earlier spelling's with the same steps up to the action, else its own slot (a
        // spelling whose context precedes its action has its slot, so no other has its prefix).
        let ours = shape.up_to_action();
        shape.prefix = self.0[..free]
            .iter()
            .position(|other| ours.is_some() && other.get().is_some_and(|o| o.up_to_action() == ours))
            .unwrap_or(free);
        // Another thread may have taken the slot: the spelling is dropped (its prefix names that slot, and is
        // never compared).
        let _ = self.0[free].set(shape);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::json::{self, Cx, RequestSeed};
    use super::super::scan::tests::Rng;
    use super::super::scan::{learn_at, request_at};
    use super::super::schema::{RecordTy, TypeId, TypedSchema};
    use super::super::uids::Uids;
    use super::super::value::{EntRef, Fields, Held, Names, held};
    use super::Shapes;

    const SCHEMA: &str = r#"{"N": {"entityTypes": {"U": {}, "R": {}},
        "actions": {
          "a1": {"appliesTo": {"principalTypes": ["U"], "resourceTypes": ["R"], "context": {"type": "Record",
            "attributes": {"s": {"type": "String"}, "n": {"type": "Long"}, "b": {"type": "Boolean", "required": false}}}}},
          "a2": {"appliesTo": {"principalTypes": ["U"], "resourceTypes": ["R"], "context": {"type": "Record",
            "attributes": {"s": {"type": "String"}, "n": {"type": "Long"}, "b": {"type": "Boolean", "required": false}}}}},
          "a3": {"appliesTo": {"principalTypes": ["U"], "resourceTypes": ["R"], "context": {"type": "Record",
            "attributes": {"s": {"type": "String"}, "n": {"type": "Long"}, "b": {"type": "Boolean"}}}}}
        }}}"#;

    /// Whether a context read by a spelling (its fields in `held`, in the request's order) has the fields of one
    /// json.rs read (sorted).
    fn same_context(ours: Option<&Fields>, held: &Held<'_>, theirs: Option<&Fields>) -> bool {
        let none = super::super::value::held();
        let sorted = |f: &Fields, held| {
            let mut f = f.to_vec(held);
            f.sort_by_key(|f| f.0);
            f
        };
        ours.map(|f| sorted(f, held)) == theirs.map(|f| sorted(f, &none))
    }

    /// The schema, its names, its actions' uids, and each action's uid with its context type.
    fn world() -> (TypedSchema, Names, Uids, Vec<(EntRef, Arc<RecordTy>)>) {
        world_of(SCHEMA)
    }

    /// [`world`] of another schema (in cedar's JSON schema form, namespace `N`).
    fn world_of(schema: &str) -> (TypedSchema, Names, Uids, Vec<(EntRef, Arc<RecordTy>)>) {
        let schema_json: serde_json::Value = serde_json::from_str(schema).unwrap();
        let mut names = Names::default();
        let schema = TypedSchema::from_json(&schema_json, &mut names).expect("schema");
        let mut uids = Uids::new(schema.types.len());
        let acts = schema
            .actions
            .iter()
            .map(|a| (EntRef::Known(uids.intern(a.type_id, &a.id)), a.context.clone().unwrap()))
            .collect();
        (schema, names, uids, acts)
    }

    /// Requests spelled as the learned ones but with any values (valid or not), or with a byte of the spelling
    /// changed: whenever a learned shape reads one, json.rs reads it to the same request; and the shapes read
    /// most of the valid ones.
    #[test]
    fn a_learned_spelling_reads_requests_as_json_rs_does() {
        let (schema, names, mut uids, acts) = world();
        // a1 and a2 have alike contexts (one type); a3's has `b` required.
        assert!(Arc::ptr_eq(&acts[0].1, &acts[1].1) && !Arc::ptr_eq(&acts[0].1, &acts[2].1));
        let u_ty: TypeId = schema.type_id("N::U").unwrap();
        uids.intern(u_ty, "alice");
        let context_of = |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };

        let ids = ["7", "0", "-3", "\"req\"", "null", "true", "1.5", "\"a\\\"b\"", "01", "[1]", "9223372036854775808"];
        let names_ = ["alice", "bob", "", "é中", "v255", "a\\\"b", "x\\u0041", "tab\t"];
        let acts_ = ["a1", "a2", "a3", "nope", "a\\u0031"];
        let strs = ["\"x\"", "\"\"", "\"é\"", "\"a\\\"b\"", "5", "null", "\"tab\tin\""];
        let longs = ["1", "0", "12", "-0", "-9223372036854775808", "1.0", "1e3", "01", "\"1\"", "9223372036854775808"];
        let bools = ["true", "false", "null", "tru", "1"];
        // The context's fields in the record's order (`s`, `n`, `b`, as the schema declares them) or not.
        let request = |r: &mut Rng, ws: &str, in_order: bool| {
            let (s, n, b) = (r.choose(&strs, 3), r.choose(&longs, 3), r.choose(&bools, 2));
            let context = match in_order {
                true => format!(r#"{{"s":{s},"n":{n},"b":{b}}}"#),
                false => format!(r#"{{"b":{b},"s":{s},"n":{n}}}"#),
            };
            format!(
                r#"{{"id":{},{ws}"principal":{{"type":"N::U","id":"{}"}},"action":{{"type":"N::Action","id":"{}"}},"resource":{{"type":"N::R","id":"{}"}},"context":{context}}}"#,
                r.choose(&ids, 4),
                r.choose(&names_, 5),
                r.choose(&acts_, 3),
                r.choose(&names_, 5),
            )
        };

        let mut rng = Rng(11);
        let shapes = Shapes::default();
        // Learn the spellings of requests the scanner reads and no learned spelling does: one per whitespace choice
        // ("" or " ") and context type (a1's and a2's, or a3's), four in all. The order of the context's fields
        // makes no spelling of its own: a context in another order than the learned one is read field by field.
        let mut learned = 0;
        for _ in 0..10_000 {
            let invalid = std::cell::Cell::new(false);
            let mut cx = Cx::request(&schema, &names, &uids, &invalid);
            let ws = ["", " "][rng.pick(2)];
            let in_order = rng.pick(2) == 0;
            let text = request(&mut rng, ws, in_order);
            let mut held = held();
            if request_at(&text, 0, &mut cx, &context_of, usize::MAX).is_some()
                && shapes.read(&text, 0, &mut cx, &context_of, &mut held).is_none()
            {
                shapes.add(
                    learn_at(&text, 0, &mut cx, &context_of, 0).and_then(|(_, s)| s).expect("a learnable request"),
                );
                learned += 1;
            }
        }
        assert_eq!(learned, 4);
        let (mut read, mut valid, mut reordered) = (0, 0, 0);
        for n in 0..40_000 {
            let ws = ["", " ", "  "][rng.pick(3)];
            let in_order = rng.pick(2) == 0;
            let mut text = request(&mut rng, ws, in_order);
            if n % 5 == 0 {
                // A byte of the spelling (or of a value) changed, dropped or added.
                let mut bytes = text.into_bytes();
                let at = rng.pick(bytes.len());
                match rng.pick(3) {
                    0 => bytes[at] = b" ,:{}[]\"x0"[rng.pick(10)],
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, b" ,:{}\"x0"[rng.pick(8)]),
                }
                let Ok(t) = String::from_utf8(bytes) else { continue };
                text = t;
            }
            let invalid = std::cell::Cell::new(false);
            let mut cx = Cx::request(&schema, &names, &uids, &invalid);
            let context_of =
                |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };
            let mut held = held();
            let ours = shapes.read(&text, 0, &mut cx, &context_of, &mut held);
            let theirs = json::parse_with(&text, RequestSeed { cx: &mut cx, context_of: &context_of, max_slice: 100 });
            valid += usize::from(theirs.is_some() && n % 5 != 0);
            let Some((ours, end)) = ours else {
                continue;
            };
            if end != text.len() {
                // Something after the request: the caller refuses the text (as json.rs does).
                assert!(theirs.is_none(), "{text}");
                continue;
            }
            read += 1;
            reordered += usize::from(!in_order);
            let theirs = theirs.unwrap_or_else(|| panic!("a shape read what json.rs refuses: {text}"));
            assert_eq!(ours.principal, theirs.principal, "{text}");
            assert_eq!(ours.action, theirs.action, "{text}");
            assert_eq!(ours.resource, theirs.resource, "{text}");
            // A spelling keeps the fields in the request's order; json.rs sorts them.
            assert!(same_context(ours.context.as_ref(), &held, theirs.context.as_ref()), "{text}");
            assert_eq!(ours.id, theirs.id, "{text}");
            assert!(theirs.entities.is_empty() && theirs.raw_context.is_none(), "{text}");
        }
        // The learned spellings (two of the three whitespace choices) read two fifths of the valid requests or
        // more (json.rs also reads escapes, floats and integers of 19 digits, which the scanner leaves to it).
        assert!(read * 5 > valid * 2, "read {read} of {valid} valid requests");
        // About half the requests read have their context fields in the other order than the spelling learned.
        assert!(reordered * 3 > read, "{reordered} of {read} read requests had their context in another order");
    }

    /// One learned spelling reads requests whose context differs from the learned one only in the order of its
    /// fields, in optional fields present or not, or in whitespace, each as json.rs reads it; it refuses what
    /// json.rs refuses (a field twice, a required field missing, an unknown field, a value of the wrong type), and
    /// what follows the context must still be spelled as learned.
    #[test]
    fn a_context_in_another_order_is_read_field_by_field() {
        let (schema, names, uids, acts) = world();
        let context_of = |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };
        let invalid = std::cell::Cell::new(false);
        let spell = |context: &str, after: &str| {
            format!(
                r#"{{"principal":{{"type":"N::U","id":"p"}},"action":{{"type":"N::Action","id":"a1"}},"context":{context},"resource":{{"type":"N::R","id":"r"}}{after}}}"#
            )
        };
        let shapes = Shapes::default();
        let mut cx = Cx::request(&schema, &names, &uids, &invalid);
        shapes.add(
            learn_at(&spell(r#"{"s":"x","n":1,"b":true}"#, ""), 0, &mut cx, &context_of, 0)
                .and_then(|(_, s)| s)
                .expect("learnable"),
        );
        let cases = [
            (r#"{"s":"y","n":2,"b":false}"#, "", true),
            (r#"{"b":false,"n":2,"s":"y"}"#, "", true),
            (r#"{"n":-7,"s":"é"}"#, "", true),
            (r#"{"s":"y","n":2}"#, "", true),
            (r#"{ "n" : 3 ,"s":"z" }"#, "", true),
            (r#"{"s":"y","n":2,"b":true}"#, r#","id":4"#, false),
            (r#"{"n":2,"s":"y"}"#, r#","id":4"#, false),
            (r#"{"n":2,"s":"y","n":3}"#, "", false),
            (r#"{"s":"y","b":true}"#, "", false),
            (r#"{"s":"y","n":2,"q":1}"#, "", false),
            (r#"{"n":"2","s":"y"}"#, "", false),
            (r#"{"n":2,"s":"y\"z"}"#, "", false),
            (r#"{}"#, "", false),
        ];
        for (context, after, read) in cases {
            let text = spell(context, after);
            let mut cx = Cx::request(&schema, &names, &uids, &invalid);
            let context_of =
                |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };
            let mut held = held();
            let ours = shapes.read(&text, 0, &mut cx, &context_of, &mut held);
            assert_eq!(ours.is_some(), read, "{text}");
            let theirs = json::parse_with(&text, RequestSeed { cx: &mut cx, context_of: &context_of, max_slice: 100 });
            let Some((ours, end)) = ours else { continue };
            assert_eq!(end, text.len(), "{text}");
            let theirs = theirs.unwrap_or_else(|| panic!("a shape read what json.rs refuses: {text}"));
            assert!(same_context(ours.context.as_ref(), &held, theirs.context.as_ref()), "{text}");
            assert_eq!(
                (ours.principal, ours.action, ours.resource),
                (theirs.principal, theirs.action, theirs.resource)
            );
        }
    }

    /// Uids spelled with whitespace (as Python's `json.dumps` writes them) or with their id first are learned
    /// too: a request spelled so reads, with any values, to what json.rs reads; one with the other uid type does
    /// not match.
    #[test]
    fn spellings_with_spaces_or_the_id_first_are_learned() {
        let (schema, names, mut uids, acts) = world();
        let u_ty: TypeId = schema.type_id("N::U").unwrap();
        uids.intern(u_ty, "alice");
        let invalid = std::cell::Cell::new(false);
        let spaced = |p: &str, r: &str, n: i64| {
            format!(
                r#"{{"principal": {{"type": "N::U", "id": "{p}"}}, "action": {{"type": "N::Action", "id": "a1"}}, "resource": {{"type": "N::R", "id": "{r}"}}, "context": {{"s": "x", "n": {n}}}}}"#
            )
        };
        let id_first = |p: &str, r: &str, n: i64| {
            format!(
                r#"{{"principal":{{"id":"{p}","type":"N::U"}},"action":{{"id":"a1","type":"N::Action"}},"resource":{{"id":"{r}","type":"N::R"}},"context":{{"s":"x","n":{n}}}}}"#
            )
        };
        for spell in [&spaced as &dyn Fn(&str, &str, i64) -> String, &id_first] {
            let shapes = Shapes::default();
            let mut cx = Cx::request(&schema, &names, &uids, &invalid);
            let context_of =
                |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };
            shapes.add(
                learn_at(&spell("p", "r", 1), 0, &mut cx, &context_of, 0).and_then(|(_, s)| s).expect("learnable"),
            );
            for (p, r, n) in [("alice", "r2", 7), ("bob", "alice", -3), ("", "x", 0)] {
                let text = spell(p, r, n);
                let mut cx = Cx::request(&schema, &names, &uids, &invalid);
                let context_of =
                    |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };
                let mut held = held();
                let (ours, end) = shapes.read(&text, 0, &mut cx, &context_of, &mut held).expect(&text);
                assert_eq!(end, text.len());
                let seed = RequestSeed { cx: &mut cx, context_of: &context_of, max_slice: 100 };
                let theirs = json::parse_with(&text, seed).expect(&text);
                assert_eq!(
                    (ours.principal, ours.action, ours.resource),
                    (theirs.principal, theirs.action, theirs.resource)
                );
            }
            // The resource's type is part of the spelling.
            let other = spell("p", "r", 1).replace("N::R", "N::U");
            let mut cx = Cx::request(&schema, &names, &uids, &invalid);
            let context_of =
                |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };
            assert!(shapes.read(&other, 0, &mut cx, &context_of, &mut held()).is_none(), "{other}");
        }
    }

    /// A spelling learned from one action's requests is not used for an action whose context type differs: there
    /// `b` is required, and a request without it must be refused (as json.rs refuses it), not read.
    #[test]
    fn a_spelling_is_not_used_for_another_context_type() {
        let (schema, names, uids, acts) = world();
        let context_of = |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };
        let invalid = std::cell::Cell::new(false);
        let spell = |act: &str| {
            format!(
                r#"{{"principal":{{"type":"N::U","id":"p"}},"action":{{"type":"N::Action","id":"{act}"}},"resource":{{"type":"N::R","id":"r"}},"context":{{"s":"x","n":1}}}}"#
            )
        };
        let shapes = Shapes::default();
        let (a1, a2, a3) = (spell("a1"), spell("a2"), spell("a3"));
        let mut cx = Cx::request(&schema, &names, &uids, &invalid);
        shapes.add(learn_at(&a1, 0, &mut cx, &context_of, 0).and_then(|(_, s)| s).expect("learnable"));
        assert!(shapes.read(&a1, 0, &mut cx, &context_of, &mut held()).is_some());
        assert!(shapes.read(&a2, 0, &mut cx, &context_of, &mut held()).is_some(), "a2's context type is a1's");
        assert!(shapes.read(&a3, 0, &mut cx, &context_of, &mut held()).is_none());
        let seed = RequestSeed { cx: &mut cx, context_of: &context_of, max_slice: 100 };
        assert!(json::parse_with(&a3, seed).is_none());
    }

    /// Spellings of actions with other context types: a request goes to the spelling of its action's context type,
    /// going on from where a spelling with the same steps up to the action stopped (their `prefix` is one), and reads
    /// as json.rs reads it; an action without a plan is read by no spelling, and leaves the invalid mark as it was.
    #[test]
    fn requests_go_to_the_spelling_of_their_actions_context_type() {
        let (schema, names, uids, acts) = world();
        let context_of = |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };
        let spell = |ws: &str, act: &str, p: &str, context: &str| {
            format!(
                r#"{{"id":{ws}4,"principal":{{"type":"N::U","id":"{p}"}},"action":{{"type":"N::Action","id":"{act}"}},"resource":{{"type":"N::R","id":"r"}},"context":{context}}}"#
            )
        };
        let context_first = |act: &str, context: &str| {
            format!(
                r#"{{"context":{context},"principal":{{"type":"N::U","id":"p"}},"action":{{"type":"N::Action","id":"{act}"}},"resource":{{"type":"N::R","id":"r"}}}}"#
            )
        };
        let shapes = Shapes::default();
        for text in [
            spell("", "a1", "p", r#"{"s":"x","n":1}"#),
            spell("", "a3", "p", r#"{"s":"x","n":1,"b":true}"#),
            spell(" ", "a3", "p", r#"{"s":"x","n":1,"b":true}"#),
            context_first("a3", r#"{"s":"x","n":1,"b":true}"#),
        ] {
            let invalid = std::cell::Cell::new(false);
            let mut cx = Cx::request(&schema, &names, &uids, &invalid);
            assert!(shapes.read(&text, 0, &mut cx, &context_of, &mut held()).is_none(), "{text}");
            shapes.add(learn_at(&text, 0, &mut cx, &context_of, 0).and_then(|(_, s)| s).expect("learnable"));
        }
        // The second has the first's steps up to its action; the third is spaced otherwise; the fourth's context
        // comes first.
        let prefixes: Vec<usize> = shapes.0.iter().filter_map(|s| s.get()).map(|s| s.prefix).collect();
        assert_eq!(prefixes, [0, 0, 2, 3]);

        let a3 = [r#"{"s":"y","n":22,"b":false}"#, r#"{"b":true,"n":-5,"s":""}"#];
        let mut cases: Vec<(String, bool)> = Vec::new();
        for (p, context) in [("q", a3[0]), ("é中", a3[1])] {
            cases.push((spell("", "a3", p, context), true));
            cases.push((spell(" ", "a3", p, context), true));
            cases.push((context_first("a3", context), true));
            cases.push((spell("", "a2", p, r#"{"n":3,"s":"z"}"#), true));
        }
        // Refused by json.rs too: `b` missing from a3's context, an unknown field, an action without a plan.
        cases.push((spell("", "a3", "p", r#"{"s":"x","n":1}"#), false));
        cases.push((spell("", "a1", "p", r#"{"s":"x","n":1,"c":true}"#), false));
        cases.push((spell("", "nope", "p", r#"{"s":"x","n":1}"#), false));
        cases.push((spell(" ", "nope", "p", r#"{"s":"x","n":1}"#), false));
        for (text, readable) in cases {
            let invalid = std::cell::Cell::new(false);
            let mut cx = Cx::request(&schema, &names, &uids, &invalid);
            let context_of =
                |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };
            let mut held = held();
            let ours = shapes.read(&text, 0, &mut cx, &context_of, &mut held);
            assert!(!invalid.get(), "{text}");
            let theirs = json::parse_with(&text, RequestSeed { cx: &mut cx, context_of: &context_of, max_slice: 100 });
            let Some((ours, end)) = ours else {
                assert!(!readable, "no spelling read {text}");
                continue;
            };
            assert!(readable && end == text.len(), "{text}");
            let theirs = theirs.unwrap_or_else(|| panic!("a shape read what json.rs refuses: {text}"));
            assert_eq!(
                (&ours.principal, &ours.action, &ours.resource),
                (&theirs.principal, &theirs.action, &theirs.resource)
            );
            // json.rs holds a context given before the action as text, read with the action's type when decided.
            let theirs_context = match (&theirs.context, &theirs.raw_context) {
                (Some(f), None) => f.to_vec(&super::super::value::held()),
                (None, Some(raw)) => {
                    let ty = context_of(&theirs.action.1).expect("a planned action");
                    let mut cx = Cx::request(&schema, &names, &uids, &invalid);
                    json::record_value(&mut cx, ty, raw.get()).expect("a valid context").to_vec()
                }
                _ => panic!("json.rs read a context and held one: {text}"),
            };
            let mut ours_context = ours.context.as_ref().expect("a context").to_vec(&held);
            ours_context.sort_by_key(|f| f.0);
            assert_eq!(ours_context, theirs_context, "{text}");
            assert_eq!(ours.id, theirs.id, "{text}");
        }
    }

    /// A context of up to `HELD_FIELDS` fields is learned (a privacy workload's context can well have ten or
    /// twenty); a larger one is not, and its requests are read by the scanner: either way as json.rs reads them.
    #[test]
    fn contexts_of_many_fields_are_learned_up_to_the_held_fields() {
        use super::super::value::HELD_FIELDS;
        for n in [10, 20, HELD_FIELDS, HELD_FIELDS + 1] {
            let attrs: Vec<String> = (0..n).map(|i| format!(r#""f{i}": {{"type": "Long"}}"#)).collect();
            let schema = String::from(
                r#"{"N": {"entityTypes": {"U": {}, "R": {}}, "actions": {"a": {"appliesTo": {
                    "principalTypes": ["U"], "resourceTypes": ["R"], "context": {"type": "Record", "attributes": {"#,
            ) + &attrs.join(", ")
                + "}}}}}}}";
            let (schema, names, uids, acts) = world_of(&schema);
            let spell = |k: i64| {
                let fields: Vec<String> = (0..n).map(|i| format!(r#""f{i}":{}"#, k * 100 + i as i64)).collect();
                format!(
                    r#"{{"principal":{{"type":"N::U","id":"p"}},"action":{{"type":"N::Action","id":"a"}},"resource":{{"type":"N::R","id":"r"}},"context":{{{}}}}}"#,
                    fields.join(",")
                )
            };
            let shapes = Shapes::default();
            let invalid = std::cell::Cell::new(false);
            let mut cx = Cx::request(&schema, &names, &uids, &invalid);
            let context_of =
                |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };
            let ((_, end), shape) = learn_at(&spell(1), 0, &mut cx, &context_of, 0).expect("the scanner reads it");
            assert_eq!(end, spell(1).len());
            assert_eq!(shape.is_some(), n <= HELD_FIELDS, "{n} fields");
            assert!(shape.is_some() || n > 20, "a context of {n} fields is not learned");
            if let Some(shape) = shape {
                shapes.add(shape);
            }
            let text = spell(7);
            let mut held = held();
            let ours = shapes.read(&text, 0, &mut cx, &context_of, &mut held);
            assert_eq!(ours.is_some(), n <= HELD_FIELDS, "{n} fields");
            let ours = match ours {
                Some((r, _)) => r.context.expect("a context").to_vec(&held),
                None => request_at(&text, 0, &mut cx, &context_of, 0)
                    .expect("the scanner reads it")
                    .0
                    .context
                    .expect("a context")
                    .to_vec(&held),
            };
            let mut ours = ours;
            ours.sort_by_key(|f| f.0);
            let mut cx = Cx::request(&schema, &names, &uids, &invalid);
            let theirs = json::parse_with(&text, RequestSeed { cx: &mut cx, context_of: &context_of, max_slice: 100 })
                .expect("json.rs reads it");
            assert_eq!(Some(ours), theirs.context.map(|f| f.to_vec(&held)), "{n} fields");
        }
    }

    /// A context with a set, a record, entities and an extension value is learned: each is one value of the
    /// spelling, whatever it holds, read as json.rs reads it (or refused as it refuses it), with the same invalid
    /// mark (an id an enumerated type does not have); a request a spelling does not read leaves the mark unset, even
    /// when it failed after resolving such an id.
    #[test]
    fn contexts_with_sets_records_and_entities_are_learned() {
        const SCHEMA: &str = r#"{"N": {"entityTypes": {"U": {}, "R": {}, "E": {"enum": ["x", "y"]}},
            "actions": {"a1": {"appliesTo": {"principalTypes": ["U"], "resourceTypes": ["R"], "context": {
              "type": "Record", "attributes": {
                "s": {"type": "String"},
                "tags": {"type": "Set", "element": {"type": "String"}},
                "lim": {"type": "Record", "required": false, "attributes": {
                  "max": {"type": "Long"}, "zones": {"type": "Set", "element": {"type": "Long"}},
                  "on": {"type": "Boolean", "required": false}}},
                "who": {"type": "Entity", "name": "U", "required": false},
                "e": {"type": "Entity", "name": "E", "required": false},
                "at": {"type": "Extension", "name": "datetime", "required": false}}}}}}}}"#;
        let (schema, names, mut uids, acts) = world_of(SCHEMA);
        uids.intern(schema.type_id("N::U").unwrap(), "p");
        uids.intern(schema.type_id("N::E").unwrap(), "x");
        let spell = |context: &str, after: &str| {
            format!(
                r#"{{"principal":{{"type":"N::U","id":"p"}},"action":{{"type":"N::Action","id":"a1"}},"resource":{{"type":"N::R","id":"r"}},"context":{context}{after}}}"#
            )
        };
        let learned = r#"{"s":"x","tags":["a","b"],"lim":{"max":3,"zones":[1,2]},"e":{"type":"N::E","id":"x"},"at":{"__extn":{"fn":"datetime","arg":"2024-01-01"}}}"#;
        let shapes = Shapes::default();
        {
            let invalid = std::cell::Cell::new(false);
            let mut cx = Cx::request(&schema, &names, &uids, &invalid);
            let context_of =
                |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };
            let ((_, end), shape) = learn_at(&spell(learned, ""), 0, &mut cx, &context_of, 0).expect("read");
            assert_eq!(end, spell(learned, "").len());
            shapes.add(shape.expect("learnable"));
        }
        let e = |id: &str| format!(r#"{{"type":"N::E","id":"{id}"}}"#);
        let at = r#"{"__extn":{"fn":"datetime","arg":"2025-06-30T12:00:00Z"}}"#;
        let cases = [
            (format!(r#"{{"s":"y","tags":[],"lim":{{"max":-1,"zones":[]}},"e":{},"at":{at}}}"#, e("y")), "", true),
            (
                format!(
                    r#"{{"s":"y","tags":["a","a"],"lim":{{"max":9,"zones":[3],"on":true}},"e":{},"at":{at}}}"#,
                    e("z")
                ),
                "",
                true,
            ),
            (
                format!(r#"{{"s":"y","tags":[ "q" ],"lim":{{ "zones":[1] , "max":2 }},"e":{},"at":{at}}}"#, e("x")),
                "",
                true,
            ),
            // Another order, fields left out, an entity given: read field by field.
            (r#"{"tags":["z"],"s":"y"}"#.to_string(), "", true),
            (format!(r#"{{"e":{},"who":{{"type":"N::U","id":"q"}},"tags":["z"],"s":"y"}}"#, e("z")), "", true),
            // Refused, by the spelling and by json.rs.
            (format!(r#"{{"s":"y","tags":["a",1],"lim":{{"max":3,"zones":[]}},"e":{},"at":{at}}}"#, e("x")), "", false),
            (format!(r#"{{"s":"y","tags":["a"],"lim":{{"zones":[1,2]}},"e":{},"at":{at}}}"#, e("x")), "", false),
            (
                format!(r#"{{"s":"y","tags":["a"],"lim":{{"max":3,"zones":[],"x":1}},"e":{},"at":{at}}}"#, e("x")),
                "",
                false,
            ),
            (
                format!(r#"{{"s":"y","tags":["a"],"lim":{{"max":3,"zones":[1.5]}},"e":{},"at":{at}}}"#, e("x")),
                "",
                false,
            ),
            (
                format!(
                    r#"{{"s":"y","tags":[],"lim":{{"max":3,"zones":[]}},"e":{{"type":"N::U","id":"p"}},"at":{at}}}"#
                ),
                "",
                false,
            ),
            (
                format!(r#"{{"s":"y","tags":[],"lim":{{"max":3,"zones":[]}},"e":{},"at":"2024-01-01"}}"#, e("x")),
                "",
                false,
            ),
            // Spelled as learned up to its end, then not: an id the enumerated type lacks was resolved on the way.
            (
                format!(r#"{{"s":"y","tags":[],"lim":{{"max":3,"zones":[]}},"e":{},"at":{at}}}"#, e("z")),
                r#","id":4"#,
                false,
            ),
        ];
        for (context, after, read) in &cases {
            let text = spell(context, after);
            let (ours_invalid, theirs_invalid) = (std::cell::Cell::new(false), std::cell::Cell::new(false));
            let mut cx = Cx::request(&schema, &names, &uids, &ours_invalid);
            let context_of =
                |a: &EntRef| -> Option<&Arc<RecordTy>> { acts.iter().find(|(e, _)| e == a).map(|(_, c)| c) };
            let mut held = held();
            let ours = shapes.read(&text, 0, &mut cx, &context_of, &mut held);
            let mut cx = Cx::request(&schema, &names, &uids, &theirs_invalid);
            let theirs = json::parse_with(&text, RequestSeed { cx: &mut cx, context_of: &context_of, max_slice: 100 });
            assert_eq!(ours.is_some(), *read, "{text}");
            let Some((ours, end)) = ours else {
                assert!(!ours_invalid.get(), "a spelling that did not read {text} marked it invalid");
                if after.is_empty() {
                    assert!(theirs.is_none(), "json.rs reads what the spelling refuses: {text}");
                }
                continue;
            };
            assert_eq!(end, text.len(), "{text}");
            let theirs = theirs.unwrap_or_else(|| panic!("a shape read what json.rs refuses: {text}"));
            assert!(same_context(ours.context.as_ref(), &held, theirs.context.as_ref()), "{text}");
            assert_eq!(ours_invalid.get(), theirs_invalid.get(), "{text}");
        }
    }
}
