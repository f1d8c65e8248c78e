//! Runtime values of the compiled evaluator, with Cedar's equality: entities by uid, sets as sets (order and
//! duplicates ignored), records by fields, extension values by value. Attribute names are interned.

use smol_str::SmolStr;
use std::cell::OnceCell;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::ext::Ext;
use super::schema::TypeId;

/// An interned attribute name.
pub(crate) type AttrId = u32;

/// An interned entity uid (known to the bundle: in the store, an action, or named by a policy).
pub(crate) type EntId = u32;

/// Attribute names, interned at load.
#[derive(Debug, Default, Clone)]
pub(crate) struct Names {
    ids: FxHashMap<Box<str>, AttrId>,
    names: Vec<Box<str>>,
}

impl Names {
    pub(crate) fn intern(&mut self, name: &str) -> AttrId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as AttrId;
        self.names.push(Box::from(name));
        self.ids.insert(Box::from(name), id);
        id
    }

    pub(crate) fn get(&self, name: &str) -> Option<AttrId> {
        self.ids.get(name).copied()
    }

    pub(crate) fn name(&self, id: AttrId) -> &str {
        self.names.get(id as usize).map(|n| &**n).unwrap_or_default()
    }
}

/// An entity reference: interned, or a uid seen only in this request (a new entity in its slice, or a reference
/// to an entity the bundle has never heard of). A uid is interned whenever it can be, so an interned and a local
/// reference are never equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum EntRef {
    Known(EntId),
    Local(Arc<(TypeId, Box<str>)>),
}

/// An entity's tags, sorted by name.
pub(crate) type Tags = Box<[(Box<str>, Val)]>;

/// A value.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Bool(bool),
    Long(i64),
    Str(SmolStr),
    Ent(EntRef),
    Set(Arc<[Val]>),
    /// Fields sorted by attribute id.
    Rec(Arc<[(AttrId, Val)]>),
    Ext(Arc<Ext>),
}

impl PartialEq for Val {
    fn eq(&self, other: &Val) -> bool {
        match (self, other) {
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Long(a), Val::Long(b)) => a == b,
            (Val::Str(a), Val::Str(b)) => a == b,
            (Val::Ent(a), Val::Ent(b)) => a == b,
            (Val::Set(a), Val::Set(b)) => {
                Arc::ptr_eq(a, b)
                    || (a.iter().all(|x| b.iter().any(|y| x == y)) && b.iter().all(|y| a.iter().any(|x| x == y)))
            }
            (Val::Rec(a), Val::Rec(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|((ka, va), (kb, vb))| ka == kb && va == vb)
            }
            (Val::Ext(a), Val::Ext(b)) => a == b,
            _ => false,
        }
    }
}

/// The most context fields a request read by a learned spelling holds in place (see `shape.rs`).
pub(crate) const HELD_FIELDS: usize = 32;

/// A buffer on the deciding function's stack that a learned spelling reads a request's context fields into, so
/// that a request whose policies read only fields of its context allocates no record for it. The fields are in
/// the request's order (not sorted); only those read are initialised, and only they are dropped. A string field
/// stays a slice of the request's text until an expression reads it (most policies read few of a context's
/// fields), so an unread string is neither copied nor allocated.
pub(crate) type Held<'de> = arrayvec::ArrayVec<HeldField<'de>, HELD_FIELDS>;

/// A context field in a [`Held`] buffer.
#[derive(Debug)]
pub(crate) struct HeldField<'de> {
    id: AttrId,
    /// A string field's text (its JSON spelling has no escape: it is the string).
    text: &'de str,
    /// The value, made from `text` when first read for a string field.
    value: OnceCell<Val>,
}

impl<'de> HeldField<'de> {
    /// A field with its value.
    pub(crate) fn value(id: AttrId, value: Val) -> HeldField<'de> {
        HeldField { id, text: "", value: OnceCell::from(value) }
    }

    /// A string field, by its text.
    pub(crate) fn string(id: AttrId, text: &'de str) -> HeldField<'de> {
        HeldField { id, text, value: OnceCell::new() }
    }

    fn get(&self) -> &Val {
        self.value.get_or_init(|| Val::Str(SmolStr::new(self.text)))
    }

    fn pair(&self) -> (AttrId, Val) {
        (self.id, self.get().clone())
    }
}

/// An empty [`Held`].
pub(crate) const fn held<'de>() -> Held<'de> {
    arrayvec::ArrayVec::new_const()
}

/// Where a request's context fields are: shared, as parsed from JSON (sorted by attribute id), or the first `n`
/// of the deciding function's [`Held`] (in the request's order).
#[derive(Debug)]
pub(crate) enum Fields {
    Shared(Arc<[(AttrId, Val)]>),
    Held(u8),
}

impl Fields {
    /// The fields as (attribute, value) pairs in their order, given the deciding function's [`Held`].
    pub(crate) fn to_vec(&self, held: &Held<'_>) -> Vec<(AttrId, Val)> {
        match self {
            Fields::Shared(f) => f.to_vec(),
            Fields::Held(n) => held.get(..usize::from(*n)).unwrap_or_default().iter().map(HeldField::pair).collect(),
        }
    }
}

/// A request's context as evaluation sees it: its fields, and the record value made of them the first time an
/// expression uses the context whole (most expressions read only its fields).
#[derive(Debug)]
pub(crate) struct Context<'h> {
    fields: Fields,
    held: &'h Held<'h>,
    whole: OnceCell<Val>,
}

impl<'h> Context<'h> {
    pub(crate) fn new(fields: Fields, held: &'h Held<'h>) -> Context<'h> {
        Context { fields, held, whole: OnceCell::new() }
    }

    /// A field of the context.
    pub(crate) fn field(&self, id: AttrId) -> Option<&Val> {
        match &self.fields {
            Fields::Shared(f) => field(f, id),
            Fields::Held(n) => self.held_field(*n, id).map(HeldField::get),
        }
    }

    /// The held field `id`, among the first `n` of the buffer (unsorted, and at most `HELD_FIELDS`).
    fn held_field(&self, n: u8, id: AttrId) -> Option<&HeldField<'h>> {
        self.held.get(..usize::from(n)).unwrap_or_default().iter().find(|f| f.id == id)
    }

    /// A string field's text, without making its value (`None` when the field is missing or not a string).
    pub(crate) fn text(&self, id: AttrId) -> Option<&str> {
        match &self.fields {
            Fields::Shared(f) => match field(f, id)? {
                Val::Str(s) => Some(s.as_str()),
                _ => None,
            },
            Fields::Held(n) => {
                let f = self.held_field(*n, id)?;
                match f.value.get() {
                    // Not read yet: only a string field is held without its value.
                    None => Some(f.text),
                    Some(Val::Str(s)) => Some(s.as_str()),
                    Some(_) => None,
                }
            }
        }
    }

    /// The context as a record value (fields sorted by attribute id).
    pub(crate) fn whole(&self) -> &Val {
        self.whole.get_or_init(|| {
            Val::Rec(match &self.fields {
                Fields::Shared(f) => f.clone(),
                Fields::Held(_) => {
                    let mut fields = self.fields.to_vec(self.held);
                    fields.sort_unstable_by_key(|f| f.0);
                    Arc::from(fields)
                }
            })
        })
    }
}

/// Looks a field up in a record sorted by attribute id.
pub(crate) fn field(rec: &[(AttrId, Val)], id: AttrId) -> Option<&Val> {
    if rec.len() <= 8 {
        rec.iter().find(|(k, _)| *k == id).map(|(_, v)| v)
    } else {
        rec.binary_search_by_key(&id, |(k, _)| *k).ok().map(|i| &rec[i].1)
    }
}
// A value is three words: `SmolStr` keeps strings of up to 23 bytes in place, and the enum fits in its niche.
const _: () = assert!(std::mem::size_of::<Val>() == 24);

#[cfg(test)]
mod tests {
    use super::{Context, Fields, HeldField, Val, held};

    /// Fields held in the request's order are found whatever their order, and the context as a record has them
    /// sorted, equal to the same record parsed (sorted) from JSON.
    #[test]
    fn held_fields_in_any_order_make_the_sorted_record() {
        let fields = [(7, Val::Long(1)), (2, Val::Bool(true)), (5, Val::Str("x".into())), (3, Val::Long(-4))];
        let mut sorted = fields.to_vec();
        sorted.sort_by_key(|f| f.0);
        for rotation in 0..fields.len() {
            let mut buffer = held();
            for i in 0..fields.len() {
                buffer.push(match &fields[(i + rotation) % fields.len()] {
                    // Strings as a spelling holds them: by their text.
                    (id, Val::Str(s)) => HeldField::string(*id, s.as_str()),
                    (id, v) => HeldField::value(*id, v.clone()),
                });
            }
            let context = Context::new(Fields::Held(fields.len() as u8), &buffer);
            for (id, value) in &fields {
                let text = match value {
                    Val::Str(s) => Some(s.as_str()),
                    _ => None,
                };
                // The text before and after the value is made, then the value.
                assert_eq!(context.text(*id), text);
                assert_eq!(context.field(*id), Some(value));
                assert_eq!(context.text(*id), text);
            }
            assert_eq!(context.text(4), None);
            assert_eq!(context.field(4), None);
            let shared = held();
            let parsed = Context::new(Fields::Shared(sorted.clone().into()), &shared);
            assert_eq!(context.whole(), parsed.whole());
            let Val::Rec(record) = context.whole() else { panic!("not a record") };
            assert!(record.windows(2).all(|w| w[0].0 < w[1].0), "{record:?}");
        }
    }
}
