//! Crypto-PAn throughput (DESIGN §13: ≥ 10M IPv4 addresses/s per core) beside its baseline, the paper's loop with one
//! sequential AES call per address bit, and the one-off cost of building an anonymiser.
//!
//! Run with `cargo bench -p dims-protocol --bench cryptopan`.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dims_protocol::cryptopan::CryptoPan;

/// The baseline: the paper's loop as `panonymizer` and `yacryptopan` write it, with key setup done once.
#[path = "../tests/support/cryptopan_reference.rs"]
mod cryptopan_reference;

use cryptopan_reference::Reference as Naive;

const KEY: [u8; 32] = [
    21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16, 216, 152, 143, 131, 121, 121, 101, 39, 98,
    87, 76, 45, 42, 132, 34, 2,
];

/// Addresses per measured iteration: enough that random top-16 prefixes spread over the whole table.
const V4_ADDRS: usize = 4096;
const V6_ADDRS: usize = 512;

/// Deterministic, well-spread inputs (SplitMix64), so runs compare.
fn inputs(n: usize) -> Vec<u128> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| (u128::from(next()) << 64) | u128::from(next()))
        .collect()
}

fn ipv4(c: &mut Criterion) {
    let cp = CryptoPan::new(&KEY);
    let naive = Naive::new(&KEY);
    let addrs: Vec<Ipv4Addr> = inputs(V4_ADDRS)
        .into_iter()
        .map(|a| Ipv4Addr::from((a >> 96) as u32))
        .collect();
    let mut group = c.benchmark_group("cryptopan_ipv4");
    group.throughput(Throughput::Elements(V4_ADDRS as u64));
    group.bench_function("naive_32_aes_per_address", |b| {
        b.iter(|| {
            for a in &addrs {
                black_box(naive.anonymize(u128::from(u32::from(*a)), 32));
            }
        })
    });
    group.bench_function("single", |b| {
        b.iter(|| {
            for a in &addrs {
                black_box(cp.anonymize_v4(*a));
            }
        })
    });
    let mut buffer = addrs.clone();
    group.bench_function("batch", |b| {
        b.iter(|| {
            buffer.copy_from_slice(&addrs);
            cp.anonymize_v4_many(black_box(&mut buffer));
        })
    });
    group.finish();
}

fn ipv6(c: &mut Criterion) {
    let cp = CryptoPan::new(&KEY);
    let naive = Naive::new(&KEY);
    let addrs: Vec<Ipv6Addr> = inputs(V6_ADDRS).into_iter().map(Ipv6Addr::from).collect();
    let mut group = c.benchmark_group("cryptopan_ipv6");
    group.throughput(Throughput::Elements(V6_ADDRS as u64));
    group.bench_function("naive_128_aes_per_address", |b| {
        b.iter(|| {
            for a in &addrs {
                black_box(naive.anonymize(u128::from(*a), 128));
            }
        })
    });
    group.bench_function("single", |b| {
        b.iter(|| {
            for a in &addrs {
                black_box(cp.anonymize_v6(*a));
            }
        })
    });
    group.finish();
}

fn construction(c: &mut Criterion) {
    let mut group = c.benchmark_group("cryptopan_new");
    group.throughput(Throughput::Elements(1));
    group.bench_function("table_of_65535_aes", |b| b.iter(|| CryptoPan::new(black_box(&KEY))));
    group.finish();
}

criterion_group!(benches, ipv4, ipv6, construction);
criterion_main!(benches);
