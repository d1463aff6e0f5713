package evovoice.peer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import evovoice.peer.SessionFold.Outcome;
import evovoice.peer.proto.State.PeerSession;
import evovoice.sessions.v1.Events.CallState;
import evovoice.sessions.v1.Events.SessionEvent;
import evovoice.sessions.v1.SessionInfoOuterClass.SessionLogInfo;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The fold's rules as sessiond applies them (design/event-model.md), event by event. */
class SessionFoldTest {
    private static PeerSession fold(List<SessionEvent> events) {
        PeerSession s = null;
        for (SessionEvent e : events) {
            s = SessionFold.apply(s, e).state();
        }
        return s;
    }

    @Test
    void aSecondSessionStartedChangesNothing() {
        PeerSession s = fold(List.of(Events.started("e1", 0, "U-1"), Events.joined("e2", 1, "U-2")));
        SessionFold.Result again = SessionFold.apply(s, Events.started("e3", 2, "U-9"));
        assertEquals(Outcome.DUPLICATE, again.outcome());
        assertEquals(s.getInfo(), again.state().getInfo());
        assertEquals(Set.of("U-1", "U-2"), SessionFold.users(again.state()));
    }

    @Test
    void lastModifiedByIsTheLatestEventsActorWhateverTheOrder() {
        SessionEvent start = Events.started("e1", 0, "U-1");
        SessionEvent later = Events.callState("e2", 5, "U-2", CallState.CALL_STATE_CONNECTED);
        SessionEvent earlier = Events.callState("e3", 3, "U-3", CallState.CALL_STATE_HOLD);
        PeerSession inOrder = fold(List.of(start, earlier, later));
        PeerSession outOfOrder = fold(List.of(start, later, earlier));
        assertEquals("U-2", inOrder.getInfo().getLastModifiedBy());
        assertEquals("U-2", outOfOrder.getInfo().getLastModifiedBy());
        assertEquals(inOrder.getInfo().getDateLastModified(), outOfOrder.getInfo().getDateLastModified());
    }

    @Test
    void theLogIsOldestFirst() {
        PeerSession s = fold(List.of(Events.started("e1", 0, "U-1"), Events.log("e2", 5, "second"),
                Events.log("e3", 3, "first")));
        assertEquals(List.of("first", "second"),
                s.getInfo().getLogList().stream().map(SessionLogInfo::getMessage).toList());
    }

    @Test
    void aRedeliveredRecordWithoutAnEventIdIsSkippedByItsOffset() {
        PeerSession s = SessionFold.apply(null, Events.started("e1", 0, "U-1"), "calls:0", 4).state();
        SessionEvent note = Events.log("", 1, "note");
        s = SessionFold.apply(s, note, "calls:0", 7).state();
        SessionFold.Result again = SessionFold.apply(s, note, "calls:0", 7);
        assertEquals(Outcome.DUPLICATE, again.outcome());
        assertEquals(1, again.state().getInfo().getLogCount());
        // The same offset of another partition is another record.
        assertEquals(Outcome.APPLIED, SessionFold.apply(s, note, "calls:1", 7).outcome());
    }

    @Test
    void memberEventsBeforeTheStartWaitAndLateEventsAreDropped() {
        PeerSession s = SessionFold.apply(null, Events.joined("e1", 0, "U-2")).state();
        assertFalse(s.getStarted());
        assertEquals(Set.of(), SessionFold.users(s));
        s = SessionFold.apply(s, Events.started("e2", 1, "U-1")).state();
        assertEquals(Set.of("U-1", "U-2"), SessionFold.users(s));
        s = SessionFold.apply(s, Events.ended("e3", 9)).state();
        assertTrue(s.getEnded());
        assertEquals(Set.of(), SessionFold.users(s));
        SessionFold.Result late = SessionFold.apply(s, Events.joined("e4", 8, "U-3"));
        assertEquals(Outcome.LATE, late.outcome());
        assertEquals(Set.of(), SessionFold.users(late.state()));
    }

    @Test
    void anEndThatCameBeforeTheStartEndsItAtItsOwnTime() {
        PeerSession s = fold(List.of(Events.ended("e1", 7), Events.started("e2", 1, "U-1")));
        assertTrue(s.getEnded());
        assertEquals(SessionFold.millis(Events.ended("e1", 7).getOccurredAt()), s.getLastEventMs());
    }

    @Test
    void aStartWithoutAnAccountIsBad() {
        SessionEvent noAccount = Events.started("e1", 0, "U-1").toBuilder().clearAccountId().build();
        assertEquals(Outcome.BAD, SessionFold.apply(null, noAccount).outcome());
    }
}
