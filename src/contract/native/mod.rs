//! Native types: the contract's DTOs as source code for ServiceStack's "Add ServiceStack
//! Reference" tools (`/types/typescript`, `/types/python`, `/types/csharp`) and as the
//! `MetadataTypes` JSON (`/types/metadata`), all generated from [`super::schema`] in the
//! shape ServiceStack v6.5's generators write: a header of options on the first line
//! (`/* Options:` or `""" Options:`), options echoed from the query (uncommented when
//! given), `IncludeTypes`/`ExcludeTypes`, unknown query keys ignored.

pub mod csharp;
pub mod metadata;
pub mod python;
pub mod typescript;

use super::schema::{self, TypeDef};

/// The ServiceStack version whose generators this output follows (`Version:` in the header):
/// the version the published page fingerprints (v6.5).
pub const SERVICESTACK_VERSION: &str = "6.50";

/// The request's options: the base URL, the date for the header, and the query string.
#[derive(Debug, Clone)]
pub struct NativeOptions {
    base_url: String,
    date: String,
    query: Vec<(String, String)>,
}

impl NativeOptions {
    /// Options from a raw query string; `base_url` is the host's own (no trailing slash),
    /// replaced by `?BaseUrl=`; `date` goes in the header as it is.
    pub fn new(base_url: &str, date: &str, query: Option<&str>) -> Self {
        let query = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut options = Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            date: date.to_owned(),
            query,
        };
        if let Some(url) = options.get("BaseUrl") {
            options.base_url = url.trim_end_matches('/').to_owned();
        }
        options
    }

    /// The base URL the header names.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A query option by name (any case), when given with a value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, v)| k.eq_ignore_ascii_case(key) && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// A boolean option: the query's `true`/`false` (any case), else `default`.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            _ => default,
        }
    }

    /// A list option: comma-separated, trimmed, empty items dropped.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `?WithoutOptions` was given (any value): no header block.
    pub fn without_options(&self) -> bool {
        self.query
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("WithoutOptions"))
    }

    /// The header's option lines: `{comment}{Key}: {value}`, the comment dropped and the
    /// query's value shown when the query gives the option.
    fn option_lines(&self, comment: &str, defaults: &[(&str, Default)]) -> String {
        let mut out = String::new();
        for (key, default) in defaults {
            let line = match (self.get(key), default) {
                (Some(_), Default::Bool(d)) => {
                    format!("{key}: {}", csharp_bool(self.flag(key, *d)))
                }
                (Some(_), Default::List(_)) => format!("{key}: {}", self.list(key).join(",")),
                (Some(v), Default::Text(_)) => format!("{key}: {v}"),
                (None, Default::Bool(d)) => format!("{comment}{key}: {}", csharp_bool(*d)),
                (None, Default::List(d) | Default::Text(d)) => format!("{comment}{key}: {d}"),
            };
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// The header's first lines, up to and including `BaseUrl:` and the empty line.
    fn preamble(&self, open: &str, comment: &str) -> String {
        format!(
            "{open} Options:\nDate: {}\nVersion: {SERVICESTACK_VERSION}\n\
             Tip: To override a DTO option, remove \"{comment}\" prefix before updating\n\
             BaseUrl: {}\n\n",
            self.date, self.base_url
        )
    }
}

/// An option's default, for the header.
#[derive(Debug, Clone, Copy)]
enum Default {
    /// A boolean, shown `True`/`False`.
    Bool(bool),
    /// A comma-separated list.
    List(&'static str),
    /// Text.
    Text(&'static str),
}

/// A boolean as C# prints it.
fn csharp_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// The types to emit, in the description's order: all non-builtin types, or those
/// `IncludeTypes` names (`Name`, `Name.*` with everything it uses and its response,
/// `Namespace/*`), less those `ExcludeTypes` names.
pub fn selected_types(options: &NativeOptions) -> Vec<&'static TypeDef> {
    let include = options.list("IncludeTypes");
    let exclude = options.list("ExcludeTypes");
    let mut wanted: Vec<&str> = Vec::new();
    for pattern in &include {
        if let Some(name) = pattern.strip_suffix(".*") {
            closure(name, &mut wanted);
        } else if let Some(namespace) = pattern.strip_suffix("/*") {
            wanted.extend(
                schema::TYPES
                    .iter()
                    .filter(|t| t.namespace == namespace)
                    .map(|t| t.name),
            );
        } else {
            wanted.push(pattern);
        }
    }
    schema::TYPES
        .iter()
        .filter(|t| !t.builtin)
        .filter(|t| include.is_empty() || wanted.contains(&t.name))
        .filter(|t| !exclude.iter().any(|e| e == t.name))
        .collect()
}

/// `name`, its response type if it is a request, and every type they use, transitively.
fn closure<'a>(name: &'a str, out: &mut Vec<&'a str>) {
    if out.contains(&name) {
        return;
    }
    let Some(ty) = schema::find(name) else {
        return;
    };
    out.push(ty.name);
    if let Some(op) = schema::operation(name) {
        closure(op.response, out);
    }
    for r in ty.references() {
        closure(r, out);
    }
}

/// A string as a C#-style quoted literal (`ToEscapedString`, JSON-like).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// `@Route("/path", "GET")` and `@Api(Description=...)` / `@ApiMember(...)` attribute texts
/// of a type, as the comment attributes of TypeScript and Python show them.
fn type_attributes(ty: &TypeDef, with_route: bool) -> Vec<String> {
    let mut out = Vec::new();
    if with_route && let Some(op) = schema::operation(ty.name) {
        out.push(format!("Route({}, {})", quoted(op.route), quoted(op.verb)));
    }
    if let Some(d) = ty.description {
        out.push(format!("Api(Description={})", quoted(d)));
    }
    out
}
