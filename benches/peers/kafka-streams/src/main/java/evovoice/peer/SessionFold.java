package evovoice.peer;

import com.google.protobuf.Timestamp;
import evovoice.peer.proto.State.PeerSession;
import evovoice.sessions.v1.Events.CallState;
import evovoice.sessions.v1.Events.Channel;
import evovoice.sessions.v1.Events.DialState;
import evovoice.sessions.v1.Events.Direction;
import evovoice.sessions.v1.Events.HoldReason;
import evovoice.sessions.v1.Events.MemberCallState;
import evovoice.sessions.v1.Events.MemberRole;
import evovoice.sessions.v1.Events.QueueState;
import evovoice.sessions.v1.Events.SessionEvent;
import evovoice.sessions.v1.SessionInfoOuterClass.SessionInfo;
import evovoice.sessions.v1.SessionInfoOuterClass.SessionLogInfo;
import evovoice.sessions.v1.SessionInfoOuterClass.SessionMemberInfo;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * The fold of the event model (sessiond's docs: design/event-model.md) as a pure function: one session's state
 * and one event give the next state. Kafka Streams calls it from {@link FoldProcessor}.
 */
final class SessionFold {
    private SessionFold() {}

    enum Outcome { APPLIED, HELD, DUPLICATE, LATE, BAD, UNKNOWN_KIND, UNKNOWN_MEMBER }

    /** The next state, or the same object when nothing changed. */
    record Result(PeerSession state, Outcome outcome) {}

    static long millis(Timestamp t) {
        return t.getSeconds() * 1000 + t.getNanos() / 1_000_000;
    }

    static Result apply(PeerSession state, SessionEvent e) {
        return apply(state, e, null, -1);
    }

    /**
     * The next state after the event that came from {@code stream} ({@code topic:partition},
     * or null when unknown) at {@code offset}. As in sessiond's fold: an ended session drops
     * everything (late); a record at or below the highest offset applied from its partition,
     * or a repeated event id, is a redelivery; events before SessionStarted wait for it; a
     * second SessionStarted is a duplicate. Redeliveries and unknown members are remembered
     * as seen without changing the session.
     */
    static Result apply(PeerSession state, SessionEvent e, String stream, long offset) {
        if (state == null) {
            state = PeerSession.getDefaultInstance();
        }
        if (e.getSessionId().isEmpty() || !e.hasOccurredAt() || invalid(e)) {
            return new Result(state, Outcome.BAD);
        }
        if (e.getBodyCase() == SessionEvent.BodyCase.BODY_NOT_SET) {
            return new Result(state, Outcome.UNKNOWN_KIND);
        }
        if (state.getEnded()) {
            return new Result(state, Outcome.LATE);
        }
        if (stream != null && state.getPositionsOrDefault(stream, -1) >= offset) {
            return new Result(state, Outcome.DUPLICATE);
        }
        if (!e.getEventId().isEmpty() && state.getSeenList().contains(e.getEventId())) {
            return new Result(state, Outcome.DUPLICATE);
        }
        long at = millis(e.getOccurredAt());
        PeerSession.Builder next = state.toBuilder();
        if (stream != null) {
            next.putPositions(stream, offset);
        }
        if (!e.getEventId().isEmpty()) {
            next.addSeen(e.getEventId());
        }
        boolean starts = e.getBodyCase() == SessionEvent.BodyCase.SESSION_STARTED;
        if (!state.getStarted() && !starts) {
            // The member topic ran ahead: hold the event until SessionStarted.
            if (next.getPendingCount() == 0) {
                next.setFirstPendingMs(at);
            }
            next.addPending(e);
            return new Result(next.build(), Outcome.HELD);
        }
        if (state.getStarted() && starts) {
            return new Result(next.build(), Outcome.DUPLICATE);
        }
        SessionInfo.Builder info = state.getStarted() ? state.getInfo().toBuilder() : SessionInfo.newBuilder();
        Outcome outcome = applyTo(info, e);
        if (outcome != Outcome.APPLIED) {
            return new Result(next.build(), outcome);
        }
        long endedAt = at;
        next.setLastEventMs(Math.max(state.getLastEventMs(), at));
        modifiedBy(next, info, e);
        if (starts) {
            next.setStarted(true).setLastEventMs(at);
            for (SessionEvent held : state.getPendingList()) {
                if (info.getEnded()) {
                    break;
                }
                if (applyTo(info, held) == Outcome.APPLIED) {
                    endedAt = millis(held.getOccurredAt());
                    next.setLastEventMs(Math.max(next.getLastEventMs(), endedAt));
                    modifiedBy(next, info, held);
                }
            }
            next.clearPending().setFirstPendingMs(0);
        }
        if (info.getEnded()) {
            // A tombstone: only what is needed to drop late events and to evict it later.
            return new Result(tombstone(endedAt), Outcome.APPLIED);
        }
        return new Result(next.setInfo(info).build(), Outcome.APPLIED);
    }

    /** An ended (or evicted) session, remembered from {@code atMs} so late events are dropped. */
    static PeerSession tombstone(long atMs) {
        return PeerSession.newBuilder().setStarted(true).setEnded(true).setLastEventMs(atMs).build();
    }

    /**
     * lastModifiedBy is the actor of the latest applied event that has one, latest by
     * (occurred_at, event id): the same whatever order the two topics were read in. (sessiond
     * breaks a tie of occurred_at by a hash of the event id; this by the id itself.)
     */
    private static void modifiedBy(PeerSession.Builder next, SessionInfo.Builder info, SessionEvent e) {
        if (e.getActorId().isEmpty()) {
            return;
        }
        long at = millis(e.getOccurredAt());
        boolean later = !info.hasLastModifiedBy() || at > next.getModifiedByMs()
                || (at == next.getModifiedByMs() && e.getEventId().compareTo(next.getModifiedByEvent()) > 0);
        if (later) {
            info.setLastModifiedBy(e.getActorId());
            next.setModifiedByMs(at).setModifiedByEvent(e.getEventId());
        }
    }

    /**
     * What sessiond rejects as a bad record: an UNSPECIFIED enum where the event model does
     * not allow one, an enum number the schema does not define, a SessionStarted without an
     * account, a member event without an identity.
     */
    private static boolean invalid(SessionEvent e) {
        switch (e.getBodyCase()) {
            case SESSION_STARTED: {
                var b = e.getSessionStarted();
                return e.getAccountId().isEmpty() || b.getChannelValue() == 0 || b.getDirectionValue() == 0
                        || b.getChannel() == Channel.UNRECOGNIZED || b.getDirection() == Direction.UNRECOGNIZED
                        || b.getDialState() == DialState.UNRECOGNIZED || b.getCallState() == CallState.UNRECOGNIZED
                        || b.getQueueState() == QueueState.UNRECOGNIZED;
            }
            case DIAL_STATE_CHANGED:
                return e.getDialStateChanged().getDialStateValue() == 0
                        || e.getDialStateChanged().getDialState() == DialState.UNRECOGNIZED;
            case CALL_STATE_CHANGED:
                return e.getCallStateChanged().getCallStateValue() == 0
                        || e.getCallStateChanged().getCallState() == CallState.UNRECOGNIZED;
            case QUEUE_STATE_CHANGED:
                return e.getQueueStateChanged().getQueueStateValue() == 0
                        || e.getQueueStateChanged().getQueueState() == QueueState.UNRECOGNIZED;
            case SESSION_HELD:
                return e.getSessionHeld().getReason() == HoldReason.UNRECOGNIZED;
            case MEMBER_JOINED: {
                var b = e.getMemberJoined();
                return b.getIdentity().isEmpty() || b.getCallState() == MemberCallState.UNRECOGNIZED
                        || b.getRole() == MemberRole.UNRECOGNIZED;
            }
            case MEMBER_CALL_STATE_CHANGED: {
                var b = e.getMemberCallStateChanged();
                return b.getIdentity().isEmpty() || b.getCallStateValue() == 0
                        || b.getCallState() == MemberCallState.UNRECOGNIZED;
            }
            case MEMBER_MUTE_CHANGED:
                return e.getMemberMuteChanged().getIdentity().isEmpty();
            case MEMBER_UPDATED:
                return e.getMemberUpdated().getIdentity().isEmpty()
                        || e.getMemberUpdated().getRole() == MemberRole.UNRECOGNIZED;
            case MEMBER_LEFT:
                return e.getMemberLeft().getIdentity().isEmpty();
            default:
                return false;
        }
    }

    private static Outcome applyTo(SessionInfo.Builder s, SessionEvent e) {
        Timestamp at = e.getOccurredAt();
        switch (e.getBodyCase()) {
            case SESSION_STARTED -> {
                var b = e.getSessionStarted();
                s.setId(e.getSessionId()).setDateCreated(at);
                str(e.getActorId(), s::setCreatedBy);
                str(e.getAccountId(), s::setAccountId);
                str(b.getAccountName(), s::setAccountName);
                str(b.getCustomerId(), s::setCustomerId);
                str(b.getCustomerName(), s::setCustomerName);
                s.addAllCustomerBreadcrumb(b.getCustomerBreadcrumbList());
                str(b.getEndpointId(), s::setEndpointId);
                str(b.getEndpointName(), s::setEndpointName);
                s.setChannel(b.getChannel()).setDirection(b.getDirection());
                str(b.getDestination(), s::setDestination);
                str(b.getToAddress(), s::setToAddress);
                str(b.getFromAddress(), s::setFromAddress);
                str(b.getFromName(), s::setFromName);
                str(b.getFromPhoneNumber(), s::setFromPhoneNumber);
                str(b.getCallbackNumber(), s::setCallbackNumber);
                str(b.getCallSid(), s::setCallSid);
                str(b.getDisplayName(), s::setDisplayName);
                s.setDialStateValue(b.getDialStateValue() == 0 ? 2 : b.getDialStateValue());
                s.setCallStateValue(b.getCallStateValue() == 0 ? 2 : b.getCallStateValue());
                s.setQueueStateValue(b.getQueueStateValue() == 0 ? 1 : b.getQueueStateValue());
                // Not held: the API shows holdReason None until a SessionHeld says otherwise.
                s.setHoldReason(HoldReason.HOLD_REASON_NONE);
            }
            case DIAL_STATE_CHANGED -> s.setDialState(e.getDialStateChanged().getDialState());
            case CALL_STATE_CHANGED -> s.setCallState(e.getCallStateChanged().getCallState());
            case QUEUE_STATE_CHANGED -> {
                var b = e.getQueueStateChanged();
                s.setQueueState(b.getQueueState());
                if (b.hasRingQueueId()) {
                    opt(b.getRingQueueId(), s::setRingQueueId, s::clearRingQueueId);
                }
                if (b.hasQueueMemberId()) {
                    opt(b.getQueueMemberId(), s::setQueueMemberId, s::clearQueueMemberId);
                }
            }
            case SESSION_ANSWERED -> {
                var b = e.getSessionAnswered();
                opt(b.getAnsweredById(), s::setAnsweredById, s::clearAnsweredById);
                opt(b.getAnsweredByName(), s::setAnsweredByName, s::clearAnsweredByName);
                s.setCallState(CallState.CALL_STATE_CONNECTED);
            }
            case SESSION_HELD -> {
                var b = e.getSessionHeld();
                opt(b.getHeldByUserId(), s::setHeldByUserId, s::clearHeldByUserId);
                opt(b.getHoldQueueName(), s::setHoldQueueName, s::clearHoldQueueName);
                s.setHoldReason(b.getReasonValue() == 0 ? HoldReason.HOLD_REASON_NONE : b.getReason());
                s.setCallState(CallState.CALL_STATE_HOLD);
            }
            case SESSION_RESUMED -> s.clearHeldByUserId().clearHoldQueueName()
                    .setHoldReason(HoldReason.HOLD_REASON_NONE).setCallState(CallState.CALL_STATE_CONNECTED);
            case CONFERENCE_STARTED ->
                    opt(e.getConferenceStarted().getConferenceSid(), s::setConferenceSid, s::clearConferenceSid);
            case CUSTOMER_ASSIGNED -> {
                var b = e.getCustomerAssigned();
                opt(b.getCustomerId(), s::setCustomerId, s::clearCustomerId);
                opt(b.getCustomerName(), s::setCustomerName, s::clearCustomerName);
                s.clearCustomerBreadcrumb().addAllCustomerBreadcrumb(b.getCustomerBreadcrumbList());
            }
            case SESSION_DETAILS_CHANGED -> {
                var b = e.getSessionDetailsChanged();
                if (b.hasDisplayName()) opt(b.getDisplayName(), s::setDisplayName, s::clearDisplayName);
                if (b.hasConsoleData()) opt(b.getConsoleData(), s::setConsoleData, s::clearConsoleData);
                if (b.hasDestination()) opt(b.getDestination(), s::setDestination, s::clearDestination);
                if (b.hasCallbackNumber()) opt(b.getCallbackNumber(), s::setCallbackNumber, s::clearCallbackNumber);
                if (b.hasToAddress()) opt(b.getToAddress(), s::setToAddress, s::clearToAddress);
                if (b.hasFromAddress()) opt(b.getFromAddress(), s::setFromAddress, s::clearFromAddress);
                if (b.hasFromName()) opt(b.getFromName(), s::setFromName, s::clearFromName);
                if (b.hasOutcome()) opt(b.getOutcome(), s::setOutcome, s::clearOutcome);
            }
            case LOG_APPENDED -> {
                var log = SessionLogInfo.newBuilder().setDate(at);
                str(e.getLogAppended().getMessage(), log::setMessage);
                // Oldest first even when a producer's clock put entries out of order; equal
                // dates keep arrival order.
                int i = s.getLogCount();
                while (i > 0 && millis(s.getLog(i - 1).getDate()) > millis(at)) {
                    i--;
                }
                s.addLog(i, log);
            }
            case SESSION_ENDED -> {
                var b = e.getSessionEnded();
                s.setEnded(true).setDateCompleted(at).setWasMissed(b.getWasMissed())
                        .setCallState(CallState.CALL_STATE_DISCONNECTED);
                opt(b.getOutcome(), s::setOutcome, s::clearOutcome);
            }
            case MEMBER_JOINED -> {
                var b = e.getMemberJoined();
                var m = SessionMemberInfo.newBuilder().setIdentity(b.getIdentity())
                        .setIsOriginalMember(b.getIsOriginalMember()).putAllApplicationData(b.getApplicationDataMap())
                        .setCallStateValue(b.getCallStateValue() == 0 ? MemberCallState.MEMBER_CALL_STATE_NONE_VALUE : b.getCallStateValue())
                        .setRoleValue(b.getRoleValue() == 0 ? MemberRole.MEMBER_ROLE_NONE_VALUE : b.getRoleValue())
                        .setMuted(b.getMuted());
                str(b.getEndpointId(), m::setEndpointId);
                str(b.getDisplayName(), m::setDisplayName);
                str(b.getAvatarUrl(), m::setAvatarUrl);
                str(b.getCallSid(), m::setCallSid);
                int i = member(s, b.getIdentity());
                if (i >= 0) {
                    s.setMembers(i, m);
                } else {
                    s.addMembers(m);
                }
                str(b.getCallSid(), s::setMostRecentParticipantCallSid);
            }
            case MEMBER_CALL_STATE_CHANGED -> {
                var b = e.getMemberCallStateChanged();
                int i = member(s, b.getIdentity());
                if (i < 0) return Outcome.UNKNOWN_MEMBER;
                s.getMembersBuilder(i).setCallStateValue(b.getCallStateValue());
            }
            case MEMBER_MUTE_CHANGED -> {
                var b = e.getMemberMuteChanged();
                int i = member(s, b.getIdentity());
                if (i < 0) return Outcome.UNKNOWN_MEMBER;
                s.getMembersBuilder(i).setMuted(b.getMuted());
            }
            case MEMBER_UPDATED -> {
                var b = e.getMemberUpdated();
                int i = member(s, b.getIdentity());
                if (i < 0) return Outcome.UNKNOWN_MEMBER;
                var m = s.getMembersBuilder(i);
                if (b.hasDisplayName()) opt(b.getDisplayName(), m::setDisplayName, m::clearDisplayName);
                if (b.hasAvatarUrl()) opt(b.getAvatarUrl(), m::setAvatarUrl, m::clearAvatarUrl);
                if (b.getRoleValue() != 0) m.setRole(b.getRole());
                m.putAllApplicationData(b.getApplicationDataMap());
            }
            case MEMBER_LEFT -> {
                int i = member(s, e.getMemberLeft().getIdentity());
                if (i < 0) return Outcome.UNKNOWN_MEMBER;
                s.removeMembers(i);
            }
            default -> {
                return Outcome.UNKNOWN_KIND;
            }
        }
        if (!s.hasDateLastModified() || millis(s.getDateLastModified()) < millis(at)) {
            s.setDateLastModified(at);
        }
        return Outcome.APPLIED;
    }

    /** The users who see this session: its endpoint and its members' endpoints. */
    static Set<String> users(PeerSession state) {
        Set<String> users = new LinkedHashSet<>();
        if (state == null || !state.getStarted() || state.getEnded()) {
            return users;
        }
        SessionInfo info = state.getInfo();
        if (info.hasEndpointId()) {
            users.add(info.getEndpointId());
        }
        for (SessionMemberInfo m : info.getMembersList()) {
            if (m.hasEndpointId()) {
                users.add(m.getEndpointId());
            }
        }
        return users;
    }

    private static int member(SessionInfo.Builder s, String identity) {
        for (int i = 0; i < s.getMembersCount(); i++) {
            if (s.getMembers(i).getIdentity().equals(identity)) {
                return i;
            }
        }
        return -1;
    }

    /** An event string: empty means absent. */
    private static void str(String v, java.util.function.Consumer<String> set) {
        if (!v.isEmpty()) {
            set.accept(v);
        }
    }

    /** A present optional field: empty clears. */
    private static void opt(String v, java.util.function.Consumer<String> set, Runnable clear) {
        if (v.isEmpty()) {
            clear.run();
        } else {
            set.accept(v);
        }
    }
}
