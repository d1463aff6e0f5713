//! Responses assembled from each session's own bytes. A session's JSON, XML and JSV are
//! rendered once per version of the session (kept in its `rendered`) and shared by
//! every reader, every user it belongs to and every live stream; a response is the
//! format's fixed head and tail around them. The bytes are exactly those of
//! [`render_operation`](super::render_operation) on the same sessions (a property test
//! holds the two together).

use std::sync::Arc;

use super::dto::{GetActiveSessionsResponse, SessionInfo};
use super::{Format, jsv, render_operation, xml};
use crate::projection::{Rendering, Session};

/// The session's `SessionInfo` in `form`, rendered now if no reader has yet.
pub fn session_bytes(form: Rendering, session: &Session) -> &[u8] {
    session.rendered.get_or_render(form, || {
        let info = SessionInfo::from(session);
        match form {
            // Serializing plain structs of strings, bools and maps cannot fail.
            Rendering::Json => serde_json::to_vec(&info).unwrap_or_default(),
            Rendering::Xml => xml::session_info_element(&info),
            Rendering::Jsv => jsv::to_jsv("SessionInfo", &info).into_bytes(),
        }
    })
}

/// The body of `operation` (a `GetActiveSessionsResponse`) holding `sessions`, in
/// `format`.
pub fn render_sessions(format: Format, operation: &str, sessions: &[Arc<Session>]) -> Vec<u8> {
    match format {
        Format::Json => json_response(sessions),
        Format::Xml => {
            let items: Vec<&[u8]> = sessions
                .iter()
                .map(|s| session_bytes(Rendering::Xml, s))
                .collect();
            xml::get_active_sessions_response_of(&items)
        }
        Format::Jsv => {
            let mut out = b"{sessions:".to_vec();
            jsv_list(&mut out, sessions, false);
            out.push(b'}');
            out
        }
        Format::Csv => {
            // One `Sessions` cell holding the list's JSV; it starts with `[`, so it is
            // quoted and its quotes doubled (which doubling each item's quotes does too).
            let mut out = b"Sessions\r\n\"".to_vec();
            jsv_list(&mut out, sessions, true);
            out.extend_from_slice(b"\"\r\n");
            out
        }
        Format::Html => render_operation(
            format,
            operation,
            &GetActiveSessionsResponse {
                sessions: sessions.iter().map(|s| SessionInfo::from(&**s)).collect(),
            },
        ),
    }
}

/// `{"sessions":[…]}`, the JSON response (and the live stream's snapshot frame).
pub fn json_response(sessions: &[Arc<Session>]) -> Vec<u8> {
    let items: Vec<&[u8]> = sessions
        .iter()
        .map(|s| session_bytes(Rendering::Json, s))
        .collect();
    let size: usize = items.iter().map(|i| i.len() + 1).sum();
    let mut out = Vec::with_capacity(size + 16);
    out.extend_from_slice(b"{\"sessions\":[");
    join(&mut out, &items);
    out.extend_from_slice(b"]}");
    out
}

/// `[item,item,…]` of the sessions' JSV, each item's quotes doubled when `quote_csv`.
fn jsv_list(out: &mut Vec<u8>, sessions: &[Arc<Session>], quote_csv: bool) {
    out.push(b'[');
    for (i, session) in sessions.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let item = session_bytes(Rendering::Jsv, session);
        if quote_csv {
            for &b in item {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
        } else {
            out.extend_from_slice(item);
        }
    }
    out.push(b']');
}

fn join(out: &mut Vec<u8>, items: &[&[u8]]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
}
