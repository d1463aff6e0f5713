package evovoice.peer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import evovoice.peer.proto.State.PeerSession;
import evovoice.sessions.v1.Events.SessionEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.StoreBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Why the peer once showed a session to a user who had left it (SIM-1-26167 in a bench run):
 * a prefix scan of a cached store, left open while the cache is flushed, returns a key that
 * was deleted before the scan began. In the peer the scan is an interactive query on an
 * HTTP thread and the flush is the stream thread's commit; here both run on one thread, in
 * that order, on Kafka Streams' own store stack (RocksDB under the record cache).
 */
class CachedIndexTest {
    @TempDir
    java.nio.file.Path state;

    private TopologyTestDriver driver(boolean caching) {
        StreamsBuilder builder = new StreamsBuilder();
        StoreBuilder<KeyValueStore<String, byte[]>> index = Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore("index"), Serdes.String(), Serdes.ByteArray());
        builder.addStateStore(caching ? index.withCachingEnabled() : index.withCachingDisabled());
        builder.stream("in", Consumed.with(Serdes.String(), Serdes.String()))
                .process(() -> new Processor<String, String, Void, Void>() {
                    @Override
                    public void process(Record<String, String> record) { }
                }, "index");
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "cached-index");
        props.put(StreamsConfig.STATE_DIR_CONFIG, state.toString());
        return new TopologyTestDriver(builder.build(), props);
    }

    /** The user's index entries as a scan that stays open across a flush sees them. */
    @SuppressWarnings("deprecation")
    private static List<String> scanAcrossFlush(KeyValueStore<String, byte[]> index) {
        index.put("U-2\0S-1", new byte[0]);
        index.flush();
        // U-2 leaves S-1: the delete waits in the cache (when there is one).
        index.delete("U-2\0S-1");
        List<String> seen = new ArrayList<>();
        try (KeyValueIterator<String, byte[]> scan = index.prefixScan("U-2\0", new StringSerializer())) {
            index.flush();
            scan.forEachRemaining(kv -> seen.add(kv.key));
        }
        return seen;
    }

    @Test
    void aCachedScanOpenAcrossAFlushReturnsADeletedKey() {
        try (TopologyTestDriver driver = driver(true)) {
            assertEquals(List.of("U-2\0S-1"), scanAcrossFlush(driver.getKeyValueStore("index")));
        }
    }

    @Test
    void anUncachedScanDoesNot() {
        try (TopologyTestDriver driver = driver(false)) {
            assertEquals(List.of(), scanAcrossFlush(driver.getKeyValueStore("index")));
        }
    }

    /** The peer's answer trusts the session, not the index: a stale entry shows nothing. */
    @Test
    void theAnswerIgnoresAnIndexEntryTheSessionDoesNotBackUp() {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "peer-answer");
        props.put(StreamsConfig.DEFAULT_TIMESTAMP_EXTRACTOR_CLASS_CONFIG, OccurredAt.class);
        props.put(StreamsConfig.STATE_DIR_CONFIG, state.toString());
        try (TopologyTestDriver driver = new TopologyTestDriver(PeerApp.topology("calls", "members", false), props)) {
            Serializer<SessionEvent> proto = (topic, e) -> e.toByteArray();
            var calls = driver.createInputTopic("calls", new StringSerializer(), proto);
            var members = driver.createInputTopic("members", new StringSerializer(), proto);
            pipe(calls, Events.started("e1", 0, "E-main"));
            pipe(members, Events.joined("e2", 1, "U-1"));
            pipe(members, Events.joined("e3", 2, "U-2"));
            KeyValueStore<String, byte[]> byUser = driver.getKeyValueStore(FoldProcessor.BY_USER);
            KeyValueStore<String, PeerSession> sessions = driver.getKeyValueStore(FoldProcessor.SESSIONS);
            assertEquals(1, PeerApp.activeSessions("U-2", byUser, sessions).size());

            pipe(members, Events.left("e4", 3, "U-2"));
            assertEquals(0, PeerApp.activeSessions("U-2", byUser, sessions).size());
            // What the cached scan above returned: the entry of a user who has left.
            byUser.put("U-2\0" + Events.SESSION, new byte[0]);
            assertEquals(0, PeerApp.activeSessions("U-2", byUser, sessions).size());
            assertEquals(1, PeerApp.activeSessions("U-1", byUser, sessions).size());
        }
    }

    private static void pipe(TestInputTopic<String, SessionEvent> topic, SessionEvent e) {
        topic.pipeInput(e.getSessionId(), e);
    }
}
