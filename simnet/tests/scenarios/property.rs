//! The real nodes' property: a tiny random scenario (topology, mix, and faults drawn from the seed) ends with zero
//! leaks and every entitled pair delivered. The seed decides the choices, not the scheduling; the deterministic tier's
//! properties, over hundreds of federations, are in `simnet/tests/model.rs`. The seed is printed, so a failing case replays with
//! `dims-simnet run --seed`. A module of the `scenarios` test binary, so the simulator links into one test binary.

use dims_simnet::scenario::{Assertions, Fault, Mix, Scenario, Topology, Tuning, Workload};
use dims_simnet::{Options, Report};
use proptest::prelude::*;

fn tiny(seed: u64, regions: usize, observers: usize, mix: (u8, u8, u8), partition: bool) -> Scenario {
    let faults = if partition {
        vec![
            Fault {
                at_ms: Some(0),
                partition: Some(vec![vec!["national".to_owned(), "r1".to_owned()]]),
                ..Default::default()
            },
            Fault {
                after_publish_ms: Some(200),
                heal: Some(true),
                ..Default::default()
            },
        ]
    } else {
        Vec::new()
    };
    Scenario {
        name: format!("tiny-{seed}"),
        description: String::new(),
        seed,
        topology: Topology {
            regions,
            observers,
            region_ceiling: dims_protocol::Tlp::Amber,
        },
        federation: Tuning {
            reconcile_interval_ms: 1000,
            ..Tuning::default()
        },
        workload: Workload {
            bundles: 30,
            rate_per_s: 100.0,
            indicators: 2,
            publishers: vec!["national".to_owned(), "r*".to_owned()],
            mix: Mix {
                clear: f64::from(mix.0),
                green: f64::from(mix.1) + 1.0,
                amber: f64::from(mix.2),
            },
            amber_to: "national".to_owned(),
        },
        faults,
        hostile: None,
        baseline: None,
        assertions: Assertions {
            converge_timeout_ms: 30_000,
            ..Assertions::default()
        },
    }
}

fn run(scenario: &Scenario) -> Report {
    scenario.check().expect("a valid scenario");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime
        .block_on(dims_simnet::run(scenario, &Options::default()))
        .expect("the scenario runs")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_tiny_random_scenario_has_no_leaks_and_delivers_everything(
        seed in any::<u64>(),
        regions in 2usize..=3,
        observers in 0usize..=1,
        mix in (0u8..3, 0u8..3, 0u8..3),
        partition in any::<bool>(),
    ) {
        eprintln!("property case: seed {seed}, {regions} regions, {observers} observers, mix {mix:?}, partition {partition}");
        let report = run(&tiny(seed, regions, observers, mix, partition));
        prop_assert!(report.leaks.is_empty(), "leaks (seed {}): {:?}", seed, report.leaks);
        prop_assert_eq!(report.delivery.held_pairs, report.delivery.expected_pairs, "seed {}", seed);
    }
}
