//! The compiled decision path. At load the validated policies are compiled (see `expr.rs`) over interned uids
//! and attribute names, indexed by action, and the store is compiled alongside (`store.rs`). A request's JSON is
//! parsed straight into that form, typed by the schema (`json.rs`), and only the policies that can apply to its
//! action are evaluated (`eval.rs`).
//!
//! The fast path answers only when it is sure to answer as cedar would: any input it does not parse, any
//! evaluation error, any policy it could not compile, any slice that changes stored ancestry sends the request
//! down cedar's path (`engine.rs`), which gives the exact decision and the exact error. The differential tests
//! hold the two paths to the same answers.

mod eval;
mod export;
mod expr;
pub(crate) mod ext;
mod facts;
mod json;
mod scan;
mod schema;
mod shape;
mod store;
mod uids;
mod value;

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::str::FromStr;
use std::sync::Arc;

use arrayvec::ArrayVec;
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::decision::{Decision, PolicyEffect, PolicyInfo, Verdict};
use crate::error::{DecisionError, ErrorCode};
use crate::limits::{Limits, check_json_depth};
use crate::manifest::Semantics;

use eval::{Env, SliceEntity, slice_ancestors};
use expr::{CPolicy, Compiler};
use facts::FactSlots;
use json::{Cx, Resolve};
pub(crate) use scan::{array_start, element_signature, guess_element_start, next_element};
use schema::{RecordTy, TypeId, TypedSchema};
use shape::Shapes;
pub(crate) use store::FastStore;
use uids::Uids;
use value::{Context, EntId, EntRef, Fields, Names, Val};

/// What a request with a given action needs.
#[derive(Debug)]
struct ActionPlan {
    principals: Vec<TypeId>,
    resources: Vec<TypeId>,
    context: Arc<RecordTy>,
    /// Indices of the policies that can apply; `None` when one of them is not compiled.
    policies: Option<Box<[u32]>>,
}

/// A batch element: where its text ends (exclusive), and its decision (`None`: cedar's path decides it).
pub(crate) struct Element {
    pub(crate) end: usize,
    pub(crate) decision: Option<Decision>,
}

/// Why the compiled store refused an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateRefused {
    /// The update would make the entity hierarchy cyclic (cedar refuses it too).
    Cycle,
    /// The update uses a form the compiled store does not hold; cedar's store must take it.
    Unsupported,
}

/// Puts back the entities an update replaced (in reverse order, so an entity given twice gets its original).
fn rollback(
    store: &mut FastStore,
    saved: Vec<(EntId, Option<store::EntityData>)>,
    why: UpdateRefused,
) -> UpdateRefused {
    for (e, old) in saved.into_iter().rev() {
        match old {
            Some(d) => store.restore(e, d),
            None => store.remove(e),
        }
    }
    // The closure was valid before the update; recomputing it from the restored parents gives it back.
    let _ = store.recompute_closure();
    why
}

/// What every decision carries from the bundle, as `Arc`s: its hash, the determining policies' infos, and the
/// decisions that no policy determined, or that one policy determined alone (most decisions), built once: a
/// decision is a clone of one of them ([`Decision::determined_by`]), so deciding allocates nothing for its
/// determining policies. The bundle has one `Carry`; a batch's worker
/// threads each decide with a private copy, so that cloning these `Arc`s for every decision does not bounce
/// their reference counts between cores.
#[derive(Debug)]
pub(crate) struct Carry {
    hash: Arc<str>,
    infos: Vec<Arc<PolicyInfo>>,
    /// No determining policy (the default deny).
    none: Decision,
    /// By policy index: that policy alone determining (allow for a permit, deny for a forbid).
    alone: Vec<Decision>,
}

impl Carry {
    fn new(hash: Arc<str>, infos: Vec<Arc<PolicyInfo>>) -> Carry {
        let verdict = |i: &PolicyInfo| if i.effect == PolicyEffect::Permit { Verdict::Allow } else { Verdict::Deny };
        let alone =
            infos.iter().map(|i| Decision::determined_by(verdict(i), std::slice::from_ref(i), hash.clone())).collect();
        Carry { none: Decision::determined_by(Verdict::Deny, &[], hash.clone()), hash, infos, alone }
    }

    /// A copy that shares no `Arc` with `self` (same contents).
    pub(crate) fn private_copy(&self) -> Carry {
        Carry::new(Arc::from(&*self.hash), self.infos.iter().map(|i| Arc::new(PolicyInfo::clone(i))).collect())
    }
}

/// The compiled policy set.
#[derive(Debug)]
pub(crate) struct Compiled {
    schema: TypedSchema,
    names: Names,
    policies: Vec<Option<CPolicy>>,
    carry: Carry,
    plans: FxHashMap<EntId, ActionPlan>,
    base_uids: Uids,
    actions: Vec<(EntId, TypeId, Vec<EntId>)>,
    /// Whether the schema's nesting keeps every request the fast path accepts within the JSON depth limit.
    depth_safe: bool,
    /// Request spellings learned from requests the scanner read.
    shapes: Shapes,
    /// The conjuncts kept per entity in the store (`facts.rs`).
    fact_slots: FactSlots,
    /// Each entity type's name as cedar has it, for the uids errors name (parsed once: cedar parses a name).
    type_names: Vec<Option<cedar_policy::EntityTypeName>>,
}

impl Compiled {
    /// Compiles the policies (`(est, info)` in load order) against the schema's JSON form. `None` when the
    /// schema uses something the fast path does not model.
    pub(crate) fn build(
        schema_json: &Value,
        policies: &[(Value, Arc<PolicyInfo>)],
        limits: &Limits,
        hash: &Arc<str>,
    ) -> Option<Compiled> {
        let mut names = Names::default();
        let schema = TypedSchema::from_json(schema_json, &mut names)?;
        let mut uids = Uids::new(schema.types.len());
        // An enumerated type's entities are known by the schema: a request naming one by another id is invalid.
        for (ty, et) in schema.types.iter().enumerate() {
            for id in et.enum_ids.iter().flatten() {
                uids.intern(ty as TypeId, id);
            }
        }
        let action_ids: Vec<EntId> = schema.actions.iter().map(|a| uids.intern(a.type_id, &a.id)).collect();
        let mut actions = Vec::new();
        for (a, e) in schema.actions.iter().zip(&action_ids) {
            let parents = a.member_of.iter().map(|(t, id)| uids.intern(*t, id)).collect();
            actions.push((*e, a.type_id, parents));
        }
        let mut compiled = Vec::with_capacity(policies.len());
        for (est, _) in policies {
            let mut c = Compiler { schema: &schema, names: &mut names, uids: &mut uids };
            compiled.push(c.policy(est));
        }
        // Action ancestors (the schema's action groups, transitively).
        let ancestors_of = |start: EntId| -> Vec<EntId> {
            let mut out = Vec::new();
            let mut stack = vec![start];
            while let Some(a) = stack.pop() {
                for (e, _, parents) in &actions {
                    if *e == a {
                        for p in parents {
                            if !out.contains(p) && out.len() < 10_000 {
                                out.push(*p);
                                stack.push(*p);
                            }
                        }
                    }
                }
            }
            out
        };
        let mut plans = FxHashMap::default();
        for (a, e) in schema.actions.iter().zip(&action_ids) {
            let Some(context) = a.context.clone() else { continue };
            let anc = ancestors_of(*e);
            let mut list = Vec::new();
            let mut complete = true;
            for (i, (p, (est, _))) in compiled.iter().zip(policies).enumerate() {
                let applies = match p {
                    Some(p) => match &p.action_in {
                        None => true,
                        Some((false, targets)) => targets.contains(e),
                        Some((true, targets)) => targets.iter().any(|t| t == e || anc.contains(t)),
                    },
                    None => {
                        // Not compiled: does its action scope admit this action? If unsure, assume it does.
                        !est_action_excludes(est, &schema, &uids, *e, &anc)
                    }
                };
                if applies {
                    if p.is_none() {
                        complete = false;
                    }
                    list.push(i as u32);
                }
            }
            let policies = complete.then(|| list.into_boxed_slice());
            plans.insert(
                *e,
                ActionPlan { principals: a.principals.clone(), resources: a.resources.clone(), context, policies },
            );
        }
        let infos: Vec<Arc<PolicyInfo>> = policies.iter().map(|(_, i)| i.clone()).collect();
        let mut order: Vec<usize> = (0..infos.len()).collect();
        order.sort_by(|a, b| infos[*a].id.cmp(&infos[*b].id));
        let mut rank = vec![0u32; infos.len()];
        for (r, i) in order.into_iter().enumerate() {
            rank[i] = r as u32;
        }
        // Each plan's policies in id order, so that determining policies come out sorted.
        for plan in plans.values_mut() {
            if let Some(list) = &mut plan.policies {
                list.sort_by_key(|i| rank.get(*i as usize).copied().unwrap_or(u32::MAX));
            }
        }
        let fact_slots = FactSlots::assign(&mut compiled, &plans);
        let depth_safe = schema.max_depth + 8 <= limits.max_json_depth;
        let carry = Carry::new(hash.clone(), infos);
        let type_names = schema.types.iter().map(|t| cedar_policy::EntityTypeName::from_str(&t.name).ok()).collect();
        Some(Compiled {
            schema,
            names,
            policies: compiled,
            carry,
            plans,
            base_uids: uids,
            actions,
            depth_safe,
            shapes: Shapes::default(),
            fact_slots,
            type_names,
        })
    }

    /// The hash and policy infos decisions carry.
    pub(crate) fn carry(&self) -> &Carry {
        &self.carry
    }

    /// Whether every request the compiled path accepts is within the JSON depth limit (by the schema's nesting).
    pub(crate) fn depth_safe(&self) -> bool {
        self.depth_safe
    }

    /// Compiles the store from its JSON text. `None` if it cannot (decisions then take cedar's path).
    pub(crate) fn build_store(&self, text: Option<&str>) -> Option<FastStore> {
        let mut store = FastStore::build(&self.schema, &self.names, self.base_uids.clone(), &self.actions, text)?;
        store.facts.reset(store.entities.len());
        // At load every stored entity's facts are computed now, so that no early request pays for them (after an
        // update they are computed again as requests meet the entities).
        self.fact_slots.fill(&self.policies, &store);
        Some(store)
    }

    /// Applies an upsert (a JSON array of entities, each already checked against the schema) to the compiled
    /// store, all or nothing; the facts are uncomputed again whatever the outcome.
    pub(crate) fn upsert(&self, store: &mut FastStore, text: &str) -> Result<usize, UpdateRefused> {
        let outcome = self.upsert_entities(store, text);
        store.facts.reset(store.entities.len());
        outcome
    }

    fn upsert_entities(&self, store: &mut FastStore, text: &str) -> Result<usize, UpdateRefused> {
        let parsed = {
            let uids = &mut store.uids;
            let mut cx = Cx { schema: &self.schema, names: &self.names, resolve: Resolve::Intern(uids) };
            json::entity_list(&mut cx, text, usize::MAX).ok_or(UpdateRefused::Unsupported)?
        };
        let count = parsed.len();
        let mut saved: Vec<(EntId, Option<store::EntityData>)> = Vec::with_capacity(count);
        for p in parsed {
            let EntRef::Known(e) = p.uid else { return Err(rollback(store, saved, UpdateRefused::Unsupported)) };
            saved.push((e, store.get(e).cloned()));
            if store.insert(p).is_none() {
                return Err(rollback(store, saved, UpdateRefused::Unsupported));
            }
        }
        let touched: Vec<EntId> = saved.iter().map(|(e, _)| *e).collect();
        if !export::exportable(&self.schema, &self.names, store, &touched) {
            return Err(rollback(store, saved, UpdateRefused::Unsupported));
        }
        if store.recompute_closure().is_none() {
            return Err(rollback(store, saved, UpdateRefused::Cycle));
        }
        Ok(count)
    }

    /// Removes entities (given as `(type name, id)`) from the compiled store; links to them go too, as in cedar.
    pub(crate) fn remove(&self, store: &mut FastStore, uids: &[(String, String)]) -> usize {
        let mut touched = Vec::new();
        for (t, id) in uids {
            if let Some(e) = self.schema.type_id(t).and_then(|ty| store.uids.get(ty, id)) {
                if store.get(e).is_some() {
                    touched.push(e);
                    store.remove(e);
                }
            }
        }
        for d in store.entities.iter_mut().flatten() {
            if d.parents.iter().any(|p| touched.contains(p)) {
                d.parents = d.parents.iter().copied().filter(|p| !touched.contains(p)).collect();
            }
        }
        // Removing entities and links cannot make a cycle.
        let _ = store.recompute_closure();
        store.facts.reset(store.entities.len());
        touched.len()
    }

    /// The store in cedar's entity JSON form (actions left out: they come from the schema), or `None` if a value
    /// has no exact JSON form.
    pub(crate) fn export(&self, store: &FastStore) -> Option<Value> {
        export::store_json(&self.schema, &self.names, store)
    }

    /// Decides a request given as JSON text, or `None` to leave it to cedar's path. The decision's `Arc`s are
    /// cloned from `carry` (this compiled set's own, or a private copy of it).
    pub(crate) fn decide_json(
        &self,
        store: &FastStore,
        text: &str,
        semantics: Semantics,
        limits: &Limits,
        carry: &Carry,
    ) -> Option<Decision> {
        self.decide_text(store, text, true, semantics, limits, carry)
    }

    /// `decide_json`, with the scanner tried first or not (`scan`: false when it has already declined the text).
    fn decide_text(
        &self,
        store: &FastStore,
        text: &str,
        scan: bool,
        semantics: Semantics,
        limits: &Limits,
        carry: &Carry,
    ) -> Option<Decision> {
        if text.len() > limits.max_request_bytes {
            return None;
        }
        if !self.depth_safe {
            check_json_depth(text, limits.max_json_depth, "request").ok()?;
        }
        let invalid = Cell::new(false);
        let mut cx = self.cx(store, &invalid);
        let context_of = |a: &EntRef| self.context_of(a);
        let mut held = value::held();
        // The request decided where it was read (moving the request out of the reader's `Option`s costs copies).
        if scan {
            let b = text.as_bytes();
            if let Some((req, end)) = self.scan_at(text, scan::skip_ws(b, 0), &mut cx, &context_of, &mut held, limits) {
                if scan::skip_ws(b, end) == b.len() {
                    if invalid.get() {
                        return None;
                    }
                    return self.decide_parsed(store, req, &held, &mut cx, semantics, carry);
                }
            }
        }
        let req = json::parse_with(
            text,
            json::RequestSeed { cx: &mut cx, context_of: &context_of, max_slice: limits.max_slice_entities },
        )?;
        if invalid.get() {
            return None;
        }
        self.decide_parsed(store, req, &held, &mut cx, semantics, carry)
    }

    /// Decides the batch element that starts at byte `start` of `batch` (a JSON array's text), or leaves it to
    /// cedar's path. `None` when no element ends there (the batch is then not well-formed).
    pub(crate) fn decide_element(
        &self,
        store: &FastStore,
        batch: &str,
        start: usize,
        semantics: Semantics,
        limits: &Limits,
        carry: &Carry,
    ) -> Option<Element> {
        // Within the depth limit by the schema: scan the element in place, which also finds where it ends.
        if self.depth_safe {
            let invalid = Cell::new(false);
            let mut cx = self.cx(store, &invalid);
            let context_of = |a: &EntRef| self.context_of(a);
            let mut held = value::held();
            if let Some((req, end)) = self.scan_at(batch, start, &mut cx, &context_of, &mut held, limits) {
                let decision = match end - start <= limits.max_request_bytes && !invalid.get() {
                    true => self.decide_parsed(store, req, &held, &mut cx, semantics, carry),
                    false => None,
                };
                return Some(Element { end, decision });
            }
        }
        // Else delimit it, and parse it as a single request (the scanner, if it has not declined it already).
        let end = scan::element_end(batch.as_bytes(), start)?;
        let decision = self.decide_text(store, batch.get(start..end)?, !self.depth_safe, semantics, limits, carry);
        Some(Element { end, decision })
    }

    /// Reads the request object at `start` of `text` by a learned spelling, else by the scanner, which then
    /// learns its spelling while there is room (see `shape.rs`): the request and the offset past its end. A
    /// spelling reads the context's fields into `held`. A request with an entity slice is read by the scanner
    /// (a spelling holds none).
    #[inline(always)]
    fn scan_at<'de, 'c>(
        &self,
        text: &'de str,
        start: usize,
        cx: &mut Cx<'_>,
        context_of: &'c dyn Fn(&EntRef) -> Option<&'c Arc<RecordTy>>,
        held: &mut value::Held<'de>,
        limits: &Limits,
    ) -> Option<(json::ParsedRequest<'de>, usize)> {
        if let Some(read) = self.shapes.read(text, start, cx, context_of, held) {
            return Some(read);
        }
        if !self.shapes.has_room() {
            return scan::request_at(text, start, cx, context_of, limits.max_slice_entities);
        }
        let (read, shape) = scan::learn_at(text, start, cx, context_of, limits.max_slice_entities)?;
        if let Some(shape) = shape {
            self.shapes.add(shape);
        }
        Some(read)
    }

    /// What reading a request needs: its uids resolved against the store's (see [`Resolve::Request`]).
    fn cx<'s>(&'s self, store: &'s FastStore, invalid: &'s Cell<bool>) -> Cx<'s> {
        Cx::request(&self.schema, &self.names, &store.uids, invalid)
    }

    /// The context type of an action's requests.
    fn context_of(&self, action: &EntRef) -> Option<&Arc<RecordTy>> {
        match action {
            EntRef::Known(e) => self.plans.get(e).map(|p| &p.context),
            EntRef::Local(_) => None,
        }
    }

    /// Decides a parsed request (see `decide_json`).
    fn decide_parsed(
        &self,
        store: &FastStore,
        req: json::ParsedRequest<'_>,
        held: &value::Held<'_>,
        cx: &mut Cx<'_>,
        semantics: Semantics,
        carry: &Carry,
    ) -> Option<Decision> {
        let ((pt, principal), (_, action), (rt, resource)) = (req.principal, req.action, req.resource);
        let EntRef::Known(action_id) = action else { return None };
        let plan = self.plans.get(&action_id)?;
        let policies = plan.policies.as_deref()?;
        if !plan.principals.contains(&pt) || !plan.resources.contains(&rt) {
            return None;
        }
        let context = match (req.context, req.raw_context) {
            (Some(c), _) => c,
            (None, Some(raw)) => Fields::Shared(json::record_value(cx, &plan.context, raw.get())?),
            (None, None) if plan.context.required == 0 => Fields::Held(0),
            (None, None) => return None,
        };
        // No slice (the usual case with a store): nothing to build, nor to drop.
        let built;
        let slice: &[SliceEntity] = match req.entities.is_empty() {
            true => &[],
            false => {
                built = self.slice(store, req.entities)?;
                &built
            }
        };
        let id = req.id;
        let facts = match slice.is_empty() {
            true => self.fact_slots.words(&self.policies, store, &principal, &resource),
            false => [0, 0],
        };
        let owned = Vars(ManuallyDrop::new([Val::Ent(principal), Val::Ent(action), Val::Ent(resource)]));
        let vars = &*owned.0;
        let context = Context::new(context, held);
        let env = Env::new(store, slice, vars, &context, facts);
        let (Val::Ent(p), Val::Ent(r)) = (&vars[0], &vars[2]) else { return None };
        // Both stored, as their fact words say (computed only without a slice), or else looked up.
        let known = slice.is_empty() && facts::stored(facts[0]) && facts::stored(facts[1]);
        if semantics == Semantics::FailClosed && !known {
            let missing: ArrayVec<(&EntRef, &str), 2> =
                [(p, "principal"), (r, "resource")].into_iter().filter(|(e, _)| !env.exists(e)).collect();
            if !missing.is_empty() {
                // Cedar's path denies such a request before any policy is evaluated (`Bundle::authorize_with`),
                // once it has taken the slice, which the compiled path has read and checked as it would.
                return self.not_found(store, &missing, id, carry);
            }
        }
        // Which of the plan's policies (in id order, see `build`) are satisfied.
        let mut small = [false; 64];
        let mut big = Vec::new();
        let sat: &mut [bool] = match small.get_mut(..policies.len()) {
            Some(s) => s,
            None => {
                big.resize(policies.len(), false);
                &mut big
            }
        };
        let (mut any_permit, mut any_forbid) = (false, false);
        // Policies whose evaluation read an entity that does not exist: cedar reports each as an error and
        // counts the policy as not satisfied. Any other error leaves the request to cedar's path.
        let mut failed: Vec<(u32, EntRef)> = Vec::new();
        for (&i, hit) in policies.iter().zip(sat.iter_mut()) {
            let p = self.policies.get(i as usize)?.as_ref()?;
            match env.satisfied(p) {
                Ok(true) => {
                    *hit = true;
                    any_permit |= p.permit;
                    any_forbid |= !p.permit;
                }
                Ok(false) => {}
                Err(_) => failed.push((i, env.missing()?)),
            }
        }
        // Forbids win; else permits allow; else the default deny has no determining policy.
        let verdict = if !any_forbid && any_permit { Verdict::Allow } else { Verdict::Deny };
        if !failed.is_empty() {
            return self.with_errors(store, policies, sat, failed, verdict, semantics, id, carry);
        }
        if !any_permit && !any_forbid {
            return Some(like(&carry.none, id, verdict));
        }
        let mut determining = self.determining(policies, sat, any_forbid);
        let first = determining.next()?;
        let Some(second) = determining.next() else {
            return Some(like(carry.alone.get(first)?, id, verdict));
        };
        let mut infos = vec![carry.infos.get(first)?.clone(), carry.infos.get(second)?.clone()];
        for i in determining {
            infos.push(carry.infos.get(i)?.clone());
        }
        Some(Decision { id, ..Decision::determined_by(verdict, &infos, carry.hash.clone()) })
    }

    /// The decision cedar's path gives when some policies failed on an entity that does not exist (`failed`: the
    /// policy's index and the entity), the others being satisfied as `sat` says: an error for each such policy,
    /// in the order cedar evaluates policies (the bundle's), worded as cedar words it; in fail-closed mode a
    /// decision with errors is a deny without determining policies when cedar would allow.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn with_errors(
        &self,
        store: &FastStore,
        policies: &[u32],
        sat: &[bool],
        mut failed: Vec<(u32, EntRef)>,
        verdict: Verdict,
        semantics: Semantics,
        id: Option<Value>,
        carry: &Carry,
    ) -> Option<Decision> {
        failed.sort_unstable_by_key(|(i, _)| *i);
        let mut errors = Vec::with_capacity(failed.len());
        for (i, e) in &failed {
            let policy = cedar_policy::PolicyId::new(&*carry.infos.get(*i as usize)?.id).to_string();
            let uid = self.cedar_uid(store, e)?;
            let message = format!("error while evaluating policy `{policy}`: entity `{uid}` does not exist");
            errors.push(DecisionError::new(ErrorCode::PolicyEvaluation, message).in_policy(policy));
        }
        if verdict == Verdict::Allow && semantics == Semantics::FailClosed {
            return Some(Decision { id, ..Decision::deny_with(errors, carry.hash.clone()) });
        }
        // A deny is determined by the satisfied forbids (none when no policy holds), an allow by the permits.
        let mut infos = Vec::new();
        for i in self.determining(policies, sat, verdict == Verdict::Deny) {
            infos.push(carry.infos.get(i)?.clone());
        }
        Some(Decision { id, errors, ..Decision::determined_by(verdict, &infos, carry.hash.clone()) })
    }

    /// The determining policies among a plan's `policies` that are satisfied (`sat`), in the plan's (id) order:
    /// the forbids when one holds (`forbid`), else the permits.
    #[inline(always)]
    fn determining<'s>(
        &'s self,
        policies: &'s [u32],
        sat: &'s [bool],
        forbid: bool,
    ) -> impl Iterator<Item = usize> + 's {
        policies.iter().zip(sat).filter(|(_, hit)| **hit).filter_map(move |(&i, _)| {
            let p = self.policies.get(i as usize)?.as_ref()?;
            (p.permit != forbid).then_some(i as usize)
        })
    }

    /// An entity's uid as cedar's path has it (and writes it, through `Display`).
    fn cedar_uid(&self, store: &FastStore, e: &EntRef) -> Option<cedar_policy::EntityUid> {
        let (ty, name) = store.uids.parts(e)?;
        let ty = self.type_names.get(ty as usize)?.clone()?;
        Some(cedar_policy::EntityUid::from_type_name_and_id(ty, cedar_policy::EntityId::new(name)))
    }

    /// The deny cedar's path gives in fail-closed mode for a request whose principal or resource (each with its
    /// field) is neither stored nor in the slice: an `entity_not_found` error for each, naming the uid as cedar
    /// writes it.
    #[cold]
    #[inline(never)]
    fn not_found(
        &self,
        store: &FastStore,
        missing: &[(&EntRef, &str)],
        id: Option<Value>,
        carry: &Carry,
    ) -> Option<Decision> {
        let mut errors = Vec::with_capacity(missing.len());
        for (e, path) in missing {
            errors.push(DecisionError::entity_not_found(&self.cedar_uid(store, e)?, path));
        }
        Some(Decision { id, ..Decision::deny_with(errors, carry.hash.clone()) })
    }

    /// The request's entity slice, with ancestors computed. `None` when it cannot be parsed or when it changes the
    /// ancestry of stored entities (cedar's path recomputes the hierarchy).
    fn slice(&self, store: &FastStore, parsed: Vec<json::ParsedEntity>) -> Option<Vec<SliceEntity>> {
        let mut slice: Vec<SliceEntity> = Vec::with_capacity(parsed.len());
        for p in parsed {
            if slice.iter().any(|s| s.uid == p.uid) {
                return None;
            }
            if let EntRef::Known(e) = &p.uid {
                if store.has_descendants.get(*e as usize).copied().unwrap_or(false) {
                    let stored: &[EntId] = store.get(*e).map(|d| &*d.parents).unwrap_or(&[]);
                    let same = stored.len() == p.parents.len()
                        && p.parents.iter().all(|x| matches!(x, EntRef::Known(k) if stored.contains(k)));
                    if !same {
                        return None;
                    }
                }
            }
            slice.push(SliceEntity {
                uid: p.uid,
                attrs: p.attrs,
                tags: p.tags,
                parents: p.parents,
                ancestors: Vec::new(),
            });
        }
        for i in 0..slice.len() {
            if !slice[i].parents.is_empty() {
                slice[i].ancestors = slice_ancestors(store, &slice, i)?;
            }
        }
        Some(slice)
    }
}

/// A decision like the prebuilt `template` (its lists and bundle hash shared), for the request `id`. Built field
/// by field: cloning the template whole and then replacing its id cost about 80 instructions more a decision.
fn like(template: &Decision, id: Option<Value>, verdict: Verdict) -> Decision {
    Decision {
        id,
        decision: verdict,
        reasons: template.reasons.clone(),
        determining: template.determining.clone(),
        obligations: template.obligations.clone(),
        errors: Vec::new(),
        bundle: template.bundle.clone(),
    }
}

/// A request's principal, action and resource as values. Interned uids own nothing, so they are not dropped one
/// by one (three calls a decision); the values are dropped only when one of them owns something.
struct Vars(ManuallyDrop<[Val; 3]>);

impl Drop for Vars {
    fn drop(&mut self) {
        if self.0.iter().any(|v| !matches!(v, Val::Ent(EntRef::Known(_)))) {
            drop(std::mem::replace(&mut *self.0, [const { Val::Bool(false) }; 3]));
        }
    }
}

/// Whether an uncompiled policy's action scope certainly excludes `action` (so it need not block the fast path
/// for it).
fn est_action_excludes(est: &Value, schema: &TypedSchema, uids: &Uids, action: EntId, anc: &[EntId]) -> bool {
    let Some(a) = est.get("action") else { return false };
    let uid = |v: &Value| -> Option<EntId> {
        let v = v.get("__entity").unwrap_or(v);
        let ty = schema.type_id(v.get("type")?.as_str()?)?;
        uids.get(ty, v.get("id")?.as_str()?)
    };
    let targets: Vec<Option<EntId>> = match a.get("op").and_then(Value::as_str) {
        Some("==") | Some("in") => match (a.get("entity"), a.get("entities")) {
            (Some(e), _) => vec![uid(e)],
            (None, Some(Value::Array(es))) => es.iter().map(uid).collect(),
            _ => return false,
        },
        _ => return false,
    };
    let is_in = a.get("op").and_then(Value::as_str) == Some("in");
    targets.iter().all(|t| match t {
        Some(t) => *t != action && !(is_in && anc.contains(t)),
        None => false,
    })
}
