//! Entity store updates: upsert and remove entities on a loaded bundle. An update is all-or-nothing: it is
//! checked against the schema first and applied only if every entity is valid, so a failed update leaves the
//! store as it was. The next decision sees an applied update.

use cedar_policy::EntityUid;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bundle::{Bundle, parse_entity_list};
use crate::engine::{flatten, parse_uid};
use crate::error::{DecisionError, ErrorCode};
use crate::limits::{check_json_depth, check_size};

/// The outcome of an applied store update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreUpdate {
    /// Store revision after the update.
    pub revision: u64,
    /// Entities inserted or replaced.
    pub upserted: usize,
    /// Entities removed (uids that were not in the store are not counted).
    pub removed: usize,
    /// Entities in the store after the update.
    pub entities: usize,
}

impl Bundle {
    /// Inserts or replaces entities given as a JSON array in Cedar's entity format. Each entity is checked
    /// against the schema; on any error nothing is applied and every error is returned with its path
    /// (`entities[i]`).
    pub fn upsert_entities_json(&mut self, json: &str) -> Result<StoreUpdate, Vec<DecisionError>> {
        let limits = self.limits().clone();
        check_size(json, limits.max_batch_bytes, "entity update").map_err(|e| vec![e])?;
        let entities = parse_entity_list(json, &self.meta.schema, limits.max_json_depth, usize::MAX, "entities")?;
        let actions: Vec<DecisionError> = entities
            .iter()
            .enumerate()
            .filter(|(_, e)| self.meta.actions.contains(&e.uid()))
            .map(|(i, e)| {
                DecisionError::new(
                    ErrorCode::InvalidEntity,
                    format!("entity `{}` is an action; actions come from the schema", e.uid()),
                )
                .at(format!("entities[{i}]"))
            })
            .collect();
        if !actions.is_empty() {
            return Err(actions);
        }
        let upserted = entities.len();
        let store = self
            .store
            .clone()
            .upsert_entities(entities, None)
            .map_err(|e| vec![DecisionError::new(ErrorCode::InvalidEntity, flatten(&e)).at("entities")])?;
        let update = self.replace_store(store, upserted, 0);
        self.update_compiled(|c, s| c.upsert(s, json));
        Ok(update)
    }

    /// Removes entities given as a JSON array of uids (`{"type": .., "id": ..}` or `T::"id"`). Uids not in the
    /// store are ignored.
    pub fn remove_entities_json(&mut self, json: &str) -> Result<StoreUpdate, Vec<DecisionError>> {
        let limits = self.limits().clone();
        check_size(json, limits.max_batch_bytes, "entity removal").map_err(|e| vec![e])?;
        check_json_depth(json, limits.max_json_depth, "entity removal").map_err(|e| vec![e])?;
        let value: Value =
            serde_json::from_str(json).map_err(|e| vec![DecisionError::from_json(&e, json, "entity removal")])?;
        let Value::Array(items) = value else {
            return Err(vec![DecisionError::new(
                ErrorCode::InvalidRequest,
                "entity removal must be a JSON array of entity uids",
            )]);
        };
        let mut uids = Vec::with_capacity(items.len());
        let mut errors = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match parse_uid(item, &format!("[{i}]")) {
                Ok(uid) if self.meta.actions.contains(&uid) => errors.push(
                    DecisionError::new(
                        ErrorCode::InvalidEntity,
                        format!("entity `{uid}` is an action; actions come from the schema"),
                    )
                    .at(format!("[{i}]")),
                ),
                Ok(uid) => uids.push(uid),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        self.remove_entities(uids).map_err(|e| vec![e])
    }

    /// Removes entities by uid. Uids not in the store are ignored.
    pub fn remove_entities(&mut self, uids: Vec<EntityUid>) -> Result<StoreUpdate, DecisionError> {
        let present: Vec<EntityUid> = uids.into_iter().filter(|u| self.store.get(u).is_some()).collect();
        let named: Vec<(String, String)> =
            present.iter().map(|u| (u.type_name().to_string(), u.id().unescaped().to_string())).collect();
        let removed = present.len();
        let store = self
            .store
            .clone()
            .remove_entities(present)
            .map_err(|e| DecisionError::new(ErrorCode::InvalidEntity, flatten(&e)))?;
        let update = self.replace_store(store, 0, removed);
        self.update_compiled(|c, s| c.remove(s, &named));
        Ok(update)
    }

    /// Applies an update (already applied to cedar's store) to the compiled store, then checks the ancestors of
    /// every entity it touched, and of their descendants, against cedar's store. On any failure the compiled
    /// store is dropped and decisions take cedar's path.
    fn update_compiled(
        &mut self,
        apply: impl FnOnce(&crate::compiled::Compiled, &mut crate::compiled::FastStore) -> Option<Vec<u32>>,
    ) {
        let (Some(compiled), Some(mut fast)) = (self.meta.compiled.as_ref(), self.fast.take()) else { return };
        let store = std::sync::Arc::make_mut(&mut fast);
        if let Some(touched) = apply(compiled, store) {
            if compiled.agrees_with(store, &self.store, &touched) {
                self.fast = Some(fast);
            }
        }
    }

    fn replace_store(&mut self, store: cedar_policy::Entities, upserted: usize, removed: usize) -> StoreUpdate {
        self.index = std::sync::Arc::new(crate::slice::StoreIndex::build(&store));
        self.store = store;
        self.store_revision += 1;
        StoreUpdate { revision: self.store_revision, upserted, removed, entities: self.store.len() }
    }
}
