//! DataContractSerializer-compatible XML for the API's DTOs, byte for byte.
//!
//! ServiceStack serializes XML with .NET's `DataContractSerializer` over an
//! `XmlWriter` (UTF-8, no BOM, no indentation). This module reproduces that output
//! for the DTOs in [`crate::contract::dto`] with quick-xml's [`Writer`], one explicit member
//! list per DTO (no serde):
//!
//! - base-class (`EntityInfo`) members first, each in its own namespace, then the
//!   class's own members in ordinal (byte-wise) name order;
//! - null members are written as `<Name i:nil="true" />`, never omitted;
//! - a collection whose items live in another namespace declares a prefix
//!   `d{depth}p{n}` on the collection element (depth counted from the root = 1), even
//!   when it is empty;
//! - empty elements are written `<Name />` (with the space), as `XmlWriter` does;
//! - text escapes only `&`, `<`, `>` (and `\r` as `&#xD;`); attribute values also `"`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;

use quick_xml::Writer;
use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::contract::dto::{
    CustomerBreadcrumb, ErrorResponse, GetActiveSessionsResponse, ResponseStatus, SessionInfo,
    SessionLogInfo, SessionMemberInfo,
};

/// `xmlns:i`, the XML Schema instance namespace (for `i:nil`).
const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The namespace of `GetActiveSessionsResponse`, `SessionInfo` and the session DTOs.
const NS_SESSIONS: &str = "http://schemas.datacontract.org/2004/07/Voice.Api.Sessions";
/// The namespace of the `EntityInfo` base class.
const NS_API: &str = "http://schemas.datacontract.org/2004/07/Voice.Api";
/// The namespace of `CustomerBreadcrumb`.
const NS_CUSTOMERS: &str = "http://schemas.datacontract.org/2004/07/Voice.Api.Customers";
/// The namespace of serialized dictionaries (`KeyValueOfstringstring`).
const NS_ARRAYS: &str = "http://schemas.microsoft.com/2003/10/Serialization/Arrays";
/// The namespace of ServiceStack's `ErrorResponse` and `ResponseStatus`.
const NS_SERVICESTACK: &str = "http://schemas.servicestack.net/types";

/// The attribute that marks a null member.
const NIL: (&str, &str) = ("i:nil", "true");
/// The attribute that puts an `EntityInfo` member in its namespace.
const XMLNS_API: (&str, &str) = ("xmlns", NS_API);

/// The depth of the document's root element; prefixes are named after depths.
const ROOT_DEPTH: usize = 1;

type W = Writer<Vec<u8>>;

/// Serializes a `GetActiveSessionsResponse` as DataContractSerializer XML, starting with
/// the XML declaration; UTF-8 without BOM, no whitespace between elements.
pub fn get_active_sessions_response(resp: &GetActiveSessionsResponse) -> Vec<u8> {
    document(|w| {
        let root = "GetActiveSessionsResponse";
        start(w, root, &[("xmlns:i", NS_XSI), ("xmlns", NS_SESSIONS)])?;
        write_get_active_sessions_response(w, resp, ROOT_DEPTH)?;
        end(w, root)
    })
}

/// One `SessionInfo` element as it appears inside a `GetActiveSessionsResponse` (its
/// prefixes named for that depth), without the declaration: the piece
/// [`get_active_sessions_response_of`] joins.
pub fn session_info_element(s: &SessionInfo) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    element(&mut w, "SessionInfo", &[], |w| {
        write_session_info(w, s, ROOT_DEPTH + 2)
    })
    .expect("writing XML into a Vec<u8> is infallible");
    w.into_inner()
}

/// The same bytes as [`get_active_sessions_response`], from each session's
/// [`session_info_element`]: an item's bytes do not depend on the items around it.
pub fn get_active_sessions_response_of(items: &[&[u8]]) -> Vec<u8> {
    let size: usize = items.iter().map(|i| i.len()).sum();
    document(|w| {
        w.get_mut().reserve(size + 256);
        let root = "GetActiveSessionsResponse";
        start(w, root, &[("xmlns:i", NS_XSI), ("xmlns", NS_SESSIONS)])?;
        if items.is_empty() {
            empty(w, "Sessions", &[])?;
        } else {
            start(w, "Sessions", &[])?;
            for item in items {
                w.get_mut().extend_from_slice(item);
            }
            end(w, "Sessions")?;
        }
        end(w, root)
    })
}

/// Serializes ServiceStack's `ErrorResponse` as DataContractSerializer XML (namespace
/// `http://schemas.servicestack.net/types`), starting with the XML declaration.
pub fn error_response(err: &ErrorResponse) -> Vec<u8> {
    document(|w| {
        let root = "ErrorResponse";
        start(w, root, &[("xmlns:i", NS_XSI), ("xmlns", NS_SERVICESTACK)])?;
        write_error_response(w, err)?;
        end(w, root)
    })
}

/// Runs `body` against a fresh writer over a `Vec<u8>`, after the XML declaration, and
/// returns the bytes.
///
/// Every write goes into a `Vec<u8>`, whose `io::Write` implementation never returns an
/// error (running out of memory aborts instead), so the `io::Result` threaded through the
/// writers below is always `Ok`; this is the one place that asserts it. No input can make
/// it fail: nothing here returns an error of its own.
fn document(body: impl FnOnce(&mut W) -> io::Result<()>) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let result = w
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
        .and_then(|()| body(&mut w));
    result.expect("writing XML into a Vec<u8> is infallible");
    w.into_inner()
}

// ---------------------------------------------------------------------------------------
// One function per DTO: its members, in DataContractSerializer order. `depth` is the
// depth of the DTO's own element (root = 1); its members are at `depth + 1`.
// ---------------------------------------------------------------------------------------

/// `GetActiveSessionsResponse`: `Sessions`.
fn write_get_active_sessions_response(
    w: &mut W,
    resp: &GetActiveSessionsResponse,
    depth: usize,
) -> io::Result<()> {
    list(w, "Sessions", &resp.sessions, |w, s| {
        // Items of a default-namespace list sit two levels below the DTO.
        element(w, "SessionInfo", &[], |w| {
            write_session_info(w, s, depth + 2)
        })
    })
}

/// `SessionInfo`: the `EntityInfo` members (in their namespace), then its own members
/// in ordinal order.
fn write_session_info(w: &mut W, s: &SessionInfo, depth: usize) -> io::Result<()> {
    let member_depth = depth + 1;
    // EntityInfo (namespace Voice.Api).
    opt_text(w, "CreatedBy", &[XMLNS_API], s.created_by.as_deref())?;
    opt_text(w, "DateCreated", &[XMLNS_API], s.date_created.as_deref())?;
    opt_text(
        w,
        "DateLastModified",
        &[XMLNS_API],
        s.date_last_modified.as_deref(),
    )?;
    opt_text(w, "Id", &[XMLNS_API], s.id.as_deref())?;
    opt_text(
        w,
        "LastModifiedBy",
        &[XMLNS_API],
        s.last_modified_by.as_deref(),
    )?;
    // SessionInfo, ordinal order.
    opt_text(w, "AccountId", &[], s.account_id.as_deref())?;
    opt_text(w, "AccountName", &[], s.account_name.as_deref())?;
    opt_text(w, "AnsweredById", &[], s.answered_by_id.as_deref())?;
    opt_text(w, "AnsweredByName", &[], s.answered_by_name.as_deref())?;
    opt_text(w, "CallSid", &[], s.call_sid.as_deref())?;
    text(w, "CallState", &[], s.call_state.as_str())?;
    opt_text(w, "CallbackNumber", &[], s.callback_number.as_deref())?;
    text(w, "Channel", &[], s.channel.as_str())?;
    opt_text(w, "ConferenceSid", &[], s.conference_sid.as_deref())?;
    opt_text(w, "ConsoleData", &[], s.console_data.as_deref())?;
    prefixed_list(
        w,
        "CustomerBreadcrumb",
        member_depth,
        NS_CUSTOMERS,
        &s.customer_breadcrumb,
        |w, p, c| {
            let name = format!("{p}:CustomerBreadcrumb");
            element(w, &name, &[], |w| write_customer_breadcrumb(w, c, p))
        },
    )?;
    opt_text(w, "CustomerId", &[], s.customer_id.as_deref())?;
    opt_text(w, "CustomerName", &[], s.customer_name.as_deref())?;
    opt_text(w, "DateCompleted", &[], s.date_completed.as_deref())?;
    opt_text(w, "Destination", &[], s.destination.as_deref())?;
    text(w, "DialState", &[], s.dial_state.as_str())?;
    text(w, "Direction", &[], s.direction.as_str())?;
    opt_text(w, "DisplayName", &[], s.display_name.as_deref())?;
    text(w, "Ended", &[], bool_str(s.ended))?;
    opt_text(w, "EndpointId", &[], s.endpoint_id.as_deref())?;
    opt_text(w, "EndpointName", &[], s.endpoint_name.as_deref())?;
    opt_text(w, "FromAddress", &[], s.from_address.as_deref())?;
    opt_text(w, "FromName", &[], s.from_name.as_deref())?;
    opt_text(w, "FromPhoneNumber", &[], s.from_phone_number.as_deref())?;
    opt_text(w, "HeldByUserId", &[], s.held_by_user_id.as_deref())?;
    opt_text(w, "HoldQueueName", &[], s.hold_queue_name.as_deref())?;
    text(w, "HoldReason", &[], s.hold_reason.as_str())?;
    list(w, "Log", &s.log, |w, e| {
        element(w, "SessionLogInfo", &[], |w| write_session_log_info(w, e))
    })?;
    list(w, "Members", &s.members, |w, m| {
        element(w, "SessionMemberInfo", &[], |w| {
            write_session_member_info(w, m, member_depth + 1)
        })
    })?;
    opt_text(
        w,
        "MostRecentParticipantCallSid",
        &[],
        s.most_recent_participant_call_sid.as_deref(),
    )?;
    opt_text(w, "Outcome", &[], s.outcome.as_deref())?;
    opt_text(w, "QueueMemberId", &[], s.queue_member_id.as_deref())?;
    text(w, "QueueState", &[], s.queue_state.as_str())?;
    opt_text(w, "RingQueueId", &[], s.ring_queue_id.as_deref())?;
    opt_text(w, "ToAddress", &[], s.to_address.as_deref())?;
    text(w, "WasMissed", &[], bool_str(s.was_missed))
}

/// `CustomerBreadcrumb` (namespace `Voice.Api.Customers`, written with `prefix`).
fn write_customer_breadcrumb(w: &mut W, c: &CustomerBreadcrumb, prefix: &str) -> io::Result<()> {
    opt_text(w, &format!("{prefix}:Id"), &[], c.id.as_deref())?;
    opt_text(w, &format!("{prefix}:Name"), &[], c.name.as_deref())
}

/// `SessionLogInfo`.
fn write_session_log_info(w: &mut W, e: &SessionLogInfo) -> io::Result<()> {
    opt_text(w, "Date", &[], e.date.as_deref())?;
    opt_text(w, "Message", &[], e.message.as_deref())
}

/// `SessionMemberInfo`, in ordinal order.
fn write_session_member_info(w: &mut W, m: &SessionMemberInfo, depth: usize) -> io::Result<()> {
    let member_depth = depth + 1;
    match &m.application_data {
        None => nil(w, "ApplicationData", &[])?,
        Some(map) => write_string_dictionary(w, "ApplicationData", member_depth, map)?,
    }
    opt_text(w, "AvatarUrl", &[], m.avatar_url.as_deref())?;
    opt_text(w, "CallSid", &[], m.call_sid.as_deref())?;
    text(w, "CallState", &[], m.call_state.as_str())?;
    opt_text(w, "DisplayName", &[], m.display_name.as_deref())?;
    opt_text(w, "EndpointId", &[], m.endpoint_id.as_deref())?;
    opt_text(w, "Identity", &[], m.identity.as_deref())?;
    text(w, "IsOriginalMember", &[], bool_str(m.is_original_member))?;
    text(w, "Muted", &[], bool_str(m.muted))?;
    text(w, "Role", &[], m.role.as_str())
}

/// A `Dictionary<string, string>` member: `KeyValueOfstringstring` items in the
/// serialization Arrays namespace, under a prefix declared on the member element.
fn write_string_dictionary(
    w: &mut W,
    name: &str,
    depth: usize,
    map: &BTreeMap<String, String>,
) -> io::Result<()> {
    prefixed_list(w, name, depth, NS_ARRAYS, map, |w, p, (k, v)| {
        element(w, &format!("{p}:KeyValueOfstringstring"), &[], |w| {
            text(w, &format!("{p}:Key"), &[], k)?;
            text(w, &format!("{p}:Value"), &[], v)
        })
    })
}

/// ServiceStack's `ErrorResponse`: `ResponseStatus`.
fn write_error_response(w: &mut W, err: &ErrorResponse) -> io::Result<()> {
    element(w, "ResponseStatus", &[], |w| {
        write_response_status(w, &err.response_status)
    })
}

/// ServiceStack's `ResponseStatus`, in `DataMember(Order)` order: ErrorCode, Message,
/// StackTrace, Errors, Meta. This service never sends a stack trace, field errors or meta,
/// so `Errors` is always the empty list (`errors` is documented as always empty).
fn write_response_status(w: &mut W, status: &ResponseStatus) -> io::Result<()> {
    text(w, "ErrorCode", &[], &status.error_code)?;
    text(w, "Message", &[], &status.message)?;
    nil(w, "StackTrace", &[])?;
    empty(w, "Errors", &[])?;
    nil(w, "Meta", &[])
}

// ---------------------------------------------------------------------------------------
// Element helpers.
// ---------------------------------------------------------------------------------------

/// `true` / `false`, as `XmlConvert.ToString(bool)` writes them.
fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// The name of the `n`th prefix (from 1) declared on an element at `depth`, as
/// DataContractSerializer generates it: `d{depth}p{n}`.
fn prefix_name(depth: usize, n: usize) -> String {
    format!("d{depth}p{n}")
}

/// A start tag's content: the name, then ` key="value"` per attribute.
fn tag_content(name: &str, attrs: &[(&str, &str)]) -> String {
    let mut content = String::from(name);
    for (key, value) in attrs {
        content.push(' ');
        content.push_str(key);
        content.push_str("=\"");
        content.push_str(&escape_attr(value));
        content.push('"');
    }
    content
}

/// `<name attrs>`.
fn start(w: &mut W, name: &str, attrs: &[(&str, &str)]) -> io::Result<()> {
    let content = tag_content(name, attrs);
    w.write_event(Event::Start(BytesStart::from_content(content, name.len())))
}

/// `</name>`.
fn end(w: &mut W, name: &str) -> io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(name)))
}

/// `<name attrs />`, with the space before `/>` that `XmlWriter` writes.
fn empty(w: &mut W, name: &str, attrs: &[(&str, &str)]) -> io::Result<()> {
    let mut content = tag_content(name, attrs);
    content.push(' ');
    w.write_event(Event::Empty(BytesStart::from_content(content, name.len())))
}

/// A null member: `<name attrs i:nil="true" />`.
fn nil(w: &mut W, name: &str, attrs: &[(&str, &str)]) -> io::Result<()> {
    let mut all = attrs.to_vec();
    all.push(NIL);
    empty(w, name, &all)
}

/// An element with children written by `body`.
fn element(
    w: &mut W,
    name: &str,
    attrs: &[(&str, &str)],
    body: impl FnOnce(&mut W) -> io::Result<()>,
) -> io::Result<()> {
    start(w, name, attrs)?;
    body(w)?;
    end(w, name)
}

/// A text member. An empty string has no content, so `XmlWriter` closes it as `<name />`.
fn text(w: &mut W, name: &str, attrs: &[(&str, &str)], value: &str) -> io::Result<()> {
    if value.is_empty() {
        return empty(w, name, attrs);
    }
    start(w, name, attrs)?;
    w.write_event(Event::Text(BytesText::from_escaped(escape_text(value))))?;
    end(w, name)
}

/// A nullable text member: the text, or `<name attrs i:nil="true" />`.
fn opt_text(w: &mut W, name: &str, attrs: &[(&str, &str)], value: Option<&str>) -> io::Result<()> {
    match value {
        Some(value) => text(w, name, attrs, value),
        None => nil(w, name, attrs),
    }
}

/// A list whose items are in the default namespace: `<name>items</name>`, or `<name />`.
fn list<'a, T: 'a>(
    w: &mut W,
    name: &str,
    items: impl IntoIterator<Item = &'a T>,
    mut item: impl FnMut(&mut W, &'a T) -> io::Result<()>,
) -> io::Result<()> {
    let mut items = items.into_iter().peekable();
    if items.peek().is_none() {
        return empty(w, name, &[]);
    }
    start(w, name, &[])?;
    for i in items {
        item(w, i)?;
    }
    end(w, name)
}

/// A collection member at `depth` whose items live in namespace `ns`: the collection
/// element declares the prefix `d{depth}p1` for `ns` (also when empty) and `item` writes
/// each item with that prefix.
fn prefixed_list<I: IntoIterator>(
    w: &mut W,
    name: &str,
    depth: usize,
    ns: &str,
    items: I,
    mut item: impl FnMut(&mut W, &str, I::Item) -> io::Result<()>,
) -> io::Result<()> {
    let prefix = prefix_name(depth, 1);
    let xmlns = format!("xmlns:{prefix}");
    let attrs = [(xmlns.as_str(), ns)];
    let mut items = items.into_iter().peekable();
    if items.peek().is_none() {
        return empty(w, name, &attrs);
    }
    start(w, name, &attrs)?;
    for i in items {
        item(w, &prefix, i)?;
    }
    end(w, name)
}

// ---------------------------------------------------------------------------------------
// Escaping.
// ---------------------------------------------------------------------------------------

/// Whether `c` is allowed in an XML 1.0 document (`Char` production). Surrogates cannot
/// occur in a Rust `char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Replaces characters XML 1.0 does not allow with U+FFFD, so that no input can make
/// the document malformed.
fn sanitize(s: &str) -> Cow<'_, str> {
    if s.chars().all(is_xml_char) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(
            s.chars()
                .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

/// Escapes element text as `XmlWriter` does: `&`, `<`, `>` (quotes are left alone), and
/// `\r` as `&#xD;` so that parsers do not normalize it away.
fn escape_text(s: &str) -> Cow<'_, str> {
    let escaped = partial_escape(sanitize(s));
    if escaped.contains('\r') {
        Cow::Owned(escaped.replace('\r', "&#xD;"))
    } else {
        escaped
    }
}

/// Escapes an attribute value (double-quoted): `&`, `<`, `>`, `"`, and the whitespace
/// characters an attribute-value normalizer would otherwise turn into spaces.
fn escape_attr(s: &str) -> Cow<'_, str> {
    let s = sanitize(s);
    if !s.contains(['&', '<', '>', '"', '\t', '\n', '\r']) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        FlowChannels, SessionCallState, SessionDialState, SessionDirections, SessionHoldReasons,
        SessionMemberCallState, SessionMemberRoles, SessionQueueStates,
    };
    use quick_xml::Reader;
    use quick_xml::events::Event as ReadEvent;

    const DECL: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

    /// A session with every nullable member null and every list empty.
    fn bare_session() -> SessionInfo {
        SessionInfo {
            id: None,
            date_created: None,
            date_last_modified: None,
            created_by: None,
            last_modified_by: None,
            dial_state: SessionDialState::Active,
            call_state: SessionCallState::Connected,
            queue_state: SessionQueueStates::Queued,
            account_id: None,
            account_name: None,
            customer_id: None,
            customer_breadcrumb: vec![],
            customer_name: None,
            endpoint_id: None,
            endpoint_name: None,
            date_completed: None,
            destination: None,
            to_address: None,
            from_address: None,
            from_name: None,
            answered_by_name: None,
            queue_member_id: None,
            channel: FlowChannels::Chat,
            ended: true,
            outcome: None,
            call_sid: None,
            console_data: None,
            hold_queue_name: None,
            held_by_user_id: None,
            hold_reason: SessionHoldReasons::Transferring,
            conference_sid: None,
            display_name: None,
            log: vec![],
            members: vec![],
            callback_number: None,
            answered_by_id: None,
            direction: SessionDirections::Outgoing,
            from_phone_number: None,
            most_recent_participant_call_sid: None,
            was_missed: true,
            ring_queue_id: None,
        }
    }

    fn bare_member() -> SessionMemberInfo {
        SessionMemberInfo {
            identity: None,
            endpoint_id: None,
            display_name: None,
            is_original_member: true,
            avatar_url: None,
            application_data: None,
            call_state: SessionMemberCallState::Hold,
            role: SessionMemberRoles::Agent,
            call_sid: None,
            muted: true,
        }
    }

    fn render(sessions: Vec<SessionInfo>) -> String {
        let bytes = get_active_sessions_response(&GetActiveSessionsResponse { sessions });
        String::from_utf8(bytes).expect("UTF-8")
    }

    /// Parses `xml` fully with quick-xml (checking end names) and returns the local names
    /// of the children of every element named `parent`, in order.
    fn children_of(xml: &str, parent: &str) -> Vec<Vec<String>> {
        let mut reader = Reader::from_str(xml);
        reader.config_mut().check_end_names = true;
        let mut stack: Vec<String> = Vec::new();
        let mut out: Vec<Vec<String>> = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                ReadEvent::Start(e) => {
                    let name = String::from_utf8(e.local_name().as_ref().to_vec()).unwrap();
                    if stack.last().is_some_and(|p| p == parent) {
                        out.last_mut().unwrap().push(name.clone());
                    }
                    if name == parent {
                        out.push(Vec::new());
                    }
                    stack.push(name);
                }
                ReadEvent::Empty(e) => {
                    let name = String::from_utf8(e.local_name().as_ref().to_vec()).unwrap();
                    if stack.last().is_some_and(|p| p == parent) {
                        out.last_mut().unwrap().push(name);
                    }
                }
                ReadEvent::End(_) => {
                    stack.pop();
                }
                ReadEvent::Eof => break,
                _ => {}
            }
        }
        assert!(stack.is_empty());
        out
    }

    /// The text content of the first element named `name` (unescaped).
    fn text_of(xml: &str, name: &str) -> String {
        let mut reader = Reader::from_str(xml);
        let mut inside = false;
        let mut out = String::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                ReadEvent::Start(e) if e.name().as_ref() == name.as_bytes() => inside = true,
                ReadEvent::End(e) if e.name().as_ref() == name.as_bytes() => return out,
                ReadEvent::Text(t) if inside => out.push_str(&t.decode().unwrap()),
                ReadEvent::GeneralRef(r) if inside => {
                    if let Some(c) = r.resolve_char_ref().unwrap() {
                        out.push(c);
                        continue;
                    }
                    out.push_str(match r.decode().unwrap().as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("unexpected reference {other}"),
                    });
                }
                ReadEvent::Eof => panic!("no element {name}"),
                _ => {}
            }
        }
    }

    #[test]
    fn empty_response() {
        assert_eq!(
            render(vec![]),
            format!(
                "{DECL}<GetActiveSessionsResponse xmlns:i=\"{NS_XSI}\" xmlns=\"{NS_SESSIONS}\">\
                 <Sessions /></GetActiveSessionsResponse>"
            )
        );
    }

    #[test]
    fn all_null_session_exact_bytes() {
        let api = format!("xmlns=\"{NS_API}\"");
        let expected = format!(
            "{DECL}<GetActiveSessionsResponse xmlns:i=\"{NS_XSI}\" xmlns=\"{NS_SESSIONS}\">\
             <Sessions><SessionInfo>\
             <CreatedBy {api} i:nil=\"true\" />\
             <DateCreated {api} i:nil=\"true\" />\
             <DateLastModified {api} i:nil=\"true\" />\
             <Id {api} i:nil=\"true\" />\
             <LastModifiedBy {api} i:nil=\"true\" />\
             <AccountId i:nil=\"true\" />\
             <AccountName i:nil=\"true\" />\
             <AnsweredById i:nil=\"true\" />\
             <AnsweredByName i:nil=\"true\" />\
             <CallSid i:nil=\"true\" />\
             <CallState>Connected</CallState>\
             <CallbackNumber i:nil=\"true\" />\
             <Channel>Chat</Channel>\
             <ConferenceSid i:nil=\"true\" />\
             <ConsoleData i:nil=\"true\" />\
             <CustomerBreadcrumb xmlns:d4p1=\"{NS_CUSTOMERS}\" />\
             <CustomerId i:nil=\"true\" />\
             <CustomerName i:nil=\"true\" />\
             <DateCompleted i:nil=\"true\" />\
             <Destination i:nil=\"true\" />\
             <DialState>Active</DialState>\
             <Direction>Outgoing</Direction>\
             <DisplayName i:nil=\"true\" />\
             <Ended>true</Ended>\
             <EndpointId i:nil=\"true\" />\
             <EndpointName i:nil=\"true\" />\
             <FromAddress i:nil=\"true\" />\
             <FromName i:nil=\"true\" />\
             <FromPhoneNumber i:nil=\"true\" />\
             <HeldByUserId i:nil=\"true\" />\
             <HoldQueueName i:nil=\"true\" />\
             <HoldReason>Transferring</HoldReason>\
             <Log />\
             <Members />\
             <MostRecentParticipantCallSid i:nil=\"true\" />\
             <Outcome i:nil=\"true\" />\
             <QueueMemberId i:nil=\"true\" />\
             <QueueState>Queued</QueueState>\
             <RingQueueId i:nil=\"true\" />\
             <ToAddress i:nil=\"true\" />\
             <WasMissed>true</WasMissed>\
             </SessionInfo></Sessions></GetActiveSessionsResponse>"
        );
        assert_eq!(render(vec![bare_session()]), expected);
    }

    #[test]
    fn null_members_inside_prefixed_items_and_dictionaries() {
        let mut s = bare_session();
        s.customer_breadcrumb = vec![CustomerBreadcrumb {
            id: None,
            name: Some("Acme".into()),
        }];
        let mut nil_data = bare_member();
        nil_data.identity = Some("m1".into());
        let mut empty_data = bare_member();
        empty_data.application_data = Some(BTreeMap::new());
        s.members = vec![nil_data, empty_data];
        let xml = render(vec![s]);
        assert!(xml.contains(&format!(
            "<CustomerBreadcrumb xmlns:d4p1=\"{NS_CUSTOMERS}\"><d4p1:CustomerBreadcrumb>\
             <d4p1:Id i:nil=\"true\" /><d4p1:Name>Acme</d4p1:Name>\
             </d4p1:CustomerBreadcrumb></CustomerBreadcrumb>"
        )));
        assert!(xml.contains(
            "<Members><SessionMemberInfo><ApplicationData i:nil=\"true\" />\
             <AvatarUrl i:nil=\"true\" /><CallSid i:nil=\"true\" /><CallState>Hold</CallState>\
             <DisplayName i:nil=\"true\" /><EndpointId i:nil=\"true\" /><Identity>m1</Identity>\
             <IsOriginalMember>true</IsOriginalMember><Muted>true</Muted><Role>Agent</Role>\
             </SessionMemberInfo><SessionMemberInfo>"
        ));
        assert!(xml.contains(&format!(
            "<SessionMemberInfo><ApplicationData xmlns:d6p1=\"{NS_ARRAYS}\" /><AvatarUrl"
        )));
        children_of(&xml, "SessionInfo");
    }

    #[test]
    fn dictionary_items_in_key_order_with_prefix() {
        let mut s = bare_session();
        let mut m = bare_member();
        m.application_data = Some(BTreeMap::from([
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), String::new()),
        ]));
        s.members = vec![m];
        let xml = render(vec![s]);
        assert!(xml.contains(&format!(
            "<ApplicationData xmlns:d6p1=\"{NS_ARRAYS}\">\
             <d6p1:KeyValueOfstringstring><d6p1:Key>a</d6p1:Key><d6p1:Value /></d6p1:KeyValueOfstringstring>\
             <d6p1:KeyValueOfstringstring><d6p1:Key>b</d6p1:Key><d6p1:Value>2</d6p1:Value></d6p1:KeyValueOfstringstring>\
             </ApplicationData>"
        )));
    }

    #[test]
    fn prefix_follows_depth() {
        assert_eq!(prefix_name(4, 1), "d4p1");
        assert_eq!(prefix_name(12, 3), "d12p3");

        // The same DTO written one level deeper gets a deeper prefix.
        let mut w = Writer::new(Vec::new());
        let mut s = bare_session();
        s.customer_breadcrumb = vec![CustomerBreadcrumb {
            id: Some("c".into()),
            name: None,
        }];
        let mut m = bare_member();
        m.application_data = Some(BTreeMap::from([("k".to_string(), "v".to_string())]));
        s.members = vec![m];
        write_session_info(&mut w, &s, 7).unwrap();
        let xml = String::from_utf8(w.into_inner()).unwrap();
        assert!(xml.contains(&format!(
            "<CustomerBreadcrumb xmlns:d8p1=\"{NS_CUSTOMERS}\"><d8p1:CustomerBreadcrumb><d8p1:Id>c</d8p1:Id>"
        )));
        assert!(xml.contains(&format!(
            "<ApplicationData xmlns:d10p1=\"{NS_ARRAYS}\"><d10p1:KeyValueOfstringstring><d10p1:Key>k</d10p1:Key>"
        )));
    }

    #[test]
    fn empty_default_namespace_lists_are_self_closing() {
        let xml = render(vec![bare_session()]);
        assert!(xml.contains("<HoldReason>Transferring</HoldReason><Log /><Members /><MostRecent"));
    }

    #[test]
    fn log_items() {
        let mut s = bare_session();
        s.log = vec![
            SessionLogInfo {
                date: Some("2026-11-24T09:15:02.125Z".into()),
                message: Some("Ringing".into()),
            },
            SessionLogInfo {
                date: None,
                message: None,
            },
        ];
        let xml = render(vec![s]);
        assert!(xml.contains(
            "<Log><SessionLogInfo><Date>2026-11-24T09:15:02.125Z</Date><Message>Ringing</Message>\
             </SessionLogInfo><SessionLogInfo><Date i:nil=\"true\" /><Message i:nil=\"true\" />\
             </SessionLogInfo></Log>"
        ));
    }

    #[test]
    fn members_are_in_ordinal_order() {
        let mut s = bare_session();
        s.members = vec![bare_member()];
        let xml = render(vec![s.clone(), s]);
        let sessions = children_of(&xml, "SessionInfo");
        assert_eq!(sessions.len(), 2);
        for names in sessions {
            let (base, own) = names.split_at(5);
            assert_eq!(
                base,
                [
                    "CreatedBy",
                    "DateCreated",
                    "DateLastModified",
                    "Id",
                    "LastModifiedBy"
                ]
            );
            assert_eq!(own.len(), 36);
            assert!(
                own.windows(2).all(|p| p[0].as_bytes() < p[1].as_bytes()),
                "{own:?}"
            );
        }
        let members = children_of(&xml, "SessionMemberInfo");
        for names in members {
            assert_eq!(names.len(), 10);
            assert!(
                names.windows(2).all(|p| p[0].as_bytes() < p[1].as_bytes()),
                "{names:?}"
            );
        }
    }

    #[test]
    fn text_escaping() {
        assert_eq!(escape_text("plain"), "plain");
        assert!(matches!(escape_text("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_text(r#"a & b < c > d "q" 'a'"#),
            r#"a &amp; b &lt; c &gt; d "q" 'a'"#
        );
        assert_eq!(escape_text("]]>"), "]]&gt;");
        assert_eq!(escape_text("l1\r\nl2\tx\n"), "l1&#xD;\nl2\tx\n");
        assert_eq!(escape_text("é 漢 🎉"), "é 漢 🎉");
    }

    #[test]
    fn invalid_xml_characters_are_replaced() {
        assert_eq!(escape_text("a\u{0}b\u{1F}c"), "a\u{FFFD}b\u{FFFD}c");
        assert_eq!(
            escape_text("\u{FFFE}\u{FFFF}\u{FFFD}"),
            "\u{FFFD}\u{FFFD}\u{FFFD}"
        );
        assert_eq!(
            escape_text("\u{7F}\u{85}\u{10FFFF}"),
            "\u{7F}\u{85}\u{10FFFF}"
        );
        assert_eq!(escape_attr("x\u{8}y"), "x\u{FFFD}y");

        let mut s = bare_session();
        s.display_name = Some("bad\u{0}\u{B}<&>\r".into());
        let xml = render(vec![s]);
        assert!(xml.contains("<DisplayName>bad\u{FFFD}\u{FFFD}&lt;&amp;&gt;&#xD;</DisplayName>"));
        assert_eq!(text_of(&xml, "DisplayName"), "bad\u{FFFD}\u{FFFD}<&>\r");
        children_of(&xml, "SessionInfo");
    }

    #[test]
    fn attribute_escaping() {
        assert_eq!(escape_attr(NS_API), NS_API);
        assert_eq!(
            escape_attr("a&b<c>d\"e'f\tg\nh\ri"),
            "a&amp;b&lt;c&gt;d&quot;e'f&#x9;g&#xA;h&#xD;i"
        );
        assert_eq!(
            tag_content("X", &[("a", "\"1\""), ("b", "2")]),
            "X a=\"&quot;1&quot;\" b=\"2\""
        );
    }

    #[test]
    fn empty_strings_are_self_closing() {
        let mut s = bare_session();
        s.account_id = Some(String::new());
        s.id = Some(String::new());
        let xml = render(vec![s]);
        assert!(xml.contains(&format!("<Id xmlns=\"{NS_API}\" />")));
        assert!(xml.contains("<AccountId />"));
    }

    #[test]
    fn escaped_text_round_trips_through_a_parser() {
        let mut s = bare_session();
        s.from_name = Some(r#"O'Brien & "Sons" <sales>"#.into());
        let xml = render(vec![s]);
        assert!(xml.contains(r#"<FromName>O'Brien &amp; "Sons" &lt;sales&gt;</FromName>"#));
        assert_eq!(text_of(&xml, "FromName"), r#"O'Brien & "Sons" <sales>"#);
    }

    #[test]
    fn error_response_exact_bytes() {
        let err = ErrorResponse {
            response_status: ResponseStatus {
                error_code: "Unauthorized".into(),
                message: "Not Authenticated".into(),
                errors: vec![],
            },
        };
        assert_eq!(
            String::from_utf8(error_response(&err)).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><ErrorResponse \
             xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xmlns=\"http://schemas.servicestack.net/types\"><ResponseStatus>\
             <ErrorCode>Unauthorized</ErrorCode><Message>Not Authenticated</Message>\
             <StackTrace i:nil=\"true\" /><Errors /><Meta i:nil=\"true\" />\
             </ResponseStatus></ErrorResponse>"
        );
    }

    #[test]
    fn error_response_escapes_message() {
        let err = ErrorResponse {
            response_status: ResponseStatus {
                error_code: "Forbidden".into(),
                message: "a<b & \"c\"".into(),
                errors: vec![],
            },
        };
        let xml = String::from_utf8(error_response(&err)).unwrap();
        assert!(xml.contains("<Message>a&lt;b &amp; \"c\"</Message>"));
        assert_eq!(text_of(&xml, "Message"), "a<b & \"c\"");
    }

    #[test]
    fn no_bom_and_declaration_first() {
        let bytes = get_active_sessions_response(&GetActiveSessionsResponse { sessions: vec![] });
        assert!(bytes.starts_with(DECL.as_bytes()));
    }
}
