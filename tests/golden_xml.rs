//! Golden test: the XML for a fully populated `SessionInfo` is byte for byte the sample
//! on the published `GetActiveSessions` metadata page (minified, with the XML
//! declaration, and with `DateCompleted` null as this service always writes it).

use std::collections::BTreeMap;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::Event;
use sessiond::contract::dto::{
    CustomerBreadcrumb, GetActiveSessionsResponse, SessionInfo, SessionLogInfo, SessionMemberInfo,
};
use sessiond::contract::xml::get_active_sessions_response;
use sessiond::model::{
    FlowChannels, SessionCallState, SessionDialState, SessionDirections, SessionHoldReasons,
    SessionMemberCallState, SessionMemberRoles, SessionQueueStates,
};

const DECL: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

/// The page's placeholder for every string.
fn s() -> Option<String> {
    Some("String".to_string())
}

/// The sample `SessionInfo` of the metadata page, except `date_completed: None`.
fn sample_session() -> SessionInfo {
    SessionInfo {
        id: s(),
        date_created: s(),
        date_last_modified: s(),
        created_by: s(),
        last_modified_by: s(),
        dial_state: SessionDialState::None,
        call_state: SessionCallState::Disconnected,
        queue_state: SessionQueueStates::None,
        account_id: s(),
        account_name: s(),
        customer_id: s(),
        customer_breadcrumb: vec![CustomerBreadcrumb { id: s(), name: s() }],
        customer_name: s(),
        endpoint_id: s(),
        endpoint_name: s(),
        date_completed: None,
        destination: s(),
        to_address: s(),
        from_address: s(),
        from_name: s(),
        answered_by_name: s(),
        queue_member_id: s(),
        channel: FlowChannels::Voice,
        ended: false,
        outcome: s(),
        call_sid: s(),
        console_data: s(),
        hold_queue_name: s(),
        held_by_user_id: s(),
        hold_reason: SessionHoldReasons::None,
        conference_sid: s(),
        display_name: s(),
        log: vec![SessionLogInfo {
            date: s(),
            message: s(),
        }],
        members: vec![SessionMemberInfo {
            identity: s(),
            endpoint_id: s(),
            display_name: s(),
            is_original_member: false,
            avatar_url: s(),
            application_data: Some(BTreeMap::from([(
                "String".to_string(),
                "String".to_string(),
            )])),
            call_state: SessionMemberCallState::None,
            role: SessionMemberRoles::None,
            call_sid: s(),
            muted: false,
        }],
        callback_number: s(),
        answered_by_id: s(),
        direction: SessionDirections::Incoming,
        from_phone_number: s(),
        most_recent_participant_call_sid: s(),
        was_missed: false,
        ring_queue_id: s(),
    }
}

/// Removes whitespace-only text between `>` and `<` (the page's pretty-printing).
fn minify(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml.trim();
    while let Some(gt) = rest.find('>') {
        out.push_str(&rest[..=gt]);
        rest = &rest[gt + 1..];
        if let Some(lt) = rest.find('<')
            && rest[..lt].trim().is_empty()
        {
            rest = &rest[lt..];
        }
    }
    out.push_str(rest);
    out
}

/// The expected document, derived from the metadata page at test time.
fn expected_document() -> String {
    let page_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/GetActiveSessions-metadata-page.txt");
    let page = std::fs::read_to_string(&page_path).unwrap_or_else(|e| {
        panic!(
            "the reference page {} is required by this test: {e}",
            page_path.display()
        )
    });
    // The TypeScript section mentions `Partial<GetActiveSessionsResponse>`; the XML sample
    // is the one start tag with attributes.
    let root = "<GetActiveSessionsResponse xmlns";
    assert_eq!(page.matches(root).count(), 1, "the page has one XML sample");
    let start = page.find(root).expect("counted above");
    let sample = minify(&page[start..]);
    assert!(
        sample.ends_with("</GetActiveSessionsResponse>"),
        "the XML sample runs to the end of the page"
    );
    let completed = "<DateCompleted>String</DateCompleted>";
    assert_eq!(
        sample.matches(completed).count(),
        1,
        "the sample has one DateCompleted"
    );
    format!(
        "{DECL}{}",
        sample.replace(completed, r#"<DateCompleted i:nil="true" />"#)
    )
}

#[test]
fn minify_only_drops_whitespace_between_tags() {
    assert_eq!(
        minify("  <a>\n  <b> x y </b>\n\t<c />\n</a>\n"),
        "<a><b> x y </b><c /></a>"
    );
}

#[test]
fn sample_session_matches_the_metadata_page_byte_for_byte() {
    let expected = expected_document();
    let actual = get_active_sessions_response(&GetActiveSessionsResponse {
        sessions: vec![sample_session()],
    });
    let actual = String::from_utf8(actual).expect("the XML is UTF-8");
    assert_eq!(actual, expected);
}

#[test]
fn output_parses_back() {
    let bytes = get_active_sessions_response(&GetActiveSessionsResponse {
        sessions: vec![sample_session(), sample_session()],
    });
    assert!(!bytes.starts_with(b"\xEF\xBB\xBF"), "no BOM");
    let xml = std::str::from_utf8(&bytes).expect("the XML is UTF-8");
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let (mut depth, mut max_depth, mut session_infos, mut saw_decl) = (0usize, 0usize, 0, false);
    loop {
        match reader.read_event().expect("quick-xml parses the output") {
            Event::Decl(d) => {
                saw_decl = true;
                assert_eq!(d.version().unwrap().as_ref(), b"1.0");
            }
            Event::Start(e) => {
                depth += 1;
                max_depth = max_depth.max(depth);
                if e.name().as_ref() == b"SessionInfo" {
                    session_infos += 1;
                }
            }
            Event::End(_) => depth -= 1,
            Event::Text(t) => assert!(!t.is_empty()),
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(saw_decl);
    assert_eq!(depth, 0, "every element is closed");
    assert_eq!(session_infos, 2);
    // Root, Sessions, SessionInfo, Members, SessionMemberInfo, ApplicationData,
    // KeyValueOfstringstring, Key.
    assert_eq!(max_depth, 8);
}

/// An event log whose session has every string field set to "String" and every enum and
/// boolean as in the page's sample.
const STRING_SESSION_LOG: &str = r#"
{"eventId":"g1","sessionId":"String","occurredAt":"2026-11-24T09:00:00Z","accountId":"String","actorId":"String","sessionStarted":{"accountName":"String","customerId":"String","customerName":"String","customerBreadcrumb":[{"id":"String","name":"String"}],"endpointId":"String","endpointName":"String","channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING","destination":"String","toAddress":"String","fromAddress":"String","fromName":"String","fromPhoneNumber":"String","callbackNumber":"String","callSid":"String","displayName":"String","dialState":"DIAL_STATE_NONE"}}
{"eventId":"g2","sessionId":"String","occurredAt":"2026-11-24T09:00:01Z","queueStateChanged":{"queueState":"QUEUE_STATE_NONE","ringQueueId":"String","queueMemberId":"String"}}
{"eventId":"g3","sessionId":"String","occurredAt":"2026-11-24T09:00:02Z","sessionAnswered":{"answeredById":"String","answeredByName":"String"}}
{"eventId":"g4","sessionId":"String","occurredAt":"2026-11-24T09:00:03Z","sessionHeld":{"heldByUserId":"String","holdQueueName":"String"}}
{"eventId":"g5","sessionId":"String","occurredAt":"2026-11-24T09:00:04Z","conferenceStarted":{"conferenceSid":"String"}}
{"eventId":"g6","sessionId":"String","occurredAt":"2026-11-24T09:00:05Z","sessionDetailsChanged":{"consoleData":"String","outcome":"String"}}
{"eventId":"g7","sessionId":"String","occurredAt":"2026-11-24T09:00:06.250Z","logAppended":{"message":"String"}}
{"eventId":"g8","sessionId":"String","occurredAt":"2026-11-24T09:00:07Z","memberJoined":{"identity":"String","endpointId":"String","displayName":"String","avatarUrl":"String","applicationData":{"String":"String"},"callSid":"String"}}
{"eventId":"g9","sessionId":"String","occurredAt":"2026-11-24T09:00:08.125Z","actorId":"String","callStateChanged":{"callState":"CALL_STATE_DISCONNECTED"}}
"#;

#[tokio::test]
async fn a_session_folded_from_an_event_log_is_served_as_the_page_shows() {
    use axum::body::Body;
    use axum::http::{Request, header};
    use http_body_util::BodyExt;
    use sessiond::api::auth::{AuthSettings, Authenticator, TokenRequest, mint_token};
    use sessiond::api::{AppState, Readiness, router};
    use sessiond::ingest::event_log;
    use sessiond::projection::{Fold, FoldConfig, Projection};
    use std::sync::Arc;
    use tower::ServiceExt;

    let projection = Arc::new(Projection::new());
    let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
    let report = event_log::load(STRING_SESSION_LOG.as_bytes(), "golden", &mut fold).unwrap();
    assert_eq!(report.counts.bad_total(), 0, "{report:?}");
    // Loaded: the event log above is the whole initial load.
    let readiness = Arc::new(Readiness::default());
    readiness.set_ready();
    let app = router(AppState {
        projection,
        auth: Arc::new(
            Authenticator::new(&AuthSettings {
                secrets: vec!["k".into()],
                ..Default::default()
            })
            .unwrap(),
        ),
        readiness,
        status: Arc::default(),
        history_depth: 0,
        hub: Arc::new(sessiond::live::ChangeHub::new(Arc::new(Projection::new()))),
        limits: Arc::default(),
        shutdown: Default::default(),
    });
    let token = mint_token(&TokenRequest {
        secret: "k".into(),
        sub: "String".into(),
        roles: vec!["User".into()],
        ttl: std::time::Duration::from_secs(60),
        issuer: None,
        audience: None,
    })
    .unwrap();
    let fetch = |uri: &'static str| {
        let app = app.clone();
        let token = token.clone();
        async move {
            let request = Request::get(uri)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            String::from_utf8(bytes.to_vec()).unwrap()
        }
    };

    let api = "http://schemas.datacontract.org/2004/07/Voice.Api";
    let expected = expected_document()
        .replace(
            &format!(r#"<DateCreated xmlns="{api}">String</DateCreated>"#),
            &format!(r#"<DateCreated xmlns="{api}">2026-11-24T09:00:00.000Z</DateCreated>"#),
        )
        .replace(
            &format!(r#"<DateLastModified xmlns="{api}">String</DateLastModified>"#),
            &format!(
                r#"<DateLastModified xmlns="{api}">2026-11-24T09:00:08.125Z</DateLastModified>"#
            ),
        )
        .replace(
            "<Date>String</Date>",
            "<Date>2026-11-24T09:00:06.250Z</Date>",
        );
    assert_eq!(fetch("/sessions/active.xml").await, expected);

    // The JSON response carries the same content.
    let json: serde_json::Value =
        serde_json::from_str(&fetch("/sessions/active.json").await).unwrap();
    let session = &json["sessions"][0];
    let xml = expected;
    let object = session.as_object().unwrap();
    for (name, value) in object {
        let element = {
            let mut c = name.chars();
            let first = c.next().unwrap().to_ascii_uppercase();
            format!("{first}{}", c.as_str())
        };
        match value {
            serde_json::Value::String(text) => assert!(
                xml.contains(&format!(">{text}</{element}>")),
                "{name}={text} is not in the XML"
            ),
            serde_json::Value::Bool(b) => {
                assert!(
                    xml.contains(&format!("<{element}>{b}</{element}>")),
                    "{name}"
                )
            }
            _ => assert!(xml.contains(&format!("<{element}")), "{name}"),
        }
    }
    // Every one of the 41 members of the sample SessionInfo but DateCompleted (null).
    assert_eq!(object.len(), 41 - 1, "{object:?}");
    assert_eq!(
        session["members"][0]["applicationData"],
        serde_json::json!({"String": "String"})
    );
    assert_eq!(
        session["customerBreadcrumb"],
        serde_json::json!([{"id": "String", "name": "String"}])
    );
    assert_eq!(
        session["log"],
        serde_json::json!([{"date": "2026-11-24T09:00:06.250Z", "message": "String"}])
    );
}
