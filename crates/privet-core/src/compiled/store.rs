//! The compiled entity store: uids interned to numbers (`uids.rs`), attributes as values sorted by attribute id,
//! and each entity's ancestors (the transitive closure of its parents) as a sorted list, so `in` is a binary
//! search. Built from the store's JSON at load and kept in step with every store update.

use super::facts::FactWords;
use super::json::{self, Cx, ParsedEntity, Resolve};
use super::schema::{TypeId, TypedSchema};
use super::uids::Uids;
use super::value::{AttrId, EntId, EntRef, Names, Tags, Val};

/// One entity.
#[derive(Debug, Clone)]
pub(crate) struct EntityData {
    pub(crate) attrs: std::sync::Arc<[(AttrId, Val)]>,
    pub(crate) tags: Option<Tags>,
    /// Direct parents.
    pub(crate) parents: Box<[EntId]>,
    /// Transitive closure of the parents, sorted.
    pub(crate) ancestors: Box<[EntId]>,
}

/// The store.
#[derive(Debug, Clone)]
pub(crate) struct FastStore {
    pub(crate) uids: Uids,
    /// Indexed by `EntId`; `None` for uids that are known but not in the store.
    pub(crate) entities: Vec<Option<EntityData>>,
    /// Whether some stored entity has this one among its ancestors.
    pub(crate) has_descendants: Vec<bool>,
    /// Per entity, the values of the policies' facts (`facts.rs`), computed on first use; emptied by every
    /// change, and given back uncomputed by `Compiled` once the change is complete.
    pub(crate) facts: FactWords,
}

impl FastStore {
    /// The store from its JSON text (already accepted by cedar), on top of the interned uids of actions and
    /// policy literals. `None` if the text uses a form the fast path does not parse, or the hierarchy is cyclic.
    pub(crate) fn build(
        schema: &TypedSchema,
        names: &Names,
        mut uids: Uids,
        actions: &[(EntId, TypeId, Vec<EntId>)],
        text: Option<&str>,
    ) -> Option<FastStore> {
        let parsed = match text {
            Some(t) => {
                let mut cx = Cx { schema, names, resolve: Resolve::Intern(&mut uids) };
                json::entity_list(&mut cx, t, usize::MAX)?
            }
            None => Vec::new(),
        };
        let mut store =
            FastStore { uids, entities: Vec::new(), has_descendants: Vec::new(), facts: FactWords::default() };
        store.entities.resize(store.uids.len(), None);
        for (e, _, parents) in actions {
            store.set(*e, std::sync::Arc::from(Vec::new()), None, parents.clone());
        }
        for p in parsed {
            store.insert(p)?;
        }
        store.recompute_closure()?;
        Some(store)
    }

    /// Forgets the facts: the store is about to change.
    fn touch(&mut self) {
        self.facts.clear();
    }

    fn set(&mut self, e: EntId, attrs: std::sync::Arc<[(AttrId, Val)]>, tags: Option<Tags>, parents: Vec<EntId>) {
        self.touch();
        let i = e as usize;
        if self.entities.len() <= i {
            self.entities.resize(i + 1, None);
        }
        self.entities[i] =
            Some(EntityData { attrs, tags, parents: parents.into_boxed_slice(), ancestors: Box::from([]) });
    }

    /// Inserts or replaces a parsed entity (all its references interned). Call `recompute_closure` after.
    pub(crate) fn insert(&mut self, p: ParsedEntity) -> Option<()> {
        let EntRef::Known(e) = p.uid else { return None };
        let parents: Option<Vec<EntId>> =
            p.parents.iter().map(|r| if let EntRef::Known(x) = r { Some(*x) } else { None }).collect();
        self.set(e, p.attrs, p.tags, parents?);
        Some(())
    }

    /// Puts an entity back as it was (ancestors are recomputed by `recompute_closure`).
    pub(crate) fn restore(&mut self, e: EntId, d: EntityData) {
        self.touch();
        if let Some(slot) = self.entities.get_mut(e as usize) {
            *slot = Some(d);
        }
    }

    /// Number of entities held (actions included).
    pub(crate) fn len(&self) -> usize {
        self.entities.iter().filter(|e| e.is_some()).count()
    }

    pub(crate) fn remove(&mut self, e: EntId) {
        self.touch();
        if let Some(slot) = self.entities.get_mut(e as usize) {
            *slot = None;
        }
    }

    pub(crate) fn get(&self, e: EntId) -> Option<&EntityData> {
        self.entities.get(e as usize)?.as_ref()
    }

    /// Recomputes every entity's ancestors from the direct parents (cedar's transitive closure). `None` on a
    /// cycle.
    pub(crate) fn recompute_closure(&mut self) -> Option<()> {
        self.touch();
        let n = self.entities.len();
        self.entities.resize(self.uids.len().max(n), None);
        let n = self.entities.len();
        // 0 = not visited, 1 = in progress, 2 = done.
        let mut state = vec![0u8; n];
        let mut closure: Vec<Vec<EntId>> = vec![Vec::new(); n];
        for start in 0..n {
            if state[start] == 0 {
                self.visit(start, &mut state, &mut closure)?;
            }
        }
        let mut has_descendants = vec![false; n];
        for (i, anc) in closure.into_iter().enumerate() {
            for a in &anc {
                has_descendants[*a as usize] = true;
            }
            if let Some(Some(d)) = self.entities.get_mut(i) {
                d.ancestors = anc.into_boxed_slice();
            }
        }
        self.has_descendants = has_descendants;
        Some(())
    }

    fn visit(&self, node: usize, state: &mut [u8], closure: &mut [Vec<EntId>]) -> Option<()> {
        // Iterative depth-first search: a deep hierarchy must not overflow the stack.
        let mut stack: Vec<(usize, usize)> = vec![(node, 0)];
        state[node] = 1;
        while let Some(&mut (n, ref mut next)) = stack.last_mut() {
            let parents: &[EntId] = self.get(n as EntId).map(|d| &*d.parents).unwrap_or(&[]);
            if let Some(&p) = parents.get(*next) {
                *next += 1;
                let pi = p as usize;
                match state.get(pi) {
                    Some(0) => {
                        state[pi] = 1;
                        stack.push((pi, 0));
                    }
                    Some(1) => return None,
                    _ => {}
                }
            } else {
                let mut anc: Vec<EntId> = Vec::new();
                for &p in parents {
                    anc.push(p);
                    anc.extend_from_slice(&closure[p as usize]);
                }
                anc.sort_unstable();
                anc.dedup();
                closure[n] = anc;
                state[n] = 2;
                stack.pop();
            }
        }
        Some(())
    }
}
