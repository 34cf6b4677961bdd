//! Every scenario in `simnet/scenarios/`, scaled down so that the whole group runs in a few minutes on a 2-core
//! machine in a debug build, each asserting the scenario's own assertions (zero leaks always). One test binary for
//! all of them (each test binary links the whole node).

use std::path::Path;

use dims_simnet::{Options, Report, Scenario};

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn run(scenario: &Scenario) -> Report {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    eprintln!("scenario {} seed {}", scenario.name, scenario.seed);
    let report = runtime
        .block_on(dims_simnet::run(scenario, &Options::default()))
        .unwrap_or_else(|e| panic!("scenario {} did not run: {e:#}", scenario.name));
    eprintln!("{}", report.markdown());
    let failures = report.failures();
    assert!(
        failures.is_empty(),
        "scenario {} failed (seed {}):\n{}",
        scenario.name,
        report.seed,
        failures.join("\n")
    );
    report
}

#[test]
fn national_regional_scaled_down() {
    let mut s = scenario("national-regional");
    s.topology.regions = 4;
    s.workload.bundles = 150;
    // Debug builds run several times slower: the latency bound is the release benchmark's, not CI's.
    s.assertions.gossip_p99_ms = None;
    let report = run(&s);
    assert!(
        report.latency.contains_key("addressed"),
        "the mix includes upward AMBER"
    );
    assert!(
        report.latency.contains_key("reconciliation"),
        "the observer gets CLEAR by reconciliation"
    );
}
