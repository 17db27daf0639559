//! A request body parsed as JSON, with its strings borrowed from the body where they need no
//! unescaping. `serde_json::Value` copies every string: for an Encrypt that is the 4 KB of base64
//! plaintext, copied once more only to be decoded.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Members<'a>),
}

/// An object's members in the order sent; a repeated name means its last value, as with
/// `serde_json::Map`.
pub struct Members<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Members<'a> {
    pub fn get(&self, name: &str) -> Option<&Json<'a>> {
        self.0.iter().rev().find(|(n, _)| n == name).map(|(_, value)| value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Cow<'a, str>, &Json<'a>)> {
        self.0.iter().map(|(name, value)| (name, value))
    }

    fn values(&self) -> impl Iterator<Item = &Json<'a>> {
        self.0.iter().map(|(_, value)| value)
    }
}

impl<'a> Json<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(number) => number.as_i64(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(number) => number.as_f64(),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Members<'a>> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    /// Levels of arrays and objects.
    pub fn depth(&self) -> usize {
        match self {
            Json::Array(items) => 1 + items.iter().map(Json::depth).max().unwrap_or(0),
            Json::Object(members) => 1 + members.values().map(Json::depth).max().unwrap_or(0),
            _ => 0,
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(value.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Json<'de>, E> {
        serde_json::Number::from_f64(value).map(Json::Number).ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E>(self, text: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(text)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((Name(name), value)) = map.next_entry()? {
            members.push((name, value));
        }
        Ok(Json::Object(Members(members)))
    }
}

/// A member name, borrowed like string values (serde's own `Cow<str>` always copies).
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_str(JsonVisitor)? {
            Json::String(name) => Ok(Name(name)),
            _ => Err(serde::de::Error::custom("a member name is not a string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Json<'_> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let body = r#"{"Plain":"abc","Escaped":"a\"b\u0041","List":["x",1,-2,2.5,true,null]}"#;
        let json = parse(body);
        let members = json.as_object().unwrap();
        assert!(matches!(members.get("Plain"), Some(Json::String(Cow::Borrowed("abc")))));
        assert!(matches!(members.get("Escaped"), Some(Json::String(Cow::Owned(text))) if text == "a\"bA"));
        let list = members.get("List").unwrap().as_array().unwrap();
        assert_eq!(list[0].as_str(), Some("x"));
        assert_eq!(list[1].as_i64(), Some(1));
        assert_eq!(list[2].as_i64(), Some(-2));
        assert_eq!(list[3].as_f64(), Some(2.5));
        assert_eq!(list[3].as_i64(), None);
        assert_eq!(list[4].as_bool(), Some(true));
        assert!(list[5].is_null());
        assert!(members.get("Absent").is_none());
    }

    #[test]
    fn a_repeated_member_means_its_last_value() {
        let json = parse(r#"{"KeyId":"first","KeyId":"second"}"#);
        assert_eq!(json.as_object().unwrap().get("KeyId").and_then(Json::as_str), Some("second"));
    }

    #[test]
    fn depth_counts_arrays_and_objects() {
        assert_eq!(parse("1").depth(), 0);
        assert_eq!(parse("{}").depth(), 1);
        assert_eq!(parse(r#"{"a":[{"b":[]}]}"#).depth(), 4);
    }

    #[test]
    fn escaped_member_names_are_read() {
        let json = parse(r#"{"Key\u0049d":"k"}"#);
        assert_eq!(json.as_object().unwrap().get("KeyId").and_then(Json::as_str), Some("k"));
    }
}
