//! A hand-written scanner for the common shape of a request: a JSON object with `principal`, `action` and
//! `resource` as `{"type", "id"}` objects, a `context` (before or after the action), an `id` that is a scalar,
//! and an entity slice whose entities each give their `uid` first, every string free of escapes. It parses that
//! shape straight into a [`ParsedRequest`], several times faster than going through serde's visitors.
//!
//! It is only a shortcut for `json.rs`: whatever it does not recognise — an escape, a float, an unknown key, an
//! entity whose `uid` is not its first key, a key given twice, an extension value —
//! makes it return `None`, and the request is parsed by `json.rs` (which in turn leaves what it refuses to
//! cedar's path). What it accepts, it reads exactly as `json.rs` reads it; the tests compare the two on every
//! request of the differential corpus.

use smol_str::SmolStr;
use std::sync::Arc;

use super::ext::{self, Ext};
use super::json::{Cx, ParsedEntity, ParsedRequest};
use super::schema::{ExtTy, RecordTy, Ty, TypeId};
use super::shape::{Hole, Scalar, Shape};
use super::value::{AttrId, EntRef, Fields, HELD_FIELDS, Held, HeldField, Tags, Val};

/// Scans `text` as a request; `None` when it is not of the shape this scanner reads.
#[cfg(test)]
pub(crate) fn request<'de, 'c>(
    text: &'de str,
    cx: &mut Cx<'_>,
    context_of: &'c dyn Fn(&EntRef) -> Option<&'c Arc<RecordTy>>,
) -> Option<ParsedRequest<'de>> {
    let start = skip_ws(text.as_bytes(), 0);
    let (req, end) = request_at(text, start, cx, context_of, usize::MAX)?;
    (skip_ws(text.as_bytes(), end) == text.len()).then_some(req)
}

/// Scans the request object that starts at byte `start` of `text` (a batch element): the request and the offset
/// just past its closing brace. What follows is the caller's to judge. `None` when it is not of the shape this
/// scanner reads, or its slice holds more than `max_slice` entities.
#[inline]
pub(crate) fn request_at<'de, 'c>(
    text: &'de str,
    start: usize,
    cx: &mut Cx<'_>,
    context_of: &'c dyn Fn(&EntRef) -> Option<&'c Arc<RecordTy>>,
    max_slice: usize,
) -> Option<(ParsedRequest<'de>, usize)> {
    let mut s = Scan::new(text, start);
    let req = s.request(cx, context_of, max_slice)?;
    Some((req, s.i))
}

/// Scans the request at `start` as `request_at` does, learning its spelling on the way: the request, the offset
/// just past it, and its spelling when it is of a shape a [`Shape`] can hold (uids spelled as `slot_uid` matches
/// them, context fields of the types a shape reads, no entity in the slice). One pass: a request whose spelling
/// cannot be learned costs what `request_at` costs, plus the values' spans noted until it proves unlearnable.
pub(crate) fn learn_at<'de, 'c>(
    text: &'de str,
    start: usize,
    cx: &mut Cx<'_>,
    context_of: &'c dyn Fn(&EntRef) -> Option<&'c Arc<RecordTy>>,
    max_slice: usize,
) -> Option<((ParsedRequest<'de>, usize), Option<Shape>)> {
    let mut s = Scan::new(text, start);
    // Room for a spelling's every value (one allocation).
    s.learn = Learn::On(Vec::with_capacity(MAX_HOLES));
    let req = s.request(cx, context_of, max_slice)?;
    let shape = match std::mem::replace(&mut s.learn, Learn::Off) {
        Learn::On(mut holes) if req.entities.is_empty() => {
            // A context given before the action is read after it: its holes come last.
            holes.sort_by_key(|h| h.0);
            context_of(&req.action.1)
                .and_then(|context| Shape::new(text.as_bytes().get(start..s.i)?, start, &holes, context))
        }
        _ => None,
    };
    Some(((req, s.i), shape))
}

impl<'de> Scan<'de> {
    /// The request object at the current position, up to and including its closing brace.
    fn request<'c>(
        &mut self,
        cx: &mut Cx<'_>,
        context_of: &'c dyn Fn(&EntRef) -> Option<&'c Arc<RecordTy>>,
        max_slice: usize,
    ) -> Option<ParsedRequest<'de>> {
        let s = self;
        s.eat(b'{')?;
        let (mut principal, mut action, mut resource) = (None, None, None);
        let (mut context, mut entities, mut id) = (None, None, None);
        // Where a context given before the action starts, and where it was stepped over to.
        let mut deferred = None;
        s.ws();
        if !s.peek_is(b'}') {
            loop {
                s.ws();
                match s.key_colon()? {
                    "principal" if principal.is_none() => principal = Some(s.slot_uid(cx, 0)?),
                    "action" if action.is_none() => action = Some(s.slot_uid(cx, 1)?),
                    "resource" if resource.is_none() => resource = Some(s.slot_uid(cx, 2)?),
                    "context" if context.is_none() && deferred.is_none() => match &action {
                        Some((_, a)) => context = Some(s.context(context_of(a)?, cx)?),
                        // Its type is the action's: it is read once the action is, and stepped over now.
                        None => {
                            let end = object_end(s.b, s.i)?;
                            deferred = Some((s.i, end));
                            s.i = end;
                        }
                    },
                    "entities" if entities.is_none() => entities = Some(s.entities(cx, max_slice)?),
                    "id" if id.is_none() => {
                        let at = s.i;
                        id = Some(s.scalar()?);
                        s.hole(at, s.i, Hole::Id);
                    }
                    _ => return None,
                }
                s.ws();
                if s.eat(b',').is_none() {
                    break;
                }
            }
        }
        s.eat(b'}')?;
        if let Some((at, stepped)) = deferred {
            let rt = action.as_ref().and_then(|(_, a)| context_of(a))?;
            let end = s.i;
            s.i = at;
            context = Some(s.context(rt, cx)?);
            // Where it was stepped over to (a record read is valid JSON, whose braces `object_end` matched).
            (s.i == stepped).then_some(())?;
            s.i = end;
        }
        Some(ParsedRequest {
            principal: principal?,
            action: action?,
            resource: resource?,
            context: Some(Fields::Shared(context?)),
            raw_context: None,
            entities: entities.unwrap_or_default(),
            id,
        })
    }

    /// The request's context, a record of type `rt`; a learned spelling notes where it starts and ends.
    fn context(&mut self, rt: &RecordTy, cx: &mut Cx<'_>) -> Option<Arc<[(AttrId, Val)]>> {
        self.hole(self.i, self.i, Hole::ContextOpen);
        let record = self.record(rt, cx)?;
        self.hole(self.i, self.i, Hole::ContextClose);
        Some(record)
    }

    /// An entity slice: a JSON array of at most `max` entities (as `json::entity_list` reads it). A slice with
    /// an entity cannot be learned.
    fn entities(&mut self, cx: &mut Cx<'_>, max: usize) -> Option<Vec<ParsedEntity>> {
        let mut out = Vec::new();
        self.list(|s| {
            s.unlearnable();
            if out.len() == max {
                return None;
            }
            out.push(s.entity(cx)?);
            Some(())
        })?;
        Some(out)
    }

    /// A JSON array, each element read by `each` (which stops the scan by returning `None`).
    fn list(&mut self, mut each: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            each(self)?;
            self.ws();
            if self.eat(b',').is_none() {
                break;
            }
            self.ws();
        }
        self.eat(b']')
    }

    /// An object key and the colon after it (whitespace around the colon skipped).
    fn key_colon(&mut self) -> Option<&'de str> {
        let key = self.key()?;
        self.colon()?;
        Some(key)
    }

    /// One entity with its `uid` first (else `json.rs` reads it, which can hold its attributes until the type is
    /// known), checked against its type as `json.rs` checks it: an entity type that is neither an action nor
    /// enumerated, declared attributes of their types with every required one present, parents of the types it
    /// may be a member of, and tags only where the type declares them.
    fn entity(&mut self, cx: &mut Cx<'_>) -> Option<ParsedEntity> {
        self.eat(b'{')?;
        self.ws();
        if !self.key_is("uid") {
            return None;
        }
        self.ws();
        self.eat(b':')?;
        self.ws();
        let (ty, uid) = self.uid(cx)?;
        let schema = cx.schema;
        let et = schema.types.get(ty as usize)?;
        if et.is_action || et.enum_ids.is_some() {
            return None;
        }
        let (mut attrs, mut parents, mut tags) = (None, None, None);
        loop {
            self.ws();
            if self.eat(b',').is_none() {
                break;
            }
            self.ws();
            match self.key_colon()? {
                "attrs" if attrs.is_none() => attrs = Some(self.record(&et.shape, cx)?),
                "parents" if parents.is_none() => {
                    let mut refs = Vec::new();
                    self.list(|s| {
                        let (pty, p) = s.uid(cx)?;
                        refs.push(p);
                        et.member_of.contains(&pty).then_some(())
                    })?;
                    parents = Some(refs);
                }
                "tags" if tags.is_none() => tags = Some(self.tags(et.tags.as_ref(), cx)?),
                _ => return None,
            }
        }
        self.eat(b'}')?;
        Some(ParsedEntity { uid, attrs: attrs?, parents: parents?, tags: tags.flatten() })
    }

    /// An entity's tags: for a type without tags only `{}` (`None`); else a map from a string to a value of the
    /// tag type `ty`, no key twice, sorted by key.
    fn tags(&mut self, ty: Option<&Ty>, cx: &mut Cx<'_>) -> Option<Option<Tags>> {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(ty.map(|_| Tags::default()));
        }
        let ty = ty?;
        let mut out: Vec<(Box<str>, Val)> = Vec::new();
        loop {
            let key = self.str()?;
            if out.iter().any(|(t, _)| **t == *key) {
                return None;
            }
            self.ws();
            self.eat(b':')?;
            self.ws();
            out.push((Box::from(key), self.value(ty, cx)?));
            self.ws();
            if self.eat(b',').is_none() {
                break;
            }
            self.ws();
        }
        self.eat(b'}')?;
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Some(Some(out.into_boxed_slice()))
    }
}

/// The offset of the first byte at or after `i` that is not JSON whitespace.
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Whether `s` is spelled in a JSON string by its own bytes: no quote, backslash or control character.
pub(super) fn is_plain(s: &str) -> bool {
    string_end(s.as_bytes()).is_none()
}

/// The offset of the first byte of `b` that ends a plain string: a quote, a backslash or a control character.
/// Eight bytes at a time (SWAR: in each 64-bit word, the lowest byte whose high bit the masks leave set is the
/// first such byte; bytes above it may be flagged spuriously by a borrow, and are ignored).
fn string_end(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = b.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().ok()?);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let flags = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (x.wrapping_sub(ONES * 0x20) & !x);
        let flags = flags & HIGH;
        if flags != 0 {
            return Some(base + (flags.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks.remainder().iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).map(|p| base + p)
}

/// Whether `a` and `b`, of one length, hold the same bytes: compared eight at a time in place, the last eight
/// overlapping (four and four under eight bytes). The literal runs of a spelling are 2 to 60 bytes: a call to
/// `memcmp` costs more than comparing them here, and in wasm `memcmp` is a loop with an interrupt check a word.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let w8 = |s: &[u8], at: usize| s.get(at..at + 8).and_then(|w| w.try_into().ok()).map(u64::from_le_bytes);
    let w4 = |s: &[u8], at: usize| s.get(at..at + 4).and_then(|w| w.try_into().ok()).map(u32::from_le_bytes);
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if w8(a, at) != w8(b, at) {
                return false;
            }
            at += 8;
        }
        w8(a, n - 8) == w8(b, n - 8)
    } else if n >= 4 {
        w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

/// The most values a learned spelling holds: the request's id, its three uids, its context's two ends and its
/// fields (a shape holds at most `HELD_FIELDS`).
const MAX_HOLES: usize = 6 + HELD_FIELDS;

/// Whether a scan learns the spelling of what it reads (see `learn_at`).
enum Learn {
    Off,
    /// The values read so far: their spans and what they are.
    On(Vec<(usize, usize, Hole)>),
    /// What was read is not of a shape a [`Shape`] holds.
    Failed,
}

pub(super) struct Scan<'de> {
    text: &'de str,
    b: &'de [u8],
    pub(super) i: usize,
    learn: Learn,
}

impl<'de> Scan<'de> {
    pub(super) fn new(text: &'de str, i: usize) -> Scan<'de> {
        Scan { text, b: text.as_bytes(), i, learn: Learn::Off }
    }

    /// When learning: the value read from `start` to `end` is a hole of the spelling.
    #[inline(always)]
    fn hole(&mut self, start: usize, end: usize, hole: Hole) {
        if let Learn::On(holes) = &mut self.learn {
            holes.push((start, end, hole));
        }
    }

    /// Runs `read` with learning suspended: what it reads is one value of the spelling, not learned part by part.
    fn unlearned<T>(&mut self, read: impl FnOnce(&mut Self) -> T) -> T {
        let learn = std::mem::replace(&mut self.learn, Learn::Off);
        let out = read(self);
        self.learn = learn;
        out
    }

    /// When learning: what is being read cannot be learned.
    #[inline(always)]
    fn unlearnable(&mut self) {
        if matches!(self.learn, Learn::On(_)) {
            self.learn = Learn::Failed;
        }
    }

    /// JSON whitespace.
    fn ws(&mut self) {
        self.i = skip_ws(self.b, self.i);
    }

    #[inline(always)]
    fn peek_is(&self, c: u8) -> bool {
        self.b.get(self.i) == Some(&c)
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek_is(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string without escapes or control characters.
    #[inline(always)]
    pub(super) fn str(&mut self) -> Option<&'de str> {
        self.eat(b'"')?;
        let start = self.i;
        let rest = self.b.get(start..)?;
        let len = string_end(rest)?;
        if rest[len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        // Cut at ASCII quotes: always on character boundaries.
        self.text.get(start..start + len)
    }

    /// When the next string is exactly `name`, steps over it. `name` must have no quote, backslash or control
    /// character: only then is a string spelled with its bytes, unescaped, that string.
    #[inline(always)]
    fn key_is(&mut self, name: &str) -> bool {
        let (i, n) = (self.i, name.len());
        let hit = self.b.get(i) == Some(&b'"')
            && self.b.get(i + 1..i + 1 + n).is_some_and(|k| same(k, name.as_bytes()))
            && self.b.get(i + 1 + n) == Some(&b'"');
        if hit {
            self.i = i + n + 2;
        }
        hit
    }

    /// An object key of a request or a uid. The usual keys are matched in place, by their first letter; any
    /// other string is read by `str`.
    fn key(&mut self) -> Option<&'de str> {
        // One arm a key, so that each comparison is with a constant (a few word compares, no `memcmp` call).
        macro_rules! known {
            ($name:literal) => {
                if self.key_is($name) {
                    return Some($name);
                }
            };
        }
        match self.b.get(self.i + 1) {
            Some(b'p') => {
                known!("principal");
                known!("parents");
            }
            Some(b'a') => {
                known!("action");
                known!("attrs");
            }
            Some(b'r') => known!("resource"),
            Some(b'c') => known!("context"),
            Some(b'i') => known!("id"),
            Some(b't') => {
                known!("type");
                known!("tags");
            }
            Some(b'e') => known!("entities"),
            _ => {}
        }
        self.str()
    }

    /// An integer literal as serde_json reads it into an `i64` (`-0`, fractions and exponents are refused, and
    /// so are literals of more than 18 digits, which json.rs reads with its overflow checks).
    #[inline(always)]
    pub(super) fn long(&mut self) -> Option<i64> {
        let neg = self.eat(b'-').is_some();
        let start = self.i;
        // Up to 18 digits cannot overflow.
        let mut n: i64 = 0;
        let mut i = start;
        while let Some(d) = self.b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
            if i - start == 18 {
                return None;
            }
            n = n * 10 + i64::from(d);
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || (digits > 1 && self.b[start] == b'0') {
            return None;
        }
        if matches!(self.b.get(i), Some(b'.' | b'e' | b'E')) || (neg && n == 0) {
            return None;
        }
        self.i = i;
        Some(if neg { -n } else { n })
    }

    /// The literal `word`.
    #[inline(always)]
    pub(super) fn word(&mut self, word: &[u8]) -> Option<()> {
        if same(self.b.get(self.i..self.i + word.len())?, word) {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    pub(super) fn bool(&mut self) -> Option<bool> {
        match self.b.get(self.i)? {
            b't' => self.word(b"true").map(|()| true),
            b'f' => self.word(b"false").map(|()| false),
            _ => None,
        }
    }

    /// A request's id: a non-negative integer (the usual id) read in place, else any scalar.
    #[inline(always)]
    pub(super) fn id(&mut self) -> Option<serde_json::Value> {
        if self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            // No sign: `long` gives a non-negative number, as `scalar` would (a `u64`).
            return self.long().map(|n| serde_json::Value::from(n.unsigned_abs()));
        }
        self.scalar()
    }

    /// The request's `id`: a string, an integer, a boolean or null, echoed as given.
    pub(super) fn scalar(&mut self) -> Option<serde_json::Value> {
        Some(match self.b.get(self.i)? {
            b'"' => serde_json::Value::String(self.str()?.to_string()),
            b'n' => {
                self.word(b"null")?;
                serde_json::Value::Null
            }
            b't' | b'f' => serde_json::Value::Bool(self.bool()?),
            _ => {
                let n = self.long()?;
                match u64::try_from(n) {
                    Ok(u) => serde_json::Value::from(u),
                    Err(_) => serde_json::Value::from(n),
                }
            }
        })
    }

    /// `{"type": .., "id": ..}` (either order) or `{"__entity": {...}}`.
    fn uid_text(&mut self) -> Option<(&'de str, &'de str)> {
        let at = self.i;
        if let Some(uid) = self.compact_uid() {
            return Some(uid);
        }
        self.i = at;
        self.eat(b'{')?;
        self.ws();
        if self.key_is("__entity") {
            self.colon()?;
            let inner = self.uid_text()?;
            self.ws();
            self.eat(b'}')?;
            return Some(inner);
        }
        self.string_pair("type", "id")
    }

    /// The rest of an object whose `{` and the whitespace after it were read: its two string members `a` and `b`
    /// (their values, in that order), given in either order, each once, nothing else, up to its `}`.
    fn string_pair(&mut self, a: &str, b: &str) -> Option<(&'de str, &'de str)> {
        let (mut x, mut y) = (None, None);
        loop {
            let key = self.key_colon()?;
            if key == a && x.is_none() {
                x = Some(self.str()?);
            } else if key == b && y.is_none() {
                y = Some(self.str()?);
            } else {
                return None;
            }
            self.ws();
            if self.eat(b',').is_none() {
                break;
            }
            self.ws();
        }
        self.eat(b'}')?;
        Some((x?, y?))
    }

    /// The index in `rt.fields` of the field of a record of type `rt` whose name the next string is, matched in
    /// place (see `RecordTy::plain_names`); `None`, with the position unchanged, when none matches so.
    fn field_index(&mut self, rt: &RecordTy) -> Option<usize> {
        let first = *self.b.get(self.i + 1)?;
        for (k, name) in rt.plain_names.iter().enumerate() {
            if name.as_bytes().first() == Some(&first) && self.key_is(name) {
                return Some(k);
            }
        }
        None
    }

    /// A context record of type `rt` read into `held`, its fields in the text's order, for a learned spelling
    /// whose context fields are in another order or are other fields (see `shape.rs`). It reads what `fields`
    /// reads, to the same fields, and leaves to `fields` (`None`) what it does not read here: a key not spelled
    /// by its own bytes, more fields than `held` holds.
    pub(super) fn held_fields(&mut self, rt: &RecordTy, cx: &mut Cx<'_>, held: &mut Held<'de>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        // The fields read, by index (a record with more than 64 fields is left to `fields`).
        let mut seen: u64 = 0;
        let mut required = 0;
        if !self.peek_is(b'}') {
            loop {
                let k = self.field_index(rt)?;
                let bit = 1u64.checked_shl(u32::try_from(k).ok()?)?;
                if seen & bit != 0 {
                    return None;
                }
                seen |= bit;
                let (id, ty, req) = rt.fields.get(k)?;
                required += usize::from(*req);
                self.colon()?;
                let field = match ty {
                    Ty::Bool => HeldField::value(*id, Val::Bool(self.bool()?)),
                    Ty::Long => HeldField::value(*id, Val::Long(self.long()?)),
                    Ty::String => HeldField::string(*id, self.str()?),
                    ty => HeldField::value(*id, self.value(ty, cx)?),
                };
                held.try_push(field).ok()?;
                self.ws();
                if self.eat(b',').is_none() {
                    break;
                }
                self.ws();
            }
        }
        self.eat(b'}')?;
        (required == rt.required).then_some(())
    }

    /// The compact spelling `{"type":"T","id":"x"}` (no whitespace, this key order), matched in place. `None`
    /// (with the position left anywhere) for any other; `uid_text` then reads it.
    fn compact_uid(&mut self) -> Option<(&'de str, &'de str)> {
        self.word(b"{\"type\":")?;
        let ty = self.str()?;
        Some((ty, self.compact_id()?))
    }

    /// The rest of a compact uid after its type: `,"id":"x"}`, the id.
    fn compact_id(&mut self) -> Option<&'de str> {
        self.word(b",\"id\":")?;
        let id = self.str()?;
        self.eat(b'}')?;
        Some(id)
    }

    /// The request's principal (`slot` 0), action (1) or resource (2). A uid spelled `{"type": "T", "id": "x"}`,
    /// in either key order and with whitespace anywhere JSON allows it, with a type the slot can have, is matched
    /// in place (no lookup of the type's name) and can be learned; any other is read by `uid`.
    fn slot_uid(&mut self, cx: &mut Cx<'_>, slot: usize) -> Option<(TypeId, EntRef)> {
        let at = self.i;
        if let Some((t, from, to)) = self.slot_uid_spelled(cx, slot) {
            // The id string, quotes included.
            self.hole(from, to, Hole::Uid(slot as u8, t));
            let id = self.text.get(from + 1..to - 1)?;
            return Some((t, cx.uid(t, id)));
        }
        self.i = at;
        self.unlearnable();
        self.uid(cx)
    }

    /// A uid as `slot_uid` matches it in place: its type, and where its id string starts and ends (quotes
    /// included).
    fn slot_uid_spelled(&mut self, cx: &Cx<'_>, slot: usize) -> Option<(TypeId, usize, usize)> {
        // The usual spelling first: `{"type":` in one comparison.
        let (t, from, to) = if self.word(b"{\"type\":").is_some() {
            self.ws();
            self.type_then_id(cx, slot)?
        } else {
            self.eat(b'{')?;
            self.ws();
            if self.key_is("type") {
                self.colon()?;
                self.type_then_id(cx, slot)?
            } else {
                self.key_is("id").then_some(())?;
                self.colon()?;
                let (from, to) = self.string_span()?;
                self.next_key("type")?;
                (self.slot_type(cx, slot)?, from, to)
            }
        };
        self.ws();
        self.eat(b'}')?;
        Some((t, from, to))
    }

    /// A uid's type (see `slot_type`), then its id: the type and the id string's span (see `string_span`).
    fn type_then_id(&mut self, cx: &Cx<'_>, slot: usize) -> Option<(TypeId, usize, usize)> {
        let t = self.slot_type(cx, slot)?;
        self.next_key("id")?;
        let (from, to) = self.string_span()?;
        Some((t, from, to))
    }

    /// After a value: the comma, the key `key` and the colon after it (whitespace around each).
    fn next_key(&mut self, key: &str) -> Option<()> {
        self.ws();
        self.eat(b',')?;
        self.ws();
        self.key_is(key).then_some(())?;
        self.colon()
    }

    /// A colon between a key and its value, with the whitespace around it.
    #[inline(always)]
    fn colon(&mut self) -> Option<()> {
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(())
    }

    /// The type name string of a uid in `slot`, one of the types the slot can have, matched in place.
    fn slot_type(&mut self, cx: &Cx<'_>, slot: usize) -> Option<TypeId> {
        let types = cx.schema.slot_types.get(slot).map_or(&[][..], |t| &t[..]);
        // Type names are `::`-separated identifiers: spelled by their own bytes.
        types.iter().copied().find(|&t| cx.schema.types.get(t as usize).is_some_and(|et| self.key_is(&et.name)))
    }

    /// A string as `str` reads it: where it starts and ends, quotes included.
    #[inline(always)]
    fn string_span(&mut self) -> Option<(usize, usize)> {
        let from = self.i;
        self.str()?;
        Some((from, self.i))
    }

    fn uid(&mut self, cx: &mut Cx<'_>) -> Option<(TypeId, EntRef)> {
        let (t, i) = self.uid_text()?;
        let ty = cx.schema.type_id(t)?;
        Some((ty, cx.uid(ty, i)))
    }

    /// A closed record of type `rt`, sorted by attribute id (as `json::record`), made with one allocation.
    fn record(&mut self, rt: &RecordTy, cx: &mut Cx<'_>) -> Option<Arc<[(AttrId, Val)]>> {
        const INLINE: usize = 8;
        let take = |f: &mut (AttrId, Val)| std::mem::replace(f, (0, Val::Bool(false)));
        if rt.fields.len() <= INLINE {
            let mut buf: [(AttrId, Val); INLINE] = [const { (0, Val::Bool(false)) }; INLINE];
            let n = self.fields(rt, cx, &mut buf)?;
            // An exact-size iterator: the `Arc` is allocated once, at its size.
            Some(buf.get_mut(..n)?.iter_mut().map(take).collect())
        } else {
            let mut buf = vec![(0, Val::Bool(false)); rt.fields.len()];
            let n = self.fields(rt, cx, &mut buf)?;
            Some(buf.get_mut(..n)?.iter_mut().map(take).collect())
        }
    }

    /// The fields of a record of type `rt` into `out` (room for each of its fields), sorted by attribute id:
    /// their number.
    fn fields(&mut self, rt: &RecordTy, cx: &mut Cx<'_>, out: &mut [(AttrId, Val)]) -> Option<usize> {
        self.eat(b'{')?;
        self.ws();
        let mut n = 0;
        let mut required = 0;
        if !self.peek_is(b'}') {
            loop {
                let k = match self.field_index(rt) {
                    Some(k) => k,
                    None => {
                        let key = self.str()?;
                        rt.fields.iter().position(|(a, _, _)| cx.names.name(*a) == key)?
                    }
                };
                let (id, ty, req) = rt.fields.get(k)?;
                if out.get(..n)?.iter().any(|(a, _)| a == id) {
                    return None;
                }
                required += usize::from(*req);
                self.colon()?;
                let at = self.i;
                let v = match ty {
                    Ty::Bool | Ty::Long | Ty::String => self.value(ty, cx)?,
                    // A set, record, entity or extension value is one value of the spelling: what it holds is not
                    // learned apart.
                    _ => self.unlearned(|s| s.value(ty, cx))?,
                };
                match (ty, u8::try_from(k)) {
                    (Ty::Bool, _) => self.hole(at, self.i, Hole::Field(*id, Scalar::Bool)),
                    (Ty::Long, _) => self.hole(at, self.i, Hole::Field(*id, Scalar::Long)),
                    (Ty::String, _) => self.hole(at, self.i, Hole::Field(*id, Scalar::String)),
                    (_, Ok(k)) => self.hole(at, self.i, Hole::Field(*id, Scalar::Data(k))),
                    (_, Err(_)) => self.unlearnable(),
                }
                *out.get_mut(n)? = (*id, v);
                n += 1;
                self.ws();
                if self.eat(b',').is_none() {
                    break;
                }
                self.ws();
            }
        }
        self.eat(b'}')?;
        if required != rt.required {
            return None;
        }
        // An insertion sort: a request's record has a few fields, often in order already (std's sort is a
        // heapsort in the size-optimised wasm build).
        let out = out.get_mut(..n)?;
        for i in 1..out.len() {
            let mut j = i;
            while j > 0 && out[j - 1].0 > out[j].0 {
                out.swap(j - 1, j);
                j -= 1;
            }
        }
        Some(n)
    }

    /// A value of a schema type.
    pub(super) fn value(&mut self, ty: &Ty, cx: &mut Cx<'_>) -> Option<Val> {
        Some(match ty {
            Ty::Bool => Val::Bool(self.bool()?),
            Ty::Long => Val::Long(self.long()?),
            Ty::String => Val::Str(SmolStr::new(self.str()?)),
            Ty::Set(elem) => {
                let mut out = Vec::new();
                self.list(|s| {
                    out.push(s.value(elem, cx)?);
                    Some(())
                })?;
                Val::Set(Arc::from(out))
            }
            Ty::Record(rt) => Val::Rec(self.record(rt, cx)?),
            Ty::Entity(want) => {
                let (ty, r) = self.uid(cx)?;
                if ty != *want {
                    return None;
                }
                Val::Ent(r)
            }
            Ty::Ext(et) => Val::Ext(Arc::new(self.extension(*et)?)),
        })
    }

    /// An extension value as json.rs reads one: `{"__extn": {"fn": .., "arg": ..}}` (`fn` and `arg` in either
    /// order, each once, nothing else), `fn` the type's constructor and `arg` a string it accepts.
    fn extension(&mut self, et: ExtTy) -> Option<Ext> {
        self.eat(b'{')?;
        self.ws();
        if self.key_colon()? != "__extn" {
            return None;
        }
        self.eat(b'{')?;
        self.ws();
        let (f, arg) = self.string_pair("fn", "arg")?;
        self.ws();
        self.eat(b'}')?;
        (f == et.constructor()).then(|| ext::construct(f, arg))?
    }
}

/// Just past the closing quote of the JSON string whose opening quote is at `i` (escapes stepped over, not
/// checked; a control character is stepped over too, the string's own parse judges it).
fn string_after(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    // To the closing quote, eight bytes at a time.
    loop {
        i += string_end(b.get(i..)?)?;
        match b[i] {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// Just past the end of the JSON object that starts at `start` (its braces matched, strings stepped over; what is
/// inside is not checked): `None` when no object starts there or it does not end.
fn object_end(b: &[u8], start: usize) -> Option<usize> {
    if b.get(start) != Some(&b'{') {
        return None;
    }
    closed_after(b, start + 1)
}

/// Just past the bracket that closes the one opened just before `i`: brackets of either kind counted, strings
/// stepped over, what is inside not checked. `None` when it is not closed.
fn closed_after(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 1usize;
    loop {
        match *b.get(i)? {
            b'"' => i = string_after(b, i)?,
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
}

/// Where a JSON array's first element starts: `Some(Some(offset))`, or `Some(None)` for an empty array (nothing
/// but whitespace after it). `None` when the text does not start as an array.
pub(crate) fn array_start(b: &[u8]) -> Option<Option<usize>> {
    let i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return (skip_ws(b, i + 1) == b.len()).then_some(None);
    }
    Some(Some(i))
}

/// After an array element that ends at `end` (exclusive): `Some(Some(offset))` of the next element after a
/// comma, `Some(None)` when the array closes there (nothing but whitespace after it), `None` otherwise.
pub(crate) fn next_element(b: &[u8], end: usize) -> Option<Option<usize>> {
    let i = skip_ws(b, end);
    match b.get(i)? {
        b',' => Some(Some(skip_ws(b, i + 1))),
        b']' => (skip_ws(b, i + 1) == b.len()).then_some(None),
        _ => None,
    }
}

/// The end (exclusive, whitespace trimmed) of the array element that starts at `start`, found without parsing
/// it: strings are skipped (escapes included), brackets counted, up to the first comma or `]` outside them.
/// `None` when there is no such end or the element is empty; the element itself is validated when it is parsed
/// on its own.
pub(crate) fn element_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    loop {
        match *b.get(i)? {
            b'"' => i = string_after(b, i)?,
            b'{' | b'[' => i = closed_after(b, i + 1)?,
            b',' | b']' => break,
            b'}' => return None,
            _ => i += 1,
        }
    }
    while i > start && matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r') {
        i -= 1;
    }
    (i > start).then_some(i)
}

/// How the batch element at `first` begins: its text up to the end of its first key (`{"id"`), when it is an
/// object with a plain first key. The elements of a batch are usually spelled alike, and nothing inside them is
/// (a slice's entities begin `{"uid"`).
pub(crate) fn element_signature(b: &[u8], first: usize) -> Option<&[u8]> {
    if b.get(first) != Some(&b'{') {
        return None;
    }
    let quote = skip_ws(b, first + 1);
    if b.get(quote) != Some(&b'"') {
        return None;
    }
    let close = quote + 1 + string_end(b.get(quote + 1..)?)?;
    (b.get(close) == Some(&b'"')).then(|| b.get(first..=close)).flatten()
}

/// A start offset for the element that begins near `from`: the first place after a `}` and a comma (whitespace
/// allowed around it), with the comma in `from..to`, where `signature` (see [`element_signature`]) follows. It is
/// only a guess — the pattern may sit inside a string — that the caller confirms by reaching it element by
/// element (see `Bundle::decide_raw_batch`).
pub(crate) fn guess_element_start(b: &[u8], signature: &[u8], from: usize, to: usize) -> Option<usize> {
    let mut i = from;
    loop {
        i += b.get(i..to.min(b.len()))?.iter().position(|&c| c == b',')?;
        let mut before = i;
        while before > 0 && matches!(b[before - 1], b' ' | b'\t' | b'\n' | b'\r') {
            before -= 1;
        }
        let after = skip_ws(b, i + 1);
        if before > 0 && b[before - 1] == b'}' && b.get(after..).is_some_and(|rest| rest.starts_with(signature)) {
            return Some(after);
        }
        i += 1;
    }
}

/// Splits a JSON array into its elements' texts (whitespace around each trimmed), without parsing them (see
/// [`element_end`]). `None` when the text is not `[`, elements separated by commas, `]`.
#[cfg(test)]
pub(crate) fn split_array(text: &str) -> Option<Vec<&str>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut next = array_start(b)?;
    while let Some(start) = next {
        let end = element_end(b, start)?;
        out.push(text.get(start..end)?);
        next = next_element(b, end)?;
    }
    Some(out)
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;

    use super::super::json::{self, Cx, RequestSeed};
    use super::super::schema::{RecordTy, TypeId, TypedSchema};
    use super::super::uids::Uids;
    use super::super::value::{EntId, EntRef, Names};
    use super::{request, same, split_array};

    /// `same` agrees with slice equality for every length up to 40, equal or differing at any one byte (and on
    /// slices of different lengths).
    #[test]
    fn same_is_slice_equality() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            assert!(same(&a, &a.clone()), "n {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same(&a, &b), "n {n} at {at}");
            }
            assert!(!same(&a, &a[..n.saturating_sub(1)]) || n == 0, "n {n} shorter");
        }
    }

    /// A xorshift generator for the cases (the shape tests use it too).
    pub(in super::super) struct Rng(pub(in super::super) u64);

    impl Rng {
        pub(in super::super) fn pick(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        /// Mostly one of the first `valid` spellings (which the scanner reads), sometimes any.
        pub(in super::super) fn choose(&mut self, list: &[&'static str], valid: usize) -> &'static str {
            if self.pick(5) == 0 { list[self.pick(list.len())] } else { list[self.pick(valid)] }
        }
    }

    /// A test's schema compiled, its uid table with the action `act` interned, `act`'s uid and context type.
    fn world(schema_json: &serde_json::Value) -> (Names, TypedSchema, Uids, EntId, Arc<RecordTy>) {
        let mut names = Names::default();
        let schema = TypedSchema::from_json(schema_json, &mut names).expect("schema");
        let mut uids = Uids::new(schema.types.len());
        let act = uids.intern(schema.actions[0].type_id, "act");
        let ctx = schema.actions[0].context.clone().expect("a context type");
        (names, schema, uids, act, ctx)
    }

    /// Requests in many spellings, some outside the scanner's shape, some not JSON at all: whenever the scanner
    /// reads one, json.rs must read it, to the same values.
    #[test]
    fn the_scanner_reads_requests_as_json_rs_does() {
        let schema_json: serde_json::Value = serde_json::from_str(
            r#"{"N": {"entityTypes": {"U": {"shape": {"type": "Record", "attributes": {}}}},
                "actions": {"act": {"appliesTo": {"principalTypes": ["U"], "resourceTypes": ["U"],
                  "context": {"type": "Record", "attributes": {
                    "s": {"type": "String"}, "n": {"type": "Long"}, "b": {"type": "Boolean", "required": false},
                    "set": {"type": "Set", "element": {"type": "String"}},
                    "r": {"type": "Record", "required": false, "attributes": {"u": {"type": "Entity", "name": "U"}}},
                    "t": {"type": "Extension", "name": "datetime", "required": false}
                  }}}}}}}"#,
        )
        .unwrap();
        let (names, schema, mut uids, act, ctx) = world(&schema_json);
        let u_ty: TypeId = schema.type_id("N::U").unwrap();
        uids.intern(u_ty, "alice");

        let ws = ["", " ", "\n", "\t ", "\r\n"];
        let uid = [
            r#"{"type":"N::U","id":"alice"}"#,
            r#"{ "id" : "bob" , "type" : "N::U" }"#,
            r#"{"__entity":{"type":"N::U","id":"alice"}}"#,
            r#""N::U::\"alice\"""#,
            r#"{"type":"N::U","id":"al\u0069ce"}"#,
            r#"{"type":"N::V","id":"alice"}"#,
            r#"{"type":"N::U","id":"a","id":"b"}"#,
            r#"{"type":"N::U"}"#,
        ];
        let action = [r#"{"type":"N::Action","id":"act"}"#, r#"{"type":"N::Action","id":"nope"}"#];
        let strings = [r#""x""#, r#""""#, r#""é中""#, r#""a\"b""#, "\"tab\tin\"", "5"];
        let longs = [
            "0",
            "-5",
            "12",
            "9223372036854775807",
            "-9223372036854775808",
            "01",
            "1.0",
            "1e3",
            "-0",
            "9223372036854775808",
            "-9223372036854775809",
            "\"1\"",
            "- 1",
        ];
        let bools = ["true", "false", "null", "tru"];
        let sets = ["[]", r#"["a","b"]"#, r#"[ "a" , "a" ]"#, r#"["a",]"#, r#"[1]"#, "{}"];
        let recs = [r#"{"u":{"type":"N::U","id":"alice"}}"#, r#"{"u":{"type":"N::U","id":"zed"}}"#, "{}", r#"{"u":1}"#];
        let exts = [
            r#"{"__extn":{"fn":"datetime","arg":"2024-01-01"}}"#,
            r#"{ "__extn" : { "arg" : "2024-01-01T10:00:00Z" , "fn" : "datetime" } }"#,
            r#"{"__extn":{"fn":"datetime","arg":"2024-02-30"}}"#,
            r#"{"__extn":{"fn":"decimal","arg":"1.0"}}"#,
            r#"{"__extn":{"fn":"datetime","arg":"2024-01-01","fn":"datetime"}}"#,
            r#"{"__extn":{"fn":"datetime"}}"#,
            r#"{"__extn":{}}"#,
            r#"{"fn":"datetime","arg":"2024-01-01"}"#,
            r#""2024-01-01""#,
            r#"{"__extn":{"fn":"datetime","arg":"2024-01-01"},"x":1}"#,
            r#"{"__extn":{"fn":"datetime","arg":"2024-01-01"}}"#,
            r#"{"__extn":{"fn":"datetime","arg":"2024-01-01","x":"y"}}"#,
        ];
        let ids =
            ["5", r#""req-1""#, "null", "true", "-3", "18446744073709551615", "1.5", "[1]", "18446744073709551616"];

        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let (mut scanned, mut total) = (0, 0);
        for _ in 0..30_000 {
            let w = |r: &mut Rng| ws[r.pick(ws.len())].to_string();
            let mut ctx_fields = vec![
                format!(r#""s":{}"#, rng.choose(&strings, 3)),
                format!(r#""n":{}"#, rng.choose(&longs, 5)),
                format!(r#""set":{}"#, rng.choose(&sets, 3)),
            ];
            if rng.pick(2) == 0 {
                ctx_fields.push(format!(r#""b":{}"#, rng.choose(&bools, 2)));
            }
            if rng.pick(2) == 0 {
                ctx_fields.push(format!(r#""r":{}"#, rng.choose(&recs, 2)));
            }
            if rng.pick(3) == 0 {
                ctx_fields.push(format!(r#""t":{}"#, rng.choose(&exts, 2)));
            }
            match rng.pick(12) {
                0 => ctx_fields.push(r#""zz":1"#.to_string()),
                1 => ctx_fields.push(r#""s":"again""#.to_string()),
                2 => {
                    ctx_fields.remove(0);
                }
                _ => {}
            }
            let k = rng.pick(ctx_fields.len());
            ctx_fields.rotate_left(k);
            let sep = format!("{},{}", w(&mut rng), w(&mut rng));
            let context = format!("{{{}{}{}}}", w(&mut rng), ctx_fields.join(&sep), w(&mut rng));
            let mut fields = vec![
                format!(r#""principal":{}{}"#, w(&mut rng), rng.choose(&uid, 3)),
                format!(r#""action":{}"#, rng.choose(&action, 1)),
                format!(r#""resource":{}"#, rng.choose(&uid, 3)),
                format!(r#""context":{context}"#),
            ];
            if rng.pick(2) == 0 {
                fields.push(format!(r#""id":{}"#, rng.choose(&ids, 6)));
            }
            match rng.pick(14) {
                0 => fields.push(r#""entities":[]"#.to_string()),
                1 => fields.push(r#""entities":[ ]"#.to_string()),
                2 => fields.push(r#""entities":[{"uid":{"type":"N::U","id":"bob"},"attrs":{},"parents":[]}]"#.into()),
                3 => fields.push(r#""other":{"a":[1,2]}"#.to_string()),
                4 => fields.push(r#""action":{"type":"N::Action","id":"act"}"#.to_string()),
                5 => {
                    fields.remove(3);
                }
                6 => fields.swap(1, 3),
                _ => {}
            }
            if rng.pick(3) == 0 {
                fields.rotate_left(1);
            }
            let sep = format!("{},{}", w(&mut rng), w(&mut rng));
            let mut text = format!("{}{{{}{}}}{}", w(&mut rng), fields.join(&sep), w(&mut rng), w(&mut rng));
            match rng.pick(20) {
                0 => text.push('x'),
                1 => text.push('}'),
                2 => {
                    text.pop();
                }
                _ => {}
            }
            total += 1;
            let invalid = std::cell::Cell::new(false);
            let mut cx = Cx::request(&schema, &names, &uids, &invalid);
            let context_of = |a: &EntRef| -> Option<&Arc<RecordTy>> { (*a == EntRef::Known(act)).then_some(&ctx) };
            let Some(ours) = request(&text, &mut cx, &context_of) else { continue };
            scanned += 1;
            let theirs = json::parse_with(&text, RequestSeed { cx: &mut cx, context_of: &context_of, max_slice: 100 })
                .unwrap_or_else(|| panic!("the scanner read what json.rs refuses: {text}"));
            assert_eq!(ours.principal, theirs.principal, "{text}");
            assert_eq!(ours.action, theirs.action, "{text}");
            assert_eq!(ours.resource, theirs.resource, "{text}");
            let held = super::super::value::held();
            // json.rs holds a context given before the action as text, read with the action's type when decided.
            let theirs_context = match (&theirs.context, theirs.raw_context) {
                (Some(f), None) => Some(f.to_vec(&held)),
                (None, Some(raw)) => json::record_value(&mut cx, &ctx, raw.get()).map(|r| r.to_vec()),
                _ => panic!("json.rs read a context and held one: {text}"),
            };
            assert!(theirs_context.is_some(), "the scanner read a context json.rs's reader refuses: {text}");
            assert!(ours.context.as_ref().map(|f| f.to_vec(&held)) == theirs_context, "{text}");
            assert_eq!(ours.id, theirs.id, "{text}");
            assert!(same_entities(&ours.entities, &theirs.entities), "{text}");
        }
        // The generator must exercise both outcomes.
        assert!(scanned > total / 10 && scanned < total, "scanned {scanned} of {total}");
    }

    /// Whether two parsed slices are the same entities, in the same order.
    fn same_entities(a: &[json::ParsedEntity], b: &[json::ParsedEntity]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.uid == y.uid && x.attrs[..] == y.attrs[..] && x.parents == y.parents && x.tags == y.tags
            })
    }

    /// Requests with entity slices in many spellings, valid and not (attributes, parents and tags of the wrong
    /// types, keys missing or twice, enumerated and action entities, `uid` not first, escapes): whenever the
    /// scanner reads one, json.rs must read it, to the same entities.
    #[test]
    fn the_scanner_reads_slices_as_json_rs_does() {
        let schema_json: serde_json::Value = serde_json::from_str(
            r#"{"N": {"entityTypes": {
                "G": {"shape": {"type": "Record", "attributes": {}}},
                "U": {"memberOfTypes": ["G"], "shape": {"type": "Record", "attributes": {
                    "n": {"type": "Long"},
                    "s": {"type": "String", "required": false},
                    "g": {"type": "Entity", "name": "G", "required": false},
                    "set": {"type": "Set", "element": {"type": "String"}, "required": false},
                    "r": {"type": "Record", "required": false, "attributes": {"x": {"type": "Boolean"}}}}}},
                "T": {"shape": {"type": "Record", "attributes": {}}, "tags": {"type": "String"}},
                "E": {"enum": ["a", "b"]}},
              "actions": {"act": {"appliesTo": {"principalTypes": ["U"], "resourceTypes": ["U", "T"],
                "context": {"type": "Record", "attributes": {}}}}}}}"#,
        )
        .unwrap();
        let (names, schema, mut uids, act, ctx) = world(&schema_json);
        uids.intern(schema.type_id("N::G").unwrap(), "g1");
        uids.intern(schema.type_id("N::U").unwrap(), "alice");

        let ws = ["", " ", "\n", "\t "];
        // The first eleven are read by both.
        let entities = [
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{"n":1},"parents":[]}"#,
            r#"{"uid":{"type":"N::U","id":"alice"},"attrs":{"s":"x","n":-2,"g":{"__entity":{"type":"N::G","id":"g1"}}},"parents":[{"type":"N::G","id":"g1"}]}"#,
            r#"{ "uid" : { "id" : "carol", "type" : "N::U" } , "parents" : [ ] , "attrs" : { "n" : 3 , "set" : [ "a" , "b" ] } }"#,
            r#"{"uid":{"__entity":{"type":"N::U","id":"dave"}},"attrs":{"n":4,"r":{"x":true}},"parents":[{"type":"N::G","id":"g2"}],"tags":{}}"#,
            r#"{"uid":{"type":"N::T","id":"t1"},"attrs":{},"parents":[],"tags":{"b":"2","a":"1"}}"#,
            r#"{"uid":{"type":"N::T","id":"t2"},"attrs":{},"parents":[],"tags":{}}"#,
            r#"{"uid":{"type":"N::T","id":"t3"},"tags":{"k":"v"},"attrs":{},"parents":[]}"#,
            r#"{"uid":{"type":"N::G","id":"g1"},"attrs":{},"parents":[]}"#,
            r#"{"uid":{"type":"N::G","id":"g3"},"attrs":{},"parents":[]}"#,
            r#"{"uid":{"type":"N::U","id":"erin"},"attrs":{"n":5,"g":{"type":"N::G","id":"g9"}},"parents":[{"__entity":{"type":"N::G","id":"g1"}},{"type":"N::G","id":"g3"}]}"#,
            r#"{"uid":{"type":"N::U","id":"frank"},"attrs":{"n":6,"set":[]},"parents":[]}"#,
            // Refused by both, or read by json.rs alone.
            r#"{"attrs":{"n":1},"uid":{"type":"N::U","id":"bob"},"parents":[]}"#,
            r#"{"uid":{"type":"N::U","id":"b\u006fb"},"attrs":{"n":1},"parents":[]}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{"n":1}}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"parents":[]}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{},"parents":[]}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{"n":1,"n":2},"parents":[]}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{"n":1,"zz":2},"parents":[]}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{"n":"1"},"parents":[]}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{"n":1},"parents":[{"type":"N::U","id":"alice"}]}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{"n":1},"parents":[],"tags":{"a":"b"}}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{"n":1},"parents":[],"parents":[]}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{"n":1},"parents":[],"extra":1}"#,
            r#"{"uid":{"type":"N::T","id":"t4"},"attrs":{},"parents":[],"tags":{"a":"1","a":"2"}}"#,
            r#"{"uid":{"type":"N::T","id":"t5"},"attrs":{},"parents":[],"tags":{"a":1}}"#,
            r#"{"uid":{"type":"N::T","id":"t6"},"attrs":{},"parents":[],"tags":{"\u0061":"1"}}"#,
            r#"{"uid":{"type":"N::E","id":"a"},"attrs":{},"parents":[]}"#,
            r#"{"uid":{"type":"N::Action","id":"act"},"attrs":{},"parents":[]}"#,
            r#"{"uid":"N::U::\"bob\"","attrs":{"n":1},"parents":[]}"#,
            r#"{"uid":{"type":"N::Nope","id":"x"},"attrs":{},"parents":[]}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{"n":1},"parents":{}}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{"n":1},"parents":[],}"#,
            r#"{"uid":{"type":"N::U","id":"bob"},"attrs":{"n":1},"parents":[{"type":"N::G","id":"g1"},]}"#,
            r#"[]"#,
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut scanned, mut sliced, mut total) = (0, 0, 0);
        for _ in 0..20_000 {
            let w = |r: &mut Rng| ws[r.pick(ws.len())];
            let n = rng.pick(4);
            let list: Vec<String> = (0..n).map(|_| format!("{}{}", w(&mut rng), rng.choose(&entities, 11))).collect();
            let slice = format!("[{}{}]", list.join(","), w(&mut rng));
            let text = format!(
                r#"{{"principal":{{"type":"N::U","id":"alice"}},"action":{{"type":"N::Action","id":"act"}},"resource":{{"type":"N::U","id":"bob"}},"context":{{}},"entities":{}{slice}}}"#,
                w(&mut rng)
            );
            total += 1;
            let invalid = std::cell::Cell::new(false);
            let mut cx = Cx::request(&schema, &names, &uids, &invalid);
            let context_of = |a: &EntRef| -> Option<&Arc<RecordTy>> { (*a == EntRef::Known(act)).then_some(&ctx) };
            let max = 2;
            let ours = super::request_at(&text, 0, &mut cx, &context_of, max).map(|(r, _)| r);
            let theirs = json::parse_with(&text, RequestSeed { cx: &mut cx, context_of: &context_of, max_slice: max });
            let Some(ours) = ours else { continue };
            scanned += 1;
            sliced += usize::from(!ours.entities.is_empty());
            let theirs = theirs.unwrap_or_else(|| panic!("the scanner read what json.rs refuses: {text}"));
            assert!(ours.entities.len() <= max, "{text}");
            assert!(same_entities(&ours.entities, &theirs.entities), "{text}");
        }
        // The generator must exercise both outcomes, and slices with entities.
        assert!(scanned > total / 10 && scanned < total, "scanned {scanned} of {total}");
        assert!(sliced > total / 10, "{sliced} slices with entities of {total}");
    }

    #[test]
    fn string_end_finds_the_first_quote_backslash_or_control_byte() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let alphabet = [b'a', b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff, 0x21, 0x5b, 0x5d];
        for _ in 0..50_000 {
            let len = rng.pick(40);
            let bytes: Vec<u8> = (0..len)
                .map(|_| if rng.pick(6) == 0 { alphabet[rng.pick(alphabet.len())] } else { b'a' + rng.pick(26) as u8 })
                .collect();
            let want = bytes.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            assert_eq!(super::string_end(&bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn split_array_agrees_with_serde_on_valid_arrays() {
        let cases = [
            "[]",
            " [ ] ",
            r#"[{"a":"}]\"","b":[1,{"c":"\\"}]},2, "x,y" ,null ,[[]]]"#,
            "[\n{\"id\": 1}\t,\r\n{\"id\": [\"]\"]}\n]\n",
        ];
        for c in cases {
            let ours = split_array(c).unwrap_or_else(|| panic!("{c}"));
            let theirs: Vec<&serde_json::value::RawValue> = serde_json::from_str(c).unwrap();
            let theirs: Vec<&str> = theirs.iter().map(|r| r.get()).collect();
            assert_eq!(ours, theirs, "{c}");
        }
    }

    #[test]
    fn split_array_refuses_what_is_not_an_array_of_elements() {
        for c in ["", "{}", "[", "[1,]", "[,1]", "[1,,2]", "[1] x", "[1}", r#"["abc]"#, "[{]", "[1 ", "[} ]"] {
            assert!(split_array(c).is_none(), "{c}");
        }
    }
}
