//! Fuzz target: reconciliation messages from a hostile peer. Decoding must never panic, anything decoded must
//! re-encode to the same message, and feeding it to either role of a reconciler must never panic either.
#![no_main]

use dims_protocol::reconcile::{Config, Item, ItemId, Message, Reconciler, SortedItems};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::decode(data) else { return };
    let again = Message::decode(&message.encode()).expect("re-encoded messages decode");
    assert_eq!(again, message);
    let items: Vec<Item> = (0u64..64)
        .filter_map(|i| Item::new(i * 1000, ItemId(*blake3::hash(&i.to_le_bytes()).as_bytes())).ok())
        .collect();
    for initiate in [true, false] {
        let storage = SortedItems::from_items(items.clone());
        if let Ok(mut reconciler) = Reconciler::new(storage, Config::default()) {
            if initiate {
                let _ = reconciler.initiate();
            }
            let _ = reconciler.reconcile(&message);
        }
    }
});
