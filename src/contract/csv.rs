//! CSV as ServiceStack's `CsvFormat` writes a DTO without `[DataContract]`: one header row
//! of the type's members (PascalCase) and one row of values; a string cell as it is, any
//! other value as JSV; a cell quoted (inner quotes doubled) when it holds `"`, `,`, `\r` or
//! `\n` or starts with `[` or `{`; rows end with `\r\n`, the last one too.

use serde::Serialize;
use serde_json::Value;

use super::jsv::{member_type, write_value};
use super::schema;

/// `value` (a DTO of the contract type `type_name`) as one CSV row under its header row.
pub fn to_csv<T: Serialize>(type_name: &str, value: &T) -> String {
    let value = serde_json::to_value(value).unwrap_or(Value::Null);
    let Some(ty) = schema::find(type_name) else {
        return String::new();
    };
    let properties = ty.all_properties();
    let header: Vec<&str> = properties.iter().map(|p| p.name).collect();
    let cells: Vec<String> = properties
        .iter()
        .map(|p| {
            let cell = match value.get(schema::camel(p.name)) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => {
                    let mut jsv = String::new();
                    write_value(&mut jsv, v, member_type(p.ty));
                    strip_quotes(&jsv).to_owned()
                }
            };
            field(&cell)
        })
        .collect();
    format!("{}\r\n{}\r\n", header.join(","), cells.join(","))
}

/// `StripQuotes`: a value wrapped in `"` loses them.
fn strip_quotes(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// `ToCsvField`.
fn field(s: &str) -> String {
    if s.contains(['"', ',', '\r', '\n']) || s.starts_with('[') || s.starts_with('{') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_as_servicestack_does() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("[]"), "\"[]\"");
        assert_eq!(field("{a:\"x,y\"}"), "\"{a:\"\"x,y\"\"}\"");
        assert_eq!(strip_quotes("\"x\""), "x");
    }
}
