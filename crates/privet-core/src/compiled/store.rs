//! The compiled entity store: uids interned to numbers, attributes as values sorted by attribute id, and each
//! entity's ancestors (the transitive closure of its parents) as a sorted list, so `in` is a binary search.
//! Built from the store's JSON at load and kept in step with every store update.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use rustc_hash::FxHashMap;

use super::facts::FactWords;
use super::json::{self, Cx, ParsedEntity};
use super::schema::{TypeId, TypedSchema};
use super::value::{AttrId, EntId, EntRef, Names, Tags, Val};

/// An entity id as a hash key: up to 22 bytes inline, so that a lookup compares the bytes in the table's own
/// slot instead of following a pointer to a string elsewhere on the heap (a cache miss per lookup in a large
/// store); longer ids are boxed.
#[derive(Debug, Clone)]
enum IdKey {
    Inline(u8, [u8; 22]),
    Boxed(Box<str>),
}

impl IdKey {
    fn new(id: &str) -> IdKey {
        let mut b = [0u8; 22];
        match b.get_mut(..id.len()) {
            Some(head) => {
                head.copy_from_slice(id.as_bytes());
                IdKey::Inline(id.len() as u8, b)
            }
            None => IdKey::Boxed(Box::from(id)),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            IdKey::Inline(n, b) => &b[..usize::from(*n)],
            IdKey::Boxed(s) => s.as_bytes(),
        }
    }
}

impl PartialEq for IdKey {
    fn eq(&self, other: &IdKey) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for IdKey {}

impl Hash for IdKey {
    /// As the bytes hash, so that a table of keys can be searched with a `&[u8]`.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl Borrow<[u8]> for IdKey {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

/// Uids by type, numbered.
#[derive(Debug, Clone, Default)]
pub(crate) struct Uids {
    by_type: Vec<FxHashMap<IdKey, EntId>>,
    uids: Vec<(TypeId, Box<str>)>,
}

impl Uids {
    pub(crate) fn new(types: usize) -> Uids {
        Uids { by_type: vec![FxHashMap::default(); types], uids: Vec::new() }
    }

    pub(crate) fn get(&self, ty: TypeId, id: &str) -> Option<EntId> {
        self.by_type.get(ty as usize)?.get(id.as_bytes()).copied()
    }

    pub(crate) fn intern(&mut self, ty: TypeId, id: &str) -> EntId {
        if let Some(e) = self.get(ty, id) {
            return e;
        }
        let e = self.uids.len() as EntId;
        self.uids.push((ty, Box::from(id)));
        if let Some(m) = self.by_type.get_mut(ty as usize) {
            m.insert(IdKey::new(id), e);
        }
        e
    }

    pub(crate) fn uid(&self, e: EntId) -> Option<&(TypeId, Box<str>)> {
        self.uids.get(e as usize)
    }

    pub(crate) fn len(&self) -> usize {
        self.uids.len()
    }

    /// A reference for a uid: interned when known, else local to the request.
    pub(crate) fn lookup(&self, ty: TypeId, id: &str) -> EntRef {
        match self.get(ty, id) {
            Some(e) => EntRef::Known(e),
            None => EntRef::Local(std::sync::Arc::new((ty, Box::from(id)))),
        }
    }
}

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
                let mut resolve = |ty: TypeId, id: &str| EntRef::Known(uids.intern(ty, id));
                let mut cx = Cx { schema, names, resolve: &mut resolve };
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

#[cfg(test)]
mod tests {
    use super::Uids;

    #[test]
    fn ids_short_and_long_are_found_and_kept_apart() {
        let mut u = Uids::new(2);
        let ids = ["", "a", "a\0", "exactly-twenty-two-ch", "exactly-twenty-two-chr", "twenty-three-characters", "é中"];
        let long = "x".repeat(300);
        let mut all: Vec<&str> = ids.to_vec();
        all.push(&long);
        let numbered: Vec<u32> = all.iter().map(|id| u.intern(0, id)).collect();
        for (id, e) in all.iter().zip(&numbered) {
            assert_eq!(u.get(0, id), Some(*e), "{id:?}");
            assert_eq!(u.get(1, id), None, "{id:?}");
            assert_eq!(u.intern(0, id), *e, "{id:?}");
            assert_eq!(u.uid(*e).map(|x| &*x.1), Some(*id));
        }
        let mut sorted = numbered.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
        assert_eq!(u.get(0, "exactly-twenty-two-c"), None);
        assert_eq!(u.get(0, &"x".repeat(299)), None);
    }
}
