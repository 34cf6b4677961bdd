//! Throughput of a whole reconciliation session: 100k vs 100k items with 100 differing, default configuration.
//!
//! One iteration is a full session over the wire format (initiate, then encode, decode and answer each message on
//! both sides until the initiator is done), so the figure includes fingerprinting, splitting and the codec. The
//! stores are built once outside the measurement; throughput is counted in items per side.
//!
//! Run with `cargo bench -p dims-protocol --bench reconcile`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dims_protocol::reconcile::{Config, Item, ItemId, Message, Reconciler, SortedItems};

const SIZE: u64 = 100_000;
const ONLY_EACH: u64 = 50;

/// Item `n` of a deterministic corpus: BLAKE3 of the counter as id, a timestamp in a 30-day window derived from it.
fn corpus_item(n: u64) -> Item {
    let id = ItemId(*blake3::hash(&n.to_le_bytes()).as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&id.0[..8]);
    let timestamp = 1_698_000_000_000 + u64::from_le_bytes(first) % (30 * 24 * 3600 * 1000);
    Item::new(timestamp, id).expect("timestamps in the window are below u64::MAX")
}

fn stores() -> (SortedItems, SortedItems) {
    let shared: Vec<Item> = (0..SIZE - ONLY_EACH).map(corpus_item).collect();
    let mut a = shared.clone();
    a.extend((0..ONLY_EACH).map(|n| corpus_item((1 << 40) + n)));
    let mut b = shared;
    b.extend((0..ONLY_EACH).map(|n| corpus_item((2 << 40) + n)));
    (SortedItems::from_items(a), SortedItems::from_items(b))
}

/// Runs one session and returns how many ids the initiator learned, so nothing is optimised away.
fn session(a: &SortedItems, b: &SortedItems) -> usize {
    let config = Config::default();
    let mut initiator = Reconciler::new(a, config).expect("default config is valid");
    let mut responder = Reconciler::new(b, config).expect("default config is valid");
    let mut learned = 0;
    let mut outgoing = Some(initiator.initiate());
    while let Some(message) = outgoing {
        let request = Message::decode(&message.encode()).expect("own message decodes");
        let reply = responder
            .reconcile(&request)
            .expect("valid request")
            .reply
            .expect("the responder always replies");
        let reply = Message::decode(&reply.encode()).expect("own message decodes");
        let step = initiator.reconcile(&reply).expect("valid reply");
        learned += step.have.len() + step.need.len();
        outgoing = step.reply;
    }
    learned
}

fn reconcile(c: &mut Criterion) {
    let (a, b) = stores();
    assert_eq!(
        session(&a, &b) as u64,
        2 * ONLY_EACH,
        "the session finds the whole difference"
    );
    let mut group = c.benchmark_group("reconcile");
    group.throughput(Throughput::Elements(SIZE));
    group.bench_function("100k_vs_100k_100_differing", |bench| {
        bench.iter(|| session(black_box(&a), black_box(&b)))
    });
    group.finish();
}

criterion_group!(benches, reconcile);
criterion_main!(benches);
