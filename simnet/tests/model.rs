//! The deterministic tier's properties (`dims_simnet::model`): random federations with partitions, downed nodes and
//! message loss never leak and always converge once healed; a seed replays bit for bit; and a node without its
//! egress guard is caught by the leak oracle, with the path the bundle took. Every failure message names the seed and
//! the command that replays it.

use dims_simnet::model::{ModelFault, ModelReport, ModelSpec, simulate};
use proptest::prelude::*;

fn run(spec: &ModelSpec, seed: u64) -> ModelReport {
    simulate(spec, seed).unwrap_or_else(|e| panic!("seed {seed}: the spec is not valid: {e}"))
}

fn leaks(report: &ModelReport) -> String {
    report.leaks.iter().map(|leak| format!("\n  {leak}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_random_federation_never_leaks_and_converges_after_the_faults(seed in any::<u64>()) {
        let report = run(&ModelSpec::random(seed), seed);
        prop_assert!(
            report.leaks.is_empty(),
            "seed {seed} leaked (replay: dims-simnet model --random --seed {seed}):{}", leaks(&report)
        );
        prop_assert!(
            report.complete(),
            "seed {seed}: {}/{} entitled pairs held after the faults and quiet time \
             (replay: dims-simnet model --random --seed {seed})\n{report}",
            report.held_pairs, report.expected_pairs
        );
    }

    #[test]
    fn with_a_fifth_of_messages_lost_retries_and_reconciliation_still_converge(seed in any::<u64>()) {
        let spec = ModelSpec { loss: 0.2, ..ModelSpec::random(seed) };
        let report = run(&spec, seed);
        prop_assert!(report.leaks.is_empty(), "seed {seed} leaked:{}", leaks(&report));
        prop_assert!(
            report.complete(),
            "seed {seed}: {}/{} entitled pairs held with loss 0.2 \
             (replay: dims-simnet model --random --loss 0.2 --seed {seed})\n{report}",
            report.held_pairs, report.expected_pairs
        );
    }
}

#[test]
fn the_same_seed_replays_the_same_run() {
    for seed in 0..32 {
        let spec = ModelSpec::random(seed);
        let first = run(&spec, seed);
        let second = run(&spec, seed);
        assert_eq!(first, second, "seed {seed} ran differently twice");
    }
    let spec = ModelSpec {
        loss: 0.1,
        ..ModelSpec::default()
    };
    assert_ne!(
        run(&spec, 1).trace_digest,
        run(&spec, 2).trace_digest,
        "the network's draws depend on the seed"
    );
}

/// The national-regional federation with an observer, a partition that heals and some loss.
fn faulty_federation() -> ModelSpec {
    ModelSpec {
        regions: 4,
        observers: 2,
        bundles: 60,
        loss: 0.05,
        faults: vec![
            ModelFault {
                at_ms: 500,
                partition: Some(vec![vec!["national".to_owned(), "r1".to_owned(), "o1".to_owned()]]),
                ..ModelFault::default()
            },
            ModelFault {
                at_ms: 4_000,
                heal: Some(true),
                ..ModelFault::default()
            },
        ],
        ..ModelSpec::default()
    }
}

#[test]
fn a_node_without_its_egress_guard_is_caught_with_the_path_its_leak_took() {
    let seed = 7;
    let honest = run(&faulty_federation(), seed);
    assert!(honest.leaks.is_empty(), "seed {seed}:{}", leaks(&honest));
    assert!(honest.complete(), "seed {seed}\n{honest}");

    let broken = run(
        &ModelSpec {
            break_egress_guard: Some("r1".to_owned()),
            ..faulty_federation()
        },
        seed,
    );
    eprintln!("seed {seed}, r1 without its egress guard:\n{broken}");
    assert!(!broken.leaks.is_empty(), "the oracle must catch r1 (seed {seed})");
    for leak in &broken.leaks {
        let last = leak.path.last().expect("a leak has a path");
        assert_eq!(last.from, "r1", "the last hop is the broken node's: {leak}");
        assert_eq!(last.to, leak.node, "the path ends at the leak: {leak}");
        assert!(!leak.stored, "the observer's own ingest check still refuses it: {leak}");
    }
    assert!(
        broken.leaks.iter().any(|leak| leak.path.len() > 1),
        "some leaked bundles came to r1 from elsewhere first"
    );
    assert!(
        broken.leaks.iter().any(|leak| leak.node.starts_with('o')),
        "GREEN reached an observer"
    );
    assert!(
        broken.leaks.iter().any(|leak| leak.tlp == "TLP:AMBER"),
        "AMBER for the national node reached another region"
    );
}

#[test]
fn a_broken_national_node_leaks_amber_by_addressed_delivery_to_a_green_region() {
    let spec = ModelSpec {
        region_ceiling: dims_protocol::Tlp::Green,
        observers: 0,
        mix: dims_simnet::scenario::Mix {
            clear: 0.0,
            green: 1.0,
            amber: 1.0,
        },
        ..ModelSpec::default()
    };
    let seed = 3;
    let honest = run(&spec, seed);
    assert!(honest.leaks.is_empty(), "seed {seed}:{}", leaks(&honest));
    assert!(
        honest.totals.abandoned > 0,
        "the egress guard drops AMBER rows for GREEN regions"
    );

    let broken = run(
        &ModelSpec {
            break_egress_guard: Some("national".to_owned()),
            ..spec
        },
        seed,
    );
    let addressed = broken
        .leaks
        .iter()
        .find(|leak| leak.tlp == "TLP:AMBER")
        .unwrap_or_else(|| panic!("no AMBER leak (seed {seed}):{}", leaks(&broken)));
    assert_eq!(addressed.path_text().split(" -").count(), 2, "one hop: {addressed}");
    assert!(addressed.path_text().contains("-addressed@"), "{addressed}");
}
