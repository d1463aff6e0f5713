//! Metadata pages, as a ServiceStack host serves them (`text/html; charset=utf-8`, no token
//! needed): `/metadata` lists the operations with links to each format's page, and
//! `/{json|xml|jsv|csv}/metadata?op=GetActiveSessions[&lang=typescript|python|csharp]`
//! shows an operation: its description, "Requires Authentication" and the required role,
//! its routes, its DTOs (a members table, or the DTOs as source in `lang`), and a sample
//! request and response in that format. The published page this service re-implements is
//! `/xml/metadata?op=GetActiveSessions&lang=typescript`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use quick_xml::events::Event;
use quick_xml::{Reader, Writer};

use super::AppState;
use super::native::base_url;
use super::negotiate::query_param;
use crate::contract::html::escape;
use crate::contract::native::NativeOptions;
use crate::contract::native::csharp::csharp;
use crate::contract::native::python::python;
use crate::contract::native::typescript::page_dtos;
use crate::contract::schema::{self, Body, Operation, PropType};
use crate::contract::{Format, render_operation, sample_response};

/// The service's name, as the published page heads it.
const SERVICE_NAME: &str = "Evo Voice";

/// The formats with an operation page, as the index lists them.
const PAGE_FORMATS: [Format; 4] = [Format::Json, Format::Xml, Format::Jsv, Format::Csv];

/// The languages an operation page shows DTOs in: `lang`, its label, its `/types/` route.
const LANGUAGES: [(&str, &str); 3] = [
    ("typescript", "TypeScript"),
    ("python", "Python"),
    ("csharp", "C#"),
];

/// The page style: readable, no external resources.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;max-width:70rem}\
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.2rem .5rem;\
text-align:left;vertical-align:top}pre{background:#f6f8fa;padding:.75rem;overflow:auto}\
nav a{margin-right:1rem}nav a.active{font-weight:700}";

/// The metadata pages' routes.
pub fn routes() -> Router<Arc<AppState>> {
    let mut router = Router::new().route("/metadata", get(index));
    for format in PAGE_FORMATS {
        router = router.route(
            &format!("/{}/metadata", format.name()),
            get(move |headers: HeaderMap, RawQuery(query): RawQuery| {
                std::future::ready(operation_page(format, &headers, query.as_deref()))
            }),
        );
    }
    router
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let title = escape(title);
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\" /><title>{title}</title>\
             <style>{STYLE}</style></head><body><h1>{title}</h1>{body}</body></html>"
        ),
    )
        .into_response()
}

/// `/metadata`: the operations, each with its format pages, and the native types.
async fn index(headers: HeaderMap) -> Response {
    let base = escape(&base_url(&headers));
    let mut body = String::from(
        "<p>The following operations are supported.</p><h3>Operations</h3><table><tbody>",
    );
    for op in schema::OPERATIONS {
        let _ = write!(
            body,
            "<tr><th title=\"Requires Roles: {role}\">{name}</th>",
            role = escape(op.required_role),
            name = escape(op.request)
        );
        for format in PAGE_FORMATS {
            let _ = write!(
                body,
                "<td><a href=\"{base}/{f}/metadata?op={name}\">{label}</a></td>",
                f = format.name(),
                name = escape(op.request),
                label = format.name().to_ascii_uppercase()
            );
        }
        body.push_str("</tr>");
    }
    body.push_str("</tbody></table><h3>Add ServiceStack Reference</h3><ul>");
    for (lang, label) in LANGUAGES {
        let _ = write!(body, "<li><a href=\"{base}/types/{lang}\">{label}</a></li>");
    }
    let _ = write!(
        body,
        "<li><a href=\"{base}/types/metadata\">Metadata (JSON)</a></li></ul>"
    );
    page(StatusCode::OK, SERVICE_NAME, &body)
}

/// `/{format}/metadata?op=…[&lang=…]`.
fn operation_page(format: Format, headers: &HeaderMap, query: Option<&str>) -> Response {
    let query = query.unwrap_or_default();
    let op_name = query_param(query, "op").unwrap_or_default();
    let Some(op) = schema::operation(&op_name) else {
        return page(
            StatusCode::NOT_FOUND,
            SERVICE_NAME,
            &format!(
                "<p>No operation named <b>{}</b>: see <a href=\"/metadata\">the operations</a>.</p>",
                escape(&op_name)
            ),
        );
    };
    let lang = query_param(query, "lang").filter(|l| LANGUAGES.iter().any(|(k, _)| k == l));
    let base = base_url(headers);
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let mut body = String::new();
    let name = escape(op.request);
    let _ = write!(
        body,
        "<p><a href=\"{}/metadata\">&lt;back to all web services</a></p><h2>{name}</h2>",
        escape(&base)
    );
    if let Some(d) = op.request_type().description {
        let _ = write!(body, "<h3 id='desc'>{}</h3>", escape(d));
    }
    let _ = write!(
        body,
        "<table class='authentication'><caption><b>Requires Authentication</b></caption>\
         <tr><td>Required role:</td><td>{}</td></tr></table>\
         <table class='routes'><caption>The following routes are available for this service:</caption>\
         <tbody><tr><th>{}</th><th>{}</th></tr></tbody></table>",
        escape(op.required_role),
        escape(op.verb),
        escape(op.route)
    );
    body.push_str("<nav>");
    let active = |on: bool| if on { " class=\"active\"" } else { "" };
    let _ = write!(
        body,
        "<a{} href=\"?op={name}\">Metadata</a>",
        active(lang.is_none())
    );
    for (key, label) in LANGUAGES {
        let _ = write!(
            body,
            "<a{} href=\"?op={name}&amp;lang={key}\">{label}</a>",
            active(lang.as_deref() == Some(key))
        );
    }
    body.push_str("</nav>");
    match lang.as_deref() {
        Some(lang) => dtos_in(&mut body, op, lang, &base),
        None => members_tables(&mut body, op),
    }
    sample(&mut body, format, op, host);
    page(StatusCode::OK, SERVICE_NAME, &body)
}

/// The DTOs of `op` as source in `lang`, and the link that downloads them.
fn dtos_in(body: &mut String, op: &Operation, lang: &str, base: &str) {
    let include = format!("IncludeTypes={}.*", op.request);
    let options = NativeOptions::new(base, "", Some(&format!("{include}&WithoutOptions=true")));
    let (source, label) = match lang {
        "python" => (python(&options), "Python"),
        "csharp" => (csharp(&options), "C#"),
        _ => (page_dtos(op.request), "TypeScript"),
    };
    let _ = write!(
        body,
        "<pre><code lang=\"{lang}\">{}</code></pre>\
         <p><a href=\"{}/types/{lang}?{include}\">{label} {} DTOs</a></p>",
        escape(source.trim_matches('\n')),
        escape(base),
        escape(op.request)
    );
}

/// A table of members (name, type, description) for each class `op` uses.
fn members_tables(body: &mut String, op: &Operation) {
    let options = NativeOptions::new("", "", Some(&format!("IncludeTypes={}.*", op.request)));
    for ty in crate::contract::native::selected_types(&options) {
        let Body::Class { base, properties } = ty.body else {
            continue;
        };
        let _ = write!(body, "<h3>{}", escape(ty.name));
        if let Some(base) = base {
            let _ = write!(body, " : {}", escape(base));
        }
        body.push_str("</h3>");
        if properties.is_empty() {
            continue;
        }
        body.push_str("<table><tr><th>Name</th><th>Data type</th><th>Description</th></tr>");
        for p in properties {
            let ty = match p.ty {
                PropType::String => "string".to_owned(),
                PropType::Bool => "bool".to_owned(),
                PropType::Enum(t) => format!("{t} (enum)"),
                PropType::Object(t) => t.to_owned(),
                PropType::List(t) => format!("List&lt;{t}&gt;"),
                PropType::StringMap => "Dictionary&lt;string, string&gt;".to_owned(),
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{ty}</td><td>{}</td></tr>",
                escape(p.name),
                escape(p.description.unwrap_or_default())
            );
        }
        body.push_str("</table>");
    }
}

/// The override note and the sample request and response in `format`.
fn sample(body: &mut String, format: Format, op: &Operation, host: &str) {
    let name = format.name();
    let upper = name.to_ascii_uppercase();
    let content_type = format.content_type();
    let sample = render_operation(format, op.request, &sample_response());
    let sample = String::from_utf8(sample).unwrap_or_default();
    let sample = match format {
        Format::Xml => indent_xml(&sample),
        Format::Json => serde_json::from_str::<serde_json::Value>(&sample)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or(sample),
        _ => sample,
    };
    let _ = write!(
        body,
        "<div class=\"call-info\"><p>To override the Content-type in your clients, use the HTTP \
         <b>Accept</b> Header, append the <b>.{name}</b> suffix or <b>?format={name}</b></p></div>\
         <h3>HTTP + {upper}</h3><p>The following are sample HTTP requests and responses. \
         The placeholders shown need to be replaced with actual values.</p>\
         <pre>\n{} {} HTTP/1.1 \nHost: {} \nAccept: {}\n</pre>\
         <pre>\nHTTP/1.1 200 OK\nContent-Type: {}\nContent-Length: length\n\n{}\n</pre>",
        escape(op.verb),
        escape(op.route),
        escape(host),
        escape(content_type.split(';').next().unwrap_or_default()),
        escape(content_type.split(';').next().unwrap_or_default()),
        escape(&sample)
    );
}

/// DataContract XML indented two spaces per level, without the declaration, as the page
/// shows it.
pub fn indent_xml(xml: &str) -> String {
    let mut reader = Reader::from_str(xml);
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    loop {
        match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(Event::Decl(_)) => {}
            Ok(event) => {
                if writer.write_event(event).is_err() {
                    break;
                }
            }
        }
    }
    String::from_utf8(writer.into_inner()).unwrap_or_default()
}
