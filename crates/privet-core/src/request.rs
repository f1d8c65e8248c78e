//! The request model: principal, action, resource and context in Cedar's JSON forms, plus an optional entity
//! slice used together with the store — the shape `@cedar-policy/cedar-wasm`'s `isAuthorized` takes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DecisionError, ErrorCode};
use crate::limits::{Limits, check_json_depth, check_size};

/// One request, as JSON values not yet checked against the schema (the bundle does that when it decides).
///
/// Entity uids may be `{"type": "T", "id": "x"}`, `{"__entity": {...}}` or the string `T::"x"`. `context` is a
/// JSON object (absent means `{}`); `entities` is a list of entities in Cedar's JSON format, upserted over the
/// store for this request only. `id` is echoed in the decision. Other fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Caller's correlation id, echoed in the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// Who receives the data or acts on it.
    pub principal: Value,
    /// The flow.
    pub action: Value,
    /// The data (record, consumer).
    pub resource: Value,
    /// The request context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// The per-request entity slice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Value>,
}

impl Request {
    /// Parses request JSON text, checking the size and nesting limits first. Errors are located (line, column,
    /// byte offset, field path).
    pub fn parse(json: &str, limits: &Limits) -> Result<Request, DecisionError> {
        check_size(json, limits.max_request_bytes, "request")?;
        check_json_depth(json, limits.max_json_depth, "request")?;
        let value: Value = serde_json::from_str(json).map_err(|e| DecisionError::from_json(&e, json, "request"))?;
        Request::from_value(value)
    }

    /// Builds a request from a JSON value, naming the missing or wrongly-typed field.
    pub fn from_value(value: Value) -> Result<Request, DecisionError> {
        let Value::Object(mut map) = value else {
            return Err(DecisionError::new(
                ErrorCode::InvalidRequest,
                format!("a request must be a JSON object, got {}", kind(&value)),
            ));
        };
        let mut take =
            |field: &str| -> Result<Value, DecisionError> {
                match map.remove(field) {
                    Some(v) if !v.is_null() => Ok(v),
                    _ => Err(DecisionError::new(ErrorCode::InvalidRequest, format!("request is missing `{field}`"))
                        .at(field)),
                }
            };
        let principal = take("principal")?;
        let action = take("action")?;
        let resource = take("resource")?;
        let context = map.remove("context").filter(|v| !v.is_null());
        if let Some(c) = &context {
            if !c.is_object() {
                return Err(DecisionError::new(
                    ErrorCode::InvalidRequest,
                    format!("`context` must be a JSON object, got {}", kind(c)),
                )
                .at("context"));
            }
        }
        let entities = map.remove("entities").filter(|v| !v.is_null());
        if let Some(e) = &entities {
            if !e.is_array() {
                return Err(DecisionError::new(
                    ErrorCode::InvalidRequest,
                    format!("`entities` must be a JSON array of entities, got {}", kind(e)),
                )
                .at("entities"));
            }
        }
        Ok(Request { id: map.remove("id"), principal, action, resource, context, entities })
    }
}

/// Composes an entity slice from several lists (shared entity files, then a case's own entities): entities by
/// uid, a later one replacing an earlier one with the same uid (as an upsert does), first-seen order kept.
pub fn merge_entity_lists<'a>(items: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    let mut order: Vec<String> = Vec::new();
    let mut by_uid: BTreeMap<String, Value> = BTreeMap::new();
    for item in items {
        let key = item.get("uid").map(|u| u.to_string()).unwrap_or_else(|| item.to_string());
        if by_uid.insert(key.clone(), item.clone()).is_none() {
            order.push(key);
        }
    }
    order.into_iter().filter_map(|k| by_uid.remove(&k)).collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
