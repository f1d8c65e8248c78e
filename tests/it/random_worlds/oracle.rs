//! Cedar's answer, computed independently of Privet with `cedar-policy`'s own API from the same texts: the
//! schema, the policy files read as one policy set (positional ids `policyN` across files, mapped to `@id` when
//! a policy has one), and the store with the request's slice replacing entities of the same uid.

use std::collections::HashMap;
use std::str::FromStr;

use cedar_policy::{
    AuthorizationError, Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, Schema,
};
use serde_json::{Map, Value};

use super::requests::{Req, Uid};

/// What cedar says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Cedar refused the request (a uid, the context, the request or the entities did not check).
    Refused(String),
    /// Cedar decided: allow or deny, the determining policies and the policies that errored (Privet's ids,
    /// sorted).
    Decided { allow: bool, reasons: Vec<String>, errors: Vec<String> },
}

pub struct Oracle {
    schema: Schema,
    policies: PolicySet,
    names: HashMap<String, String>,
    /// Stored entities with their uids, in store order.
    stored: Vec<(Uid, Entity)>,
    store: Entities,
    authorizer: Authorizer,
}

fn uid_of(entity: &Value) -> Uid {
    let part = |k: &str| entity["uid"][k].as_str().unwrap_or_default().to_string();
    (part("type"), part("id"))
}

impl Oracle {
    pub fn new(schema_text: &str, policy_files: &[(String, String)], store: &[Value]) -> Oracle {
        let (schema, _) = Schema::from_cedarschema_str(schema_text).expect("generated schema parses");
        let text: Vec<&str> = policy_files.iter().map(|(_, t)| t.as_str()).collect();
        let policies = PolicySet::from_str(&text.join("\n")).expect("generated policies parse");
        let names = policies
            .policies()
            .map(|p| (p.id().to_string(), p.annotation("id").map(str::to_string).unwrap_or_else(|| p.id().to_string())))
            .collect();
        let stored = store
            .iter()
            .map(|e| (uid_of(e), Entity::from_json_value(e.clone(), Some(&schema)).expect("stored entity conforms")))
            .collect();
        let entities = Entities::from_json_value(Value::Array(store.to_vec()), Some(&schema))
            .expect("generated store conforms to the schema");
        Oracle { schema, policies, names, stored, store: entities, authorizer: Authorizer::new() }
    }

    pub fn answer(&self, req: &Req) -> Answer {
        match self.decide(req) {
            Ok(answer) => answer,
            Err(why) => Answer::Refused(why),
        }
    }

    fn decide(&self, req: &Req) -> Result<Answer, String> {
        let uid = |(ty, id): &Uid| -> Result<EntityUid, String> {
            let name = EntityTypeName::from_str(ty).map_err(|e| e.to_string())?;
            Ok(EntityUid::from_type_name_and_id(name, EntityId::new(id)))
        };
        let (principal, action, resource) = (uid(&req.principal)?, uid(&req.action)?, uid(&req.resource)?);
        let context_json = req.context.clone().unwrap_or_else(|| Value::Object(Map::new()));
        let context =
            Context::from_json_value(context_json, Some((&self.schema, &action))).map_err(|e| e.to_string())?;
        let request =
            Request::new(principal, action, resource, context, Some(&self.schema)).map_err(|e| e.to_string())?;
        let merged;
        let entities = match &req.slice {
            None => &self.store,
            Some(slice) => {
                // Each slice entity checked against the schema, then the whole set again as one `Entities`
                // (conformance, hierarchy closure and acyclicity, the schema's actions).
                let mut replaced: HashMap<Uid, Entity> = HashMap::new();
                for e in slice {
                    let entity = Entity::from_json_value(e.clone(), Some(&self.schema)).map_err(|e| e.to_string())?;
                    replaced.insert(uid_of(e), entity);
                }
                let mut all: Vec<Entity> =
                    self.stored.iter().filter(|(u, _)| !replaced.contains_key(u)).map(|(_, e)| e.clone()).collect();
                all.extend(replaced.into_values());
                merged = Entities::from_entities(all, Some(&self.schema)).map_err(|e| e.to_string())?;
                &merged
            }
        };
        let response = self.authorizer.is_authorized(&request, &self.policies, entities);
        let name = |id: &cedar_policy::PolicyId| self.names.get(&id.to_string()).cloned().unwrap_or(id.to_string());
        let mut reasons: Vec<String> = response.diagnostics().reason().map(name).collect();
        reasons.sort();
        let mut errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| match e {
                AuthorizationError::PolicyEvaluationError(pe) => name(pe.policy_id()),
            })
            .collect();
        errors.sort();
        Ok(Answer::Decided { allow: response.decision() == Decision::Allow, reasons, errors })
    }
}
