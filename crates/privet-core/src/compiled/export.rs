//! The compiled store written back in cedar's entity JSON form, so cedar's path can rebuild its `Entities` when
//! it needs them (a request the compiled path leaves, an explanation) instead of Privet keeping both stores in
//! memory. Every value is written in a form cedar parses back to the same value; where no such form exists
//! (checked by parsing it back) the export fails and the bundle keeps cedar's store.

use serde_json::{Map, Value, json};

use super::ext::{self, Ext};
use super::schema::TypedSchema;
use super::store::{EntityData, FastStore};
use super::value::{EntRef, Names, Val};

/// Exports every non-action entity of the store, or `None` if some value has no exact JSON form.
pub(crate) fn store_json(schema: &TypedSchema, names: &Names, store: &FastStore) -> Option<Value> {
    let mut out = Vec::new();
    for (i, d) in store.entities.iter().enumerate() {
        let Some(d) = d else { continue };
        let (ty, _) = store.uids.uid(i as u32)?;
        if schema.types.get(*ty as usize)?.is_action {
            continue;
        }
        out.push(entity_json(schema, names, store, i as u32, d)?);
    }
    Some(Value::Array(out))
}

/// Whether every value of the given entities has an exact JSON form.
pub(crate) fn exportable(schema: &TypedSchema, names: &Names, store: &FastStore, ids: &[u32]) -> bool {
    ids.iter().all(|&e| match store.get(e) {
        Some(d) => entity_json(schema, names, store, e, d).is_some(),
        None => true,
    })
}

fn uid_json(schema: &TypedSchema, store: &FastStore, r: &EntRef) -> Option<Value> {
    let (ty, id) = store.uids.parts(r)?;
    Some(json!({"type": &*schema.types.get(ty as usize)?.name, "id": id}))
}

fn entity_json(schema: &TypedSchema, names: &Names, store: &FastStore, e: u32, d: &EntityData) -> Option<Value> {
    let mut attrs = Map::new();
    for (k, v) in d.attrs.iter() {
        attrs.insert(names.name(*k).to_string(), value_json(schema, names, store, v)?);
    }
    let parents =
        d.parents.iter().map(|p| uid_json(schema, store, &EntRef::Known(*p))).collect::<Option<Vec<Value>>>()?;
    let mut out = json!({"uid": uid_json(schema, store, &EntRef::Known(e))?, "attrs": attrs, "parents": parents});
    if let Some(tags) = &d.tags {
        let mut m = Map::new();
        for (k, v) in tags.iter() {
            m.insert(k.to_string(), value_json(schema, names, store, v)?);
        }
        out["tags"] = Value::Object(m);
    }
    Some(out)
}

fn value_json(schema: &TypedSchema, names: &Names, store: &FastStore, v: &Val) -> Option<Value> {
    Some(match v {
        Val::Bool(b) => Value::Bool(*b),
        Val::Long(n) => json!(n),
        Val::Str(s) => Value::String(s.to_string()),
        Val::Ent(r) => json!({"__entity": uid_json(schema, store, r)?}),
        Val::Set(items) => {
            Value::Array(items.iter().map(|i| value_json(schema, names, store, i)).collect::<Option<_>>()?)
        }
        Val::Rec(fields) => {
            let mut m = Map::new();
            for (k, v) in fields.iter() {
                m.insert(names.name(*k).to_string(), value_json(schema, names, store, v)?);
            }
            Value::Object(m)
        }
        Val::Ext(x) => {
            let (f, arg) = ext_text(x)?;
            // Only a form cedar reads back as the same value will do.
            if ext::construct(f, &arg).as_ref() != Some(&**x) {
                return None;
            }
            json!({"__extn": {"fn": f, "arg": arg}})
        }
    })
}

/// The constructor and argument that make an extension value.
fn ext_text(x: &Ext) -> Option<(&'static str, String)> {
    Some(match x {
        Ext::Decimal(v) => {
            let abs = v.unsigned_abs();
            let sign = if *v < 0 { "-" } else { "" };
            ("decimal", format!("{sign}{}.{:04}", abs / 10_000, abs % 10_000))
        }
        Ext::Duration(ms) => ("duration", format!("{ms}ms")),
        Ext::Datetime(ms) => ("datetime", datetime_text(*ms)?),
        Ext::Ip(ip) => ("ip", format!("{}/{}", ip.addr, ip.prefix)),
    })
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.sssZ` (years 0000–9999 only).
fn datetime_text(ms: i64) -> Option<String> {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Civil date from a day count (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (h, m, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1_000 % 60, rem % 1_000);
    Some(format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_values_round_trip_through_their_text() {
        for (f, arg) in [
            ("datetime", "2024-02-29"),
            ("datetime", "1969-12-31T23:59:59.999Z"),
            ("datetime", "0000-01-01"),
            ("datetime", "9999-12-31T23:59:59.999Z"),
            ("datetime", "2026-03-01T10:00:00+0130"),
            ("duration", "-1d2h3m4s5ms"),
            ("duration", "-9223372036854775808ms"),
            ("decimal", "-922337203685477.5808"),
            ("decimal", "0.5"),
            ("ip", "10.0.0.1/24"),
            ("ip", "::1"),
        ] {
            let x = ext::construct(f, arg).unwrap();
            let (g, text) = ext_text(&x).unwrap();
            assert_eq!(g, f);
            assert_eq!(ext::construct(g, &text), Some(x), "{f}({arg}) written as {text}");
        }
    }

    #[test]
    fn out_of_range_datetimes_have_no_text() {
        assert_eq!(datetime_text(-62_167_219_200_001), None); // just before 0000-01-01
        assert!(datetime_text(-62_167_219_200_000).is_some());
    }
}
