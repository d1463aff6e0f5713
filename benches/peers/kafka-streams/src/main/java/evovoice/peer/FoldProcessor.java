package evovoice.peer;

import evovoice.peer.proto.State.PeerSession;
import evovoice.sessions.v1.Events.SessionEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
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
    /**
     * The offset after the last record folded, per input partition ({@code topic:partition}):
     * the bench's test of caught up. A count of records processed is not one, since a task
     * that moves between threads may process some records again.
     */
    static final ConcurrentHashMap<String, Long> NEXT_OFFSETS = new ConcurrentHashMap<>();
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
        fold(record);
        // Counted once the stores hold the result, so a reader that sees the count sees it.
        PROCESSED.increment();
        context.recordMetadata().ifPresent(m ->
                NEXT_OFFSETS.merge(m.topic() + ':' + m.partition(), m.offset() + 1, Math::max));
    }

    private void fold(Record<String, SessionEvent> record) {
        SessionEvent event = record.value();
        if (event == null || record.key() == null || !record.key().equals(event.getSessionId())) {
            OUTCOMES[SessionFold.Outcome.BAD.ordinal()].increment();
            return;
        }
        PeerSession before = sessions.get(record.key());
        String stream = context.recordMetadata().map(m -> m.topic() + ':' + m.partition()).orElse(null);
        long offset = context.recordMetadata().map(m -> m.offset()).orElse(-1L);
        SessionFold.Result result = SessionFold.apply(before, event, stream, offset);
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

    /**
     * Forgets old tombstones and orphans, and ends sessions idle too long (their end was
     * lost) leaving a tombstone, as sessiond does, so late events do not revive them.
     */
    private void evict(long watermark) {
        List<KeyValue<String, PeerSession>> expired = new ArrayList<>();
        try (KeyValueIterator<String, PeerSession> all = sessions.all()) {
            while (all.hasNext()) {
                KeyValue<String, PeerSession> kv = all.next();
                PeerSession s = kv.value;
                boolean gone = s.getEnded() ? s.getLastEventMs() < watermark - TOMBSTONE_MS
                        : !s.getStarted() ? s.getFirstPendingMs() < watermark - ORPHAN_MS
                        : s.getLastEventMs() < watermark - IDLE_MS;
                if (gone) {
                    expired.add(kv);
                }
            }
        }
        for (KeyValue<String, PeerSession> kv : expired) {
            if (kv.value.getStarted() && !kv.value.getEnded()) {
                PeerSession tombstone = SessionFold.tombstone(watermark);
                index(kv.key, kv.value, tombstone);
                sessions.put(kv.key, tombstone);
            } else {
                sessions.delete(kv.key);
            }
        }
    }
}
