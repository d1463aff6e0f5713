//! JSV, ServiceStack.Text's `TypeSerializer` format: `{name:value,...}` with camelCase names
//! in the contract's member order, nulls omitted, strings quoted only when they hold one of
//! `" : , { } [ ] \r \n` (inner quotes doubled), booleans `True`/`False`, enums by name.

use serde::Serialize;
use serde_json::{Map, Value};

use super::schema::{self, PropType, TypeDef};

/// `value` (a DTO of the contract type `type_name`) as JSV.
pub fn to_jsv<T: Serialize>(type_name: &str, value: &T) -> String {
    // Serializing the contract's plain structs to a Value cannot fail.
    let value = serde_json::to_value(value).unwrap_or(Value::Null);
    let mut out = String::new();
    write_value(&mut out, &value, schema::find(type_name));
    out
}

/// One value; `ty` is its contract type when it is an object (or a list of them).
pub fn write_value(out: &mut String, value: &Value, ty: Option<&TypeDef>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, ty);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map, ty),
    }
}

/// An object: a contract type's members in its order, anything else in its own order.
fn write_object(out: &mut String, map: &Map<String, Value>, ty: Option<&TypeDef>) {
    out.push('{');
    let mut first = true;
    let mut member = |out: &mut String, key: &str, value: &Value, ty: Option<&TypeDef>| {
        if value.is_null() {
            return;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_string(out, key);
        out.push(':');
        write_value(out, value, ty);
    };
    match ty {
        Some(t) => {
            for p in t.all_properties() {
                let key = schema::camel(p.name);
                if let Some(v) = map.get(&key) {
                    member(out, &key, v, member_type(p.ty));
                }
            }
        }
        None => {
            for (k, v) in map {
                member(out, k, v, None);
            }
        }
    }
    out.push('}');
}

/// The contract type of a member's value (or of its items), when it is a class.
pub fn member_type(ty: PropType) -> Option<&'static TypeDef> {
    match ty {
        PropType::List(t) | PropType::Object(t) => schema::find(t),
        _ => None,
    }
}

/// The characters that make ServiceStack.Text quote a string (`JsWriter.EscapeChars`).
const ESCAPE_CHARS: [char; 9] = ['"', ':', ',', '{', '}', '[', ']', '\r', '\n'];

/// A string: raw, or quoted with inner quotes doubled; the empty string is `""`.
pub fn write_string(out: &mut String, s: &str) {
    if s.is_empty() {
        out.push_str("\"\"");
    } else if s.contains(ESCAPE_CHARS) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        let mut out = String::new();
        write_string(&mut out, v);
        out
    }

    #[test]
    fn strings_are_quoted_only_when_they_must_be() {
        assert_eq!(s("abc def"), "abc def");
        assert_eq!(s(""), "\"\"");
        assert_eq!(s("Acme, Inc"), "\"Acme, Inc\"");
        assert_eq!(
            s("2026-11-24T09:15:02.125Z"),
            "\"2026-11-24T09:15:02.125Z\""
        );
        assert_eq!(s("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(s("a]b"), "\"a]b\"");
        assert_eq!(s("l1\nl2"), "\"l1\nl2\"");
    }

    #[test]
    fn unknown_objects_keep_their_order_and_drop_nulls() {
        let v = serde_json::json!({"b": true, "a": null, "c": [1, "x,y"], "d": {}});
        let mut out = String::new();
        write_value(&mut out, &v, None);
        assert_eq!(out, "{b:True,c:[1,\"x,y\"],d:{}}");
    }
}
