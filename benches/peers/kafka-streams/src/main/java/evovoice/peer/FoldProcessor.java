package evovoice.peer;

import evovoice.peer.proto.State.PeerSession;
import evovoice.sessions.v1.Events.SessionEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Folds every event of its partition into the {@code sessions} store (session id to state)
 * and keeps the {@code by-user} index ({@code user NUL session} to nothing) in step, in the
 * same task, so a user's sessions are one prefix scan away. Event time (the records'
 * timestamps are the events' occurred_at, see {@link OccurredAt}) drives eviction as in
 * sessiond: tombstones after 10 minutes, orphans after 1 hour, idle sessions after 12 hours.
 */
final class FoldProcessor implements Processor<String, SessionEvent, Void, Void> {
    static final String SESSIONS = "sessions";
    static final String BY_USER = "by-user";
    static final byte[] NOTHING = new byte[0];

    private static final long TOMBSTONE_MS = Duration.ofMinutes(10).toMillis();
    private static final long ORPHAN_MS = Duration.ofHours(1).toMillis();
    private static final long IDLE_MS = Duration.ofHours(12).toMillis();

    /** Every record this process has taken (applied or not), for the bench's progress. */
    static final LongAdder PROCESSED = new LongAdder();
    static final LongAdder[] OUTCOMES = new LongAdder[SessionFold.Outcome.values().length];

    static {
        for (int i = 0; i < OUTCOMES.length; i++) {
            OUTCOMES[i] = new LongAdder();
        }
    }

    private KeyValueStore<String, PeerSession> sessions;
    private KeyValueStore<String, byte[]> byUser;
    private ProcessorContext<Void, Void> context;

    @Override
    public void init(ProcessorContext<Void, Void> context) {
        this.context = context;
        sessions = context.getStateStore(SESSIONS);
        byUser = context.getStateStore(BY_USER);
        context.schedule(Duration.ofMinutes(1), PunctuationType.STREAM_TIME, this::evict);
    }

    @Override
    public void process(Record<String, SessionEvent> record) {
        PROCESSED.increment();
        SessionEvent event = record.value();
        if (event == null || record.key() == null || !record.key().equals(event.getSessionId())) {
            OUTCOMES[SessionFold.Outcome.BAD.ordinal()].increment();
            return;
        }
        PeerSession before = sessions.get(record.key());
        SessionFold.Result result = SessionFold.apply(before, event);
        OUTCOMES[result.outcome().ordinal()].increment();
        if (result.state() == before || result.outcome() == SessionFold.Outcome.BAD) {
            return;
        }
        sessions.put(record.key(), result.state());
        index(record.key(), before, result.state());
    }

    private void index(String session, PeerSession before, PeerSession after) {
        Set<String> was = SessionFold.users(before);
        Set<String> now = SessionFold.users(after);
        for (String user : was) {
            if (!now.contains(user)) {
                byUser.delete(user + '\0' + session);
            }
        }
        for (String user : now) {
            if (!was.contains(user)) {
                byUser.put(user + '\0' + session, NOTHING);
            }
        }
    }

    private void evict(long watermark) {
        List<KeyValue<String, PeerSession>> gone = new ArrayList<>();
        try (KeyValueIterator<String, PeerSession> all = sessions.all()) {
            while (all.hasNext()) {
                KeyValue<String, PeerSession> kv = all.next();
                PeerSession s = kv.value;
                boolean expired = s.getEnded() ? s.getLastEventMs() < watermark - TOMBSTONE_MS
                        : !s.getStarted() ? s.getFirstPendingMs() < watermark - ORPHAN_MS
                        : s.getLastEventMs() < watermark - IDLE_MS;
                if (expired) {
                    gone.add(kv);
                }
            }
        }
        for (KeyValue<String, PeerSession> kv : gone) {
            index(kv.key, kv.value, null);
            sessions.delete(kv.key);
        }
    }
}
