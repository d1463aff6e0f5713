//! The one mapping between the domain enums of [`crate::model`] and the wire enums of the
//! schema, shared by validation (wire to domain) and the codecs (both ways).
//!
//! Each wire enum has an extra `UNSPECIFIED = 0`, which has no domain value: decoding
//! gives `None` for it and leaves its meaning (a default, or an error) to the caller.

use super::wire;
use crate::model::{
    FlowChannels, SessionCallState, SessionDialState, SessionDirections, SessionHoldReasons,
    SessionMemberCallState, SessionMemberRoles, SessionQueueStates,
};

/// A wire enum number that the schema does not define (from a newer producer, or garbage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownValue(pub i32);

/// A domain enum with a counterpart in the schema.
pub trait WireEnum: Sized + Copy {
    /// The wire number of this value; never the UNSPECIFIED number.
    fn to_wire(self) -> i32;

    /// The domain value of a wire number: `Ok(None)` for UNSPECIFIED, an error for a number
    /// the schema does not define.
    fn from_wire(value: i32) -> Result<Option<Self>, UnknownValue>;
}

/// Both matches are exhaustive, so a variant added on either side without its partner
/// fails to compile rather than mapping silently to something else.
macro_rules! wire_enum {
    ($domain:ty, $wire:ty, { $($d:ident <=> $w:ident),+ $(,)? }) => {
        impl WireEnum for $domain {
            fn to_wire(self) -> i32 {
                match self {
                    $(Self::$d => <$wire>::$w as i32,)+
                }
            }

            fn from_wire(value: i32) -> Result<Option<Self>, UnknownValue> {
                match <$wire>::try_from(value) {
                    Ok(<$wire>::Unspecified) => Ok(None),
                    $(Ok(<$wire>::$w) => Ok(Some(Self::$d)),)+
                    Err(_) => Err(UnknownValue(value)),
                }
            }
        }
    };
}

wire_enum!(SessionDialState, wire::DialState, { None <=> None, Active <=> Active });
wire_enum!(SessionCallState, wire::CallState, {
    Disconnected <=> Disconnected, Ringing <=> Ringing, Connected <=> Connected,
    Hold <=> Hold, Passive <=> Passive,
});
wire_enum!(SessionQueueStates, wire::QueueState, {
    None <=> None, Queued <=> Queued, Ringing <=> Ringing, Connected <=> Connected,
    Hold <=> Hold, Disconnected <=> Disconnected,
});
wire_enum!(SessionHoldReasons, wire::HoldReason, {
    None <=> None, Transferring <=> Transferring,
});
wire_enum!(SessionMemberCallState, wire::MemberCallState, {
    None <=> None, Ringing <=> Ringing, Connected <=> Connected, Hold <=> Hold,
});
wire_enum!(SessionMemberRoles, wire::MemberRole, {
    None <=> None, Caller <=> Caller, Agent <=> Agent, Transfer <=> Transfer,
});
wire_enum!(FlowChannels, wire::Channel, { Voice <=> Voice, Chat <=> Chat, Fax <=> Fax });
wire_enum!(SessionDirections, wire::Direction, {
    Incoming <=> Incoming, Outgoing <=> Outgoing,
});

#[cfg(test)]
mod tests {
    use super::*;

    /// Every domain value maps to a defined, specified number that maps back to it, and
    /// every number maps to at most one value, so the mapping is a bijection on values.
    fn check<T: WireEnum + PartialEq + std::fmt::Debug>(all: &[T]) {
        for &v in all {
            let n = v.to_wire();
            assert_ne!(n, 0, "{v:?} maps to UNSPECIFIED");
            assert_eq!(T::from_wire(n), Ok(Some(v)), "{v:?} -> {n}");
        }
        assert_eq!(T::from_wire(0), Ok(None));
        let defined = (1..64).filter(|&n| T::from_wire(n).is_ok()).count();
        assert_eq!(defined, all.len(), "numbers without a domain value");
        assert_eq!(T::from_wire(-1), Err(UnknownValue(-1)));
        assert_eq!(T::from_wire(99), Err(UnknownValue(99)));
    }

    #[test]
    fn every_enum_maps_both_ways() {
        use SessionCallState as C;
        use SessionMemberCallState as M;
        use SessionQueueStates as Q;
        check(&[SessionDialState::None, SessionDialState::Active]);
        check(&[
            C::Disconnected,
            C::Ringing,
            C::Connected,
            C::Hold,
            C::Passive,
        ]);
        check(&[
            Q::None,
            Q::Queued,
            Q::Ringing,
            Q::Connected,
            Q::Hold,
            Q::Disconnected,
        ]);
        check(&[SessionHoldReasons::None, SessionHoldReasons::Transferring]);
        check(&[M::None, M::Ringing, M::Connected, M::Hold]);
        check(&[
            SessionMemberRoles::None,
            SessionMemberRoles::Caller,
            SessionMemberRoles::Agent,
            SessionMemberRoles::Transfer,
        ]);
        check(&[FlowChannels::Voice, FlowChannels::Chat, FlowChannels::Fax]);
        check(&[SessionDirections::Incoming, SessionDirections::Outgoing]);
    }
}
