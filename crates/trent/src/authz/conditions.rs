//! The `Condition` element: operators, `IfExists`, the `ForAnyValue:`/`ForAllValues:` set
//! qualifiers and the typed comparisons (string, ARN, numeric, date, bool, binary, IP, null).
//!
//! Semantics are IAM's ("IAM JSON policy elements: Condition operators",
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>,
//! and "Single-valued vs. multivalued context keys",
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>):
//! - several operators in one `Condition`, and several keys under one operator, are ANDed;
//!   several values for one key are ORed;
//! - a negated operator (`StringNotEquals`, `ArnNotLike`, `NotIpAddress`, …) holds when the
//!   request value matches none of the policy values;
//! - a key missing from the request: the condition is false, except for negated operators (true),
//!   `…IfExists` (true) and `Null`;
//! - `ForAllValues:` holds when every request value matches (so also when the key is missing or
//!   empty); `ForAnyValue:` holds when at least one does (so never when missing or empty).
//!
//! A request value list that is present but empty counts as missing.

use std::collections::HashMap;
use std::net::IpAddr;

/// One `"Operator": {"key": values}` entry of a `Condition` block.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    kind: Kind,
    negated: bool,
    if_exists: bool,
    set: Set,
    /// Normalized with [`condition_key`].
    key: String,
    values: Vec<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Set {
    Single,
    ForAnyValue,
    ForAllValues,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    /// `ArnEquals` and `ArnLike` behave the same: each of the six colon-separated parts is matched
    /// separately, with `*` and `?` wildcards.
    Arn,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A policy value, parsed once when the policy is parsed.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Text(String),
    Number(f64),
    /// Seconds since the Unix epoch.
    Time(f64),
    Network(IpAddr, u8),
}

/// The message of `MalformedPolicyDocumentException` for an unknown or misused condition operator.
pub(crate) const INVALID_CONDITION: &str = "Policy contains a statement with one or more invalid conditions.";

/// Normalizes a condition key as written in a policy or by the caller: condition keys are
/// case-insensitive, except the encryption-context key after `kms:EncryptionContext:`, whose case
/// is kept (encryption context keys and values are case-sensitive).
pub fn condition_key(key: &str) -> String {
    const CONTEXT: &str = "kms:encryptioncontext:";
    match key.get(..CONTEXT.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(CONTEXT) => format!("{CONTEXT}{}", &key[CONTEXT.len()..]),
        _ => key.to_ascii_lowercase(),
    }
}

/// Parses a whole `Condition` block: `{"Operator": {"key": value or [values]}, …}`.
pub(crate) fn parse_block(block: &serde_json::Value) -> Result<Vec<Condition>, String> {
    let block = block.as_object().ok_or(INVALID_CONDITION)?;
    let mut conditions = Vec::new();
    for (operator, keys) in block {
        let (kind, negated, if_exists, set) = parse_operator(operator).ok_or(INVALID_CONDITION)?;
        let keys = keys.as_object().ok_or(INVALID_CONDITION)?;
        if keys.is_empty() {
            return Err(INVALID_CONDITION.into());
        }
        for (key, values) in keys {
            if key.is_empty() {
                return Err(INVALID_CONDITION.into());
            }
            let values = match values {
                serde_json::Value::Array(list) => list.iter().map(scalar).collect::<Option<Vec<_>>>(),
                other => scalar(other).map(|v| vec![v]),
            }
            .ok_or(INVALID_CONDITION)?;
            let values = values.iter().map(|v| parse_value(kind, v)).collect::<Option<Vec<_>>>().ok_or(INVALID_CONDITION)?;
            conditions.push(Condition { kind, negated, if_exists, set, key: condition_key(key), values });
        }
    }
    Ok(conditions)
}

/// A condition value is a string, a number or a boolean, kept as its text.
fn scalar(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `[ForAnyValue:|ForAllValues:]Operator[IfExists]`, case-insensitively.
fn parse_operator(name: &str) -> Option<(Kind, bool, bool, Set)> {
    let lower = name.to_ascii_lowercase();
    let (set, rest) = if let Some(rest) = lower.strip_prefix("foranyvalue:") {
        (Set::ForAnyValue, rest)
    } else if let Some(rest) = lower.strip_prefix("forallvalues:") {
        (Set::ForAllValues, rest)
    } else {
        (Set::Single, lower.as_str())
    };
    let (base, if_exists) = match rest.strip_suffix("ifexists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let (kind, negated) = match base {
        "stringequals" => (Kind::StringEquals, false),
        "stringnotequals" => (Kind::StringEquals, true),
        "stringequalsignorecase" => (Kind::StringEqualsIgnoreCase, false),
        "stringnotequalsignorecase" => (Kind::StringEqualsIgnoreCase, true),
        "stringlike" => (Kind::StringLike, false),
        "stringnotlike" => (Kind::StringLike, true),
        "arnequals" | "arnlike" => (Kind::Arn, false),
        "arnnotequals" | "arnnotlike" => (Kind::Arn, true),
        "numericequals" => (Kind::Numeric(Cmp::Eq), false),
        "numericnotequals" => (Kind::Numeric(Cmp::Eq), true),
        "numericlessthan" => (Kind::Numeric(Cmp::Lt), false),
        "numericlessthanequals" => (Kind::Numeric(Cmp::Le), false),
        "numericgreaterthan" => (Kind::Numeric(Cmp::Gt), false),
        "numericgreaterthanequals" => (Kind::Numeric(Cmp::Ge), false),
        "dateequals" => (Kind::Date(Cmp::Eq), false),
        "datenotequals" => (Kind::Date(Cmp::Eq), true),
        "datelessthan" => (Kind::Date(Cmp::Lt), false),
        "datelessthanequals" => (Kind::Date(Cmp::Le), false),
        "dategreaterthan" => (Kind::Date(Cmp::Gt), false),
        "dategreaterthanequals" => (Kind::Date(Cmp::Ge), false),
        "bool" => (Kind::Bool, false),
        "binaryequals" => (Kind::Binary, false),
        "ipaddress" => (Kind::Ip, false),
        "notipaddress" => (Kind::Ip, true),
        "null" => (Kind::Null, false),
        _ => return None,
    };
    // IAM: "You can add IfExists to the end of any condition operator name except the Null
    // condition"; a set qualifier on Null makes no sense either (Null tests presence).
    if kind == Kind::Null && (if_exists || set != Set::Single) {
        return None;
    }
    Some((kind, negated, if_exists, set))
}

fn parse_value(kind: Kind, text: &str) -> Option<Value> {
    match kind {
        Kind::Numeric(_) => parse_number(text).map(Value::Number),
        Kind::Date(_) => parse_time(text).map(Value::Time),
        Kind::Ip => parse_network(text).map(|(addr, bits)| Value::Network(addr, bits)),
        Kind::Null | Kind::Bool => {
            let lower = text.to_ascii_lowercase();
            (lower == "true" || lower == "false").then_some(Value::Text(lower))
        }
        Kind::StringEqualsIgnoreCase => Some(Value::Text(text.to_lowercase())),
        Kind::StringEquals | Kind::StringLike | Kind::Arn | Kind::Binary => Some(Value::Text(text.to_owned())),
    }
}

impl Condition {
    /// The condition key, normalized with [`condition_key`].
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the condition holds for the request's context values (keys normalized with
    /// [`condition_key`]).
    pub fn holds(&self, context: &HashMap<String, Vec<String>>) -> bool {
        let request = context.get(&self.key).filter(|values| !values.is_empty());
        if self.kind == Kind::Null {
            // "true": the key must be absent; "false": present. Several values are ORed.
            return self.values.iter().any(|v| (*v == Value::Text("true".into())) == request.is_none());
        }
        let Some(request) = request else {
            return match self.set {
                Set::ForAllValues => true,
                Set::ForAnyValue => self.if_exists,
                Set::Single => self.if_exists || self.negated,
            };
        };
        // One request value "passes" when it matches one of the policy values (negated: none).
        let passes = |value: &String| self.values.iter().any(|p| self.matches(value, p)) != self.negated;
        match self.set {
            Set::ForAnyValue => request.iter().any(passes),
            Set::ForAllValues => request.iter().all(passes),
            // A single-valued operator applied to several request values: the positive operator
            // holds when any value matches, the negated one when none does.
            Set::Single => {
                let any = request.iter().any(|value| self.values.iter().any(|p| self.matches(value, p)));
                any != self.negated
            }
        }
    }

    /// The positive comparison of one request value with one policy value.
    fn matches(&self, request: &str, policy: &Value) -> bool {
        match (self.kind, policy) {
            (Kind::StringEquals | Kind::Binary, Value::Text(p)) => request == p,
            (Kind::StringEqualsIgnoreCase, Value::Text(p)) => request.to_lowercase() == *p,
            (Kind::StringLike, Value::Text(p)) => glob(p, request),
            (Kind::Arn, Value::Text(p)) => arn_like(p, request),
            (Kind::Bool, Value::Text(p)) => request.eq_ignore_ascii_case(p),
            (Kind::Numeric(cmp), Value::Number(p)) => parse_number(request).is_some_and(|r| compare(cmp, r, *p)),
            (Kind::Date(cmp), Value::Time(p)) => parse_time(request).is_some_and(|r| compare(cmp, r, *p)),
            (Kind::Ip, Value::Network(net, bits)) => request.parse::<IpAddr>().is_ok_and(|addr| in_network(addr, *net, *bits)),
            _ => false,
        }
    }
}

fn compare(cmp: Cmp, request: f64, policy: f64) -> bool {
    match cmp {
        Cmp::Eq => request == policy,
        Cmp::Lt => request < policy,
        Cmp::Le => request <= policy,
        Cmp::Gt => request > policy,
        Cmp::Ge => request >= policy,
    }
}

/// Matches `text` against `pattern`, where `*` is any run of characters and `?` any one character.
/// Case-sensitive; [`glob_ignore_ascii_case`] for action names.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    glob_by(pattern, text, |p, t| p == t)
}

/// [`glob`] with ASCII letters matched regardless of case, as IAM matches action names.
pub(crate) fn glob_ignore_ascii_case(pattern: &str, text: &str) -> bool {
    glob_by(pattern, text, |p, t| p.eq_ignore_ascii_case(&t))
}

/// Matches byte by byte (a character of the pattern matches the same bytes in the text); `?` and a
/// `*` that grows consume whole characters. Runs on every statement of every request, so it does
/// not allocate.
fn glob_by(pattern: &str, text: &str, same: impl Fn(u8, u8) -> bool) -> bool {
    if pattern == "*" {
        return true;
    }
    let (pattern_bytes, text_bytes) = (pattern.as_bytes(), text.as_bytes());
    let char_len = |at: usize| text.get(at..).and_then(|rest| rest.chars().next()).map_or(1, char::len_utf8);
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it currently stands for the end of.
    let mut star: Option<(usize, usize)> = None;
    while t < text_bytes.len() {
        match pattern_bytes.get(p) {
            Some(b'?') => {
                p += 1;
                t += char_len(t);
            }
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if same(c, text_bytes[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    let grown = star_t + char_len(star_t);
                    (p, t) = (star_p + 1, grown);
                    star = Some((star_p, grown));
                }
                None => return false,
            },
        }
    }
    pattern_bytes[p.min(pattern_bytes.len())..].iter().all(|&c| c == b'*')
}

/// `ArnEquals`/`ArnLike`: the six colon-separated parts are matched one by one (the sixth, the
/// resource, may itself contain colons). A policy value of fewer than six parts matches nothing,
/// except `*`, which matches any value.
fn arn_like(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pattern_parts: Vec<&str> = pattern.splitn(6, ':').collect();
    let arn_parts: Vec<&str> = arn.splitn(6, ':').collect();
    pattern_parts.len() == 6 && arn_parts.len() == 6 && pattern_parts.iter().zip(&arn_parts).all(|(p, a)| glob(p, a))
}

fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    // Refuse what f64's parser would otherwise take: "inf", "NaN", "infinity".
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) {
        return None;
    }
    text.parse().ok()
}

/// An address (`203.0.113.7`, a /32 or /128) or a CIDR block (`203.0.113.0/24`, `2001:db8::/32`).
fn parse_network(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match text.split_once('/') {
        Some((addr, bits)) => (addr.parse::<IpAddr>().ok()?, Some(bits.parse::<u8>().ok()?)),
        None => (text.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

fn in_network(addr: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Seconds since the Unix epoch, from an integer (`1700000000`) or ISO 8601:
/// `2026-11-29`, `2026-11-29T06:00Z`, `2026-11-29T06:00:00Z`, `2026-11-29T06:00:00.123+01:00`.
/// Without an offset the time is UTC.
fn parse_time(text: &str) -> Option<f64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<f64>().ok();
    }
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let mut seconds = (crate::clock::epoch_days(year, month, day)? * 86_400) as f64;
    if b.len() == 10 {
        return Some(seconds);
    }
    if !(b[10] == b'T' || b[10] == b't') || b.len() < 16 || b[13] != b':' {
        return None;
    }
    let (hour, minute) = (digits(11..13)?, digits(14..16)?);
    let mut i = 16;
    let mut second = 0.0;
    if b.get(i) == Some(&b':') {
        let mut end = i + 3;
        let whole = digits(i + 1..end)? as f64;
        if b.get(end) == Some(&b'.') {
            end += 1;
            while b.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
        }
        second = text.get(i + 1..end)?.parse::<f64>().ok().filter(|s| *s >= whole)?;
        i = end;
    }
    if hour > 23 || minute > 59 || second >= 61.0 {
        return None;
    }
    seconds += (hour * 3600 + minute * 60) as f64 + second;
    let offset = match &text[i..] {
        "" | "Z" | "z" => 0,
        zone => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let zone = zone[1..].replace(':', "");
            if zone.len() != 4 || !zone.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let (h, m): (i64, i64) = (zone[..2].parse().ok()?, zone[2..].parse().ok()?);
            sign * (h * 3600 + m * 60)
        }
    };
    Some(seconds - offset as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Evaluates `{"<op>": {"<key>": <values>}}` against a context in which `key` has `request`
    /// values (None: absent).
    fn check(op: &str, policy: serde_json::Value, request: Option<&[&str]>) -> bool {
        let conditions = parse_block(&json!({ op: { "k": policy } })).unwrap_or_else(|e| panic!("{op}: {e}"));
        let mut context = HashMap::new();
        if let Some(values) = request {
            context.insert("k".to_owned(), values.iter().map(|v| v.to_string()).collect());
        }
        conditions.iter().all(|c| c.holds(&context))
    }

    type Row = (&'static str, serde_json::Value, Option<&'static [&'static str]>, bool);

    fn run(table: &[Row]) {
        for (i, (op, policy, request, expected)) in table.iter().enumerate() {
            assert_eq!(check(op, policy.clone(), *request), *expected, "row {i}: {op} {policy} vs {request:?}");
        }
    }

    #[test]
    fn string_operators() {
        run(&[
            ("StringEquals", json!("a"), Some(&["a"]), true),
            ("StringEquals", json!("a"), Some(&["A"]), false),
            ("StringEquals", json!(["x", "a"]), Some(&["a"]), true),
            ("StringEquals", json!("a*"), Some(&["abc"]), false),
            ("StringEquals", json!("a"), None, false),
            ("StringEqualsIfExists", json!("a"), None, true),
            ("StringEqualsIfExists", json!("a"), Some(&["b"]), false),
            ("StringNotEquals", json!("a"), Some(&["b"]), true),
            ("StringNotEquals", json!(["a", "b"]), Some(&["b"]), false),
            ("StringNotEquals", json!("a"), None, true),
            ("StringNotEqualsIfExists", json!("a"), None, true),
            ("StringEqualsIgnoreCase", json!("Alice"), Some(&["aLICE"]), true),
            ("StringEqualsIgnoreCase", json!("Alice"), Some(&["bob"]), false),
            ("StringNotEqualsIgnoreCase", json!("Alice"), Some(&["ALICE"]), false),
            ("StringNotEqualsIgnoreCase", json!("Alice"), Some(&["bob"]), true),
            ("StringLike", json!("a*c"), Some(&["abbbc"]), true),
            ("StringLike", json!("a?c"), Some(&["abc"]), true),
            ("StringLike", json!("a?c"), Some(&["abbc"]), false),
            ("StringLike", json!("A*"), Some(&["abc"]), false),
            ("StringLike", json!("*"), None, false),
            ("StringNotLike", json!("a*"), Some(&["abc"]), false),
            ("StringNotLike", json!("a*"), Some(&["xyz"]), true),
            ("StringNotLike", json!("a*"), None, true),
            ("StringLikeIfExists", json!("a*"), None, true),
            // Numbers and booleans in the policy are compared as their text.
            ("StringEquals", json!(42), Some(&["42"]), true),
            ("StringEquals", json!(true), Some(&["true"]), true),
            // A present but empty request list counts as missing.
            ("StringEquals", json!("a"), Some(&[]), false),
            ("StringNotEquals", json!("a"), Some(&[]), true),
        ]);
    }

    #[test]
    fn set_qualifiers() {
        run(&[
            // ForAnyValue: at least one request value matches one policy value.
            ("ForAnyValue:StringEquals", json!(["a", "b"]), Some(&["x", "b"]), true),
            ("ForAnyValue:StringEquals", json!(["a", "b"]), Some(&["x", "y"]), false),
            ("ForAnyValue:StringEquals", json!("a"), None, false),
            ("ForAnyValue:StringEquals", json!("a"), Some(&[]), false),
            ("ForAnyValue:StringEqualsIfExists", json!("a"), None, true),
            ("ForAnyValue:StringLike", json!("Created*"), Some(&["Owner", "CreatedBy"]), true),
            // ForAnyValue with a negated operator: at least one request value matches none.
            ("ForAnyValue:StringNotEquals", json!(["a", "b"]), Some(&["a", "c"]), true),
            ("ForAnyValue:StringNotEquals", json!(["a", "b"]), Some(&["a", "b"]), false),
            ("ForAnyValue:StringNotEquals", json!("a"), None, false),
            // ForAllValues: every request value matches some policy value; vacuously true.
            ("ForAllValues:StringEquals", json!(["a", "b", "c"]), Some(&["a", "c"]), true),
            ("ForAllValues:StringEquals", json!(["a", "b"]), Some(&["a", "x"]), false),
            ("ForAllValues:StringEquals", json!("a"), None, true),
            ("ForAllValues:StringEquals", json!("a"), Some(&[]), true),
            ("ForAllValues:StringLike", json!("Created*"), Some(&["CreatedBy", "CreatedAt"]), true),
            ("ForAllValues:StringLike", json!("Created*"), Some(&["CreatedBy", "Owner"]), false),
            // ForAllValues with a negated operator: no request value matches any policy value.
            ("ForAllValues:StringNotEquals", json!(["a", "b"]), Some(&["c", "d"]), true),
            ("ForAllValues:StringNotEquals", json!(["a", "b"]), Some(&["c", "a"]), false),
            ("ForAllValues:StringNotEquals", json!("a"), None, true),
            ("ForAllValues:NumericLessThan", json!(10), Some(&["1", "9"]), true),
            ("ForAllValues:NumericLessThan", json!(10), Some(&["1", "19"]), false),
            ("forallvalues:stringequals", json!("a"), Some(&["a"]), true),
            // Without a qualifier, several request values: any matches / none matches.
            ("StringEquals", json!("a"), Some(&["x", "a"]), true),
            ("StringNotEquals", json!("a"), Some(&["x", "a"]), false),
        ]);
    }

    #[test]
    fn arn_operators() {
        const ROLE: &str = "arn:aws:iam::111122223333:role/Admin";
        run(&[
            ("ArnEquals", json!(ROLE), Some(&[ROLE]), true),
            ("ArnLike", json!("arn:aws:iam::111122223333:role/*"), Some(&[ROLE]), true),
            ("ArnEquals", json!("arn:aws:iam::*:role/Admin"), Some(&[ROLE]), true),
            ("ArnLike", json!("arn:aws:iam::444455556666:role/*"), Some(&[ROLE]), false),
            ("ArnLike", json!("arn:aws:iam::111122223333:role/admin"), Some(&[ROLE]), false),
            // A wildcard in one part does not reach into the next.
            ("ArnLike", json!("arn:aws:iam::1111*:role/Admin"), Some(&[ROLE]), true),
            ("ArnLike", json!("arn:aws:*:role/Admin"), Some(&[ROLE]), false),
            // The resource part may contain colons.
            ("ArnLike", json!("arn:aws:kms:*:111122223333:alias/a:b"), Some(&["arn:aws:kms:eu-west-1:111122223333:alias/a:b"]), true),
            ("ArnLike", json!("arn:aws:iam::111122223333:*"), Some(&["not-an-arn"]), false),
            ("ArnLike", json!("*"), Some(&[ROLE]), true),
            ("ArnLike", json!(ROLE), None, false),
            ("ArnLikeIfExists", json!(ROLE), None, true),
            ("ArnNotEquals", json!(ROLE), Some(&[ROLE]), false),
            ("ArnNotLike", json!("arn:aws:iam::111122223333:user/*"), Some(&[ROLE]), true),
            ("ArnNotLike", json!("arn:aws:iam::111122223333:user/*"), None, true),
            ("ForAnyValue:ArnLike", json!("arn:aws:iam::*:role/*"), Some(&["arn:aws:iam::1:user/x", ROLE]), true),
        ]);
    }

    #[test]
    fn numeric_operators() {
        run(&[
            ("NumericEquals", json!("10"), Some(&["10"]), true),
            ("NumericEquals", json!(10), Some(&["10.0"]), true),
            ("NumericEquals", json!(10), Some(&["11"]), false),
            ("NumericEquals", json!(10), Some(&["ten"]), false),
            ("NumericEquals", json!(10), None, false),
            ("NumericEqualsIfExists", json!(10), None, true),
            ("NumericNotEquals", json!(10), Some(&["11"]), true),
            ("NumericNotEquals", json!([10, 11]), Some(&["11"]), false),
            ("NumericNotEquals", json!(10), None, true),
            ("NumericLessThan", json!(10), Some(&["9.5"]), true),
            ("NumericLessThan", json!(10), Some(&["10"]), false),
            ("NumericLessThanEquals", json!(10), Some(&["10"]), true),
            ("NumericLessThanEquals", json!(10), Some(&["11"]), false),
            ("NumericGreaterThan", json!(10), Some(&["11"]), true),
            ("NumericGreaterThan", json!(10), Some(&["10"]), false),
            ("NumericGreaterThanEquals", json!("-1"), Some(&["-1"]), true),
            ("NumericGreaterThanEquals", json!(0), Some(&["-1"]), false),
            ("NumericLessThan", json!(10), Some(&["inf"]), false),
        ]);
    }

    #[test]
    fn date_operators() {
        run(&[
            ("DateEquals", json!("2026-11-29T06:00:00Z"), Some(&["2026-11-29T06:00:00Z"]), true),
            ("DateEquals", json!("2026-11-29T06:00:00Z"), Some(&["2026-11-29T07:00:00+01:00"]), true),
            ("DateEquals", json!("2026-11-29T06:00:00Z"), Some(&["1795932000"]), true),
            ("DateEquals", json!(1_795_932_000), Some(&["2026-11-29T06:00:00.000Z"]), true),
            ("DateEquals", json!("2026-11-29"), Some(&["2026-11-29T00:00:00Z"]), true),
            ("DateEquals", json!("2026-11-29T06:00Z"), Some(&["2026-11-29T06:00:00Z"]), true),
            ("DateEquals", json!("2026-11-29T06:00:00Z"), Some(&["2026-11-29T06:00:01Z"]), false),
            ("DateEquals", json!("2026-11-29T06:00:00Z"), Some(&["yesterday"]), false),
            ("DateEquals", json!("2026-11-29T06:00:00Z"), None, false),
            ("DateEqualsIfExists", json!("2026-11-29T06:00:00Z"), None, true),
            ("DateNotEquals", json!("2026-11-29T06:00:00Z"), Some(&["2026-11-29T06:00:01Z"]), true),
            ("DateNotEquals", json!("2026-11-29T06:00:00Z"), None, true),
            ("DateLessThan", json!("2027-01-01T00:00:00Z"), Some(&["2026-12-31T23:59:59Z"]), true),
            ("DateLessThan", json!("2027-01-01T00:00:00Z"), Some(&["2027-01-01T00:00:00Z"]), false),
            ("DateLessThanEquals", json!("2027-01-01T00:00:00Z"), Some(&["2027-01-01T00:00:00Z"]), true),
            ("DateGreaterThan", json!("2020-02-29T12:00:00Z"), Some(&["2020-03-01T00:00:00Z"]), true),
            ("DateGreaterThan", json!("2020-02-29T12:00:00Z"), Some(&["2020-02-29T11:59:59.999Z"]), false),
            ("DateGreaterThanEquals", json!("2020-02-29T12:00:00Z"), Some(&["2020-02-29T12:00:00Z"]), true),
        ]);
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_time("2000-03-01"), Some(951_868_800.0));
        assert_eq!(parse_time("2026-02-29"), None);
        assert_eq!(parse_time("2026-13-01"), None);
        assert_eq!(parse_time("2026-11-29T25:00:00Z"), None);
        assert_eq!(parse_time("2026-11-29T06:00:00+0100"), parse_time("2026-11-29T05:00:00Z"));
    }

    #[test]
    fn bool_binary_and_null_operators() {
        run(&[
            ("Bool", json!("true"), Some(&["true"]), true),
            ("Bool", json!(true), Some(&["True"]), true),
            ("Bool", json!("true"), Some(&["false"]), false),
            ("Bool", json!("false"), None, false),
            ("BoolIfExists", json!("false"), None, true),
            ("BinaryEquals", json!("QmluYXJ5"), Some(&["QmluYXJ5"]), true),
            ("BinaryEquals", json!("QmluYXJ5"), Some(&["QmluYXJ6"]), false),
            ("Null", json!("true"), None, true),
            ("Null", json!("true"), Some(&["x"]), false),
            ("Null", json!("false"), Some(&["x"]), true),
            ("Null", json!("false"), None, false),
            ("Null", json!(true), Some(&[]), true),
        ]);
    }

    #[test]
    fn ip_operators() {
        run(&[
            ("IpAddress", json!("203.0.113.0/24"), Some(&["203.0.113.7"]), true),
            ("IpAddress", json!("203.0.113.0/24"), Some(&["203.0.114.7"]), false),
            ("IpAddress", json!("203.0.113.7"), Some(&["203.0.113.7"]), true),
            ("IpAddress", json!("203.0.113.7"), Some(&["203.0.113.8"]), false),
            ("IpAddress", json!("0.0.0.0/0"), Some(&["198.51.100.1"]), true),
            ("IpAddress", json!(["10.0.0.0/8", "2001:db8::/32"]), Some(&["2001:DB8:1234::1"]), true),
            ("IpAddress", json!("2001:db8::/32"), Some(&["2001:db9::1"]), false),
            ("IpAddress", json!("::/0"), Some(&["203.0.113.7"]), false),
            ("IpAddress", json!("203.0.113.0/24"), Some(&["not-an-ip"]), false),
            ("IpAddress", json!("203.0.113.0/24"), None, false),
            ("IpAddressIfExists", json!("203.0.113.0/24"), None, true),
            ("NotIpAddress", json!("203.0.113.0/24"), Some(&["198.51.100.1"]), true),
            ("NotIpAddress", json!("203.0.113.0/24"), Some(&["203.0.113.1"]), false),
            ("NotIpAddress", json!("203.0.113.0/24"), None, true),
        ]);
    }

    #[test]
    fn malformed_conditions() {
        for block in [
            json!({"StringEqualz": {"k": "a"}}),
            json!({"ForSomeValues:StringEquals": {"k": "a"}}),
            json!({"NullIfExists": {"k": "true"}}),
            json!({"ForAnyValue:Null": {"k": "true"}}),
            json!({"Null": {"k": "maybe"}}),
            json!({"Bool": {"k": "yes"}}),
            json!({"NumericEquals": {"k": "ten"}}),
            json!({"NumericEquals": {"k": "NaN"}}),
            json!({"DateEquals": {"k": "tomorrow"}}),
            json!({"IpAddress": {"k": "203.0.113.0/33"}}),
            json!({"IpAddress": {"k": "example.com"}}),
            json!({"StringEquals": {"k": {"nested": "object"}}}),
            json!({"StringEquals": {"k": [["nested"]]}}),
            json!({"StringEquals": {}}),
            json!({"StringEquals": "k"}),
            json!(["StringEquals"]),
        ] {
            assert_eq!(parse_block(&block), Err(INVALID_CONDITION.to_owned()), "{block}");
        }
    }

    #[test]
    fn keys_and_operators_are_case_insensitive_except_the_encryption_context_key() {
        assert_eq!(condition_key("aws:SourceIp"), "aws:sourceip");
        assert_eq!(condition_key("KMS:EncryptionContext:Department"), "kms:encryptioncontext:Department");
        assert_eq!(condition_key("kms:EncryptionContextKeys"), "kms:encryptioncontextkeys");
        let conditions = parse_block(&json!({"stringequals": {"KMS:EncryptionContext:Dept": "IT", "kms:CallerAccount": "1"}})).unwrap();
        let context = HashMap::from([("kms:encryptioncontext:Dept".to_owned(), vec!["IT".to_owned()]), ("kms:calleraccount".to_owned(), vec!["1".to_owned()])]);
        assert!(conditions.iter().all(|c| c.holds(&context)));
        let wrong_case =
            HashMap::from([("kms:encryptioncontext:dept".to_owned(), vec!["IT".to_owned()]), ("kms:calleraccount".to_owned(), vec!["1".to_owned()])]);
        assert!(!conditions.iter().all(|c| c.holds(&wrong_case)));
    }

    #[test]
    fn glob_matching() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("*c", "abcc", true),
            ("a**", "a", true),
            ("?", "", false),
            ("??", "é!", true),
            ("kms:describe*", "kms:describekey", true),
            ("*é", "aéé", true),
            ("a?c", "aéc", true),
            ("a?c", "aééc", false),
            ("é*", "e", false),
            ("?*?", "é", false),
            ("a*", "a*b", true),
        ] {
            assert_eq!(glob(pattern, text), expected, "{pattern} vs {text}");
        }
        assert!(glob_ignore_ascii_case("kms:Describe*", "KMS:describeKey"));
        assert!(!glob_ignore_ascii_case("kms:Encrypt", "kms:Encryp"));
        assert!(!glob("kms:Describe*", "kms:describeKey"));
    }
}
