//! The one description of the contract: every type of the published page (its namespace,
//! description, base class and members, each with its type and description), the enums, and
//! the operations with their routes and required role.
//!
//! Everything that writes the contract follows it: the JSV, CSV and HTML writers walk a
//! response in its member order, the native types (`/types/...`) and the metadata pages are
//! generated from it, and tests check that the serde JSON and the DataContract XML writers
//! write exactly its members (JSON in declaration order, base class first; XML base class
//! first, then ordinal order), so none of them can drift from the others.

use crate::model::{
    FlowChannels, SessionCallState, SessionDialState, SessionDirections, SessionHoldReasons,
    SessionMemberCallState, SessionMemberRoles, SessionQueueStates,
};

/// The type of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    /// `string` (dates too: the DTOs declare them as strings).
    String,
    /// `bool`.
    Bool,
    /// An enum of the contract, by name.
    Enum(&'static str),
    /// `List<T>` of a contract type, by name.
    List(&'static str),
    /// `Dictionary<string, string>`.
    StringMap,
    /// A nested object of a contract type, by name.
    Object(&'static str),
}

/// A member of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    /// The C# name (PascalCase); JSON, JSV and TypeScript use it camelCased, Python
    /// snake_cased, XML and CSV as it is.
    pub name: &'static str,
    /// Its type.
    pub ty: PropType,
    /// The `[ApiMember(Description)]`, if the page gives one.
    pub description: Option<&'static str>,
}

/// What a type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// A class: its base class (by name) and its own members, in declaration order.
    Class {
        /// The base class, if any.
        base: Option<&'static str>,
        /// The class's own members.
        properties: &'static [Property],
    },
    /// An enum with string names.
    Enum(&'static [&'static str]),
}

/// A type of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeDef {
    /// The C# name.
    pub name: &'static str,
    /// The C# namespace (the DataContract namespace's last segment).
    pub namespace: &'static str,
    /// The `[Api(Description)]`, if any.
    pub description: Option<&'static str>,
    /// Class or enum.
    pub body: Body,
    /// ServiceStack's own types (`ResponseStatus`, ...): described so the writers can walk
    /// error bodies, but never emitted as native types (clients import them).
    pub builtin: bool,
}

impl TypeDef {
    /// The class's members, base class members first; empty for an enum.
    pub fn all_properties(&self) -> Vec<&'static Property> {
        match self.body {
            Body::Enum(_) => Vec::new(),
            Body::Class { base, properties } => {
                let mut all = base
                    .and_then(find)
                    .map(TypeDef::all_properties)
                    .unwrap_or_default();
                all.extend(properties.iter());
                all
            }
        }
    }

    /// The names of the contract types this type refers to directly (base class, member
    /// types), in member order.
    pub fn references(&self) -> Vec<&'static str> {
        let Body::Class { base, properties } = self.body else {
            return Vec::new();
        };
        let mut out: Vec<&'static str> = base.into_iter().collect();
        for p in properties {
            if let PropType::Enum(t) | PropType::List(t) | PropType::Object(t) = p.ty {
                out.push(t);
            }
        }
        out
    }
}

/// An operation (a request DTO with its route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The request DTO's name.
    pub request: &'static str,
    /// The response DTO's name.
    pub response: &'static str,
    /// The published route.
    pub route: &'static str,
    /// Its verb.
    pub verb: &'static str,
    /// The role required (authentication is required too).
    pub required_role: &'static str,
}

impl Operation {
    /// The request type.
    pub fn request_type(&self) -> &'static TypeDef {
        find(self.request).expect("every operation's request is a described type")
    }
}

/// The operation whose request DTO is `name`.
pub fn operation(name: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.request == name)
}

/// The type named `name`.
pub fn find(name: &str) -> Option<&'static TypeDef> {
    TYPES.iter().find(|t| t.name == name)
}

/// `name` camelCased as ServiceStack's JSON writes it (first letter lower-cased).
pub fn camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `name` snake_cased as ServiceStack's Python generator writes it.
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The namespace of `EntityInfo`.
pub const NS_API: &str = "Voice.Api";
/// The namespace of the session DTOs and enums.
pub const NS_SESSIONS: &str = "Voice.Api.Sessions";
/// The namespace of `CustomerBreadcrumb`.
pub const NS_CUSTOMERS: &str = "Voice.Api.Customers";
/// The namespace of ServiceStack's own types.
pub const NS_SERVICESTACK: &str = "ServiceStack";

const fn prop(name: &'static str, ty: PropType, description: &'static str) -> Property {
    Property {
        name,
        ty,
        description: Some(description),
    }
}

const fn plain(name: &'static str, ty: PropType) -> Property {
    Property {
        name,
        ty,
        description: None,
    }
}

const fn class(
    name: &'static str,
    namespace: &'static str,
    description: Option<&'static str>,
    base: Option<&'static str>,
    properties: &'static [Property],
) -> TypeDef {
    TypeDef {
        name,
        namespace,
        description,
        body: Body::Class { base, properties },
        builtin: false,
    }
}

const fn enumeration(name: &'static str, members: &'static [&'static str]) -> TypeDef {
    TypeDef {
        name,
        namespace: NS_SESSIONS,
        description: None,
        body: Body::Enum(members),
        builtin: false,
    }
}

use PropType::{Bool, Enum, List, String as Str, StringMap};

/// The description of `GetActiveSessions`, as the page gives it.
pub const GET_ACTIVE_SESSIONS_DESCRIPTION: &str =
    "Get your active sessions. Will eventually replace GetMySessions";
/// The description of `GetMySessions`.
pub const GET_MY_SESSIONS_DESCRIPTION: &str = "Get all your active sessions";

/// Every type, in the order the page lists them (each after the types it uses), then
/// `GetMySessions`, then ServiceStack's error types.
pub static TYPES: &[TypeDef] = &[
    class(
        "EntityInfo",
        NS_API,
        None,
        None,
        &[
            prop("Id", Str, "The ID of the object"),
            prop("DateCreated", Str, "The date the object was created"),
            prop(
                "DateLastModified",
                Str,
                "The date the object was last modified",
            ),
            prop("CreatedBy", Str, "The user that created this object"),
            prop(
                "LastModifiedBy",
                Str,
                "The user that last modified this object",
            ),
        ],
    ),
    enumeration("SessionDialState", SessionDialState::NAMES),
    enumeration("SessionCallState", SessionCallState::NAMES),
    enumeration("SessionQueueStates", SessionQueueStates::NAMES),
    class(
        "CustomerBreadcrumb",
        NS_CUSTOMERS,
        None,
        None,
        &[plain("Id", Str), plain("Name", Str)],
    ),
    enumeration("FlowChannels", FlowChannels::NAMES),
    enumeration("SessionHoldReasons", SessionHoldReasons::NAMES),
    class(
        "SessionLogInfo",
        NS_SESSIONS,
        None,
        None,
        &[plain("Date", Str), plain("Message", Str)],
    ),
    enumeration("SessionMemberCallState", SessionMemberCallState::NAMES),
    enumeration("SessionMemberRoles", SessionMemberRoles::NAMES),
    class(
        "SessionMemberInfo",
        NS_SESSIONS,
        None,
        None,
        &[
            plain("Identity", Str),
            plain("EndpointId", Str),
            plain("DisplayName", Str),
            plain("IsOriginalMember", Bool),
            plain("AvatarUrl", Str),
            plain("ApplicationData", StringMap),
            plain("CallState", Enum("SessionMemberCallState")),
            plain("Role", Enum("SessionMemberRoles")),
            plain("CallSid", Str),
            plain("Muted", Bool),
        ],
    ),
    enumeration("SessionDirections", SessionDirections::NAMES),
    class(
        "SessionInfo",
        NS_SESSIONS,
        None,
        Some("EntityInfo"),
        &[
            prop(
                "DialState",
                Enum("SessionDialState"),
                "The state of the session",
            ),
            prop(
                "CallState",
                Enum("SessionCallState"),
                "The call state of the session",
            ),
            prop(
                "QueueState",
                Enum("SessionQueueStates"),
                "The queue state of the session",
            ),
            prop(
                "AccountId",
                Str,
                "The ID of the account associated with the flow",
            ),
            prop(
                "AccountName",
                Str,
                "The name of the account associated with the session",
            ),
            prop(
                "CustomerId",
                Str,
                "The ID of the customer this session is associated with",
            ),
            prop(
                "CustomerBreadcrumb",
                List("CustomerBreadcrumb"),
                "The customer breadcrumb this session is associated with",
            ),
            prop(
                "CustomerName",
                Str,
                "The name of the customer this session is associated with",
            ),
            prop(
                "EndpointId",
                Str,
                "The ID of the endpoint associated with this session",
            ),
            prop(
                "EndpointName",
                Str,
                "The name of the endpoint associated with this session",
            ),
            prop("DateCompleted", Str, "The date the call completed"),
            prop(
                "Destination",
                Str,
                "The destination of the session (e.g. what was entered into the Dial box)",
            ),
            prop("ToAddress", Str, "The to address if any"),
            prop("FromAddress", Str, "The from address if any"),
            prop("FromName", Str, "The from name if any"),
            prop("AnsweredByName", Str, "Answered by name (if any)"),
            prop(
                "QueueMemberId",
                Str,
                "The ID of the queue member assigned to this call",
            ),
            prop("Channel", Enum("FlowChannels"), "The flow channel"),
            prop("Ended", Bool, "Has the session ended"),
            prop("Outcome", Str, "The outcome of the call"),
            prop("CallSid", Str, "The twilio Call SID of this session"),
            prop("ConsoleData", Str, "Any console data for this session"),
            prop(
                "HoldQueueName",
                Str,
                "The name of the hold queue for this call",
            ),
            prop("HeldByUserId", Str, "The user ID who put this call on hold"),
            prop(
                "HoldReason",
                Enum("SessionHoldReasons"),
                "The reason for the hold",
            ),
            prop(
                "ConferenceSid",
                Str,
                "The SID of the conference if in a conference call",
            ),
            prop("DisplayName", Str, "The display name for this session"),
            prop(
                "Log",
                List("SessionLogInfo"),
                "The log entries for this session",
            ),
            prop(
                "Members",
                List("SessionMemberInfo"),
                "The members of this session",
            ),
            prop(
                "CallbackNumber",
                Str,
                "The callback number (typically used for SIP to User calls)",
            ),
            prop("AnsweredById", Str, "The ID of the endpoint that answered"),
            prop(
                "Direction",
                Enum("SessionDirections"),
                "Is this session incoming or outgoing?",
            ),
            prop(
                "FromPhoneNumber",
                Str,
                "The phone number that this session is coming from (used with SMS chats)",
            ),
            prop(
                "MostRecentParticipantCallSid",
                Str,
                "The Call SID of the most recently added conference participant",
            ),
            prop("WasMissed", Bool, "Was this session missed?"),
            prop(
                "RingQueueId",
                Str,
                "The ring queue that the call is currently in",
            ),
        ],
    ),
    class(
        "GetActiveSessionsResponse",
        NS_SESSIONS,
        None,
        None,
        &[plain("Sessions", List("SessionInfo"))],
    ),
    class(
        "GetActiveSessions",
        NS_SESSIONS,
        Some(GET_ACTIVE_SESSIONS_DESCRIPTION),
        None,
        &[],
    ),
    class(
        "GetMySessionsResponse",
        NS_SESSIONS,
        None,
        None,
        &[plain("Sessions", List("SessionInfo"))],
    ),
    class(
        "GetMySessions",
        NS_SESSIONS,
        Some(GET_MY_SESSIONS_DESCRIPTION),
        None,
        &[],
    ),
    TypeDef {
        name: "ResponseStatus",
        namespace: NS_SERVICESTACK,
        description: None,
        body: Body::Class {
            base: None,
            properties: &[
                plain("ErrorCode", Str),
                plain("Message", Str),
                plain("StackTrace", Str),
                plain("Errors", List("ResponseError")),
                plain("Meta", StringMap),
            ],
        },
        builtin: true,
    },
    TypeDef {
        name: "ErrorResponse",
        namespace: NS_SERVICESTACK,
        description: None,
        body: Body::Class {
            base: None,
            properties: &[plain("ResponseStatus", PropType::Object("ResponseStatus"))],
        },
        builtin: true,
    },
];

/// The operations, in the order the page's service lists them.
pub static OPERATIONS: &[Operation] = &[
    Operation {
        request: "GetActiveSessions",
        response: "GetActiveSessionsResponse",
        route: "/sessions/active",
        verb: "GET",
        required_role: "User",
    },
    Operation {
        request: "GetMySessions",
        response: "GetMySessionsResponse",
        route: "/sessions/my",
        verb: "GET",
        required_role: "User",
    },
];
