//! Cedar 4.14's extension types — `decimal`, `ipaddr`, `datetime` and `duration` — reimplemented for the
//! compiled evaluator, with semantics identical to `cedar-policy-core` 4.14.1 (`src/extensions/*.rs`).
//!
//! What "identical" covers:
//!
//! - Constructors accept exactly the strings cedar accepts and build the value cedar stores. Cedar keeps no
//!   trace of the text a value was written with, so equal values compare equal however they were spelled:
//!   `decimal("1.0") == decimal("1.00")`, `datetime("2024-01-01T01:00:00+0100") == datetime("2024-01-01")`.
//!   An IP value is the address *as written* plus its prefix length (the host bits are not masked):
//!   `ip("10.0.0.1") == ip("10.0.0.1/32")` but `ip("10.0.0.1/24") != ip("10.0.0.0/24")`.
//! - Values of different extension types are never equal, even a datetime and a duration holding the same
//!   number of milliseconds.
//! - Every method raises an error exactly where cedar's does: wrong argument count or type, and `i64`
//!   overflow in `offset`, `durationSince` and `toDate`.
//! - `isInRange` takes exactly one range: cedar's `variadic-is-in-range` feature (part of `experimental`) is
//!   off in this workspace.
//! - `<`, `<=`, `>`, `>=` work on two datetimes or two durations only (the types cedar marks as supporting
//!   operator overloading); decimals and IPs compare only through their methods.
//!
//! Call style (function `decimal(..)` versus method `x.lessThan(..)`) is checked by cedar's parser, not here.

use std::cmp::Ordering;
use std::net::IpAddr;

/// An extension value, in a representation whose derived equality and hash equal cedar's `==`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Ext {
    /// A `decimal`, scaled by 10^4 (`decimal("1.5")` is `Decimal(15000)`).
    Decimal(i64),
    /// An `ipaddr`.
    Ip(IpValue),
    /// A `datetime`: milliseconds since the Unix epoch (no leap seconds).
    Datetime(i64),
    /// A `duration` in milliseconds.
    Duration(i64),
}

/// An `ipaddr` value as cedar stores it: the address as written (host bits kept) and the prefix length,
/// which is 32 (IPv4) or 128 (IPv6) for a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct IpValue {
    /// The address, without the prefix.
    pub(crate) addr: IpAddr,
    /// The prefix length: at most 32 for IPv4, 128 for IPv6.
    pub(crate) prefix: u8,
}

/// An argument to an extension function (receiver first for methods). No function takes a `Long` or a `Bool`:
/// those variants exist so a wrongly typed argument reaches `call` and is refused there, as cedar refuses it.
#[allow(dead_code)]
pub(crate) enum ExtArg<'a> {
    /// An extension value.
    Ext(&'a Ext),
    /// A `Long`.
    Long(i64),
    /// A `String`.
    Str(&'a str),
    /// A `Bool`.
    Bool(bool),
}

/// A result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExtOut {
    /// A `Bool`.
    Bool(bool),
    /// A `Long`.
    Long(i64),
    /// An extension value.
    Ext(Ext),
}

/// Every extension function and method of cedar 4.14.1 with the default features (`ipaddr`, `decimal`,
/// `datetime`; not `partial-eval`, whose `unknown` is therefore absent).
const FUNCTIONS: [&str; 22] = [
    // decimal
    "decimal",
    "lessThan",
    "lessThanOrEqual",
    "greaterThan",
    "greaterThanOrEqual",
    // ipaddr
    "ip",
    "isIpv4",
    "isIpv6",
    "isLoopback",
    "isMulticast",
    "isInRange",
    // datetime
    "datetime",
    "duration",
    "offset",
    "durationSince",
    "toDate",
    "toTime",
    "toMilliseconds",
    "toSeconds",
    "toMinutes",
    "toHours",
    "toDays",
];

/// True for every extension function/method name cedar 4.14 knows: the constructors `decimal`, `ip`,
/// `datetime`, `duration` and the methods `lessThan`, `lessThanOrEqual`, `greaterThan`, `greaterThanOrEqual`,
/// `isIpv4`, `isIpv6`, `isLoopback`, `isMulticast`, `isInRange`, `offset`, `durationSince`, `toDate`, `toTime`,
/// `toDays`, `toHours`, `toMinutes`, `toSeconds`, `toMilliseconds`.
pub(crate) fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

/// A constructor applied to a string: `construct("datetime", "2024-01-01")`. None exactly when cedar's
/// constructor would return an error (and for a name that is not a constructor).
pub(crate) fn construct(fn_name: &str, arg: &str) -> Option<Ext> {
    match fn_name {
        "decimal" => parse_decimal(arg).map(Ext::Decimal),
        "ip" => parse_ip(arg).map(Ext::Ip),
        "datetime" => parse_datetime(arg).map(Ext::Datetime),
        "duration" => parse_duration(arg).map(Ext::Duration),
        _ => None,
    }
}

/// Calls a function or method by name; Err(()) exactly when cedar would raise an evaluation error (overflow,
/// wrong argument types or count, bad string for a constructor, unknown name).
pub(crate) fn call(name: &str, args: &[ExtArg<'_>]) -> Result<ExtOut, ()> {
    match name {
        "decimal" | "ip" | "datetime" | "duration" => match args {
            [ExtArg::Str(s)] => construct(name, s).map(ExtOut::Ext).ok_or(()),
            _ => Err(()),
        },
        "lessThan" | "lessThanOrEqual" | "greaterThan" | "greaterThanOrEqual" => {
            let [a, b] = args else { return Err(()) };
            let ord = as_decimal(a)?.cmp(&as_decimal(b)?);
            let holds = match name {
                "lessThan" => ord.is_lt(),
                "lessThanOrEqual" => ord.is_le(),
                "greaterThan" => ord.is_gt(),
                _ => ord.is_ge(),
            };
            Ok(ExtOut::Bool(holds))
        }
        "isIpv4" | "isIpv6" | "isLoopback" | "isMulticast" => {
            let [a] = args else { return Err(()) };
            let ip = as_ip(a)?;
            let holds = match name {
                "isIpv4" => ip.addr.is_ipv4(),
                "isIpv6" => ip.addr.is_ipv6(),
                "isLoopback" => ip.addr.is_loopback() && ip.prefix >= if ip.addr.is_ipv4() { 8 } else { 128 },
                _ => ip.addr.is_multicast() && ip.prefix >= if ip.addr.is_ipv4() { 4 } else { 8 },
            };
            Ok(ExtOut::Bool(holds))
        }
        "isInRange" => {
            let [a, b] = args else { return Err(()) };
            Ok(ExtOut::Bool(ip_in_range(as_ip(a)?, as_ip(b)?)))
        }
        "offset" => {
            let [a, b] = args else { return Err(()) };
            let sum = as_datetime(a)?.checked_add(as_duration(b)?).ok_or(())?;
            Ok(ExtOut::Ext(Ext::Datetime(sum)))
        }
        "durationSince" => {
            let [a, b] = args else { return Err(()) };
            let diff = as_datetime(a)?.checked_sub(as_datetime(b)?).ok_or(())?;
            Ok(ExtOut::Ext(Ext::Duration(diff)))
        }
        "toDate" => {
            let [a] = args else { return Err(()) };
            let ms = as_datetime(a)?;
            let date = ms.checked_sub(ms.rem_euclid(DAY_MS)).ok_or(())?;
            Ok(ExtOut::Ext(Ext::Datetime(date)))
        }
        "toTime" => {
            let [a] = args else { return Err(()) };
            Ok(ExtOut::Ext(Ext::Duration(as_datetime(a)?.rem_euclid(DAY_MS))))
        }
        "toMilliseconds" | "toSeconds" | "toMinutes" | "toHours" | "toDays" => {
            let [a] = args else { return Err(()) };
            let ms = as_duration(a)?;
            // Cedar divides step by step, each division truncating towards zero.
            let seconds = ms / 1000;
            let minutes = seconds / 60;
            let hours = minutes / 60;
            let out = match name {
                "toMilliseconds" => ms,
                "toSeconds" => seconds,
                "toMinutes" => minutes,
                "toHours" => hours,
                _ => hours / 24,
            };
            Ok(ExtOut::Long(out))
        }
        _ => Err(()),
    }
}

/// Cedar 4.14 allows `<`, `<=`, `>`, `>=` on two datetimes or on two durations (the extension types that
/// support operator overloading). The ordering when cedar allows the comparison, None when it would be a type
/// error (decimals, IPs, mixed types).
pub(crate) fn compare(a: &Ext, b: &Ext) -> Option<Ordering> {
    match (a, b) {
        (Ext::Datetime(x), Ext::Datetime(y)) | (Ext::Duration(x), Ext::Duration(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

const DAY_MS: i64 = 86_400_000;

fn as_decimal(arg: &ExtArg<'_>) -> Result<i64, ()> {
    match arg {
        ExtArg::Ext(Ext::Decimal(d)) => Ok(*d),
        _ => Err(()),
    }
}

fn as_ip<'a>(arg: &ExtArg<'a>) -> Result<&'a IpValue, ()> {
    match arg {
        ExtArg::Ext(Ext::Ip(ip)) => Ok(ip),
        _ => Err(()),
    }
}

fn as_datetime(arg: &ExtArg<'_>) -> Result<i64, ()> {
    match arg {
        ExtArg::Ext(Ext::Datetime(ms)) => Ok(*ms),
        _ => Err(()),
    }
}

fn as_duration(arg: &ExtArg<'_>) -> Result<i64, ()> {
    match arg {
        ExtArg::Ext(Ext::Duration(ms)) => Ok(*ms),
        _ => Err(()),
    }
}

/// The value of a non-empty run of ASCII digits (leading zeros allowed); None when empty, on any other
/// byte, or when the value exceeds `u128`.
fn digits_value(digits: &[u8]) -> Option<u128> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u128, |acc, &c| {
        if c.is_ascii_digit() { acc.checked_mul(10)?.checked_add(u128::from(c - b'0')) } else { None }
    })
}

// ---------------------------------------------------------------------------------------------------------
// decimal
// ---------------------------------------------------------------------------------------------------------

/// `decimal("…")`: an optional `-`, one or more digits, `.`, one to four digits; the exact value must fit
/// `i64` once scaled by 10^4, i.e. lie in -922337203685477.5808 ..= 922337203685477.5807.
///
/// (Cedar's pattern is `^(-?\d+)\.(\d+)$` with Unicode `\d`, but every non-ASCII digit then fails its `i64`
/// conversion, so only ASCII digits are ever accepted. Cedar checks each intermediate step for overflow;
/// all steps share one sign, so that is the same as checking the exact result.)
fn parse_decimal(s: &str) -> Option<i64> {
    let bytes = s.as_bytes();
    let (negative, body) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let dot = body.iter().position(|&c| c == b'.')?;
    let (int_part, frac_part) = (body.get(..dot)?, body.get(dot + 1..)?);
    if frac_part.len() > 4 {
        return None;
    }
    let int = digits_value(int_part)?;
    let frac = digits_value(frac_part)?;
    let scale = 10u128.pow(4 - u32::try_from(frac_part.len()).ok()?);
    let magnitude = i128::try_from(int.checked_mul(10_000)?.checked_add(frac.checked_mul(scale)?)?).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

// ---------------------------------------------------------------------------------------------------------
// ipaddr
// ---------------------------------------------------------------------------------------------------------

/// `ip("…")`: at most 43 bytes; not both two or more `:` and two or more `.` (cedar refuses IPv4 embedded in
/// IPv6 text); an address in the standard library's syntax, optionally followed by `/` and a prefix length
/// written in decimal without leading zeros (at most 2 digits and 32 for IPv4, 3 digits and 128 for IPv6).
fn parse_ip(s: &str) -> Option<IpValue> {
    if s.len() > 43 {
        return None;
    }
    if s.matches(':').nth(1).is_some() && s.matches('.').nth(1).is_some() {
        return None;
    }
    match s.split_once('/') {
        Some((addr, prefix)) => {
            let addr: IpAddr = addr.parse().ok()?;
            let (max, max_len) = if addr.is_ipv4() { (32, 2) } else { (128, 3) };
            let p = prefix.as_bytes();
            if p.len() > max_len || (p.len() > 1 && p.first() == Some(&b'0')) {
                return None;
            }
            let prefix = u8::try_from(digits_value(p)?).ok().filter(|&n| n <= max)?;
            Some(IpValue { addr, prefix })
        }
        None => {
            let addr: IpAddr = s.parse().ok()?;
            Some(IpValue { addr, prefix: if addr.is_ipv4() { 32 } else { 128 } })
        }
    }
}

/// The address as an integer, and its width in bits.
fn ip_bits(addr: IpAddr) -> (u128, u32) {
    match addr {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

/// `child.isInRange(range)`: both of one IP version, and the network of `child` (lowest to highest address,
/// host bits of the address as written ignored) lies within that of `range`.
fn ip_in_range(child: &IpValue, range: &IpValue) -> bool {
    if child.addr.is_ipv4() != range.addr.is_ipv4() {
        return false;
    }
    let bounds = |ip: &IpValue| {
        let (bits, width) = ip_bits(ip.addr);
        let all = if width == 128 { u128::MAX } else { (1u128 << width) - 1 };
        let host = all.checked_shr(u32::from(ip.prefix)).unwrap_or(0);
        (bits & all & !host, bits | host)
    };
    let (child_low, child_high) = bounds(child);
    let (range_low, range_high) = bounds(range);
    range_low <= child_low && child_high <= range_high
}

// ---------------------------------------------------------------------------------------------------------
// datetime
// ---------------------------------------------------------------------------------------------------------

/// The value of exactly `n` ASCII digits at the start of `bytes`.
fn fixed_digits(bytes: &[u8], n: usize) -> Option<i64> {
    i64::try_from(digits_value(bytes.get(..n)?)?).ok()
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date, or None if the date does not exist.
fn days_since_epoch(year: i64, month: i64, day: i64) -> Option<i64> {
    let month_len = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=month_len).contains(&day) {
        return None;
    }
    // Count from 0000-03-01 so that the leap day ends the counting year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

/// `datetime("…")`, in one of the forms `YYYY-MM-DD`, `YYYY-MM-DDThh:mm:ssZ`, `YYYY-MM-DDThh:mm:ss.SSSZ`,
/// `YYYY-MM-DDThh:mm:ss(+|-)HHMM`, `YYYY-MM-DDThh:mm:ss.SSS(+|-)HHMM` (ASCII digits, exactly that many; years
/// 0000 to 9999, a real calendar date, hour < 24, minute < 60, second < 60 (no leap second), offset hours < 24
/// and offset minutes < 60). The value is the UTC instant: local time minus the offset.
fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let year = fixed_digits(b, 4)?;
    let month = fixed_digits(b.get(5..)?, 2)?;
    let day = fixed_digits(b.get(8..)?, 2)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let days = days_since_epoch(year, month, day)?;
    let Some(time) = b.get(10..).filter(|rest| !rest.is_empty()) else {
        return days.checked_mul(DAY_MS);
    };
    if time.first() != Some(&b'T') || time.get(3) != Some(&b':') || time.get(6) != Some(&b':') {
        return None;
    }
    let hour = fixed_digits(time.get(1..)?, 2)?;
    let minute = fixed_digits(time.get(4..)?, 2)?;
    let second = fixed_digits(time.get(7..)?, 2)?;
    let mut rest = time.get(9..)?;
    let mut millis = 0;
    if rest.first() == Some(&b'.') {
        millis = fixed_digits(rest.get(1..)?, 3)?;
        rest = rest.get(4..)?;
    }
    let offset_seconds = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), hhmm @ ..] if hhmm.len() == 4 => {
            let (oh, om) = (fixed_digits(hhmm, 2)?, fixed_digits(hhmm.get(2..)?, 2)?);
            if oh >= 24 || om >= 60 {
                return None;
            }
            if *sign == b'+' { oh * 3600 + om * 60 } else { -(oh * 3600 + om * 60) }
        }
        _ => return None,
    };
    if hour >= 24 || minute >= 60 || second >= 60 {
        return None;
    }
    let local = days.checked_mul(DAY_MS)? + ((hour * 60 + minute) * 60 + second) * 1000 + millis;
    local.checked_sub(offset_seconds * 1000)
}

// ---------------------------------------------------------------------------------------------------------
// duration
// ---------------------------------------------------------------------------------------------------------

/// `duration("…")`: an optional `-`, then at least one of `<n>d`, `<n>h`, `<n>m`, `<n>s`, `<n>ms`, each at
/// most once and in that order (`<n>` one or more ASCII digits, leading zeros allowed, at most `u64::MAX`).
/// The `-` negates the whole sum, which must fit `i64` (so `-9223372036854775808ms` is accepted).
///
/// (Cedar accumulates with checked arithmetic one unit at a time; every term has the same sign, and no term
/// can be exactly 2^63 milliseconds, so that is the same as checking the exact sum.)
fn parse_duration(s: &str) -> Option<i64> {
    const UNIT_MS: [i128; 5] = [86_400_000, 3_600_000, 60_000, 1000, 1];
    let bytes = s.as_bytes();
    let (negative, mut rest) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if rest.is_empty() {
        return None;
    }
    let mut next_unit = 0;
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let n_digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let n = u64::try_from(digits_value(rest.get(..n_digits)?)?).ok()?;
        rest = rest.get(n_digits..)?;
        let (unit, unit_len) = match rest {
            [b'm', b's', ..] => (4, 2),
            [b'd', ..] => (0, 1),
            [b'h', ..] => (1, 1),
            [b'm', ..] => (2, 1),
            [b's', ..] => (3, 1),
            _ => return None,
        };
        if unit < next_unit {
            return None;
        }
        next_unit = unit + 1;
        total += i128::from(n) * UNIT_MS[unit];
        rest = rest.get(unit_len..)?;
    }
    i64::try_from(if negative { -total } else { total }).ok()
}

#[cfg(test)]
mod tests {
    //! Differential tests: every expression is evaluated by `cedar_policy::eval_expression` and by this module.
    //! Cedar errors exactly when this module does; otherwise Bools and Longs are equal, and an extension value
    //! is checked in cedar by `(expr) == <canonical constructor of this module's value>` (plus, for datetimes and
    //! durations, the millisecond count as a Long).

    use super::*;
    use cedar_policy::{Context, Entities, EntityUid, EvalResult, Expression, Request, eval_expression};
    use proptest::prelude::*;
    use std::str::FromStr;

    /// An expression over strings, longs, bools, extension calls and comparisons.
    #[derive(Debug, Clone)]
    enum T {
        Str(String),
        Long(i64),
        Bool(bool),
        /// A constructor (function style) or a method (the first argument is the receiver).
        Call(&'static str, Vec<T>),
        /// `==`, `!=`, `<`, `<=`, `>`, `>=`.
        Op(&'static str, Box<T>, Box<T>),
    }

    #[derive(Debug, Clone, PartialEq)]
    enum V {
        Str(String),
        Long(i64),
        Bool(bool),
        Ext(Ext),
    }

    const CONSTRUCTORS: [&str; 4] = ["decimal", "ip", "datetime", "duration"];
    const OPS: [&str; 6] = ["==", "!=", "<", "<=", ">", ">="];
    const DECIMAL_METHODS: [&str; 4] = ["lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual"];
    const IP_UNARY: [&str; 4] = ["isIpv4", "isIpv6", "isLoopback", "isMulticast"];
    const DURATION_TO: [&str; 5] = ["toMilliseconds", "toSeconds", "toMinutes", "toHours", "toDays"];

    fn call_t(name: &'static str, args: Vec<T>) -> T {
        T::Call(name, args)
    }
    fn ctor(name: &'static str, s: &str) -> T {
        T::Call(name, vec![T::Str(s.to_string())])
    }
    fn op(o: &'static str, a: T, b: T) -> T {
        T::Op(o, Box::new(a), Box::new(b))
    }

    fn cedar_string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            if c.is_ascii_alphanumeric() || " .:/-+_".contains(c) {
                out.push(c);
            } else {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
        }
        out.push('"');
        out
    }

    fn render(t: &T) -> String {
        match t {
            T::Str(s) => cedar_string(s),
            T::Long(n) => format!("({n})"),
            T::Bool(b) => b.to_string(),
            T::Call(name, args) if CONSTRUCTORS.contains(name) => {
                format!("{name}({})", args.iter().map(render).collect::<Vec<_>>().join(", "))
            }
            T::Call(name, args) => {
                let (recv, rest) = args.split_first().expect("a method has a receiver");
                format!("({}).{name}({})", render(recv), rest.iter().map(render).collect::<Vec<_>>().join(", "))
            }
            T::Op(o, a, b) => format!("({}) {o} ({})", render(a), render(b)),
        }
    }

    fn mine(t: &T) -> Result<V, ()> {
        match t {
            T::Str(s) => Ok(V::Str(s.clone())),
            T::Long(n) => Ok(V::Long(*n)),
            T::Bool(b) => Ok(V::Bool(*b)),
            T::Call(name, args) => {
                let vals = args.iter().map(mine).collect::<Result<Vec<_>, ()>>()?;
                let ext_args: Vec<ExtArg<'_>> = vals
                    .iter()
                    .map(|v| match v {
                        V::Str(s) => ExtArg::Str(s),
                        V::Long(n) => ExtArg::Long(*n),
                        V::Bool(b) => ExtArg::Bool(*b),
                        V::Ext(e) => ExtArg::Ext(e),
                    })
                    .collect();
                Ok(match call(name, &ext_args)? {
                    ExtOut::Bool(b) => V::Bool(b),
                    ExtOut::Long(n) => V::Long(n),
                    ExtOut::Ext(e) => V::Ext(e),
                })
            }
            T::Op(o, a, b) => {
                let (a, b) = (mine(a)?, mine(b)?);
                let ord = match *o {
                    "==" => return Ok(V::Bool(a == b)),
                    "!=" => return Ok(V::Bool(a != b)),
                    _ => match (&a, &b) {
                        (V::Long(x), V::Long(y)) => x.cmp(y),
                        (V::Ext(x), V::Ext(y)) => compare(x, y).ok_or(())?,
                        _ => return Err(()),
                    },
                };
                Ok(V::Bool(match *o {
                    "<" => ord.is_lt(),
                    "<=" => ord.is_le(),
                    ">" => ord.is_gt(),
                    _ => ord.is_ge(),
                }))
            }
        }
    }

    fn cedar(src: &str) -> Result<EvalResult, String> {
        thread_local! {
            static REQUEST: Request = {
                let uid = |s: &str| EntityUid::from_str(s).expect("a valid uid");
                Request::new(uid("P::\"p\""), uid("A::\"a\""), uid("R::\"r\""), Context::empty(), None)
                    .expect("a valid request")
            };
            static ENTITIES: Entities = Entities::empty();
        }
        let expr = Expression::from_str(src).unwrap_or_else(|e| panic!("cedar cannot parse `{src}`: {e:?}"));
        REQUEST.with(|r| ENTITIES.with(|e| eval_expression(r, e, &expr))).map_err(|e| e.to_string())
    }

    /// A cedar expression for `e` built independently of how `e` was written.
    fn canonical(e: &Ext) -> String {
        match e {
            Ext::Decimal(v) => {
                let a = i128::from(*v).abs();
                format!("decimal(\"{}{}.{:04}\")", if *v < 0 { "-" } else { "" }, a / 10_000, a % 10_000)
            }
            Ext::Ip(ip) => {
                let addr = match ip.addr {
                    IpAddr::V4(a) => a.to_string(),
                    IpAddr::V6(a) => a.segments().iter().map(|g| format!("{g:x}")).collect::<Vec<_>>().join(":"),
                };
                format!("ip(\"{addr}/{}\")", ip.prefix)
            }
            Ext::Datetime(ms) => format!("datetime(\"1970-01-01\").offset(duration(\"{ms}ms\"))"),
            Ext::Duration(ms) => format!("duration(\"{ms}ms\")"),
        }
    }

    /// A cedar expression equal to `v`.
    fn expected(v: &V) -> String {
        match v {
            V::Str(s) => cedar_string(s),
            V::Long(i64::MIN) => "(-9223372036854775807 - 1)".to_string(),
            V::Long(n) => format!("({n})"),
            V::Bool(b) => b.to_string(),
            V::Ext(e) => canonical(e),
        }
    }

    /// Evaluates `t` in cedar and here, and checks that the answers agree: both error, or cedar evaluates
    /// `(t) == <this module's value>` to `true` (one parse per check: cedar's parser dominates the cost).
    /// Returns whether `t` evaluated.
    fn check(t: &T) -> bool {
        let src = render(t);
        match mine(t) {
            Err(()) => {
                let want = cedar(&src);
                assert!(want.is_err(), "`{src}`: cedar gives {want:?}, mine an error");
                false
            }
            Ok(v) => {
                if cedar(&format!("({src}) == {}", expected(&v))) != Ok(EvalResult::Bool(true)) {
                    panic!("`{src}`: cedar gives {:?}, mine {v:?}", cedar(&src));
                }
                true
            }
        }
    }

    /// `check` on each of `ts`, with a single cedar parse when all evaluate here.
    fn check_all(ts: &[T]) {
        let Ok(values) = ts.iter().map(mine).collect::<Result<Vec<_>, ()>>() else {
            ts.iter().for_each(|t| {
                check(t);
            });
            return;
        };
        let query: Vec<String> =
            ts.iter().zip(&values).map(|(t, v)| format!("(({}) == {})", render(t), expected(v))).collect();
        if cedar(&query.join(" && ")) != Ok(EvalResult::Bool(true)) {
            for (t, v) in ts.iter().zip(&values) {
                let src = render(t);
                assert_eq!(cedar(&format!("({src}) == {}", expected(v))), Ok(EvalResult::Bool(true)), "`{src}`: {v:?}");
            }
        }
    }

    /// Checks a constructor on `s` against cedar, and `construct` against `call`. Returns whether it succeeded.
    fn check_ctor(name: &'static str, s: &str) -> bool {
        let ok = check(&ctor(name, s));
        let via_call = match call(name, &[ExtArg::Str(s)]) {
            Ok(ExtOut::Ext(e)) => Some(e),
            _ => None,
        };
        assert_eq!(construct(name, s), via_call, "{name}({s:?})");
        assert_eq!(construct(name, s).is_some(), ok, "{name}({s:?})");
        ok
    }

    // -----------------------------------------------------------------------------------------------------
    // hand-written cases
    // -----------------------------------------------------------------------------------------------------

    const DECIMALS: &[&str] = &[
        "0.0",
        "-0.0",
        "1.0",
        "1.00",
        "1.0000",
        "1.00000",
        "0.1234",
        "0.12345",
        "0.00000",
        "00.000",
        "0123.0",
        "123.456",
        "-0.0123",
        "123",
        "1.",
        ".1",
        "-.1",
        "-1.",
        "+1.0",
        "--1.0",
        "-",
        ".",
        "",
        "1.0.",
        "1..0",
        "1.a",
        "a.1",
        " 1.0",
        "1.0 ",
        "1.0\n",
        "1,0",
        "1e3.0",
        "0x1.0",
        "922337203685477.5807",
        "922337203685477.5808",
        "922337203685477.580",
        "922337203685477.58070",
        "-922337203685477.5808",
        "-922337203685477.5809",
        "922337203685478.0",
        "-922337203685478.0",
        "1000000000000000.0",
        "922337203685477.0",
        "-922337203685477.0",
        "9223372036854775807.0",
        "-9223372036854775808.0",
        "99999999999999999999.0",
        "999999999999999999999999999999999999999999.0",
        "0000000000000000000000000000001.5",
        "-0000000000000000000000000000000.0001",
        "\u{661}.\u{660}",
        "1.\u{660}",
        "\u{ff11}.0",
    ];

    const IPS: &[&str] = &[
        "127.0.0.1",
        "127.0.0.1/8",
        "127.0.0.1/7",
        "127.0.0.1/32",
        "127.0.0.1/33",
        "127.0.0.1/032",
        "127.0.0.1/0",
        "127.0.0.1/00",
        "127.0.0.1/",
        "127.0.0.1/+8",
        "127.0.0.1/-8",
        "127.0.0.1/8/8",
        "127.0.0.1 /8",
        "127.0.0.1/ 8",
        "127.255.255.255/9",
        "/8",
        "127.0.0",
        "127.0.0.1.1",
        "127.000.0.1",
        "127.0.0.01",
        "256.0.0.1",
        "0.0.0.0",
        "0.0.0.0/0",
        "255.255.255.255",
        "10.0.0.1",
        "10.0.0.1/24",
        "10.0.0.0/24",
        "::",
        "::/0",
        "::1",
        "::1/128",
        "::1/127",
        "::1/129",
        "::1/0128",
        "::1/1280",
        "0:0:0:0:0:0:0:1",
        "0::1",
        "ffee::/64",
        "FFEE::/64",
        "ff00::/8",
        "ff00::/7",
        "ff02::1",
        "fe80::1%eth0",
        "[::1]",
        "::ffff:127.0.0.1",
        "::127.0.0.1",
        "::ffff:7f00:1",
        "::1.2",
        "1.2.3.4:80",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8:9",
        "1::2::3",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
        "12345::",
        "ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/128",
        "ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/12",
        "0ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/12",
        "0000:0000:0000:0000:0000:0000:0000:0001/128",
        "224.0.0.1",
        "224.0.0.1/4",
        "224.0.0.1/3",
        "239.255.255.255",
        "240.0.0.1",
        "",
        "localhost",
        "1.2.3.4/1.2",
        " 1.2.3.4",
        "1.2.3.4\n",
        "\u{661}.2.3.4",
    ];

    const DATETIMES: &[&str] = &[
        "2024-01-01",
        "2024-1-01",
        "24-01-01",
        "02024-01-01",
        "2024-01-01T",
        "2024-01-01T00:00:00",
        "2024-01-01T00:00:00Z",
        "2024-01-01t00:00:00Z",
        "2024-01-01T00:00:00z",
        "2024-01-01 00:00:00Z",
        "2024-01-01T00:00:00.000Z",
        "2024-01-01T00:00:00.0Z",
        "2024-01-01T00:00:00.0000Z",
        "2024-01-01T00:00:00.123+0100",
        "2024-01-01T00:00:00.999-0100",
        "2024-01-01T00:00:00+01:00",
        "2024-01-01T00:00:00+01",
        "2024-01-01T00:00:00+2359",
        "2024-01-01T00:00:00+2400",
        "2024-01-01T00:00:00-0060",
        "2024-01-01T00:00:00-0059",
        "2024-01-01T00:00:00-0000",
        "2024-01-01T00:00:00+0000",
        "2024-01-01T23:59:59Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T23:60:00Z",
        "2024-01-01T23:59:60Z",
        "2016-12-31T23:59:60Z",
        "2024-02-29",
        "2023-02-29",
        "1900-02-29",
        "2000-02-29",
        "0000-02-29",
        "0004-02-29",
        "0100-02-29",
        "0000-01-01",
        "9999-12-31",
        "9999-12-31T23:59:59.999-2359",
        "0000-01-01T00:00:00.000+2359",
        "2024-00-01",
        "2024-13-01",
        "2024-01-00",
        "2024-01-32",
        "2024-04-31",
        "2024-06-30",
        "2024-01-01Z",
        "2024-01-01T00:00Z",
        "2024-01-01T00:00:00ZZ",
        "2024-01-01T00:00:00Z ",
        " 2024-01-01",
        "2024-01-01 ",
        "2024-01-01\n",
        "-2024-01-01",
        "+2024-01-01",
        "2024/01/01",
        "2024-01-01T00:00:00.123",
        "2024-01-01T00:00:00.12aZ",
        "2024-01-01T00:00:00.Z",
        "1969-12-31T23:59:59.999Z",
        "1970-01-01T00:00:00.001Z",
        "1970-01-01T00:00:00+0001",
        "\u{662}\u{660}\u{662}\u{664}-01-01",
        "2024-01-01T00:00:00\u{2212}0100",
    ];

    const DURATIONS: &[&str] = &[
        "",
        "-",
        "0ms",
        "-0ms",
        "0d",
        "1d",
        "1d2h3m4s5ms",
        "-1d2h3m4s5ms",
        "1d2h3m4s5ms6ms",
        "1ms1s",
        "1h1d",
        "1s1m",
        "1m",
        "1ms",
        "1s",
        "1h",
        "1m1ms",
        "1d1d",
        "d",
        "ms",
        "1",
        "1.5h",
        "1 h",
        " 1h",
        "1h ",
        "+1d",
        "--1d",
        "-+1d",
        "1D",
        "1H",
        "1MS",
        "1mms",
        "1sms",
        "1d-1h",
        "1us",
        "1w",
        "9223372036854775807ms",
        "9223372036854775808ms",
        "-9223372036854775808ms",
        "-9223372036854775809ms",
        "9223372036854775s807ms",
        "9223372036854775s808ms",
        "-9223372036854775s808ms",
        "-9223372036854775s809ms",
        "106751991167d",
        "106751991168d",
        "-106751991167d",
        "-106751991168d",
        "106751991167d86399999ms",
        "106751991167d7h12m55s807ms",
        "106751991167d7h12m55s808ms",
        "-106751991167d7h12m55s808ms",
        "2562047788015215h",
        "2562047788015216h",
        "153722867280912m",
        "153722867280913m",
        "18446744073709551615ms",
        "-18446744073709551615ms",
        "18446744073709551616ms",
        "18446744073709551615d",
        "00000000000000000000000000001ms",
        "-00000000000000000000000000000000000000001d",
        "\u{661}h",
    ];

    #[test]
    fn constructors_on_hand_written_strings() {
        let mut accepted = 0;
        for (name, list) in [("decimal", DECIMALS), ("ip", IPS), ("datetime", DATETIMES), ("duration", DURATIONS)] {
            for s in list {
                accepted += usize::from(check_ctor(name, s));
            }
        }
        // Not all rejected: the lists mix both.
        assert!(accepted > 80, "{accepted}");
    }

    #[test]
    fn equality_and_order_on_hand_written_strings() {
        // Every pair of accepted strings of a type: `==` (symmetric, so each unordered pair once) and, where
        // cedar allows it, `<` (each ordered pair).
        for (name, list) in [("decimal", DECIMALS), ("ip", IPS), ("datetime", DATETIMES), ("duration", DURATIONS)] {
            let valid: Vec<&str> = list.iter().copied().filter(|s| construct(name, s).is_some()).collect();
            for (i, a) in valid.iter().enumerate() {
                for (j, b) in valid.iter().enumerate() {
                    if i <= j {
                        check(&op("==", ctor(name, a), ctor(name, b)));
                    }
                    if name == "datetime" || name == "duration" {
                        check(&op("<", ctor(name, a), ctor(name, b)));
                    }
                }
            }
        }
    }

    #[test]
    fn equality_follows_stored_representation() {
        let eq = |a: T, b: T| {
            assert!(check(&op("==", a.clone(), b.clone())));
            mine(&op("==", a, b)) == Ok(V::Bool(true))
        };
        assert!(eq(ctor("decimal", "1.0"), ctor("decimal", "1.00")));
        assert!(eq(ctor("decimal", "-0.0"), ctor("decimal", "0.0")));
        assert!(eq(ctor("ip", "10.0.0.1"), ctor("ip", "10.0.0.1/32")));
        assert!(eq(ctor("ip", "::1"), ctor("ip", "0:0:0:0:0:0:0:1/128")));
        assert!(!eq(ctor("ip", "10.0.0.1/24"), ctor("ip", "10.0.0.0/24")));
        assert!(!eq(ctor("ip", "::ffff:7f00:1"), ctor("ip", "127.0.0.1")));
        assert!(eq(ctor("datetime", "2024-01-01T01:00:00+0100"), ctor("datetime", "2024-01-01")));
        assert!(eq(ctor("datetime", "2024-01-01T00:00:00.000Z"), ctor("datetime", "2024-01-01")));
        assert!(eq(ctor("duration", "1m"), ctor("duration", "60000ms")));
        assert!(eq(ctor("duration", "-0ms"), ctor("duration", "0d")));
        // Different types holding the same number never compare equal.
        let epoch_plus_1ms = call_t("offset", vec![ctor("datetime", "1970-01-01"), ctor("duration", "1ms")]);
        assert!(!eq(epoch_plus_1ms, ctor("duration", "1ms")));
        assert!(!eq(ctor("decimal", "1.0"), T::Long(1)));
        assert!(!eq(ctor("decimal", "1.0"), T::Str("1.0".into())));
    }

    #[test]
    fn methods_on_hand_written_cases() {
        let dt = |s: &str| ctor("datetime", s);
        let du = |s: &str| ctor("duration", s);
        let dec = |s: &str| ctor("decimal", s);
        let ip = |s: &str| ctor("ip", s);
        let epoch_min = call_t("offset", vec![dt("1970-01-01"), du("-9223372036854775808ms")]);
        let epoch_max = call_t("offset", vec![dt("1970-01-01"), du("9223372036854775807ms")]);
        let mut cases = vec![
            call_t("offset", vec![epoch_max.clone(), du("1ms")]),
            call_t("offset", vec![epoch_max.clone(), du("0ms")]),
            call_t("offset", vec![epoch_min.clone(), du("-1ms")]),
            call_t("offset", vec![dt("2024-01-01"), du("9223372036854775807ms")]),
            call_t("offset", vec![dt("1969-01-01"), du("-9223372036854775808ms")]),
            call_t("offset", vec![dt("1969-01-01"), du("9223372036854775807ms")]),
            call_t("offset", vec![dt("9999-12-31T23:59:59.999-2359"), du("-106751991167d")]),
            call_t("toDate", vec![epoch_min.clone()]),
            call_t("toTime", vec![epoch_min.clone()]),
            call_t("toDate", vec![epoch_max.clone()]),
            call_t("toTime", vec![epoch_max.clone()]),
            call_t("toDate", vec![call_t("offset", vec![dt("1970-01-01"), du("-9223372036800000000ms")])]),
            call_t("toDate", vec![call_t("offset", vec![dt("1970-01-01"), du("-9223372036780000000ms")])]),
            call_t("toDate", vec![dt("1969-12-31T23:59:59.999Z")]),
            call_t("toTime", vec![dt("1969-12-31T23:59:59.999Z")]),
            call_t("toDate", vec![dt("1969-12-31")]),
            call_t("toTime", vec![dt("1969-12-31")]),
            call_t("toDate", vec![dt("2024-03-10T23:30:00-0100")]),
            call_t("toTime", vec![dt("2024-03-10T23:30:00-0100")]),
            call_t("toDate", vec![dt("0000-01-01T00:00:00+2359")]),
            call_t("durationSince", vec![dt("2024-01-01"), dt("2023-01-01")]),
            call_t("durationSince", vec![dt("2023-01-01"), dt("2024-01-01")]),
            call_t("durationSince", vec![dt("2024-01-01"), epoch_min.clone()]),
            call_t("durationSince", vec![epoch_min.clone(), dt("2024-01-01")]),
            call_t("durationSince", vec![epoch_max.clone(), dt("1969-12-31T23:59:59.999Z")]),
            call_t("durationSince", vec![epoch_max.clone(), epoch_min.clone()]),
            call_t("durationSince", vec![dt("2024-01-01"), du("1ms")]),
            call_t("offset", vec![dt("2024-01-01"), dt("2024-01-01")]),
            call_t("offset", vec![du("1ms"), du("1ms")]),
            call_t("offset", vec![dt("2024-01-01")]),
            call_t("offset", vec![dt("2024-01-01"), du("1ms"), du("1ms")]),
            call_t("offset", vec![dt("2024-01-01"), T::Str("1ms".into())]),
            call_t("toDate", vec![du("1d")]),
            call_t("toTime", vec![T::Str("2024-01-01".into())]),
            call_t("toDate", vec![dt("2024-01-01"), dt("2024-01-01")]),
            call_t("toMilliseconds", vec![dt("2024-01-01")]),
            call_t("toMilliseconds", vec![du("1ms"), du("1ms")]),
            call_t("toDays", vec![T::Long(86_400_000)]),
            call_t("lessThan", vec![dec("1.0"), dec("1.0")]),
            call_t("lessThan", vec![dec("-0.0001"), dec("0.0")]),
            call_t("lessThanOrEqual", vec![dec("1.0"), dec("1.00")]),
            call_t("greaterThan", vec![dec("-1.0000"), dec("-0.9999")]),
            call_t("greaterThanOrEqual", vec![dec("922337203685477.5807"), dec("-922337203685477.5808")]),
            call_t("lessThan", vec![dec("1.0"), T::Str("1.0".into())]),
            call_t("lessThan", vec![dec("1.0"), T::Long(1)]),
            call_t("lessThan", vec![dec("1.0")]),
            call_t("lessThan", vec![dec("1.0"), dec("1.0"), dec("1.0")]),
            call_t("lessThan", vec![dt("2024-01-01"), dt("2024-01-02")]),
            call_t("greaterThan", vec![du("1ms"), du("2ms")]),
            call_t("isIpv4", vec![ip("1.2.3.4")]),
            call_t("isIpv4", vec![ip("::1")]),
            call_t("isIpv6", vec![ip("::ffff:7f00:1")]),
            call_t("isIpv6", vec![dec("1.0")]),
            call_t("isIpv4", vec![T::Str("1.2.3.4".into())]),
            call_t("isIpv4", vec![ip("1.2.3.4"), ip("1.2.3.4")]),
            call_t("isInRange", vec![ip("1.2.3.4")]),
            call_t("isInRange", vec![ip("1.2.3.4"), ip("1.2.3.0/24"), ip("1.2.3.0/24")]),
            call_t("isInRange", vec![ip("1.2.3.4"), T::Str("1.2.3.0/24".into())]),
            call_t("isInRange", vec![T::Str("1.2.3.4".into()), ip("1.2.3.0/24")]),
            call_t("toSeconds", vec![du("-1ms")]),
            call_t("toSeconds", vec![du("-1999ms")]),
            call_t("toMinutes", vec![du("-59999ms")]),
            call_t("toMinutes", vec![du("-60000ms")]),
            call_t("toHours", vec![du("-1h1ms")]),
            call_t("toDays", vec![du("-1d")]),
            call_t("toDays", vec![du("-23h59m59s999ms")]),
            call_t("decimal", vec![]),
            call_t("decimal", vec![T::Long(1)]),
            call_t("ip", vec![T::Bool(true)]),
            call_t("datetime", vec![T::Str("2024-01-01".into()), T::Str("2024-01-01".into())]),
            call_t("duration", vec![du("1ms")]),
            op("<", dt("2024-01-01"), dt("2024-01-02")),
            op("<=", dt("2024-01-02"), dt("2024-01-02T00:00:00.001Z")),
            op(">", du("1s"), du("999ms")),
            op(">=", du("-1s"), du("-1000ms")),
            op("<", dt("1970-01-01"), du("1ms")),
            op("<", du("1ms"), T::Long(2)),
            op("<", T::Long(1), dt("1970-01-01")),
            op("<", dec("1.0"), dec("2.0")),
            op("<", ip("1.2.3.4"), ip("1.2.3.5")),
            op("<", T::Str("a".into()), T::Str("b".into())),
            op("<", T::Long(1), T::Long(2)),
            op("==", dec("1.0"), ip("1.0.0.0")),
            op("!=", dt("1970-01-01"), du("0ms")),
        ];
        for d in DURATIONS.iter().filter(|s| construct("duration", s).is_some()) {
            for m in DURATION_TO {
                cases.push(call_t(m, vec![du(d)]));
            }
            cases.push(call_t("offset", vec![dt("1970-01-01"), du(d)]));
            cases.push(call_t("offset", vec![dt("0000-01-01"), du(d)]));
            cases.push(call_t("offset", vec![dt("9999-12-31T23:59:59.999Z"), du(d)]));
        }
        for s in DATETIMES.iter().filter(|s| construct("datetime", s).is_some()) {
            cases.push(call_t("toDate", vec![dt(s)]));
            cases.push(call_t("toTime", vec![dt(s)]));
            cases.push(call_t("durationSince", vec![dt(s), dt("1970-01-01")]));
        }
        let ips: Vec<&str> = IPS.iter().copied().filter(|s| construct("ip", s).is_some()).collect();
        for a in &ips {
            for m in IP_UNARY {
                cases.push(call_t(m, vec![ip(a)]));
            }
            for b in &ips {
                cases.push(call_t("isInRange", vec![ip(a), ip(b)]));
            }
        }
        let decs: Vec<&str> = DECIMALS.iter().copied().filter(|s| construct("decimal", s).is_some()).collect();
        for a in &decs {
            for b in &decs {
                for m in DECIMAL_METHODS {
                    cases.push(call_t(m, vec![dec(a), dec(b)]));
                }
            }
        }
        for c in &cases {
            check(c);
        }
    }

    #[test]
    fn names() {
        for name in FUNCTIONS {
            assert!(is_function(name));
            // Cedar's parser knows each name, in its call style.
            let src = if CONSTRUCTORS.contains(&name) { format!("{name}(\"x\")") } else { format!("\"x\".{name}(1)") };
            assert!(Expression::from_str(&src).is_ok(), "{src}");
        }
        for name in
            ["unknown", "lessthan", "LessThan", "toDay", "toWeeks", "isIpV4", "isInRanges", "date", "time", "now"]
        {
            assert!(!is_function(name));
            assert!(Expression::from_str(&format!("{name}(\"x\")")).is_err(), "{name}");
            assert!(Expression::from_str(&format!("\"x\".{name}(1)")).is_err(), "{name}");
        }
        assert!(!is_function("contains") && !is_function("isEmpty") && !is_function("like"));
        assert!(construct("lessThan", "1.0").is_none());
        assert!(call("nope", &[]).is_err());
    }

    // -----------------------------------------------------------------------------------------------------
    // generated cases
    // -----------------------------------------------------------------------------------------------------

    /// Characters inserted by mutations: the syntax of every format, a few look-alikes and escapes.
    const NOISE: &[char] = &[
        '0', '1', '5', '9', '-', '+', '.', ':', '/', 'T', 'Z', 'z', 't', ' ', 'd', 'h', 'm', 's', 'f', 'F', 'x',
        '\u{661}', '\u{e9}', '\n', '"', '\\',
    ];

    /// Applies up to a few edits (delete, insert, replace, duplicate) at pseudo-random positions.
    fn mutate(s: String, edits: Vec<(usize, u8, char)>) -> String {
        let mut cs: Vec<char> = s.chars().collect();
        for (pos, kind, c) in edits {
            let i = pos % (cs.len() + 1);
            match kind {
                0 if i < cs.len() => {
                    cs.remove(i);
                }
                1 => cs.insert(i, c),
                2 if i < cs.len() => cs[i] = c,
                3 if i < cs.len() => cs.insert(i, cs[i]),
                _ => {}
            }
        }
        cs.into_iter().collect()
    }

    /// The strings of `base`, and (a quarter of the time) the same strings mutated.
    fn near(base: BoxedStrategy<String>) -> BoxedStrategy<String> {
        let edits = prop::collection::vec((any::<usize>(), 0u8..4, prop::sample::select(NOISE)), 1..=2);
        prop_oneof![3 => base.clone(), 1 => (base, edits).prop_map(|(s, e)| mutate(s, e))].boxed()
    }

    fn pick(options: &'static [&'static str]) -> BoxedStrategy<String> {
        prop::sample::select(options).prop_map(String::from).boxed()
    }

    /// `value / 10^4` written with `frac_digits` fraction digits (dropping the others) and `zeros` leading zeros.
    fn decimal_text(value: i64, frac_digits: usize, zeros: usize) -> String {
        let a = i128::from(value).abs();
        let frac = format!("{:04}", a % 10_000);
        let sign = if value < 0 { "-" } else { "" };
        format!("{sign}{}{}.{}", "0".repeat(zeros), a / 10_000, &frac[..frac_digits])
    }

    fn decimal_strings() -> BoxedStrategy<String> {
        let value =
            prop_oneof![any::<i64>(), -200_000i64..200_000, (i64::MAX - 3..=i64::MAX), (i64::MIN..=i64::MIN + 3)];
        let zeros = prop_oneof![4 => Just(0usize), 1 => 1usize..25];
        let written = (value, 1usize..=4, zeros).prop_map(|(v, f, z)| decimal_text(v, f, z));
        let past_limit = (pick(&["", "-"]), 922_337_203_685_476u64..=922_337_203_685_479, "[0-9]{1,5}")
            .prop_map(|(s, i, f)| format!("{s}{i}.{f}"));
        let shapes = (
            pick(&["", "", "", "-", "+", "--"]),
            prop_oneof!["[0-9]{0,3}", "[0-9]{14,21}"],
            pick(&[".", ".", ".", "", ".."]),
            "[0-9]{0,6}",
        )
            .prop_map(|(s, i, d, f)| format!("{s}{i}{d}{f}"));
        near(prop_oneof![3 => written, 1 => past_limit, 2 => shapes].boxed())
    }

    fn octet() -> BoxedStrategy<String> {
        prop_oneof![
            6 => (0u16..=255).prop_map(|n| n.to_string()),
            1 => (256u16..=999).prop_map(|n| n.to_string()),
            1 => (0u16..=99).prop_map(|n| format!("0{n}")),
            1 => Just(String::new()),
        ]
        .boxed()
    }

    fn ipv4_text() -> BoxedStrategy<String> {
        let first = prop_oneof![2 => octet(), 1 => pick(&["127", "224", "239", "240", "10", "0", "255", "223"])];
        let rest = prop_oneof![8 => prop::collection::vec(octet(), 3..=3), 1 => prop::collection::vec(octet(), 2..=4)];
        (first, rest).prop_map(|(f, rest)| std::iter::once(f).chain(rest).collect::<Vec<_>>().join(".")).boxed()
    }

    fn ipv6_text() -> BoxedStrategy<String> {
        let group = prop_oneof![
            3 => any::<u16>(),
            2 => Just(0u16),
            1 => prop::sample::select(&[1u16, 0xff00, 0xff02, 0xfe80, 0xffff, 0x7f00][..]),
        ];
        (prop::collection::vec(group, 8), 0usize..12, 0usize..9, any::<bool>(), any::<bool>())
            .prop_map(|(g, start, len, upper, pad)| {
                let hex: Vec<String> =
                    g.iter().map(|x| if pad { format!("{x:04x}") } else { format!("{x:x}") }).collect();
                let s = if start < 8 {
                    let end = (start + len).min(8);
                    format!("{}::{}", hex[..start].join(":"), hex[end..].join(":"))
                } else {
                    hex.join(":")
                };
                if upper { s.to_uppercase() } else { s }
            })
            .boxed()
    }

    fn ip_strings() -> BoxedStrategy<String> {
        let addr = prop_oneof![
            4 => ipv4_text(),
            4 => ipv6_text(),
            1 => (pick(&["::ffff:", "::", "64:ff9b::", "1:2:3:4:5:6:"]), ipv4_text()).prop_map(|(a, b)| a + &b),
            1 => "[0-9a-fA-F:.]{0,20}",
            1 => pick(&["::1", "::", "ff00::", "ff02::1", "FF0F::", "fe80::1", "127.0.0.1", "224.0.0.1"]),
        ];
        let prefix = prop_oneof![
            4 => Just(String::new()),
            3 => (0u8..=33).prop_map(|p| format!("/{p}")),
            2 => (0u8..=130).prop_map(|p| format!("/{p}")),
            3 => pick(&["/3", "/4", "/7", "/8", "/9", "/127", "/128"]),
            1 => pick(&["/", "/00", "/08", "/+1", "/1/1", "/ 1", "/0128", "/1280"]),
        ];
        near((addr, prefix).prop_map(|(a, p)| a + &p).boxed())
    }

    fn num2(range: std::ops::RangeInclusive<u32>) -> BoxedStrategy<String> {
        range.prop_map(|n| format!("{n:02}")).boxed()
    }

    fn datetime_strings() -> BoxedStrategy<String> {
        let year = prop_oneof![
            4 => (0u32..=9999).prop_map(|y| format!("{y:04}")),
            2 => pick(&["0000", "9999", "1970", "1969", "2000", "1900", "2024", "2023", "2100", "0004", "0100"]),
            1 => "[0-9]{3,5}".boxed(),
        ];
        let month = prop_oneof![4 => num2(1..=12), 1 => num2(0..=19), 1 => "[0-9]{1,3}".boxed()];
        let day = prop_oneof![4 => num2(1..=28), 2 => num2(28..=31), 1 => num2(0..=39), 1 => "[0-9]{1,3}".boxed()];
        let hms = |max| prop_oneof![4 => num2(0..=max), 1 => num2(0..=99), 1 => "[0-9]{1,3}".boxed()];
        let millis = prop_oneof![
            3 => Just(String::new()),
            3 => (0u32..=999).prop_map(|m| format!(".{m:03}")),
            1 => "\\.[0-9]{0,4}".boxed(),
        ];
        let offset = prop_oneof![
            3 => Just("Z".to_string()),
            3 => (pick(&["+", "-"]), 0u32..=23, 0u32..=59).prop_map(|(s, h, m)| format!("{s}{h:02}{m:02}")),
            1 => (pick(&["+", "-"]), 0u32..=99, 0u32..=99).prop_map(|(s, h, m)| format!("{s}{h:02}{m:02}")),
            1 => pick(&["", "z", "+01:00", "+01", "-00000", "UTC", "Z "]),
        ];
        let sep = prop_oneof![8 => Just("T".to_string()), 1 => pick(&[" ", "t", ""])];
        let time = prop_oneof![
            1 => Just(String::new()),
            3 => (sep, hms(23), hms(59), hms(59), millis, offset)
                .prop_map(|(t, h, m, s, ms, o)| format!("{t}{h}:{m}:{s}{ms}{o}")),
        ];
        near((year, month, day, time).prop_map(|(y, m, d, t)| format!("{y}-{m}-{d}{t}")).boxed())
    }

    const UNITS: [&str; 5] = ["d", "h", "m", "s", "ms"];
    /// Numbers at which a unit, or the whole duration, stops fitting.
    const BOUNDARY_NUMBERS: &[&str] = &[
        "9223372036854775807",
        "9223372036854775808",
        "9223372036854775806",
        "18446744073709551615",
        "18446744073709551616",
        "106751991167",
        "106751991168",
        "2562047788015215",
        "2562047788015216",
        "153722867280912",
        "153722867280913",
        "9223372036854775",
        "9223372036854776",
        "0",
    ];

    fn duration_strings() -> BoxedStrategy<String> {
        let number = prop_oneof![
            12 => (0u64..1000).prop_map(|n| n.to_string()),
            1 => any::<u64>().prop_map(|n| n.to_string()),
            2 => pick(BOUNDARY_NUMBERS),
            1 => "0{1,25}[0-9]{0,3}".boxed(),
            1 => "[0-9]{20,22}".boxed(),
        ];
        let unit = prop_oneof![10 => (0usize..5).prop_map(Some), 1 => Just(None)];
        let part = (number, unit, pick(&["D", "x", "", "mS", "us", "w", " "]))
            .prop_map(|(n, u, bad)| (u, format!("{n}{}", u.map_or(bad.as_str(), |i| UNITS[i]))));
        let parts = (
            pick(&["", "", "", "", "-", "-", "+", "--"]),
            prop::collection::vec(part, 0..=5),
            prop::bool::weighted(0.75),
        )
            .prop_map(|(sign, mut parts, sorted)| {
                if sorted {
                    parts.sort_by_key(|(u, _)| *u);
                    parts.dedup_by_key(|(u, _)| *u);
                }
                format!("{sign}{}", parts.into_iter().map(|(_, p)| p).collect::<String>())
            });
        let exact_limits = pick(&[
            "9223372036854775807ms",
            "-9223372036854775808ms",
            "-9223372036854775s808ms",
            "106751991167d7h12m55s807ms",
            "-106751991167d7h12m55s808ms",
            "-2562047788015215h30m8s",
        ]);
        near(prop_oneof![8 => parts, 1 => exact_limits].boxed())
    }

    fn valid_datetime() -> BoxedStrategy<String> {
        let offset = prop_oneof![
            Just("Z".to_string()),
            (pick(&["+", "-"]), 0u32..=23, 0u32..=59).prop_map(|(s, h, m)| format!("{s}{h:02}{m:02}")),
        ];
        let millis = prop_oneof![Just(String::new()), (0u32..=999).prop_map(|m| format!(".{m:03}"))];
        let time = prop::option::of((0u32..=23, 0u32..=59, 0u32..=59, millis, offset))
            .prop_map(|t| t.map_or(String::new(), |(h, m, s, ms, o)| format!("T{h:02}:{m:02}:{s:02}{ms}{o}")));
        (0u32..=9999, 1u32..=12, 1u32..=28, time).prop_map(|(y, m, d, t)| format!("{y:04}-{m:02}-{d:02}{t}")).boxed()
    }

    fn valid_duration() -> BoxedStrategy<String> {
        let number = prop_oneof![4 => (0u64..100_000).prop_map(|n| n.to_string()), 1 => pick(BOUNDARY_NUMBERS)];
        let parts = prop::collection::vec((number, 0usize..5), 1..=3);
        (pick(&["", "-"]), parts)
            .prop_map(|(sign, mut parts)| {
                parts.sort_by_key(|(_, u)| *u);
                parts.dedup_by_key(|(_, u)| *u);
                format!("{sign}{}", parts.into_iter().map(|(n, u)| n + UNITS[u]).collect::<String>())
            })
            .boxed()
    }

    fn dt_leaf() -> BoxedStrategy<T> {
        prop_oneof![
            8 => valid_datetime(),
            1 => datetime_strings(),
            1 => pick(&["0000-01-01", "9999-12-31T23:59:59.999-2359", "0000-01-01T00:00:00.000+2359", "1970-01-01"]),
        ]
        .prop_map(|s| ctor("datetime", &s))
        .boxed()
    }

    fn du_leaf() -> BoxedStrategy<T> {
        prop_oneof![
            8 => valid_duration(),
            1 => duration_strings(),
            1 => pick(&["9223372036854775807ms", "-9223372036854775808ms", "106751991167d", "-106751991167d", "0ms"]),
        ]
        .prop_map(|s| ctor("duration", &s))
        .boxed()
    }

    fn dec_leaf() -> BoxedStrategy<T> {
        prop_oneof![
            2 => (-40_000i64..40_000, 1usize..=4).prop_map(|(v, f)| decimal_text(v, f, 0)),
            1 => decimal_strings(),
        ]
        .prop_map(|s| ctor("decimal", &s))
        .boxed()
    }

    fn ip_leaf() -> BoxedStrategy<T> {
        ip_strings().prop_map(|s| ctor("ip", &s)).boxed()
    }

    /// Datetime- and duration-typed expressions nested up to three levels.
    fn typed_chains() -> (BoxedStrategy<T>, BoxedStrategy<T>) {
        let (mut dt, mut du) = (dt_leaf(), du_leaf());
        for _ in 0..3 {
            let (dt0, du0) = (dt.clone(), du.clone());
            dt = prop_oneof![
                2 => dt0.clone(),
                2 => (dt0.clone(), du0.clone()).prop_map(|(a, b)| call_t("offset", vec![a, b])),
                1 => dt0.clone().prop_map(|a| call_t("toDate", vec![a])),
            ]
            .boxed();
            du = prop_oneof![
                2 => du0,
                1 => (dt0.clone(), dt0.clone()).prop_map(|(a, b)| call_t("durationSince", vec![a, b])),
                1 => dt0.prop_map(|a| call_t("toTime", vec![a])),
            ]
            .boxed();
        }
        (dt, du)
    }

    fn chains() -> BoxedStrategy<T> {
        let (dt, du) = typed_chains();
        let any_leaf = prop_oneof![
            dt.clone(),
            du.clone(),
            dec_leaf(),
            ip_leaf(),
            (-100i64..100).prop_map(T::Long),
            pick(&["", "1.0", "1.2.3.4", "2024-01-01", "1ms"]).prop_map(T::Str),
            any::<bool>().prop_map(T::Bool),
        ];
        prop_oneof![
            2 => dt.clone(),
            2 => du.clone(),
            3 => (du.clone(), prop::sample::select(&DURATION_TO[..])).prop_map(|(d, m)| call_t(m, vec![d])),
            2 => (dt.clone(), dt, prop::sample::select(&OPS[..])).prop_map(|(a, b, o)| op(o, a, b)),
            2 => (du.clone(), du, prop::sample::select(&OPS[..])).prop_map(|(a, b, o)| op(o, a, b)),
            1 => (dec_leaf(), dec_leaf(), prop::sample::select(&DECIMAL_METHODS[..]))
                .prop_map(|(a, b, m)| call_t(m, vec![a, b])),
            1 => (ip_leaf(), prop::sample::select(&IP_UNARY[..])).prop_map(|(a, m)| call_t(m, vec![a])),
            1 => (ip_leaf(), ip_leaf()).prop_map(|(a, b)| call_t("isInRange", vec![a, b])),
            // Any name on any arguments: mostly type and arity errors.
            2 => (prop::sample::select(&FUNCTIONS[..]), prop::collection::vec(any_leaf.clone(), 1..=3))
                .prop_map(|(n, args)| call_t(n, args)),
            1 => (any_leaf.clone(), any_leaf, prop::sample::select(&OPS[..])).prop_map(|(a, b, o)| op(o, a, b)),
        ]
        .boxed()
    }

    /// Pairs of values from small spaces, so that equal values written differently are frequent.
    fn small_pairs() -> BoxedStrategy<(T, T)> {
        let dec = (-2i64..=2, 1usize..=4, 0usize..=2)
            .prop_map(|(v, f, z)| ctor("decimal", &decimal_text(v * 5000, f, z)))
            .boxed();
        let ip = (
            pick(&[
                "10.0.0.0",
                "10.0.0.1",
                "10.0.1.0",
                "127.0.0.1",
                "::1",
                "::",
                "0:0:0:0:0:0:0:1",
                "::0:1",
                "ff00::",
                "FF00::0",
            ]),
            pick(&["", "/0", "/8", "/16", "/24", "/31", "/32", "/64", "/127", "/128"]),
        )
            .prop_map(|(a, p)| ctor("ip", &(a + &p)))
            .boxed();
        let dt = (
            pick(&["2024-01-01", "2024-01-02", "2023-12-31"]),
            prop::option::of((0u32..=2, pick(&["00", "30"]), pick(&["", ".000", ".001"]))),
            pick(&["Z", "+0000", "-0000", "+0100", "-0100", "+0030", "+0200"]),
        )
            .prop_map(|(d, t, o)| {
                let s = t.map_or(d.clone(), |(h, m, ms)| format!("{d}T{h:02}:{m}:00{ms}{o}"));
                ctor("datetime", &s)
            })
            .boxed();
        let du = (
            pick(&["", "-"]),
            prop::sample::select(&[0u32, 1][..]),
            prop::sample::select(&[0u32, 1, 24][..]),
            prop::sample::select(&[0u32, 1, 60][..]),
            prop::sample::select(&[0u32, 60][..]),
            prop::sample::select(&[0u32, 1000, 60_000][..]),
        )
            .prop_map(|(sign, d, h, m, s, ms)| {
                let mut text = sign;
                for (n, u) in [(d, "d"), (h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
                    if n > 0 {
                        text += &format!("{n}{u}");
                    }
                }
                if text.len() <= 1 {
                    text += "0ms";
                }
                ctor("duration", &text)
            })
            .boxed();
        let any = prop_oneof![dec.clone(), ip.clone(), dt.clone(), du.clone()];
        prop_oneof![(dec.clone(), dec), (ip.clone(), ip), (dt.clone(), dt), (du.clone(), du), (any.clone(), any),]
            .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn generated_decimal_strings(s in decimal_strings()) {
            check_ctor("decimal", &s);
        }

        #[test]
        fn generated_ip_strings(s in ip_strings()) {
            if check_ctor("ip", &s) {
                check_all(&IP_UNARY.map(|m| call_t(m, vec![ctor("ip", &s)])));
            }
        }

        #[test]
        fn generated_datetime_strings(s in datetime_strings()) {
            if check_ctor("datetime", &s) {
                check_all(&["toDate", "toTime"].map(|m| call_t(m, vec![ctor("datetime", &s)])));
            }
        }

        #[test]
        fn generated_duration_strings(s in duration_strings()) {
            if check_ctor("duration", &s) {
                check_all(&DURATION_TO.map(|m| call_t(m, vec![ctor("duration", &s)])));
            }
        }

        #[test]
        fn generated_comparisons(
            (a, b) in small_pairs(),
            o in prop::sample::select(&OPS[..]),
            m in prop::sample::select(&DECIMAL_METHODS[..]),
        ) {
            check(&op(o, a.clone(), b.clone()));
            match (&a, &b) {
                (T::Call("decimal", _), T::Call("decimal", _)) => {
                    check(&call_t(m, vec![a, b]));
                }
                (T::Call("ip", _), T::Call("ip", _)) => {
                    check(&call_t("isInRange", vec![a, b]));
                }
                _ => {}
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn generated_method_chains(t in chains()) {
            check(&t);
        }
    }
}
