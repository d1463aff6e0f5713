//! The domain's enumerations, named exactly as the published API names them.
//!
//! The fold stores these, and the API writes them by name in JSON and XML; the wire enums
//! generated from `proto/` are translated to and from them in one place, `events::enums`.

use serde::Serialize;

macro_rules! api_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every member's name, in declaration order (the contract's enum members).
            pub const NAMES: &'static [&'static str] = &[$(stringify!($variant)),+];

            /// The name written on the wire (JSON string, XML text).
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => stringify!($variant)),+ }
            }
        }
    };
}

api_enum!(
    /// `SessionDialState`: whether the dial phase is active.
    SessionDialState { None, Active }
);
api_enum!(
    /// `SessionCallState`: the call leg's state.
    SessionCallState { Disconnected, Ringing, Connected, Hold, Passive }
);
api_enum!(
    /// `SessionQueueStates`: where the session stands in a queue.
    SessionQueueStates { None, Queued, Ringing, Connected, Hold, Disconnected }
);
api_enum!(
    /// `SessionHoldReasons`: why a session is on hold.
    SessionHoldReasons { None, Transferring }
);
api_enum!(
    /// `FlowChannels`: the medium of the session.
    FlowChannels { Voice, Chat, Fax }
);
api_enum!(
    /// `SessionDirections`: inbound or outbound.
    SessionDirections { Incoming, Outgoing }
);
api_enum!(
    /// `SessionMemberCallState`: a member leg's state.
    SessionMemberCallState { None, Ringing, Connected, Hold }
);
api_enum!(
    /// `SessionMemberRoles`: what part a member plays in the session.
    SessionMemberRoles { None, Caller, Agent, Transfer }
);
