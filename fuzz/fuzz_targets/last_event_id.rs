//! The `Last-Event-ID` a reconnecting stream sends: any string, or one that starts with
//! this process's epoch (so the sequence number after it is parsed).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use sessiond::live::ChangeHub;
use sessiond::projection::Projection;

fuzz_target!(|input: (bool, String)| {
    let (with_epoch, rest) = input;
    let hub = ChangeHub::new(Arc::new(Projection::new()));
    let id = if with_epoch {
        let prefix = hub.event_id(0);
        format!("{}{rest}", &prefix[..prefix.len() - 1])
    } else {
        rest
    };
    let subscription = hub.subscribe("U-1", Some(&id));
    hub.unsubscribe(&subscription);
});
