package evovoice.peer;

import com.google.protobuf.util.JsonFormat;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import evovoice.peer.proto.State.PeerSession;
import evovoice.sessions.v1.Events.SessionEvent;
import evovoice.sessions.v1.SessionInfoOuterClass.SessionInfo;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.state.KeyValueBytesStoreSupplier;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka Streams peer: folds the call and member topics into a per-session table and
 * answers {@code GET /sessions/active?user=U} from it with interactive queries.
 *
 * <pre>
 * java -cp 'classes:lib/*' evovoice.peer.PeerApp --bootstrap HOST:PORT --calls T --members T
 *      [--application-id sessions-peer] [--state-dir DIR] [--http 127.0.0.1:8090]
 *      [--store rocksdb|memory] [--threads 2] [--instance-id peer-1]
 * </pre>
 */
public final class PeerApp {
    public static void main(String[] args) throws Exception {
        Map<String, String> opt = new HashMap<>(Map.of(
                "application-id", "sessions-peer",
                "state-dir", System.getProperty("java.io.tmpdir") + "/sessions-peer",
                "http", "127.0.0.1:8090",
                "store", "rocksdb",
                "threads", "2",
                "instance-id", "peer-1"));
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --name value, got " + args[i]);
            }
            opt.put(args[i].substring(2), args[i + 1]);
        }
        for (String required : List.of("bootstrap", "calls", "members")) {
            if (!opt.containsKey(required)) {
                throw new IllegalArgumentException("--" + required + " is required");
            }
        }

        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, opt.get("application-id"));
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, opt.get("bootstrap"));
        props.put(StreamsConfig.STATE_DIR_CONFIG, opt.get("state-dir"));
        // One stream thread per core (the docs' advice); tasks (one per partition) spread over them.
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(opt.get("threads")));
        // At-least-once, the default: the fold drops a repeated event id, so a record
        // processed again after a crash changes nothing, and exactly-once's transactions
        // (a commit every 100 ms) would buy nothing here.
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        // A record that does not decode is logged and skipped, not fatal.
        props.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG,
                LogAndContinueExceptionHandler.class);
        props.put(StreamsConfig.DEFAULT_TIMESTAMP_EXTRACTOR_CLASS_CONFIG, OccurredAt.class);
        // Static membership (KIP-345), the docs' advice for restarts: a member that comes back
        // with its group.instance.id within session.timeout.ms gets its tasks back at once.
        // Without it, a restarted instance waits for the old member's session to time out
        // (45 s by default), since Kafka Streams does not leave the group on close.
        props.put(StreamsConfig.consumerPrefix("group.instance.id"), opt.get("instance-id"));
        // Read from the beginning on a fresh application id.
        props.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");

        boolean memory = switch (opt.get("store")) {
            case "rocksdb" -> false;
            case "memory" -> true;
            default -> throw new IllegalArgumentException("--store rocksdb|memory");
        };
        Topology topology = topology(opt.get("calls"), opt.get("members"), memory);
        KafkaStreams streams = new KafkaStreams(topology, props);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(30));
            stopped.countDown();
        }));
        streams.setUncaughtExceptionHandler(e -> {
            e.printStackTrace();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler
                    .StreamThreadExceptionResponse.REPLACE_THREAD;
        });
        streams.start();
        serve(streams, opt.get("http"));
        stopped.await();
    }

    static Topology topology(String calls, String members, boolean memory) {
        KeyValueBytesStoreSupplier sessions = memory
                ? Stores.inMemoryKeyValueStore(FoldProcessor.SESSIONS)
                : Stores.persistentKeyValueStore(FoldProcessor.SESSIONS);
        KeyValueBytesStoreSupplier byUser = memory
                ? Stores.inMemoryKeyValueStore(FoldProcessor.BY_USER)
                : Stores.persistentKeyValueStore(FoldProcessor.BY_USER);
        StreamsBuilder builder = new StreamsBuilder();
        // Both stores are logged to changelog topics (the default). The session table is
        // cached (the DSL's default), which folds the many updates of a busy session into one
        // changelog write per commit; it is only read by key. The index is read by prefix
        // scans from the HTTP threads, and a scan of a cached store can return a key deleted
        // before the scan began when the stream thread flushes the cache during the scan
        // (the caching store merges the cache, read key by key as it goes, with a RocksDB
        // iterator taken at the start; a flushed delete leaves the first and not yet the
        // second; the Kafka Streams docs' caution on caching and deletes, KAFKA-15302). So
        // the index is not cached; its writes (a user joining or leaving) are few.
        builder.addStateStore(Stores.keyValueStoreBuilder(sessions, Serdes.String(),
                ProtoSerde.of(PeerSession.parser())).withCachingEnabled());
        builder.addStateStore(Stores.keyValueStoreBuilder(byUser, Serdes.String(),
                Serdes.ByteArray()).withCachingDisabled());
        Consumed<String, SessionEvent> consumed = Consumed.with(Serdes.String(), ProtoSerde.of(SessionEvent.parser()));
        // Both topics are keyed by session id and have the same partition count, so the
        // merged stream needs no repartitioning: partition p of each goes to task p.
        builder.stream(calls, consumed)
                .merge(builder.stream(members, consumed))
                .process(FoldProcessor::new, FoldProcessor.SESSIONS, FoldProcessor.BY_USER);
        return builder.build();
    }

    static void serve(KafkaStreams streams, String address) throws IOException {
        int colon = address.lastIndexOf(':');
        HttpServer server = HttpServer.create(
                new InetSocketAddress(address.substring(0, colon), Integer.parseInt(address.substring(colon + 1))), 1024);
        server.setExecutor(Executors.newFixedThreadPool(8));
        JsonFormat.Printer json = JsonFormat.printer().omittingInsignificantWhitespace();
        server.createContext("/sessions/active", exchange -> {
            String user = query(exchange).get("user");
            if (user == null || user.isEmpty()) {
                send(exchange, 400, "{\"error\":\"user is required\"}");
                return;
            }
            if (streams.state() != KafkaStreams.State.RUNNING) {
                send(exchange, 503, "{\"error\":\"" + streams.state() + "\"}");
                return;
            }
            List<SessionInfo> found;
            try {
                found = activeSessions(user,
                        streams.store(StoreQueryParameters.fromNameAndType(FoldProcessor.BY_USER,
                                QueryableStoreTypes.<String, byte[]>keyValueStore())),
                        streams.store(StoreQueryParameters.fromNameAndType(FoldProcessor.SESSIONS,
                                QueryableStoreTypes.<String, PeerSession>keyValueStore())));
            } catch (InvalidStateStoreException e) {
                // Rebalancing or restoring: ask again (or another instance).
                send(exchange, 503, "{\"error\":\"store not queryable\"}");
                return;
            }
            StringBuilder body = new StringBuilder("{\"sessions\":[");
            for (int i = 0; i < found.size(); i++) {
                if (i > 0) {
                    body.append(',');
                }
                json.appendTo(found.get(i), body);
            }
            send(exchange, 200, body.append("]}").toString());
        });
        server.createContext("/progress", exchange -> {
            StringBuilder body = new StringBuilder("{\"state\":\"").append(streams.state())
                    .append("\",\"processed\":").append(FoldProcessor.PROCESSED.sum());
            for (SessionFold.Outcome o : SessionFold.Outcome.values()) {
                body.append(",\"").append(o.name().toLowerCase()).append("\":")
                        .append(FoldProcessor.OUTCOMES[o.ordinal()].sum());
            }
            body.append(",\"offsets\":{");
            String comma = "";
            for (var e : new TreeMap<>(FoldProcessor.NEXT_OFFSETS).entrySet()) {
                body.append(comma).append('"').append(e.getKey()).append("\":").append(e.getValue());
                comma = ",";
            }
            send(exchange, 200, body.append("}}").toString());
        });
        server.start();
        System.err.println("serving GET /sessions/active?user=U on http://" + address);
    }

    /**
     * The user's active sessions, ordered by dateCreated, then id: the index names the
     * candidates, and each is shown only if the session itself, read now, is active and
     * belongs to the user. The index and the table are two stores read one after the other
     * while the stream thread writes both, so an index entry can be older than the session
     * it names; the session decides.
     */
    static List<SessionInfo> activeSessions(String user, ReadOnlyKeyValueStore<String, byte[]> byUser,
            ReadOnlyKeyValueStore<String, PeerSession> sessions) {
        List<SessionInfo> found = new ArrayList<>();
        String prefix = user + '\0';
        try (KeyValueIterator<String, byte[]> ids = byUser.prefixScan(prefix, new StringSerializer())) {
            while (ids.hasNext()) {
                PeerSession s = sessions.get(ids.next().key.substring(prefix.length()));
                if (SessionFold.users(s).contains(user)) {
                    found.add(s.getInfo());
                }
            }
        }
        found.sort(ORDER);
        return found;
    }

    private static final Comparator<SessionInfo> ORDER = Comparator
            .comparingLong((SessionInfo s) -> SessionFold.millis(s.getDateCreated()))
            .thenComparing(SessionInfo::getId);

    private static Map<String, String> query(HttpExchange exchange) {
        Map<String, String> out = new HashMap<>();
        String raw = exchange.getRequestURI().getRawQuery();
        if (raw != null) {
            for (String pair : raw.split("&")) {
                int eq = pair.indexOf('=');
                if (eq > 0) {
                    out.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
                            URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
                }
            }
        }
        return out;
    }

    private static void send(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json; charset=utf-8");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}
