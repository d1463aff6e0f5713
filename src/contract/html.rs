//! HTML for browsers: a response (or an error) as a readable page, with the members in the
//! contract's order and links to the same response in the other formats. Everything the
//! page shows comes from the response and is HTML-escaped; the page runs no script.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value};

use super::jsv::member_type;
use super::schema::{self, TypeDef};

/// The page's style: readable tables, no external resources.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}\
table{border-collapse:collapse;margin:.25rem 0}th,td{border:1px solid #ccc;padding:.2rem .5rem;\
text-align:left;vertical-align:top}th{background:#f4f4f4;font-weight:600}ol{margin:0;padding-left:1.5rem}\
.empty{color:#888}nav a{margin-right:.75rem}";

/// `value` (a DTO of the contract type `type_name`, answering `operation`) as an HTML page.
pub fn to_html<T: Serialize>(operation: &str, type_name: &str, value: &T) -> String {
    let value = serde_json::to_value(value).unwrap_or(Value::Null);
    let mut body = String::new();
    write_value(&mut body, &value, schema::find(type_name));
    let op = escape(operation);
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\" />\
         <title>{op} Snapshot</title><style>{STYLE}</style></head><body>\
         <h1>Snapshot of <i>{op}</i></h1>\
         <nav>Other formats: <a href=\"?format=json\">json</a><a href=\"?format=xml\">xml</a>\
         <a href=\"?format=jsv\">jsv</a><a href=\"?format=csv\">csv</a></nav>\
         {body}</body></html>"
    )
}

fn write_value(out: &mut String, value: &Value, ty: Option<&TypeDef>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&escape(s)),
        Value::Array(items) if items.is_empty() => {
            out.push_str("<span class=\"empty\">none</span>")
        }
        Value::Array(items) => {
            out.push_str("<ol>");
            for item in items {
                out.push_str("<li>");
                write_value(out, item, ty);
                out.push_str("</li>");
            }
            out.push_str("</ol>");
        }
        Value::Object(map) if map.is_empty() => out.push_str("<span class=\"empty\">none</span>"),
        Value::Object(map) => write_object(out, map, ty),
    }
}

/// A table of the object's non-null members: a contract type's in its order.
fn write_object(out: &mut String, map: &Map<String, Value>, ty: Option<&TypeDef>) {
    out.push_str("<table>");
    let row = |out: &mut String, key: &str, value: &Value, ty: Option<&TypeDef>| {
        if value.is_null() {
            return;
        }
        let _ = write!(out, "<tr><th>{}</th><td>", escape(key));
        write_value(out, value, ty);
        out.push_str("</td></tr>");
    };
    match ty {
        Some(t) => {
            for p in t.all_properties() {
                let key = schema::camel(p.name);
                if let Some(v) = map.get(&key) {
                    row(out, &key, v, member_type(p.ty));
                }
            }
        }
        None => {
            for (k, v) in map {
                row(out, k, v, None);
            }
        }
    }
    out.push_str("</table>");
}

/// Escapes text for an HTML element or a double-quoted attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        let v = serde_json::json!({"x": "<script>alert('1')</script>&"});
        let html = to_html("Op<", "Nothing", &v);
        assert!(html.contains("&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt;&amp;"));
        assert!(html.contains("<title>Op&lt; Snapshot</title>"));
        assert!(!html.contains("<script"));
    }
}
