//! Entity uids interned to numbers, and the table that finds a uid's number. Every request resolves its
//! principal, action and resource here, so the table is made for the ids requests carry: an id of up to 16 bytes
//! is its own key, packed into two words with its length and type, in an open-addressing table probed linearly
//! (one slot compare, no pointer to follow, no string comparison); longer ids are kept in a hash map per type.

use rustc_hash::FxHashMap;

use super::schema::TypeId;
use super::value::{EntId, EntRef};

/// The longest id kept in the packed table.
const SHORT: usize = 16;

/// A packed key: an id of up to [`SHORT`] bytes, its length and its type. Bytes are loaded so that together with
/// the length they determine the id exactly: up to 3 bytes, the first, middle and last; 4 to 7, the first four
/// and the last four; 8 to 16, the first eight and the last eight (the loads overlap, and cover every byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Key {
    words: [u64; 2],
    /// `type << 8 | 0x80 | length`: never 0, so 0 marks an empty slot.
    meta: u32,
}

impl Key {
    fn new(ty: TypeId, id: &[u8]) -> Option<Key> {
        let n = id.len();
        let words = match n {
            0 => [0, 0],
            1..=3 => [u64::from(id[0]) | u64::from(id[n / 2]) << 8 | u64::from(id[n - 1]) << 16, 0],
            4..=7 => [u64::from(le32(id, 0)) | u64::from(le32(id, n - 4)) << 32, 0],
            8..=SHORT => [le64(id, 0), le64(id, n - 8)],
            _ => return None,
        };
        (ty < 1 << 24).then_some(Key { words, meta: ty << 8 | 0x80 | n as u32 })
    }

    /// The slot a key starts its probe at, for a table of `1 << (64 - shift)` slots (the product's top bits,
    /// which every input bit reaches).
    fn home(&self, shift: u32) -> usize {
        let h = (self.words[0] ^ u64::from(self.meta)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let h = (h.rotate_left(29) ^ self.words[1]).wrapping_mul(0xd6e8_feb8_6659_fd93);
        (h >> shift) as usize
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: Key,
    entity: EntId,
}

/// Uids by type, numbered in the order they were first seen. Nothing is ever removed.
#[derive(Debug, Clone)]
pub(crate) struct Uids {
    /// A power of two, at most half full (so that a probe for a missing key ends soon).
    slots: Vec<Slot>,
    /// `64 - log2(slots.len())`.
    shift: u32,
    /// Ids longer than [`SHORT`] bytes (and of types numbered from 2^24 on), per type.
    long: Vec<FxHashMap<Box<str>, EntId>>,
    uids: Vec<(TypeId, Box<str>)>,
}

impl Uids {
    /// An empty table for uids of `types` entity types (numbered from 0).
    pub(crate) fn new(types: usize) -> Uids {
        Uids { slots: vec![Slot::default(); 16], shift: 60, long: vec![FxHashMap::default(); types], uids: Vec::new() }
    }

    #[inline]
    pub(crate) fn get(&self, ty: TypeId, id: &str) -> Option<EntId> {
        let Some(key) = Key::new(ty, id.as_bytes()) else {
            return self.long.get(ty as usize)?.get(id).copied();
        };
        let mask = self.slots.len() - 1;
        let mut i = key.home(self.shift);
        loop {
            let slot = self.slots.get(i)?;
            if slot.key == key {
                return Some(slot.entity);
            }
            if slot.key.meta == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    pub(crate) fn intern(&mut self, ty: TypeId, id: &str) -> EntId {
        if let Some(e) = self.get(ty, id) {
            return e;
        }
        let e = self.uids.len() as EntId;
        self.uids.push((ty, Box::from(id)));
        match Key::new(ty, id.as_bytes()) {
            Some(key) => {
                if self.uids.len() * 2 > self.slots.len() {
                    self.grow();
                }
                self.place(Slot { key, entity: e });
            }
            None => {
                if let Some(m) = self.long.get_mut(ty as usize) {
                    m.insert(Box::from(id), e);
                }
            }
        }
        e
    }

    /// Puts a slot in the first free place of its probe.
    fn place(&mut self, slot: Slot) {
        let mask = self.slots.len() - 1;
        let mut i = slot.key.home(self.shift);
        while self.slots[i].key.meta != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    /// Doubles the table.
    fn grow(&mut self) {
        let doubled = vec![Slot::default(); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.shift -= 1;
        for slot in old.into_iter().filter(|s| s.key.meta != 0) {
            self.place(slot);
        }
    }

    pub(crate) fn uid(&self, e: EntId) -> Option<&(TypeId, Box<str>)> {
        self.uids.get(e as usize)
    }

    /// The type and id of `r`: an interned uid's, or those a request's own uid carries.
    pub(crate) fn parts<'a>(&'a self, r: &'a EntRef) -> Option<(TypeId, &'a str)> {
        match r {
            EntRef::Known(e) => self.uid(*e).map(|(t, id)| (*t, &**id)),
            EntRef::Local(l) => Some((l.0, &*l.1)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.uids.len()
    }

    /// A reference for a uid: interned when known, else local to the request.
    #[inline]
    pub(crate) fn lookup(&self, ty: TypeId, id: &str) -> EntRef {
        match self.get(ty, id) {
            Some(e) => EntRef::Known(e),
            None => local(ty, id),
        }
    }
}

/// A uid the store does not know (out of line: the rare case).
#[cold]
#[inline(never)]
fn local(ty: TypeId, id: &str) -> EntRef {
    EntRef::Local(std::sync::Arc::new((ty, Box::from(id))))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::scan::tests::Rng;
    use super::Uids;

    #[test]
    fn ids_short_and_long_are_found_and_kept_apart() {
        let mut u = Uids::new(2);
        let ids = ["", "a", "a\0", "exactly-sixteen!", "exactly-seventeen", "twenty-three-characters", "é中"];
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
        assert_eq!(u.get(0, "exactly-sixteen"), None);
        assert_eq!(u.get(0, &"x".repeat(299)), None);
        assert_eq!(u.get(7, "a"), None);
    }

    /// Random ids of every length around the packed keys' edges, over a small alphabet (so that ids share
    /// their first and last bytes): the table finds exactly what a map finds, through many doublings.
    #[test]
    fn the_table_agrees_with_a_map() {
        let mut rng = Rng(0x05ee_d1d5);
        let mut u = Uids::new(3);
        let mut want: HashMap<(u32, String), u32> = HashMap::new();
        let alphabet = ['a', 'b', 'é', '0'];
        for _ in 0..40_000 {
            let len = rng.pick(20);
            let id: String = (0..len).map(|_| alphabet[rng.pick(alphabet.len())]).collect();
            let ty = rng.pick(3) as u32;
            if rng.pick(2) == 0 {
                let e = u.intern(ty, &id);
                assert_eq!(*want.entry((ty, id.clone())).or_insert(e), e, "{ty} {id:?}");
            }
            assert_eq!(u.get(ty, &id), want.get(&(ty, id.clone())).copied(), "{ty} {id:?}");
        }
        assert_eq!(u.len(), want.len());
        assert!(want.len() > 5_000, "{}", want.len());
    }
}
