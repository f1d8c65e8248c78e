//! JSON straight into compiled values, typed by the schema: one pass over the text, no generic JSON tree.
//! Accepts the forms cedar accepts for schema-typed data and refuses (returns `None`) anything else — a refusal
//! is not an answer, it sends the request down cedar's path, which gives the exact error or the exact result.

use smol_str::SmolStr;
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::ext;
use super::schema::{RecordTy, Ty, TypeId, TypedSchema};
use super::uids::Uids;
use super::value::{AttrId, EntRef, Fields, Names, Tags, Val};

/// What parsing needs: the schema, attribute names, and how to turn a uid into a reference.
pub(crate) struct Cx<'a> {
    pub(crate) schema: &'a TypedSchema,
    pub(crate) names: &'a Names,
    pub(crate) resolve: Resolve<'a>,
}

/// How a uid read from JSON becomes a reference. An enum, not a closure: a request's three uids are resolved on
/// every decision, and a call through a `dyn FnMut` cost about 50 instructions a decision.
pub(crate) enum Resolve<'a> {
    /// A request's uids: interned when the store knows them, else local to the request. A uid of an enumerated
    /// type that is not one of its ids sets `invalid` (cedar refuses the request; its path decides).
    Request { uids: &'a Uids, invalid: &'a Cell<bool> },
    /// Entities loaded into the store: every uid interned.
    Intern(&'a mut Uids),
}

impl Resolve<'_> {
    #[inline(always)]
    pub(crate) fn uid(&mut self, schema: &TypedSchema, ty: TypeId, id: &str) -> EntRef {
        match self {
            Resolve::Request { uids, invalid } => {
                let r = uids.lookup(ty, id);
                if matches!(r, EntRef::Local(_)) && schema.is_enum(ty) {
                    invalid.set(true);
                }
                r
            }
            Resolve::Intern(uids) => EntRef::Known(uids.intern(ty, id)),
        }
    }
}

impl<'a> Cx<'a> {
    /// What reading a request needs: its uids resolved against `uids` (see [`Resolve::Request`]).
    pub(crate) fn request(
        schema: &'a TypedSchema,
        names: &'a Names,
        uids: &'a Uids,
        invalid: &'a Cell<bool>,
    ) -> Cx<'a> {
        Cx { schema, names, resolve: Resolve::Request { uids, invalid } }
    }

    /// Whether a uid read so far marked the request invalid (see [`Resolve::Request`]).
    #[inline(always)]
    pub(crate) fn invalid_mark(&self) -> bool {
        match &self.resolve {
            Resolve::Request { invalid, .. } => invalid.get(),
            Resolve::Intern(_) => false,
        }
    }

    /// Puts back the invalid mark `invalid_mark` gave, after a read that is abandoned.
    #[inline(always)]
    pub(crate) fn reset_invalid_mark(&self, mark: bool) {
        if let Resolve::Request { invalid, .. } = &self.resolve {
            invalid.set(mark);
        }
    }

    /// The reference for the uid `ty::id` (see [`Resolve`]).
    #[inline(always)]
    pub(crate) fn uid(&mut self, ty: TypeId, id: &str) -> EntRef {
        self.resolve.uid(self.schema, ty, id)
    }
}

/// A string that borrows from the input when it has no escapes.
struct Str<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

fn fail<E: de::Error>() -> E {
    E::custom("not in the fast path's subset")
}

/// Parses `text` with a seed; `None` on any refusal, trailing data included.
pub(crate) fn parse_with<'de, S: DeserializeSeed<'de>>(text: &'de str, seed: S) -> Option<S::Value> {
    let mut d = serde_json::Deserializer::from_str(text);
    let v = seed.deserialize(&mut d).ok()?;
    d.end().ok()?;
    Some(v)
}

/// A uid as `(type name, id)`, in `{"type", "id"}` or `{"__entity": {...}}` form.
/// `true` also accepts the string form `Type::"id"` (request principal, action and resource only: cedar's
/// entity JSON does not take it).
struct UidSeed(bool);

impl<'de> DeserializeSeed<'de> for UidSeed {
    type Value = (Str<'de>, Str<'de>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.0 { d.deserialize_any(self) } else { d.deserialize_map(self) }
    }
}

/// `Type::"id"` in its plainest form: type segments of identifier characters, an id without escapes. Anything
/// else (spaces, escapes, comments) is left to cedar's parser.
fn plain_uid(s: &str) -> Option<(&str, &str)> {
    let (ty, rest) = s.split_once("::\"")?;
    let id = rest.strip_suffix('"')?;
    let ident_ok = ty.split("::").all(|seg| {
        let mut c = seg.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    });
    (ident_ok && !id.contains(['"', '\\'])).then_some((ty, id))
}

impl<'de> Visitor<'de> for UidSeed {
    type Value = (Str<'de>, Str<'de>);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an entity uid")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        if !self.0 {
            return Err(fail());
        }
        let (t, i) = plain_uid(v).ok_or_else(fail)?;
        Ok((Str(Cow::Borrowed(t)), Str(Cow::Borrowed(i))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if !self.0 {
            return Err(fail());
        }
        let (t, i) = plain_uid(v).ok_or_else(fail)?;
        Ok((Str(Cow::Owned(t.to_string())), Str(Cow::Owned(i.to_string()))))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut ty, mut id) = (None, None);
        while let Some(k) = map.next_key::<Str<'de>>()? {
            match &*k.0 {
                "__entity" if ty.is_none() && id.is_none() => {
                    let inner = map.next_value_seed(UidSeed(false))?;
                    if map.next_key::<Str<'de>>()?.is_some() {
                        return Err(fail());
                    }
                    return Ok(inner);
                }
                "type" if ty.is_none() => ty = Some(map.next_value::<Str<'de>>()?),
                "id" if id.is_none() => id = Some(map.next_value::<Str<'de>>()?),
                _ => return Err(fail()),
            }
        }
        match (ty, id) {
            (Some(t), Some(i)) => Ok((t, i)),
            _ => Err(fail()),
        }
    }
}

/// A value of a schema type.
pub(crate) struct TySeed<'c, 'a> {
    pub(crate) ty: &'c Ty,
    pub(crate) cx: &'c mut Cx<'a>,
}

impl<'de> DeserializeSeed<'de> for TySeed<'_, '_> {
    type Value = Val;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        match self.ty {
            Ty::Bool => d.deserialize_bool(self),
            Ty::Long => d.deserialize_i64(self),
            Ty::String => d.deserialize_str(self),
            Ty::Set(_) => d.deserialize_seq(self),
            Ty::Entity(_) | Ty::Record(_) | Ty::Ext(_) => d.deserialize_map(self),
        }
    }
}

impl<'de> Visitor<'de> for TySeed<'_, '_> {
    type Value = Val;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value of the schema's type")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val, E> {
        match self.ty {
            Ty::Bool => Ok(Val::Bool(v)),
            _ => Err(fail()),
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val, E> {
        match self.ty {
            Ty::Long => Ok(Val::Long(v)),
            _ => Err(fail()),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val, E> {
        match self.ty {
            Ty::Long => i64::try_from(v).map(Val::Long).map_err(|_| fail()),
            _ => Err(fail()),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Val, E> {
        match self.ty {
            Ty::String => Ok(Val::Str(SmolStr::new(v))),
            _ => Err(fail()),
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        let Ty::Set(elem) = self.ty else { return Err(fail()) };
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(v) = seq.next_element_seed(TySeed { ty: elem, cx: &mut *self.cx })? {
            out.push(v);
        }
        Ok(Val::Set(Arc::from(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
        match self.ty {
            Ty::Record(rt) => record(rt, self.cx, map).map(|r| Val::Rec(Arc::from(r))),
            Ty::Entity(want) => {
                let (t, i) = UidSeed(false).visit_map(map)?;
                let ty = self.cx.schema.type_id(&t.0).ok_or_else(fail)?;
                if ty != *want {
                    return Err(fail());
                }
                Ok(Val::Ent(self.cx.uid(ty, &i.0)))
            }
            Ty::Ext(et) => {
                let Some(k) = map.next_key::<Str<'de>>()? else { return Err(fail()) };
                if &*k.0 != "__extn" {
                    return Err(fail());
                }
                let (f, arg) = map.next_value_seed(ExtnSeed)?;
                if map.next_key::<Str<'de>>()?.is_some() || f.0 != et.constructor() {
                    return Err(fail());
                }
                ext::construct(&f.0, &arg.0).map(|e| Val::Ext(Arc::new(e))).ok_or_else(fail)
            }
            _ => Err(fail()),
        }
    }
}

/// A closed record: every key declared, no key twice, every required key present. Sorted by attribute id.
fn record<'de, A: MapAccess<'de>>(rt: &RecordTy, cx: &mut Cx<'_>, mut map: A) -> Result<Vec<(AttrId, Val)>, A::Error> {
    let mut out: Vec<(AttrId, Val)> = Vec::with_capacity(rt.fields.len());
    let mut required = 0;
    while let Some(k) = map.next_key::<Str<'de>>()? {
        let id = cx.names.get(&k.0).ok_or_else(fail)?;
        let (ty, req) = rt.field(id).ok_or_else(fail)?;
        if out.iter().any(|(a, _)| *a == id) {
            return Err(fail());
        }
        required += usize::from(req);
        let v = map.next_value_seed(TySeed { ty, cx: &mut *cx })?;
        out.push((id, v));
    }
    if required != rt.required {
        return Err(fail());
    }
    out.sort_unstable_by_key(|(a, _)| *a);
    Ok(out)
}

/// `{"fn": .., "arg": ..}` inside `__extn`.
struct ExtnSeed;

impl<'de> DeserializeSeed<'de> for ExtnSeed {
    type Value = (Str<'de>, Str<'de>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ExtnSeed {
    type Value = (Str<'de>, Str<'de>);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an extension value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut f, mut arg) = (None, None);
        while let Some(k) = map.next_key::<Str<'de>>()? {
            match &*k.0 {
                "fn" if f.is_none() => f = Some(map.next_value::<Str<'de>>()?),
                "arg" if arg.is_none() => arg = Some(map.next_value::<Str<'de>>()?),
                _ => return Err(fail()),
            }
        }
        match (f, arg) {
            (Some(f), Some(a)) => Ok((f, a)),
            _ => Err(fail()),
        }
    }
}

/// Parses a record of a given type (a context).
pub(crate) fn record_value(cx: &mut Cx<'_>, rt: &Arc<RecordTy>, text: &str) -> Option<Arc<[(AttrId, Val)]>> {
    let ty = Ty::Record(rt.clone());
    match parse_with(text, TySeed { ty: &ty, cx })? {
        Val::Rec(r) => Some(r),
        _ => None,
    }
}

/// One entity in cedar's JSON form, checked against its type: declared attributes of the declared types, every
/// required one present, parents of allowed types, tags only where the type has them. Action entities are
/// refused (they come from the schema).
pub(crate) struct ParsedEntity {
    pub(crate) uid: EntRef,
    pub(crate) attrs: Arc<[(AttrId, Val)]>,
    pub(crate) parents: Vec<EntRef>,
    pub(crate) tags: Option<Tags>,
}

/// Parses a JSON array of entities.
pub(crate) fn entity_list(cx: &mut Cx<'_>, text: &str, max: usize) -> Option<Vec<ParsedEntity>> {
    parse_with(text, ListSeed { cx, max })
}

/// A JSON array of entities, at most `max`.
struct ListSeed<'c, 'a> {
    cx: &'c mut Cx<'a>,
    max: usize,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_, '_> {
    type Value = Vec<ParsedEntity>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_, '_> {
    type Value = Vec<ParsedEntity>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of entities")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(e) = seq.next_element_seed(EntitySeed { cx: &mut *self.cx })? {
            if out.len() == self.max {
                return Err(fail());
            }
            out.push(e);
        }
        Ok(out)
    }
}

/// One entity: `uid` first lets attributes be parsed in the same pass; otherwise they are kept as raw text and
/// parsed once the type is known.
struct EntitySeed<'c, 'a> {
    cx: &'c mut Cx<'a>,
}

impl<'de> DeserializeSeed<'de> for EntitySeed<'_, '_> {
    type Value = ParsedEntity;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntitySeed<'_, '_> {
    type Value = ParsedEntity;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an entity")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let cx = self.cx;
        let schema = cx.schema;
        let mut uid: Option<(TypeId, EntRef)> = None;
        let mut attrs: Option<Arc<[(AttrId, Val)]>> = None;
        let mut raw_attrs: Option<&'de RawValue> = None;
        let mut parents: Option<Vec<(TypeId, EntRef)>> = None;
        let mut tags: Option<Option<Tags>> = None;
        let mut raw_tags: Option<&'de RawValue> = None;
        while let Some(k) = map.next_key::<Str<'de>>()? {
            match &*k.0 {
                "uid" if uid.is_none() => {
                    let (t, i) = map.next_value_seed(UidSeed(false))?;
                    let ty = schema.type_id(&t.0).ok_or_else(fail)?;
                    // Action and enumerated entities come from the schema: entity data declaring one is left to
                    // cedar's path (which refuses an action, and takes an enumerated entity without attributes).
                    if schema.types.get(ty as usize).is_none_or(|et| et.is_action || et.enum_ids.is_some()) {
                        return Err(fail());
                    }
                    uid = Some((ty, cx.uid(ty, &i.0)));
                }
                "attrs" if attrs.is_none() && raw_attrs.is_none() => match &uid {
                    Some((ty, _)) => {
                        let shape = Ty::Record(schema.types[*ty as usize].shape.clone());
                        let Val::Rec(r) = map.next_value_seed(TySeed { ty: &shape, cx: &mut *cx })? else {
                            return Err(fail());
                        };
                        attrs = Some(r);
                    }
                    None => raw_attrs = Some(map.next_value()?),
                },
                "parents" if parents.is_none() => parents = Some(map.next_value_seed(ParentsSeed { cx: &mut *cx })?),
                "tags" if tags.is_none() && raw_tags.is_none() => match &uid {
                    Some((ty, _)) => tags = Some(tags_of(cx, *ty, map.next_value()?).ok_or_else(fail)?),
                    None => raw_tags = Some(map.next_value()?),
                },
                _ => return Err(fail()),
            }
        }
        let (ty, uid) = uid.ok_or_else(fail)?;
        let et = &schema.types[ty as usize];
        let attrs = match (attrs, raw_attrs) {
            (Some(a), _) => a,
            (None, Some(raw)) => {
                let shape = Ty::Record(et.shape.clone());
                let Some(Val::Rec(r)) = parse_with(raw.get(), TySeed { ty: &shape, cx: &mut *cx }) else {
                    return Err(fail());
                };
                r
            }
            (None, None) => return Err(fail()),
        };
        let tags = match (tags, raw_tags) {
            (Some(t), _) => t,
            (None, Some(raw)) => tags_of(cx, ty, raw).ok_or_else(fail)?,
            (None, None) => None,
        };
        let parents = parents.ok_or_else(fail)?;
        let mut refs = Vec::with_capacity(parents.len());
        for (pty, p) in parents {
            if !et.member_of.contains(&pty) {
                return Err(fail());
            }
            refs.push(p);
        }
        Ok(ParsedEntity { uid, attrs, parents: refs, tags })
    }
}

/// A list of parent uids.
struct ParentsSeed<'c, 'a> {
    cx: &'c mut Cx<'a>,
}

impl<'de> DeserializeSeed<'de> for ParentsSeed<'_, '_> {
    type Value = Vec<(TypeId, EntRef)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ParentsSeed<'_, '_> {
    type Value = Vec<(TypeId, EntRef)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of uids")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((t, i)) = seq.next_element_seed(UidSeed(false))? {
            let ty = self.cx.schema.type_id(&t.0).ok_or_else(fail)?;
            out.push((ty, self.cx.uid(ty, &i.0)));
        }
        Ok(out)
    }
}

/// An entity's tags, checked against its type's tag type.
fn tags_of(cx: &mut Cx<'_>, ty: TypeId, raw: &RawValue) -> Option<Option<Tags>> {
    let schema = cx.schema;
    match &schema.types.get(ty as usize)?.tags {
        None => {
            let m: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw.get()).ok()?;
            m.is_empty().then_some(None)
        }
        Some(tty) => Some(Some(parse_with(raw.get(), TagsSeed { ty: tty, cx })?)),
    }
}

/// Tags: a map from any string to a value of the tag type, sorted by key.
struct TagsSeed<'c, 'a> {
    ty: &'c Ty,
    cx: &'c mut Cx<'a>,
}

impl<'de> DeserializeSeed<'de> for TagsSeed<'_, '_> {
    type Value = Tags;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TagsSeed<'_, '_> {
    type Value = Tags;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("entity tags")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<(Box<str>, Val)> = Vec::new();
        while let Some(k) = map.next_key::<Str<'de>>()? {
            if out.iter().any(|(t, _)| **t == *k.0) {
                return Err(fail());
            }
            let v = map.next_value_seed(TySeed { ty: self.ty, cx: &mut *self.cx })?;
            out.push((Box::from(&*k.0), v));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out.into_boxed_slice())
    }
}

/// A request, parsed in one pass. The context is typed by its action: when `context` comes before `action` it
/// is kept as raw text and parsed after.
pub(crate) struct ParsedRequest<'de> {
    pub(crate) principal: (TypeId, EntRef),
    pub(crate) action: (TypeId, EntRef),
    pub(crate) resource: (TypeId, EntRef),
    pub(crate) context: Option<Fields>,
    pub(crate) raw_context: Option<&'de RawValue>,
    pub(crate) entities: Vec<ParsedEntity>,
    pub(crate) id: Option<serde_json::Value>,
}

/// The request seed: `context_of` gives an action's context type.
pub(crate) struct RequestSeed<'c, 'a> {
    pub(crate) cx: &'c mut Cx<'a>,
    pub(crate) context_of: &'c dyn Fn(&EntRef) -> Option<&'c Arc<RecordTy>>,
    pub(crate) max_slice: usize,
}

impl<'de> DeserializeSeed<'de> for RequestSeed<'_, '_> {
    type Value = ParsedRequest<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed<'_, '_> {
    type Value = ParsedRequest<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a request")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let cx = self.cx;
        let (mut principal, mut action, mut resource) = (None, None, None);
        let (mut context, mut raw_context, mut seen_context) = (None, None, false);
        let (mut entities, mut id) = (None, None);
        let uid_of = |map: &mut A, cx: &mut Cx<'_>| -> Result<(TypeId, EntRef), A::Error> {
            let (t, i) = map.next_value_seed(UidSeed(true))?;
            let ty = cx.schema.type_id(&t.0).ok_or_else(fail)?;
            Ok((ty, cx.uid(ty, &i.0)))
        };
        while let Some(k) = map.next_key::<Str<'de>>()? {
            match &*k.0 {
                "principal" if principal.is_none() => principal = Some(uid_of(&mut map, cx)?),
                "action" if action.is_none() => action = Some(uid_of(&mut map, cx)?),
                "resource" if resource.is_none() => resource = Some(uid_of(&mut map, cx)?),
                "context" if !seen_context => {
                    seen_context = true;
                    match action.as_ref().and_then(|(_, a)| (self.context_of)(a)) {
                        Some(rt) => {
                            let ty = Ty::Record(rt.clone());
                            let Val::Rec(r) = map.next_value_seed(TySeed { ty: &ty, cx: &mut *cx })? else {
                                return Err(fail());
                            };
                            context = Some(r);
                        }
                        None => raw_context = Some(map.next_value::<&'de RawValue>()?),
                    }
                }
                "entities" if entities.is_none() => {
                    entities = Some(map.next_value_seed(ListSeed { cx: &mut *cx, max: self.max_slice })?)
                }
                // Echoed as given (cedar's path echoes `null` too); a nested id is left to cedar's path, which
                // checks its depth.
                "id" if id.is_none() => match map.next_value::<serde_json::Value>()? {
                    serde_json::Value::Array(_) | serde_json::Value::Object(_) => return Err(fail()),
                    v => id = Some(v),
                },
                "principal" | "action" | "resource" | "context" | "entities" | "id" => return Err(fail()),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ParsedRequest {
            principal: principal.ok_or_else(fail)?,
            action: action.ok_or_else(fail)?,
            resource: resource.ok_or_else(fail)?,
            context: context.map(Fields::Shared),
            raw_context,
            entities: entities.unwrap_or_default(),
            id,
        })
    }
}
