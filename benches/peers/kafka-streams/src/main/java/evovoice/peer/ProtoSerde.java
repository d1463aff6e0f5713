package evovoice.peer;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/** A Serde for one protobuf message type. */
final class ProtoSerde {
    private ProtoSerde() {}

    static <T extends MessageLite> Serde<T> of(Parser<T> parser) {
        return Serdes.serdeFrom(
                (topic, message) -> message == null ? null : message.toByteArray(),
                (topic, bytes) -> {
                    if (bytes == null) {
                        return null;
                    }
                    try {
                        return parser.parseFrom(bytes);
                    } catch (InvalidProtocolBufferException e) {
                        throw new SerializationException("not a protobuf message", e);
                    }
                });
    }
}
