//! Writes the fuzz targets' seed corpora from `examples/demo.jsonl`: real records, lines
//! and a real checkpoint, so the fuzzers start from inputs that go deep.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message as _;
use sessiond::events::wire;
use sessiond::position::StreamPosition;
use sessiond::projection::{Fold, FoldConfig, Position, Projection};
use sessiond::snapshot::checkpoint::{self, Checkpoint};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus directory");
    std::fs::write(dir.join(name), bytes).expect("seed file");
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let demo = std::fs::read_to_string(root.join("../examples/demo.jsonl")).expect("demo");
    let lines: Vec<&str> = demo.lines().collect();
    let corpus = root.join("corpus");

    // Kafka records: the first byte is the key's length.
    let picks = [0, 1, 2, 5, 17, lines.len() / 2, lines.len() - 1];
    for (i, &at) in picks.iter().enumerate() {
        let event: wire::SessionEvent = serde_json::from_str(lines[at]).expect("demo line");
        let key = event.session_id.as_bytes();
        let mut record = vec![u8::try_from(key.len()).expect("short key")];
        record.extend_from_slice(key);
        record.extend_from_slice(&event.encode_to_vec());
        write(&corpus.join("kafka_record"), &format!("demo-{i}"), &record);
    }

    // Event logs: the first lines, and a stretch from the middle.
    write(&corpus.join("event_log"), "head", lines[..20].join("\n").as_bytes());
    let mid = lines.len() / 2;
    write(&corpus.join("event_log"), "middle", lines[mid..mid + 30].join("\n").as_bytes());

    // A checkpoint of a fold part-way through the demo.
    let projection = Arc::new(Projection::new());
    let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
    let mut counts = sessiond::record::RecordCounts::default();
    for (i, line) in lines[..200.min(lines.len())].iter().enumerate() {
        let position = Position {
            stream: 0,
            offset: i as i64,
        };
        let _ = sessiond::record::fold_record(
            &mut fold,
            &mut counts,
            position,
            sessiond::events::decode::decode_json(line),
        );
    }
    let image = fold.image().expect("image");
    let checkpoint = Checkpoint {
        streams: vec![StreamPosition {
            name: sessiond::position::StreamName {
                topic: "calls".into(),
                partition: 0,
            },
            next_offset: 200,
        }],
        image,
        taken_at: 0,
    };
    write(&corpus.join("checkpoint"), "demo-200", &checkpoint::encode(&checkpoint));

    // Stream ids: this process's form, and near misses.
    for (i, id) in ["0badc0de-17", "0badc0de-", "-1", "18446744073709551615", ""].iter().enumerate() {
        let mut seed = vec![1u8];
        seed.extend_from_slice(id.as_bytes());
        write(&corpus.join("last_event_id"), &format!("id-{i}"), &seed);
    }
    println!("seed corpora written to {}", corpus.display());
}
