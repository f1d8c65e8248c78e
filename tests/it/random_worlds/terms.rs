//! Typed terms for conditions: a value of a given type is an attribute path, a literal, or a compound term
//! (arithmetic on longs, datetime and duration methods, record literal access, `if-then-else`); and comparisons
//! over arithmetic near the edges of i64 and of datetimes, which overflow now and then.

use super::exprs::Exprs;
use super::rng::Rng;
use super::schema::{Ext, Ty, escape};
use super::values::{LONGS, STRINGS, ext_pool, long};

impl Exprs<'_> {
    /// A comparison over arithmetic on longs (often near the edges of i64) or on datetimes and durations, which
    /// overflows now and then.
    pub(super) fn arithmetic(&self, rng: &mut Rng, g: &mut Vec<String>) -> String {
        let cmp = *rng.pick(&["<", "<=", ">", ">=", "==", "!="]);
        let (dt, dur) = (Ty::Ext(Ext::Datetime), Ty::Ext(Ext::Duration));
        if rng.chance(55) {
            let operand = |rng: &mut Rng, g: &mut Vec<String>| {
                if rng.chance(35) {
                    rng.pick(&[i64::MAX, i64::MIN, 1 << 62, -(1 << 62), 3_037_000_500, i64::MAX - 1]).to_string()
                } else {
                    self.value(rng, &Ty::Long, 1, g)
                }
            };
            let op = *rng.pick(&["+", "-", "*"]);
            let (a, b) = (operand(rng, g), operand(rng, g));
            if rng.chance(15) {
                return format!("((-{a}) {cmp} {b})");
            }
            return format!("(({a} {op} {b}) {cmp} {})", self.value(rng, &Ty::Long, 0, g));
        }
        let cmp = if rng.chance(30) { "==" } else { cmp };
        match rng.below(3) {
            0 => {
                let by = if rng.chance(40) {
                    format!(
                        "duration(\"{}\")",
                        rng.pick(&["9223372036854775807ms", "-9223372036854775808ms", "106751991167d"])
                    )
                } else {
                    self.value(rng, &dur, 1, g)
                };
                format!("({}.offset({by}) {cmp} {})", self.value(rng, &dt, 1, g), self.value(rng, &dt, 0, g))
            }
            1 => format!(
                "({}.durationSince({}) {cmp} {})",
                self.value(rng, &dt, 1, g),
                self.value(rng, &dt, 1, g),
                self.value(rng, &dur, 0, g)
            ),
            _ => {
                let m = rng.pick(&["toDays", "toHours", "toMinutes", "toSeconds", "toMilliseconds"]);
                format!("({}.{m}() {cmp} {})", self.value(rng, &dur, 1, g), self.value(rng, &Ty::Long, 1, g))
            }
        }
    }

    /// A value of type `ty`: a path, a literal, or (with `depth` left) a compound expression.
    pub fn value(&self, rng: &mut Rng, ty: &Ty, depth: usize, g: &mut Vec<String>) -> String {
        let paths = self.paths_of(ty);
        let w_path = if paths.is_empty() { 0 } else { 6 };
        let w_compound = if depth > 0 { 3 } else { 0 };
        match rng.weighted(&[w_path, 4, w_compound]) {
            0 => {
                let p = rng.pick(&paths);
                g.extend(p.guards.iter().cloned());
                p.text.clone()
            }
            1 => self.literal(rng, ty, g),
            _ => self.compound(rng, ty, depth - 1, g),
        }
    }

    fn literal(&self, rng: &mut Rng, ty: &Ty, g: &mut Vec<String>) -> String {
        match ty {
            Ty::Bool => if rng.chance(50) { "true" } else { "false" }.into(),
            Ty::Long => {
                let n = if rng.chance(10) { *rng.pick(&LONGS) } else { long(rng) };
                n.to_string()
            }
            Ty::Str => {
                let s = *rng.pick(&STRINGS);
                format!("\"{}\"", escape(s))
            }
            Ty::Set(e) => {
                let items: Vec<String> = (0..rng.range(1, 3)).map(|_| self.value(rng, e, 0, g)).collect();
                format!("[{}]", items.join(", "))
            }
            Ty::Entity(t) => match (*t, rng.below(4)) {
                (t, 0) if self.entities[0].types == [t] => "principal".into(),
                (t, 1) if self.entities[1].types == [t] => "resource".into(),
                (t, _) => self.entity_lit(rng, t),
            },
            Ty::Record(r) => {
                let fields: Vec<String> = self.s.records[*r]
                    .fields
                    .iter()
                    .map(|f| format!("\"{}\": {}", f.name, self.value(rng, &f.ty, 0, g)))
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
            Ty::Ext(e) => format!("{}(\"{}\")", e.constructor(), rng.pick(ext_pool(*e))),
        }
    }

    fn compound(&self, rng: &mut Rng, ty: &Ty, depth: usize, g: &mut Vec<String>) -> String {
        let cond = |rng: &mut Rng| self.condition(rng, depth.min(1));
        match ty {
            Ty::Long => match rng.below(8) {
                0 => format!("({} + {})", self.value(rng, ty, depth, g), self.value(rng, ty, depth, g)),
                1 => format!("({} - {})", self.value(rng, ty, depth, g), self.value(rng, ty, depth, g)),
                2 => format!("({} * {})", self.value(rng, ty, depth, g), self.value(rng, ty, depth, g)),
                3 => format!("(-{})", self.value(rng, ty, depth, g)),
                4 => {
                    let m = rng.pick(&["toDays", "toHours", "toMinutes", "toSeconds", "toMilliseconds"]);
                    format!("{}.{m}()", self.value(rng, &Ty::Ext(Ext::Duration), depth, g))
                }
                5 => {
                    let v = self.value(rng, ty, depth, g);
                    format!("{{n: {v}, s: \"r\"}}.n")
                }
                _ => format!(
                    "(if {} then {} else {})",
                    cond(rng),
                    self.value(rng, ty, depth, g),
                    self.value(rng, ty, depth, g)
                ),
            },
            Ty::Ext(Ext::Datetime) => match rng.below(3) {
                0 => format!(
                    "{}.offset({})",
                    self.value(rng, ty, depth, g),
                    self.value(rng, &Ty::Ext(Ext::Duration), depth, g)
                ),
                1 => format!("{}.toDate()", self.value(rng, ty, depth, g)),
                _ => format!(
                    "(if {} then {} else {})",
                    cond(rng),
                    self.value(rng, ty, depth, g),
                    self.value(rng, ty, depth, g)
                ),
            },
            Ty::Ext(Ext::Duration) => match rng.below(3) {
                0 => {
                    let dt = Ty::Ext(Ext::Datetime);
                    format!("{}.durationSince({})", self.value(rng, &dt, depth, g), self.value(rng, &dt, depth, g))
                }
                1 => format!("{}.toTime()", self.value(rng, &Ty::Ext(Ext::Datetime), depth, g)),
                _ => format!(
                    "(if {} then {} else {})",
                    cond(rng),
                    self.value(rng, ty, depth, g),
                    self.value(rng, ty, depth, g)
                ),
            },
            Ty::Bool => self.condition(rng, depth),
            _ => format!(
                "(if {} then {} else {})",
                cond(rng),
                self.value(rng, ty, depth, g),
                self.value(rng, ty, depth, g)
            ),
        }
    }
}
