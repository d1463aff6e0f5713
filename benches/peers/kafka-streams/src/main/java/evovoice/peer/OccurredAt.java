package evovoice.peer;

import evovoice.sessions.v1.Events.SessionEvent;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.processor.TimestampExtractor;

/** Event time: a record's time is its event's occurred_at (the record's own when missing). */
public final class OccurredAt implements TimestampExtractor {
    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
        if (record.value() instanceof SessionEvent e && e.hasOccurredAt()) {
            return SessionFold.millis(e.getOccurredAt());
        }
        return record.timestamp() >= 0 ? record.timestamp() : partitionTime;
    }
}
