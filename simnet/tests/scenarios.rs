//! Every scenario in `simnet/scenarios/`, scaled down so that the whole group runs in a few minutes on a 2-core
//! machine in a debug build, each asserting the scenario's own assertions (zero leaks always). One test binary for
//! all of them (each test binary links the whole node). Process mode runs here too, against this build's `dims` binary
//! (`scripts/test` builds it first; without it the test fails).

#[path = "scenarios/property.rs"]
mod property;

use std::path::Path;

use dims_simnet::{Options, Report, Scenario};

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn run(scenario: &Scenario) -> Report {
    run_with(scenario, &Options::default())
}

fn run_with(scenario: &Scenario, options: &Options) -> Report {
    // The scaled-down stores are small, so frequent reconciliation is cheap here, and it keeps the observer's wait
    // for CLEAR (reconciliation only) short.
    let mut scenario = scenario.clone();
    scenario.federation.reconcile_interval_ms = scenario.federation.reconcile_interval_ms.min(3000);
    let scenario = &scenario;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    eprintln!("scenario {} seed {}", scenario.name, scenario.seed);
    let report = runtime
        .block_on(dims_simnet::run(scenario, options))
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

#[test]
fn partition_heal_scaled_down() {
    let mut s = scenario("partition-heal");
    s.topology.regions = 4;
    s.workload.bundles = 500;
    s.workload.rate_per_s = 250.0;
    s.faults[0].partition = Some(vec![
        vec!["national".to_owned(), "r1..r2".to_owned()],
        vec!["r3..r4".to_owned(), "o*".to_owned()],
    ]);
    let report = run(&s);
    let heal = report.reconciliation.heal.expect("the scenario heals");
    assert!(
        !heal.sessions.is_empty(),
        "no reconciliation across the healed partition was seen"
    );
    assert!(
        heal.need > 0,
        "the heal found nothing missing: the partition did not hold"
    );
}

#[test]
fn hostile_scaled_down() {
    let mut s = scenario("hostile");
    s.topology.regions = 6;
    s.hostile.as_mut().expect("hostile members").count = 4;
    s.hostile.as_mut().expect("hostile members").behaviours = vec![
        dims_simnet::scenario::Behaviour::Flood,
        dims_simnet::scenario::Behaviour::Tamper,
        dims_simnet::scenario::Behaviour::Replay,
        dims_simnet::scenario::Behaviour::Drop,
    ];
    s.workload.bundles = 150;
    let report = run(&s);
    assert_eq!(report.hostile_members.len(), 4);
    for member in &report.hostile_members {
        match member.behaviour.as_str() {
            "drop" => assert!(member.activity.unanswered > 0, "the dropper left requests unanswered"),
            _ => assert!(member.activity.sent > 0, "{} misbehaved", member.name),
        }
        // The scenario's own checks (run above) hold every one of them below the gossip threshold; say it here too.
        assert!(
            member.below_gossip_threshold,
            "{} ({}) ends below the threshold",
            member.name, member.behaviour
        );
    }
    assert!(
        report.honest_min_score.is_some_and(|s| s >= -10.0),
        "honest members stay above the gossip threshold: {:?}",
        report.honest_min_score
    );
}

#[test]
fn scale_100_scaled_down_beside_its_baseline() {
    let mut s = scenario("scale-100");
    s.topology.regions = 19;
    s.workload.bundles = 60;
    s.workload.rate_per_s = 10.0;
    s.assertions.gossip_p99_ms = None;
    let report = run(&s);
    let baseline = report.baseline.as_ref().expect("the scenario runs a flood baseline");
    assert_eq!(
        baseline.delivery.completeness_pct, 100.0,
        "the baseline delivered everything"
    );
    assert!(baseline.leaks.is_empty());
    assert!(baseline.latency.contains_key("addressed"));
}

#[test]
fn kill_and_restart_a_region_during_publishing() {
    let mut s = scenario("national-regional");
    s.topology.regions = 3;
    s.topology.observers = 0;
    s.workload.bundles = 120;
    s.workload.rate_per_s = 60.0;
    s.assertions.gossip_p99_ms = None;
    s.faults = vec![
        dims_simnet::scenario::Fault {
            at_ms: Some(300),
            kill: Some(vec!["r2".to_owned()]),
            ..Default::default()
        },
        dims_simnet::scenario::Fault {
            at_ms: Some(1200),
            restart: Some(vec!["r2".to_owned()]),
            ..Default::default()
        },
    ];
    let report = run(&s);
    assert_eq!(report.faults.len(), 2);
}

#[test]
fn lossy_scaled_down() {
    let mut s = scenario("lossy");
    s.topology.regions = 5;
    s.workload.bundles = 200;
    s.workload.rate_per_s = 50.0;
    // The same phases in a 4-second workload: delay at 0.5 s, resets from 1 s, restore at 3 s.
    s.faults[0].at_ms = Some(500);
    s.faults[1].at_ms = Some(1000);
    s.faults[2].at_ms = Some(3000);
    // Far fewer chunks flow here than in the full run (a few hundred in the drop phase): a higher chance keeps the
    // resets coming.
    s.faults[1].drop.as_mut().expect("the drop phase").probability = 0.02;
    let report = run(&s);
    assert_eq!(report.faults.len(), 3);
    let t = &report.traffic;
    assert!(t.sent > 0 && t.received > 0, "wire bytes were counted: {t:?}");
    assert!(t.resets > 0, "the drop phase reset no connection");
    assert!(
        report.per_node.iter().all(|n| n.stats.bytes_sent > 0),
        "every honest node sent something"
    );
}

/// The `dims` binary of this build, next to the test executable (`target/PROFILE/dims`). `scripts/test` builds it
/// before the tests run; a missing binary fails the test rather than skipping it.
fn dims_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    dims_simnet::processes::dims_beside(&exe).unwrap_or_else(|e| panic!("{e:#}"))
}

fn kill_and_restart_r2() -> Vec<dims_simnet::scenario::Fault> {
    vec![
        dims_simnet::scenario::Fault {
            at_ms: Some(500),
            kill: Some(vec!["r2".to_owned()]),
            ..Default::default()
        },
        dims_simnet::scenario::Fault {
            at_ms: Some(1200),
            restart: Some(vec!["r2".to_owned()]),
            ..Default::default()
        },
    ]
}

/// Process mode: four real `dims run` processes set up with the command line, fed and watched through the REST API,
/// one of them SIGKILLed and restarted while publishing; everything entitled arrives, nothing leaks (served or
/// stored), and every process stops with exit 0 on SIGTERM.
#[test]
fn processes_with_a_kill_and_restart() {
    let mut s = scenario("national-regional");
    s.topology.regions = 3;
    s.topology.observers = 0;
    s.workload.bundles = 40;
    s.workload.rate_per_s = 20.0;
    s.assertions.gossip_p99_ms = None;
    s.federation.redial_ms = 1000;
    s.faults = kill_and_restart_r2();
    let options = Options {
        processes: Some(dims_binary()),
        ..Options::default()
    };
    let report = run_with(&s, &options);
    assert_eq!(report.mode, "processes");
    assert_eq!(report.workload.published, 40, "{:?}", report.workload.first_error);
    assert!(report.delivery.expected_pairs > 40 && report.delivery.converged);
    let processes = report.processes.as_ref().expect("the process report");
    assert_eq!(processes.nodes.len(), 4);
    assert!(
        processes.served_pairs >= report.delivery.expected_pairs,
        "every entitled pair was served over an API"
    );
    let r2 = processes.nodes.iter().find(|n| n.name == "r2").expect("r2");
    assert_eq!(
        r2.exits,
        ["SIGKILL (fault)", "exit 0"],
        "r2 was killed, restarted, and stopped"
    );
    assert!(processes.nodes.iter().all(|n| n.peak_rss_mib.is_some_and(|m| m > 1.0)));
    assert!(report.resources.cpu_user_s > 0.0, "the nodes' CPU is measured");
    assert!(report.latency.contains_key("addressed") && report.latency.contains_key("gossip"));
    assert!(report.per_node.iter().all(|n| n.stored > 0));
}

/// What process mode cannot do is refused before anything starts, naming it.
#[test]
fn processes_refuse_partitions_and_hostile_members() {
    for (name, names) in [
        ("partition-heal", "partition"),
        ("hostile", "hostile members"),
        ("lossy", "delay"),
    ] {
        let error = dims_simnet::processes::check_supported(&scenario(name)).expect_err(name);
        let message = error.to_string();
        assert!(
            message.contains(names) && message.contains("without --processes"),
            "{message}"
        );
    }
    let mut s = scenario("national-regional");
    s.faults = kill_and_restart_r2();
    dims_simnet::processes::check_supported(&s).expect("kill and restart are supported");
}
