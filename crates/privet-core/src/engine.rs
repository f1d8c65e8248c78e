//! The decision path: turn a request into cedar's form (checking it against the schema and the limits),
//! authorize it against the store plus the request's entity slice, and apply Privet's semantics. Pure: no
//! clock, no I/O, no randomness. Every error becomes a deny with a structured error.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cedar_policy::{Context, Decision as CedarDecision, Entities, EntityUid, Request as CedarRequest, Response};
use serde_json::{Map, Value};

use crate::bundle::{Bundle, parse_entity_values};
use crate::compiled::{Carry, Compiled};
use crate::decision::{Decision, PolicyInfo, Verdict};
use crate::error::{DecisionError, ErrorCode};
use crate::limits::{check_json_depth, check_size};
use crate::manifest::Semantics;
use crate::request::Request;
use crate::slice::{SliceEntity, collect_json_refs, cycle_members, reachable_entities};

/// A request turned into cedar's form, with its entity slice.
struct Prepared {
    request: CedarRequest,
    principal: EntityUid,
    action: EntityUid,
    resource: EntityUid,
    slice: Vec<SliceEntity>,
    /// Entity uids named in the context (roots of what evaluation may reach).
    context_refs: Vec<EntityUid>,
}

/// Why a decision came out, in more detail than [`Decision`]: which permits applied even when a forbid won.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    /// The decision itself.
    pub decision: Decision,
    /// Every permit whose conditions held (whether or not a forbid overrode it).
    pub permits_applied: Vec<Arc<PolicyInfo>>,
    /// Every forbid whose conditions held.
    pub forbids_applied: Vec<Arc<PolicyInfo>>,
}

impl Bundle {
    /// Decides one request given as JSON text. Never fails: malformed input is a deny with a located error.
    pub fn decide_json(&self, json: &str) -> Decision {
        if let Some(d) = self.decide_compiled(json) {
            return d;
        }
        self.decide_json_reference(json)
    }

    /// Decides many requests given as separate JSON texts (the lines of a JSONL file, the messages of a queue), in
    /// order: for each, the decision [`Bundle::decide_json`] gives. From 256 requests on they are decided on all
    /// cores, as a large batch is (natively; the wasm build has one thread).
    pub fn decide_json_each<S: AsRef<str> + Sync>(&self, requests: &[S]) -> Vec<Decision> {
        self.decide_json_each_on(requests, pool_threads())
    }

    /// For the CLI: the threads [`Bundle::decide_json_each_on`] decides `requests` requests on, given at most
    /// `threads` (one when the policies are not compiled). Not a stable API.
    #[doc(hidden)]
    pub fn each_threads(&self, requests: usize, threads: usize) -> usize {
        const MIN_PER_THREAD: usize = 128;
        match self.meta.compiled {
            Some(_) => threads.min(requests / MIN_PER_THREAD).clamp(1, 64),
            None => 1,
        }
    }

    /// For the CLI and tests: [`Bundle::decide_json_each`] on at most `threads` threads (at least 128 requests a
    /// thread), whatever the machine's cores. Not a stable API.
    #[doc(hidden)]
    pub fn decide_json_each_on<S: AsRef<str> + Sync>(&self, requests: &[S], threads: usize) -> Vec<Decision> {
        let threads = self.each_threads(requests.len(), threads);
        let Some(compiled) = self.meta.compiled.as_ref().filter(|_| threads > 1) else {
            return requests.iter().map(|r| self.decide_json(r.as_ref())).collect();
        };
        // Four parts a thread.
        let parts: Vec<&[S]> = requests.chunks(requests.len().div_ceil(threads * 4)).collect();
        let decided = in_turn(threads, parts.len(), compiled, |k, carry| {
            let decide = |r: &S| {
                let json = r.as_ref();
                self.decide_compiled_with(json, carry).unwrap_or_else(|| self.decide_json_reference(json))
            };
            parts.get(k).map_or_else(Vec::new, |part| part.iter().map(decide).collect())
        });
        decided.into_iter().flatten().collect()
    }

    /// For differential tests and benchmarks: the compiled path alone (`None` where it leaves the request to
    /// cedar's path). Not a stable API.
    #[doc(hidden)]
    pub fn decide_json_compiled(&self, json: &str) -> Option<Decision> {
        self.decide_compiled(json)
    }

    /// For differential tests and benchmarks: cedar's path alone. Not a stable API.
    #[doc(hidden)]
    pub fn decide_json_reference(&self, json: &str) -> Decision {
        match Request::parse(json, self.limits()) {
            Ok(req) => self.decide_cedar(&req),
            Err(e) => Decision::deny_with(vec![e], self.meta.hash.clone()),
        }
    }

    /// Decides one request given as a JSON value.
    pub fn decide_value(&self, value: Value) -> Decision {
        match Request::from_value(value) {
            Ok(req) => self.decide(&req),
            Err(e) => Decision::deny_with(vec![e], self.meta.hash.clone()),
        }
    }

    /// Decides a batch given as a JSON array of requests. A malformed array gives a single deny carrying the
    /// error; a malformed element gives a deny in its place, and the rest are decided.
    pub fn decide_batch_json(&self, json: &str) -> Vec<Decision> {
        self.batch_json(json, batch_threads(json.len()))
    }

    /// For tests: [`Bundle::decide_batch_json`] on `threads` threads (at least one), whatever the machine's
    /// cores. Not a stable API.
    #[doc(hidden)]
    pub fn decide_batch_json_on(&self, json: &str, threads: usize) -> Vec<Decision> {
        self.batch_json(json, threads.clamp(1, 64))
    }

    fn batch_json(&self, json: &str, threads: usize) -> Vec<Decision> {
        let limits = self.limits();
        // The compiled path takes each element's text as it is; an element it leaves is parsed and decided on
        // cedar's path.
        if let (Some(compiled), Some(_)) = (&self.meta.compiled, &self.fast) {
            // Elements the compiled path takes are within the depth limit by their schema; the others are checked
            // one by one before cedar's path parses them (see `decide_raw_batch`).
            let depth_ok = compiled.depth_safe() || check_json_depth(json, limits.max_json_depth + 1, "batch").is_ok();
            if json.len() <= limits.max_batch_bytes && depth_ok {
                if let Some(decided) = self.decide_raw_batch(compiled, json, threads) {
                    return decided;
                }
            }
        }
        let parsed = check_size(json, limits.max_batch_bytes, "batch")
            .and_then(|()| check_json_depth(json, limits.max_json_depth + 1, "batch"))
            .and_then(|()| {
                serde_json::from_str::<Value>(json).map_err(|e| DecisionError::from_json(&e, json, "batch"))
            });
        match parsed {
            Ok(Value::Array(items)) if items.len() <= limits.max_batch_requests => {
                items.into_iter().enumerate().map(|(i, v)| self.decide_value(v).with_error_prefix(i)).collect()
            }
            Ok(Value::Array(items)) => vec![self.deny(DecisionError::new(
                ErrorCode::LimitExceeded,
                format!("batch holds {} requests, over the limit of {}", items.len(), limits.max_batch_requests),
            ))],
            Ok(_) => vec![
                self.deny(DecisionError::new(ErrorCode::InvalidRequest, "a batch must be a JSON array of requests")),
            ],
            Err(e) => vec![self.deny(e)],
        }
    }

    /// Decides a batch of requests, in order.
    pub fn decide_batch(&self, requests: &[Request]) -> Vec<Decision> {
        requests.iter().map(|r| self.decide(r)).collect()
    }

    /// Decides one request.
    pub fn decide(&self, request: &Request) -> Decision {
        // The compiled path reads JSON text; a request that does not serialize (it always does) takes cedar's.
        if self.meta.compiled.is_some() && self.fast.is_some() {
            if let Some(d) = serde_json::to_string(request).ok().and_then(|text| self.decide_compiled(&text)) {
                return d;
            }
        }
        self.decide_cedar(request)
    }

    /// Cedar's path alone (the compiled path has declined the request, or there is none).
    fn decide_cedar(&self, request: &Request) -> Decision {
        let mut decision = match self.prepare(request) {
            Ok(prepared) => self.authorize(&prepared),
            Err(errors) => Decision::deny_with(errors, self.meta.hash.clone()),
        };
        decision.id = request.id.clone();
        decision
    }

    /// Decides one request and also reports every permit and forbid whose conditions held.
    pub fn explain(&self, request: &Request) -> Explanation {
        let mut permits_applied = Vec::new();
        let mut decision = match self.prepare(request) {
            Ok(prepared) => match self.entities_for(&prepared) {
                Ok(entities) => {
                    let all = self.meta.authorizer.is_authorized(&prepared.request, &self.meta.permits, &entities);
                    permits_applied = self.infos(all.diagnostics().reason());
                    self.authorize_with(&prepared, &entities)
                }
                Err(e) => self.deny(e),
            },
            Err(errors) => Decision::deny_with(errors, self.meta.hash.clone()),
        };
        decision.id = request.id.clone();
        let forbids_applied =
            if decision.decision == Verdict::Deny { decision.determining.to_vec() } else { Vec::new() };
        Explanation { decision, permits_applied, forbids_applied }
    }

    /// Decides the elements of a batch (a JSON array's text), in order, reading each element where it lies: the
    /// compiled path's scanner finds where an element ends as it parses it, so the batch is not split first.
    /// `None` when the batch is not an array of JSON elements or holds more than the limit: it is then parsed as
    /// a whole, for its error.
    ///
    /// A large batch is decided on `threads` threads (natively; the wasm build has one). The text is cut at
    /// guessed element starts (`guess_element_start`: after `},`, the way the first element begins) into spans,
    /// four a thread, which the threads take in turn; a span is decided from its start until the next cut is
    /// reached. A guess can be wrong (an object inside an element spelled alike), so spans are joined in order
    /// from the array's real first element: a span is taken only when the previous one ended exactly at its
    /// start, which proves the start is an element's; elsewhere the elements are decided here, one by one, until
    /// a span's start is reached. Each thread decides with a private copy of the `Arc`s
    /// decisions carry (bundle hash, policy infos): cloning shared ones for every decision made their reference
    /// counts bounce between cores, and the threads were then no faster than one.
    fn decide_raw_batch(&self, compiled: &Compiled, json: &str, threads: usize) -> Option<Vec<Decision>> {
        let b = json.as_bytes();
        let Some(first) = crate::compiled::array_start(b)? else { return Some(Vec::new()) };
        // Several spans a thread, taken in turn: a thread the machine delays holds up one small span, not a
        // fixed share of the batch.
        let wanted = if threads > 1 { threads * 4 } else { 1 };
        let mut cuts = vec![first];
        if let Some(signature) = crate::compiled::element_signature(b, first) {
            for k in 1..wanted {
                // Each guess is looked for within its own share of the text, so the guesses read it once.
                let from = (json.len() * k / wanted).max(cuts[cuts.len() - 1] + 1);
                let to = json.len() * (k + 1) / wanted;
                if let Some(c) = crate::compiled::guess_element_start(b, signature, from, to) {
                    cuts.push(c);
                }
            }
        }
        let stops: Vec<usize> = cuts.iter().skip(1).copied().chain([usize::MAX]).collect();
        let spans: Vec<Option<Span>> = if cuts.len() == 1 {
            vec![self.decide_span(compiled, compiled.carry(), json, first, usize::MAX)]
        } else {
            in_turn(threads, cuts.len(), compiled, |k, carry| {
                let (start, stop) = (*cuts.get(k)?, *stops.get(k)?);
                self.decide_span(compiled, carry, json, start, stop)
            })
        };
        // Join the spans from the first element on (see above).
        let total: usize = spans.iter().flatten().map(|s| s.decisions.len()).sum();
        let mut out: Vec<Decision> = Vec::new();
        let mut spans = spans.into_iter().flatten().peekable();
        let mut next = Some(first);
        while let Some(at) = next {
            while spans.peek().is_some_and(|s| s.start < at) {
                spans.next();
            }
            let span = match spans.next_if(|s| s.start == at) {
                Some(span) => span,
                None => self.decide_span(compiled, compiled.carry(), json, at, at + 1)?,
            };
            let base = out.len();
            if base == 0 {
                // The first span's vector becomes the batch's (most batches are one span, or its threads').
                out = span.decisions;
                out.reserve(total.saturating_sub(out.len()));
            } else {
                out.extend(span.decisions);
            }
            for (i, d) in out.iter_mut().enumerate().skip(base) {
                d.prefix_error_paths(i);
            }
            if out.len() > self.meta.limits.max_batch_requests {
                return None;
            }
            next = span.next;
        }
        Some(out)
    }

    /// Decides the batch elements from the one that starts at byte `start` up to the first that starts at or
    /// after `stop` (at least one), or to the array's end. `None` when the text there is not a well-formed
    /// array of JSON elements.
    fn decide_span(&self, compiled: &Compiled, carry: &Carry, json: &str, start: usize, stop: usize) -> Option<Span> {
        let fast = self.fast.as_deref()?;
        let (meta, b) = (&self.meta, json.as_bytes());
        let mut decisions = Vec::new();
        let mut at = start;
        loop {
            let element = compiled.decide_element(fast, json, at, meta.semantics, &meta.limits, carry)?;
            decisions.push(match element.decision {
                Some(d) => d,
                None => {
                    // Cedar's path, as for a single request given as a JSON value.
                    let text = json.get(at..element.end)?;
                    match check_json_depth(text, meta.limits.max_json_depth, "request") {
                        Err(e) => self.deny(e),
                        Ok(()) => match Request::from_value(serde_json::from_str::<Value>(text).ok()?) {
                            Ok(req) => self.decide_cedar(&req),
                            Err(e) => self.deny(e),
                        },
                    }
                }
            });
            if decisions.len() == 1 {
                // Room for the span's elements, estimated from the first one's length, with a quarter more:
                // elements vary in length, and a vector that runs out copies every decision made so far.
                let span = stop.min(json.len()).saturating_sub(start);
                let n = span / (element.end - at + 1).max(64);
                decisions.reserve(n + n / 4 + 1);
            }
            match crate::compiled::next_element(b, element.end)? {
                Some(n) if n < stop => at = n,
                next => return Some(Span { start, decisions, next }),
            }
        }
    }

    /// The compiled path (see `compiled/`): `None` leaves the request to cedar's path.
    fn decide_compiled(&self, json: &str) -> Option<Decision> {
        self.decide_compiled_with(json, self.meta.compiled.as_ref()?.carry())
    }

    /// The compiled path, cloning the decision's `Arc`s from `carry`.
    fn decide_compiled_with(&self, json: &str, carry: &Carry) -> Option<Decision> {
        let meta = &self.meta;
        meta.compiled.as_ref()?.decide_json(self.fast.as_deref()?, json, meta.semantics, &meta.limits, carry)
    }

    fn deny(&self, e: DecisionError) -> Decision {
        Decision::deny_with(vec![e], self.meta.hash.clone())
    }

    fn prepare(&self, request: &Request) -> Result<Prepared, Vec<DecisionError>> {
        let meta = &self.meta;
        let schema = &meta.schema;
        let principal = parse_uid(&request.principal, "principal");
        let action = parse_uid(&request.action, "action");
        let resource = parse_uid(&request.resource, "resource");
        let (principal, action, resource) = match (principal, action, resource) {
            (Ok(p), Ok(a), Ok(r)) => (p, a, r),
            (p, a, r) => return Err([p.err(), a.err(), r.err()].into_iter().flatten().collect()),
        };
        if !meta.actions.contains(&action) {
            return Err(vec![
                DecisionError::new(
                    ErrorCode::UnknownAction,
                    format!("action `{action}` is not declared in the schema"),
                )
                .at("action"),
            ]);
        }
        let context_value = match &request.context {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => {
                return Err(vec![
                    DecisionError::new(ErrorCode::InvalidContext, "`context` must be a JSON object").at("context"),
                ]);
            }
        };
        let context = Context::from_json_value(context_value.clone(), Some((schema, &action)))
            .map_err(|e| vec![self.context_error(&flatten(&e), &action, &context_value)])?;
        let slice = match &request.entities {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => {
                let entities = parse_entity_values(v, schema, meta.limits.max_slice_entities, "entities")?;
                if let Some((i, e)) = entities.iter().enumerate().find(|(_, e)| meta.actions.contains(&e.uid())) {
                    return Err(vec![
                        DecisionError::new(
                            ErrorCode::InvalidEntity,
                            format!(
                                "entity `{}` is an action; actions come from the schema and cannot be sent in a slice",
                                e.uid()
                            ),
                        )
                        .at(format!("entities[{i}]")),
                    ]);
                }
                let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
                entities.into_iter().zip(items).map(|(e, json)| SliceEntity::new(e, json)).collect()
            }
        };
        let mut context_refs = Vec::new();
        if !slice.is_empty() {
            collect_json_refs(&context_value, &mut context_refs);
        }
        let cedar_request =
            CedarRequest::new(principal.clone(), action.clone(), resource.clone(), context, Some(schema)).map_err(
                |e| match e {
                    cedar_policy::RequestValidationError::InvalidContext(_) => {
                        vec![self.context_error(&flatten(&e), &action, &context_value)]
                    }
                    other => vec![request_error(&other)],
                },
            )?;
        Ok(Prepared { request: cedar_request, principal, action, resource, slice, context_refs })
    }

    /// The store, or — with a slice — the reachable part of store and slice (see `slice.rs`), or, when the slice
    /// changes the ancestry of stored entities, the store with the slice upserted over it.
    fn entities_for<'a>(&'a self, prepared: &Prepared) -> Result<Cow<'a, Entities>, DecisionError> {
        let Some(store) = self.cedar_store() else {
            return Err(DecisionError::new(
                ErrorCode::InvalidBundle,
                "the entity store could not be rebuilt for cedar's path",
            ));
        };
        if prepared.slice.is_empty() {
            return Ok(Cow::Borrowed(&store.entities));
        }
        let to_error = |e: cedar_policy::entities_errors::EntitiesError| {
            let message = deterministic_cycle(flatten(&e), || cycle_members(&store.entities, &prepared.slice));
            DecisionError::new(ErrorCode::InvalidEntity, message).at("entities")
        };
        let roots = [&prepared.principal, &prepared.action, &prepared.resource]
            .into_iter()
            .chain(prepared.context_refs.iter())
            .chain(self.meta.policy_literals.iter())
            .cloned();
        match reachable_entities(&store.entities, &store.index, &prepared.slice, roots) {
            Some(result) => result.map(Cow::Owned).map_err(to_error),
            None => store
                .entities
                .clone()
                .upsert_entities(prepared.slice.iter().map(|s| s.entity.clone()), None)
                .map(Cow::Owned)
                .map_err(to_error),
        }
    }

    fn authorize(&self, prepared: &Prepared) -> Decision {
        match self.entities_for(prepared) {
            Ok(entities) => self.authorize_with(prepared, &entities),
            Err(e) => self.deny(e),
        }
    }

    /// Decides a prepared request against the entities made for it (see `entities_for`).
    fn authorize_with(&self, prepared: &Prepared, entities: &Entities) -> Decision {
        let meta = &self.meta;
        let mut errors = Vec::new();
        if meta.semantics == Semantics::FailClosed {
            for (uid, path) in [(&prepared.principal, "principal"), (&prepared.resource, "resource")] {
                if entities.get(uid).is_none() {
                    errors.push(DecisionError::entity_not_found(uid, path));
                }
            }
            if !errors.is_empty() {
                return Decision::deny_with(errors, meta.hash.clone());
            }
        }
        let response = meta.authorizer.is_authorized(&prepared.request, &meta.policies, entities);
        self.verdict_of(&response)
    }

    fn verdict_of(&self, response: &Response) -> Decision {
        let meta = &self.meta;
        let errors: Vec<DecisionError> = response
            .diagnostics()
            .errors()
            .map(|e| {
                let cedar_policy::AuthorizationError::PolicyEvaluationError(pe) = e;
                DecisionError::new(ErrorCode::PolicyEvaluation, flatten(e)).in_policy(pe.policy_id().to_string())
            })
            .collect();
        let cedar_allows = response.decision() == CedarDecision::Allow;
        let fail_closed = meta.semantics == Semantics::FailClosed && !errors.is_empty();
        if cedar_allows && fail_closed {
            return Decision::deny_with(errors, meta.hash.clone());
        }
        let verdict = if cedar_allows { Verdict::Allow } else { Verdict::Deny };
        let determining = self.infos(response.diagnostics().reason());
        Decision { errors, ..Decision::determined_by(verdict, &determining, meta.hash.clone()) }
    }

    fn infos<'a>(&self, ids: impl Iterator<Item = &'a cedar_policy::PolicyId>) -> Vec<Arc<PolicyInfo>> {
        let mut out: Vec<Arc<PolicyInfo>> = ids.filter_map(|id| self.meta.infos.get(id).cloned()).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

impl Decision {
    /// Prefixes error paths with a batch index: `[3].context`.
    fn with_error_prefix(mut self, index: usize) -> Self {
        self.prefix_error_paths(index);
        self
    }

    /// Prefixes error paths with a batch index, in place.
    fn prefix_error_paths(&mut self, index: usize) {
        for e in &mut self.errors {
            e.path = Some(match &e.path {
                Some(p) => format!("[{index}].{p}"),
                None => format!("[{index}]"),
            });
        }
    }
}

/// Decisions on consecutive elements of a batch (see `Bundle::decide_raw_batch`).
struct Span {
    /// Where the first element starts.
    start: usize,
    decisions: Vec<Decision>,
    /// Where the element after the last starts; `None` when the array ends there.
    next: Option<usize>,
}

/// Threads for a batch of `bytes` of JSON text: one per thread of the pool, for batches large enough to pay for
/// sharing the work (32 KiB of text a thread, about 128 plain requests).
fn batch_threads(bytes: usize) -> usize {
    const MIN_PER_THREAD: usize = 32 * 1024;
    pool_threads().min(bytes / MIN_PER_THREAD).clamp(1, 64)
}

/// The threads of the pool batches are decided on (one in the wasm build).
#[cfg(not(target_arch = "wasm32"))]
fn pool_threads() -> usize {
    rayon::current_num_threads()
}

#[cfg(target_arch = "wasm32")]
fn pool_threads() -> usize {
    1
}

/// Runs `job(k, carry)` for every `k` below `jobs`, on `threads` threads that take the jobs in turn (a thread the
/// machine delays holds up one job, not a fixed share), each with a private copy of the `Arc`s decisions carry
/// (cloning shared ones for every decision made their reference counts bounce between cores): the results in
/// job order.
fn in_turn<T: Send>(
    threads: usize,
    jobs: usize,
    compiled: &Compiled,
    job: impl Fn(usize, &Carry) -> T + Sync,
) -> Vec<T> {
    let taken = AtomicUsize::new(0);
    let work = || {
        let carry = compiled.carry().private_copy();
        let mut done = Vec::new();
        loop {
            let k = taken.fetch_add(1, Ordering::Relaxed);
            if k >= jobs {
                break;
            }
            done.push((k, job(k, &carry)));
        }
        done
    };
    let mut done: Vec<(usize, T)> = on_threads(threads, work).into_iter().flatten().collect();
    done.sort_unstable_by_key(|(k, _)| *k);
    done.into_iter().map(|(_, t)| t).collect()
}

/// Runs `work` `n` times at once: once on the calling thread and `n - 1` times on the pool's threads (in the wasm
/// build, one after the other on the caller's); the results in no particular order. The caller works too (it
/// would otherwise sleep until the pool is done), so a pool thread the machine is slow to wake costs only the
/// jobs the caller then takes in its place (`in_turn`).
#[cfg(not(target_arch = "wasm32"))]
fn on_threads<R: Send>(n: usize, work: impl Fn() -> R + Sync + Send) -> Vec<R> {
    let done = std::sync::Mutex::new(Vec::with_capacity(n));
    let keep = |r: R| done.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(r);
    rayon::in_place_scope(|s| {
        for _ in 1..n {
            s.spawn(|_| keep(work()));
        }
        keep(work());
    });
    done.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(target_arch = "wasm32")]
fn on_threads<R: Send>(n: usize, work: impl Fn() -> R + Sync + Send) -> Vec<R> {
    (0..n).map(|_| work()).collect()
}

/// Parses an entity uid in either of cedar's JSON forms (`{"type": "T", "id": "x"}`, `{"__entity": …}`) or as
/// the string `T::"x"`.
pub(crate) fn parse_uid(value: &Value, path: &str) -> Result<EntityUid, DecisionError> {
    let result = match value {
        Value::String(s) => EntityUid::from_str(s).map_err(|e| flatten(&e)),
        Value::Object(_) => EntityUid::from_json(value.clone()).map_err(|e| flatten(&e)),
        Value::Null => Err(String::from("it is missing")),
        other => Err(format!("expected an entity uid (`{{\"type\": .., \"id\": ..}}` or `T::\"id\"`), got `{other}`")),
    };
    result.map_err(|msg| DecisionError::new(ErrorCode::InvalidEntityUid, format!("invalid `{path}`: {msg}")).at(path))
}

/// Cedar's message for a cyclic hierarchy with the vertex it names replaced by the least of the cycle's members
/// (`members`, sorted; see `slice::cycle_members`), so that the same input always gets the same message. Any
/// other message is returned as it is.
fn deterministic_cycle(message: String, members: impl FnOnce() -> Vec<String>) -> String {
    const NAMES: &str = "cycle containing vertex `";
    let Some(at) = message.find(NAMES).map(|i| i + NAMES.len()) else { return message };
    let members = members();
    let named = members.iter().find(|m| message[at..].strip_prefix(m.as_str()).is_some_and(|r| r.starts_with('`')));
    match (named, members.first()) {
        (Some(named), Some(least)) => format!("{}{least}{}", &message[..at], &message[at + named.len()..]),
        _ => message,
    }
}

/// A diagnostic's message with its nested causes and help, on one line.
pub(crate) fn flatten(e: &dyn miette::Diagnostic) -> String {
    let mut msg = e.to_string();
    // Causes: cedar nests the specific problem (which attribute, which type) as a source.
    let mut push = |c: String| {
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    };
    if let Some(d) = e.diagnostic_source() {
        push(d.to_string());
    }
    let mut source = e.source();
    for _ in 0..6 {
        let Some(s) = source else { break };
        push(s.to_string());
        source = s.source();
    }
    if let Some(related) = e.related() {
        for r in related {
            let s = r.to_string();
            if !msg.contains(&s) {
                msg.push_str(": ");
                msg.push_str(&s);
            }
        }
    }
    if let Some(help) = e.help() {
        let h = help.to_string();
        if !msg.contains(&h) {
            msg.push_str(" (");
            msg.push_str(&h);
            msg.push(')');
        }
    }
    msg
}

fn request_error(e: &cedar_policy::RequestValidationError) -> DecisionError {
    use cedar_policy::RequestValidationError as R;
    let msg = flatten(e);
    let (code, path) = match e {
        R::UndeclaredAction(_) | R::ExternalAction(_) => (ErrorCode::UnknownAction, "action"),
        R::UndeclaredPrincipalType(_) | R::InvalidPrincipalType(_) => (ErrorCode::UnknownEntityType, "principal"),
        R::UndeclaredResourceType(_) | R::InvalidResourceType(_) => (ErrorCode::UnknownEntityType, "resource"),
        R::InvalidContext(_) => (ErrorCode::InvalidContext, "context"),
        _ => (ErrorCode::InvalidRequest, "request"),
    };
    DecisionError::new(code, msg).at(path)
}

impl Bundle {
    /// A context error located at the offending field: from the schema's context type when it can be found,
    /// else from an attribute name in cedar's message.
    fn context_error(&self, msg: &str, action: &EntityUid, context: &Value) -> DecisionError {
        if let Some((path, what)) = self.meta.context_types.diagnose(action, context) {
            return DecisionError::new(ErrorCode::InvalidContext, format!("invalid `context`: {what} ({msg})"))
                .at(path);
        }
        let path = backticked(msg)
            .into_iter()
            .find(|name| context.get(name.as_str()).is_some() || msg.contains(&format!("attribute `{name}`")))
            .map(|name| format!("context.{name}"))
            .unwrap_or_else(|| "context".to_string());
        DecisionError::new(ErrorCode::InvalidContext, format!("invalid `context`: {msg}")).at(path)
    }
}

fn backticked(msg: &str) -> Vec<String> {
    msg.split('`').skip(1).step_by(2).map(str::to_string).collect()
}
