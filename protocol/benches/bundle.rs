//! Criterion benches of the bundle path on a 100-indicator bundle: encode, decode, sign, verify, batch verify, and
//! the full decode + verify, beside the raw floors they are measured against (bare serde decode loops with cbor4ii, which dims uses, and ciborium and a bare
//! ed25519 `verify_strict` loop over the same bytes). Results and the command go in docs/benchmarks.md.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use dims_protocol::encoding::{decode_body, encode_body, split_envelope};
use dims_protocol::samples::{self, SAMPLE_TIME};
use dims_protocol::{Body, decode, decode_and_verify, verify_batch};
use ed25519_dalek::{Signer, SigningKey};

const INDICATORS: u32 = 100;
const BATCH: usize = 64;

fn bundle_path(c: &mut Criterion) {
    let key = samples::node_key(1);
    let body = samples::indicator_bundle(&key, INDICATORS, SAMPLE_TIME);
    let signed = key.sign(body.clone()).expect("valid sample");
    let envelope = signed.envelope().to_vec();
    let (body_bytes, _) = split_envelope(&envelope).expect("splits");
    let body_bytes = body_bytes.to_vec();
    eprintln!(
        "100-indicator bundle: {} bytes envelope, {} bytes body",
        envelope.len(),
        body_bytes.len()
    );

    let mut group = c.benchmark_group("bundle-100");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode", |b| b.iter(|| encode_body(std::hint::black_box(&body))));
    group.bench_function("sign (check + encode + hash + sign)", |b| {
        b.iter_batched(|| body.clone(), |body| key.sign(body), BatchSize::SmallInput)
    });
    group.bench_function("baseline: raw ciborium decode", |b| {
        b.iter(|| ciborium::from_reader::<Body, _>(std::hint::black_box(&body_bytes[..])).expect("decodes"))
    });
    group.bench_function("baseline: raw cbor4ii decode", |b| {
        b.iter(|| cbor4ii::serde::from_slice::<Body>(std::hint::black_box(&body_bytes[..])).expect("decodes"))
    });
    group.bench_function("decode (canonical + checks)", |b| {
        b.iter(|| decode_body(std::hint::black_box(&body_bytes)))
    });
    group.bench_function("verify (strict, one)", |b| {
        b.iter_batched(
            || decode(&envelope).expect("decodes"),
            |u| u.verify(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("decode + verify", |b| {
        b.iter(|| decode_and_verify(std::hint::black_box(&envelope)))
    });
    group.finish();

    // The raw verify floor: ed25519 verify_strict over the same 48-byte message, nothing else.
    let signing = SigningKey::from_bytes(&[1; 32]);
    let message = [7u8; 48];
    let signature = signing.sign(&message);
    let verifying = signing.verifying_key();
    let mut group = c.benchmark_group("ed25519");
    group.throughput(Throughput::Elements(1));
    group.bench_function("baseline: raw verify_strict", |b| {
        b.iter(|| verifying.verify_strict(std::hint::black_box(&message), &signature))
    });
    group.finish();

    // Batches: many bundles from several origins arriving together (a reconciliation fetch).
    let keys: Vec<_> = (1..=8).map(samples::node_key).collect();
    let envelopes: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| {
            let key = &keys[i % keys.len()];
            key.sign(samples::indicator_bundle(key, INDICATORS, SAMPLE_TIME + i as u64))
                .expect("valid")
                .envelope()
                .to_vec()
        })
        .collect();
    let mut group = c.benchmark_group("bundle-100-batch-64");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode + verify one by one", |b| {
        b.iter(|| {
            envelopes
                .iter()
                .map(|e| decode_and_verify(e).is_ok())
                .filter(|ok| *ok)
                .count()
        })
    });
    group.bench_function("decode + batch verify", |b| {
        b.iter(|| {
            let decoded: Vec<_> = envelopes.iter().map(|e| decode(e).expect("decodes")).collect();
            verify_batch(decoded).into_iter().filter(Result::is_ok).count()
        })
    });
    group.finish();
}

criterion_group!(benches, bundle_path);
criterion_main!(benches);
