package evovoice.peer;

import com.google.protobuf.Timestamp;
import evovoice.sessions.v1.Events.CallState;
import evovoice.sessions.v1.Events.Channel;
import evovoice.sessions.v1.Events.Direction;
import evovoice.sessions.v1.Events.LogAppended;
import evovoice.sessions.v1.Events.MemberJoined;
import evovoice.sessions.v1.Events.MemberLeft;
import evovoice.sessions.v1.Events.MemberRole;
import evovoice.sessions.v1.Events.SessionEnded;
import evovoice.sessions.v1.Events.SessionEvent;
import evovoice.sessions.v1.Events.SessionStarted;
import evovoice.sessions.v1.Events.CallStateChanged;

/** Events for the tests: session S-1 of account A-1, times in seconds after 09:00. */
final class Events {
    private Events() {}

    static final String SESSION = "S-1";
    private static final long NINE = 1_795_510_800L;

    static SessionEvent.Builder at(String id, long second) {
        return SessionEvent.newBuilder().setEventId(id).setSessionId(SESSION).setAccountId("A-1")
                .setOccurredAt(Timestamp.newBuilder().setSeconds(NINE + second));
    }

    static SessionEvent started(String id, long second, String endpoint) {
        return at(id, second).setActorId(endpoint).setSessionStarted(SessionStarted.newBuilder()
                .setEndpointId(endpoint).setChannel(Channel.CHANNEL_VOICE)
                .setDirection(Direction.DIRECTION_INCOMING)).build();
    }

    static SessionEvent joined(String id, long second, String user) {
        return at(id, second).setMemberJoined(MemberJoined.newBuilder().setIdentity("client:" + user)
                .setEndpointId(user).setRole(MemberRole.MEMBER_ROLE_AGENT)).build();
    }

    static SessionEvent left(String id, long second, String user) {
        return at(id, second).setMemberLeft(MemberLeft.newBuilder().setIdentity("client:" + user)).build();
    }

    static SessionEvent callState(String id, long second, String actor, CallState state) {
        return at(id, second).setActorId(actor)
                .setCallStateChanged(CallStateChanged.newBuilder().setCallState(state)).build();
    }

    static SessionEvent log(String id, long second, String message) {
        return at(id, second).setLogAppended(LogAppended.newBuilder().setMessage(message)).build();
    }

    static SessionEvent ended(String id, long second) {
        return at(id, second).setSessionEnded(SessionEnded.newBuilder().setOutcome("done")).build();
    }
}
