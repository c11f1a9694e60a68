//! `POST /api/v1/webhook`'s body mapping: any bytes give an event or a
//! reason, never a panic; an event's body is the JSON the receivers get.
#![no_main]

use libfuzzer_sys::fuzz_target;
use owui_bridge::server::inbound_event;

fuzz_target!(|data: &[u8]| {
    let (id, body) = match data.split_first() {
        Some((&b, rest)) if b & 1 == 1 => (Some("msg_2Yp0fuzz"), rest),
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    match inbound_event(body, id) {
        Ok(ev) => {
            let v: serde_json::Value =
                serde_json::from_str(&ev.body).expect("the event body is JSON");
            assert_eq!(v["event"].as_str(), Some(ev.event.as_str()));
            assert!(!ev.event.is_empty(), "an event without a name");
            assert!(!ev.id.is_empty());
        }
        Err(reason) => assert!(!reason.is_empty()),
    }
});
