package evovoice.peer;

import com.google.protobuf.Timestamp;
import evovoice.peer.proto.State.PeerSession;
import evovoice.sessions.v1.Events.CallState;
import evovoice.sessions.v1.Events.HoldReason;
import evovoice.sessions.v1.Events.MemberCallState;
import evovoice.sessions.v1.Events.MemberRole;
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
        if (!e.getEventId().isEmpty() && state.getSeenList().contains(e.getEventId())) {
            return new Result(state, Outcome.DUPLICATE);
        }
        long at = millis(e.getOccurredAt());
        PeerSession.Builder next = state.toBuilder();
        if (!e.getEventId().isEmpty()) {
            next.addSeen(e.getEventId());
        }
        next.setLastEventMs(Math.max(state.getLastEventMs(), at));
        if (!state.getStarted() && e.getBodyCase() != SessionEvent.BodyCase.SESSION_STARTED) {
            // The member topic ran ahead: hold the event until SessionStarted.
            if (next.getPendingCount() == 0) {
                next.setFirstPendingMs(at);
            }
            next.addPending(e);
            return new Result(next.build(), Outcome.HELD);
        }
        SessionInfo.Builder info = state.getStarted() ? state.getInfo().toBuilder() : SessionInfo.newBuilder();
        Outcome outcome = applyTo(info, e);
        if (outcome != Outcome.APPLIED) {
            return new Result(state, outcome);
        }
        if (!state.getStarted()) {
            next.setStarted(true);
            for (SessionEvent held : state.getPendingList()) {
                applyTo(info, held);
            }
            next.clearPending().setFirstPendingMs(0);
        }
        if (info.getEnded()) {
            // A tombstone: only what is needed to drop late events and to evict it later.
            return new Result(PeerSession.newBuilder().setStarted(true).setEnded(true)
                    .setLastEventMs(next.getLastEventMs()).build(), Outcome.APPLIED);
        }
        return new Result(next.setInfo(info).build(), Outcome.APPLIED);
    }

    /** An UNSPECIFIED enum where the event model does not allow one. */
    private static boolean invalid(SessionEvent e) {
        switch (e.getBodyCase()) {
            case SESSION_STARTED:
                return e.getSessionStarted().getChannelValue() == 0 || e.getSessionStarted().getDirectionValue() == 0;
            case DIAL_STATE_CHANGED:
                return e.getDialStateChanged().getDialStateValue() == 0;
            case CALL_STATE_CHANGED:
                return e.getCallStateChanged().getCallStateValue() == 0;
            case QUEUE_STATE_CHANGED:
                return e.getQueueStateChanged().getQueueStateValue() == 0;
            case MEMBER_CALL_STATE_CHANGED:
                return e.getMemberCallStateChanged().getCallStateValue() == 0;
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
                s.addLog(log);
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
        str(e.getActorId(), s::setLastModifiedBy);
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
