//! Entity store updates: upsert and remove entities on a loaded bundle. An update is all-or-nothing: it is
//! checked against the schema first and applied only if every entity is valid, so a failed update leaves the
//! store as it was. The next decision sees an applied update.

use cedar_policy::EntityUid;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::sync::{Arc, OnceLock};

use crate::bundle::{Bundle, CedarStore, parse_entity_list};
use crate::compiled::UpdateRefused;
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
        if let (Some(compiled), Some(mut fast)) = (self.meta.compiled.as_ref(), self.fast.take()) {
            match compiled.upsert(Arc::make_mut(&mut fast), json) {
                Ok(_) => {
                    self.fast = Some(fast);
                    return Ok(self.store_changed(upserted, 0));
                }
                Err(UpdateRefused::Cycle) => {
                    self.fast = Some(fast);
                    return Err(vec![
                        DecisionError::new(
                            ErrorCode::InvalidEntity,
                            "the update would make the entity hierarchy cyclic; nothing was applied",
                        )
                        .at("entities"),
                    ]);
                }
                Err(UpdateRefused::Unsupported) => {
                    // Cedar's store takes it from here: rebuilt (once, kept in `self.cedar`) from the compiled store
                    // as it was, which is then dropped.
                    self.fast = Some(fast);
                    if self.cedar_store().is_none() {
                        return Err(vec![DecisionError::new(
                            ErrorCode::InvalidBundle,
                            "the entity store could not be rebuilt to take this update",
                        )]);
                    }
                    self.fast = None;
                }
            }
        }
        let Some(current) = self.cedar_store() else {
            return Err(vec![DecisionError::new(ErrorCode::InvalidBundle, "the entity store is unavailable")]);
        };
        let store = current
            .entities
            .clone()
            .upsert_entities(entities, None)
            .map_err(|e| vec![DecisionError::new(ErrorCode::InvalidEntity, flatten(&e)).at("entities")])?;
        Ok(self.replace_store(store, upserted, 0))
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
        let named: Vec<(String, String)> =
            uids.iter().map(|u| (u.type_name().to_string(), u.id().unescaped().to_string())).collect();
        if let (Some(compiled), Some(mut fast)) = (self.meta.compiled.as_ref(), self.fast.take()) {
            let removed = compiled.remove(Arc::make_mut(&mut fast), &named);
            self.fast = Some(fast);
            return Ok(self.store_changed(0, removed));
        }
        let Some(current) = self.cedar_store() else {
            return Err(DecisionError::new(ErrorCode::InvalidBundle, "the entity store is unavailable"));
        };
        let present: Vec<EntityUid> = uids.into_iter().filter(|u| current.entities.get(u).is_some()).collect();
        let removed = present.len();
        let store = current
            .entities
            .clone()
            .remove_entities(present)
            .map_err(|e| DecisionError::new(ErrorCode::InvalidEntity, flatten(&e)))?;
        Ok(self.replace_store(store, 0, removed))
    }

    /// Cedar's store after an update on cedar's path.
    fn replace_store(&mut self, store: cedar_policy::Entities, upserted: usize, removed: usize) -> StoreUpdate {
        self.cedar = Arc::new(OnceLock::from(Some(Arc::new(CedarStore::new(store)))));
        self.store_changed(upserted, removed)
    }

    /// After an update: a new revision; a cedar store built from the old compiled store is stale.
    fn store_changed(&mut self, upserted: usize, removed: usize) -> StoreUpdate {
        if self.fast.is_some() {
            self.cedar = Arc::new(OnceLock::new());
        }
        self.store_revision += 1;
        StoreUpdate { revision: self.store_revision, upserted, removed, entities: self.entity_count() }
    }
}
