//! A world's policies: 5–25 permits and forbids in every scope form, with `when`/`unless` conditions from
//! `exprs.rs`, `@id` on most of them, spread over one to three files. Each is validated strictly against the
//! schema by cedar as it is made; one that fails is counted and made again.

use std::str::FromStr;

use cedar_policy::{PolicySet, ValidationMode, Validator};

use super::exprs::Exprs;
use super::rng::Rng;
use super::schema::{Attr, Schema};
use super::values::Ids;

/// The generated policies, as the files of a bundle, and what it took to make them.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// (file name, text), in load order.
    pub files: Vec<(String, String)>,
    pub count: usize,
    /// Policies that failed strict validation (and were made again).
    pub rejected: usize,
    /// Policies that did not even parse (a generator bug; counted to be reported).
    pub unparsed: usize,
    /// The first few rejections, for tuning the generator (`PRIVET_DIFF_VERBOSE`).
    pub samples: Vec<String>,
}

/// A policy scope and what it leaves possible: principal and resource types, context fields.
struct Scope {
    text: String,
    principal: Vec<usize>,
    resource: Vec<usize>,
    context: Vec<Attr>,
}

const MAX_TRIES: usize = 40;

pub fn generate(rng: &mut Rng, s: &Schema, validator: &Validator, ids: &Ids) -> Policies {
    let mut out = Policies::default();
    let n = rng.range(5, 25);
    let mut texts: Vec<String> = Vec::new();
    for k in 0..n {
        for _ in 0..MAX_TRIES {
            let text = policy(rng, s, ids, k);
            let set = match PolicySet::from_str(&text) {
                Ok(set) => set,
                Err(e) => {
                    out.unparsed += 1;
                    if out.samples.len() < 20 {
                        out.samples.push(format!("parse: {e:?}\n{text}"));
                    }
                    continue;
                }
            };
            let result = validator.validate(&set, ValidationMode::Strict);
            if result.validation_passed() {
                texts.push(text);
                break;
            }
            out.rejected += 1;
            if out.samples.len() < 20 {
                let errs: Vec<String> = result.validation_errors().map(|e| e.to_string()).collect();
                out.samples.push(format!("{}\n{text}", errs.join("; ")));
            }
        }
    }
    out.count = texts.len();
    // Contiguous runs over one to three files: positional ids (`policyN`) count across files in order.
    let n_files = rng.range(1, 3).min(texts.len().max(1));
    let mut cuts: Vec<usize> = (0..n_files - 1).map(|_| rng.below(texts.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(texts.len());
    let mut start = 0;
    for (f, end) in cuts.into_iter().enumerate() {
        let body: Vec<String> = texts[start..end].to_vec();
        out.files.push((format!("{}0-policies.cedar", f + 1), body.join("\n\n") + "\n"));
        start = end;
    }
    out
}

/// One policy's text.
fn policy(rng: &mut Rng, s: &Schema, ids: &Ids, k: usize) -> String {
    let permit = rng.chance(65);
    let effect = if permit { "permit" } else { "forbid" };
    let mut text = String::new();
    if rng.chance(85) {
        let id = match rng.below(3) {
            0 => format!("{effect}-{k}"),
            1 => format!("{effect} #{k} (generated)"),
            _ => format!("p.{k}.{effect}"),
        };
        text.push_str(&format!("@id(\"{id}\")\n"));
    }
    if rng.chance(30) {
        text.push_str("@reason(\"generated\")\n");
    }
    if rng.chance(15) {
        text.push_str("@obligation(\"display\")\n@obligation_display(\"Opt-Out Request Honored\")\n");
    }
    let scope = scope(rng, s, ids, permit);
    let mut x = Exprs::new(rng, s, ids, &scope.principal, &scope.resource, &scope.context);
    x.drop_guard_percent = 10;
    text.push_str(&format!("{effect} ({})", scope.text));
    let clauses = if permit { rng.weighted(&[35, 40, 20, 5]) } else { rng.weighted(&[0, 50, 35, 15]) };
    for _ in 0..clauses {
        let keyword = if rng.chance(70) { "when" } else { "unless" };
        let depth = rng.weighted(&[3, 4, 2, 1]);
        text.push_str(&format!("\n{keyword} {{ {} }}", x.condition(rng, depth)));
    }
    text.push(';');
    text
}

fn scope(rng: &mut Rng, s: &Schema, ids: &Ids, broad: bool) -> Scope {
    let concrete = s.concrete_actions();
    let n_actions = s.actions.len();
    let pick_action = |rng: &mut Rng| if rng.chance(85) { *rng.pick(&concrete) } else { rng.below(n_actions) };
    let under =
        |a: usize| -> Vec<usize> { concrete.iter().copied().filter(|c| s.action_ancestors(*c).contains(&a)).collect() };
    let (action_text, actions): (String, Vec<usize>) = match rng.weighted(&[15, 40, 15, 20]) {
        0 => ("action".into(), concrete.clone()),
        1 => {
            let a = pick_action(rng);
            let applies = if s.actions[a].applies.is_some() { vec![a] } else { Vec::new() };
            (format!("action == {}", s.action_literal(a)), applies)
        }
        2 => {
            let a = rng.below(n_actions);
            (format!("action in {}", s.action_literal(a)), under(a))
        }
        _ => {
            let chosen: Vec<usize> = (0..rng.range(1, 3)).map(|_| pick_action(rng)).collect();
            let mut acts: Vec<usize> = chosen.iter().flat_map(|a| under(*a)).collect();
            acts.sort_unstable();
            acts.dedup();
            let lits: Vec<String> = chosen.iter().map(|a| s.action_literal(*a)).collect();
            (format!("action in [{}]", lits.join(", ")), acts)
        }
    };
    let applies: Vec<_> = actions.iter().filter_map(|a| s.actions[*a].applies.as_ref()).collect();
    let union = |f: &dyn Fn(&super::schema::Applies) -> &Vec<usize>| {
        let mut v: Vec<usize> = applies.iter().flat_map(|ap| f(ap).iter().copied()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let (principal_text, principal) = entity_scope(rng, s, ids, "principal", &union(&|ap| &ap.principals), broad);
    let (resource_text, resource) = entity_scope(rng, s, ids, "resource", &union(&|ap| &ap.resources), broad);
    // Context fields every action in scope declares (same type); optional if optional in any.
    let mut context: Vec<Attr> = Vec::new();
    if let Some((first, rest)) = applies.split_first() {
        for f in &first.context {
            let mut required = f.required;
            let everywhere = rest.iter().all(|ap| match ap.context.iter().find(|g| g.name == f.name && g.ty == f.ty) {
                Some(g) => {
                    required &= g.required;
                    true
                }
                None => false,
            });
            if everywhere {
                context.push(Attr { name: f.name.clone(), ty: f.ty.clone(), required });
            }
        }
    }
    Scope { text: format!("{principal_text}, {action_text}, {resource_text}"), principal, resource, context }
}

/// A principal or resource scope over the types the actions allow (`broad`: more often unconstrained or `is`);
/// returns the types it leaves possible.
fn entity_scope(rng: &mut Rng, s: &Schema, ids: &Ids, var: &str, types: &[usize], broad: bool) -> (String, Vec<usize>) {
    let n = s.entities.len();
    let t = if !types.is_empty() && rng.chance(90) { *rng.pick(types) } else { rng.below(n) };
    let only = |t: usize| types.iter().copied().filter(|x| *x == t).collect::<Vec<_>>();
    let ancestor = |rng: &mut Rng| {
        let related: Vec<usize> = (0..n).filter(|a| s.may_descend(t, *a)).collect();
        if rng.chance(85) { *rng.pick(&related) } else { rng.below(n) }
    };
    let lit = |rng: &mut Rng, t: usize| s.entity_literal(t, &ids.any(rng, t, 80));
    match rng.weighted(if broad { &[40, 12, 15, 23, 10] } else { &[25, 20, 20, 20, 15] }) {
        0 => (var.to_string(), types.to_vec()),
        1 => (format!("{var} == {}", lit(rng, t)), only(t)),
        2 => {
            let a = ancestor(rng);
            let possible = types.iter().copied().filter(|x| s.may_descend(*x, a)).collect();
            (format!("{var} in {}", lit(rng, a)), possible)
        }
        3 => (format!("{var} is {}", s.entity_type(t)), only(t)),
        _ => {
            let a = ancestor(rng);
            let possible = if s.may_descend(t, a) { only(t) } else { Vec::new() };
            (format!("{var} is {} in {}", s.entity_type(t), lit(rng, a)), possible)
        }
    }
}
