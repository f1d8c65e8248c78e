//! Naming the field when cedar refuses a request's context. Cedar says the context does not match the action's
//! context type but not always where; this walks the context JSON against the schema's declared type (from the
//! schema in its JSON form) and returns the path of the first mismatch. Used only after cedar has refused a
//! context, never on the decision path of a valid request.

use std::collections::HashMap;

use cedar_policy::{EntityUid, SchemaFragment};
use serde_json::Value;

/// The schema in cedar's JSON form, from its text in either syntax (by file name). `None` if it does not convert.
pub(crate) fn schema_json(file_name: &str, text: &str) -> Option<Value> {
    if file_name.ends_with(".json") {
        serde_json::from_str::<Value>(text).ok()
    } else {
        SchemaFragment::from_cedarschema_str(text).ok().and_then(|(f, _)| f.to_json_value().ok())
    }
}

/// Context types by action, with what is needed to resolve type names.
#[derive(Debug, Default)]
pub(crate) struct ContextTypes {
    /// Action uid (as cedar prints it) → (namespace, context type).
    by_action: HashMap<String, (String, Value)>,
    /// Common types by qualified name (`Ns::Name`, or `Name` in the empty namespace).
    common: HashMap<String, Value>,
}

impl ContextTypes {
    /// Builds the index from the schema's JSON form (see [`schema_json`]). Returns an empty index without one
    /// (the schema itself was already accepted by cedar; diagnosis is best effort).
    pub(crate) fn from_schema_json(json: Option<&Value>) -> ContextTypes {
        let mut out = ContextTypes::default();
        let Some(Value::Object(namespaces)) = json else { return out };
        for (ns, body) in namespaces {
            let qualify = |name: &str| if ns.is_empty() { name.to_string() } else { format!("{ns}::{name}") };
            if let Some(Value::Object(common)) = body.get("commonTypes") {
                for (name, ty) in common {
                    out.common.insert(qualify(name), ty.clone());
                }
            }
            if let Some(Value::Object(actions)) = body.get("actions") {
                for (id, action) in actions {
                    if let Some(ctx) = action.get("appliesTo").and_then(|a| a.get("context")) {
                        let uid = format!("{}::{:?}", qualify("Action"), id);
                        out.by_action.insert(uid, (ns.clone(), ctx.clone()));
                    }
                }
            }
        }
        out
    }

    /// The path and description of the first place where `context` does not match the action's context type.
    pub(crate) fn diagnose(&self, action: &EntityUid, context: &Value) -> Option<(String, String)> {
        let (ns, ty) = self.by_action.get(&action.to_string())?;
        self.check(ns, ty, context, "context")
    }

    fn resolve<'a>(&'a self, ns: &str, ty: &'a Value) -> &'a Value {
        let name = match ty.get("type").and_then(Value::as_str) {
            Some("EntityOrCommon") => ty.get("name").and_then(Value::as_str),
            Some(t) if !matches!(t, "Boolean" | "Long" | "String" | "Set" | "Record" | "Entity" | "Extension") => {
                Some(t)
            }
            _ => None,
        };
        let Some(name) = name else { return ty };
        let qualified = if ns.is_empty() || name.contains("::") { name.to_string() } else { format!("{ns}::{name}") };
        self.common.get(&qualified).or_else(|| self.common.get(name)).map(|t| self.resolve(ns, t)).unwrap_or(ty)
    }

    fn check(&self, ns: &str, ty: &Value, v: &Value, path: &str) -> Option<(String, String)> {
        let ty = self.resolve(ns, ty);
        let kind = ty.get("type").and_then(Value::as_str).unwrap_or_default();
        let name = ty.get("name").and_then(Value::as_str).unwrap_or_default();
        let expect = |want: &str| Some((path.to_string(), format!("`{path}` must be {want}, got {}", describe(v))));
        match (kind, name) {
            ("Boolean", _) | ("EntityOrCommon", "Bool" | "Boolean") => {
                (!v.is_boolean()).then(|| expect("a boolean")).flatten()
            }
            ("Long", _) | ("EntityOrCommon", "Long") => (!v.is_i64()).then(|| expect("a long (integer)")).flatten(),
            ("String", _) | ("EntityOrCommon", "String") => (!v.is_string()).then(|| expect("a string")).flatten(),
            ("Set", _) => {
                let Value::Array(items) = v else { return expect("a set (JSON array)") };
                let element = ty.get("element")?;
                items.iter().enumerate().find_map(|(i, x)| self.check(ns, element, x, &format!("{path}[{i}]")))
            }
            ("Record", _) => {
                let Value::Object(map) = v else { return expect("a record (JSON object)") };
                let attrs = ty.get("attributes").and_then(Value::as_object)?;
                for (attr, aty) in attrs {
                    let required = aty.get("required").and_then(Value::as_bool).unwrap_or(true);
                    let sub = format!("{path}.{attr}");
                    match map.get(attr) {
                        None if required => return Some((sub.clone(), format!("`{sub}` is required and missing"))),
                        None => {}
                        Some(x) => {
                            if let Some(found) = self.check(ns, aty, x, &sub) {
                                return Some(found);
                            }
                        }
                    }
                }
                let open = ty.get("additionalAttributes").and_then(Value::as_bool).unwrap_or(false);
                map.keys().find(|k| !open && !attrs.contains_key(*k)).map(|k| {
                    let sub = format!("{path}.{k}");
                    (sub.clone(), format!("`{sub}` is not declared in the schema's context for this action"))
                })
            }
            _ => None,
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean `{b}`"),
        Value::Number(n) => format!("the number `{n}`"),
        Value::String(s) => format!("the string `{s:?}`"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}
