//! End-to-end tests of the `dims` binary: a node made with `dims init`, driven only through its command line,
//! with the OASIS STIX validator as the judge of exports, and SIGKILL as the judge of durability.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dims_node::cli::Loaded;
use dims_node::config::Overrides;
use dims_node::grant::AUTOMATION;
use dims_node::service::Service;
use dims_node::store::ListQuery;
use dims_protocol::policy::{MemberView, Membership, Receiver, may_receive};
use dims_protocol::samples;
use dims_protocol::stix::DIMS_EXTENSION_ID;
use dims_protocol::{BundleId, FederationId, IndicatorValue, Marking, MemberId, NodeId, NodeKey, OrgId, Tlp};

#[path = "support/node.rs"]
mod node_support;

use node_support::Node;

impl Node {
    fn key(&self) -> NodeKey {
        dims_node::keys::load(&self.root.join("node.key")).expect("node key")
    }

    /// The node's service core, opened in this process (no `dims` process may hold the store meanwhile).
    fn service(&self) -> Service {
        Loaded::new(&self.config(), &Overrides::default())
            .expect("the node's configuration loads")
            .open_service()
            .expect("the store opens")
    }

    fn run_with_input(&self, args: &[&str], input: impl AsRef<[u8]>) -> Output {
        let mut command = self.command();
        command.args(args);
        output_with_input(command, input.as_ref())
    }
}

/// Runs `command` with `input` on its standard input; its output.
fn output_with_input(mut command: Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("DIMS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    let tool = venv.join("bin").join(name);
    assert!(
        tool.exists(),
        "{} is missing: run `bash scripts/setup` (or `bash .ci/run`) to create the virtualenv",
        tool.display()
    );
    tool
}

/// Renders the sample indicators as an analyst would paste them: one per line, a third of them defanged.
fn pasted_indicators(count: u32) -> (String, Vec<IndicatorValue>) {
    let values: Vec<IndicatorValue> = samples::indicators(count).into_iter().map(|i| i.value).collect();
    let mut text = String::from("Indicators from this morning's phishing wave (defanged where noted):\n\n");
    for (index, value) in values.iter().enumerate() {
        let plain = value.to_string();
        let shown = match (index % 3, value) {
            (0, IndicatorValue::Url(_)) => plain.replacen("http", "hxxp", 1).replace('.', "[.]"),
            (0, IndicatorValue::Domain(_) | IndicatorValue::Email(_)) => plain.replace('.', "[.]"),
            (0, IndicatorValue::Ipv4(_)) => plain.replacen('.', "[.]", 1),
            _ => plain,
        };
        text.push_str(&shown);
        text.push('\n');
    }
    text.push_str("\nPlease block at the perimeter and report sightings.\n");
    (text, values)
}

#[test]
fn init_refuses_to_overwrite_and_doctor_finds_problems() {
    let node = Node::init("cert-ops");
    let again = Command::new(env!("CARGO_BIN_EXE_dims"))
        .args(["init", "--dir"])
        .arg(&node.root)
        .args(["--org", "x"])
        .output()
        .expect("run");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    assert!(node.ok(&["doctor"]).contains("no problems found"));
    node.ok(&["keys", "show"]);

    let out = node
        .command()
        .env("DIMS_NODE__ORG", "Not A Slug")
        .arg("doctor")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("node.org") && text.contains("DIMS_NODE__ORG"),
        "doctor must name the key and the fix: {text}"
    );

    let out = node
        .command()
        .env("DIMS_STORE__NO_SUCH_KEY", "1")
        .arg("doctor")
        .output()
        .expect("run");
    assert!(!out.status.success(), "unknown keys are errors");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no_such_key"));

    std::fs::set_permissions(
        node.root.join("node.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod");
    let out = node.run(&["doctor"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("chmod 600"));
}

/// `dims ARGS` for `node` under umask 000, the loosest an operator's shell can have: what the node means to keep to
/// its owner must not depend on the umask.
fn run_with_open_umask(node: &Node, args: &[&str], input: &str) -> Output {
    let command = node.command();
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg("umask 000 && exec \"$@\"")
        .arg("sh")
        .arg(command.get_program())
        .args(command.get_args())
        .args(args);
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => shell.env(key, value),
            None => shell.env_remove(key),
        };
    }
    output_with_input(shell, input.as_bytes())
}

/// The lines of `dims doctor` that report problems.
fn doctor_problems(node: &Node) -> Vec<String> {
    let out = node.run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let problems: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("PROBLEM  "))
        .map(str::to_owned)
        .collect();
    assert_eq!(out.status.success(), problems.is_empty(), "{text}");
    problems
}

/// `dims doctor` checks every key file `dims run` checks, and says what `dims run` would say: the node key, the
/// node's OpenPGP key and the bridge key, each refused when others may read it.
#[test]
fn doctor_checks_every_key_file_that_run_checks() {
    let node = Node::init("cert-ops");
    let config = std::fs::read_to_string(node.config()).expect("config");
    let config = config
        .replace(
            "# listen = [\"/ip4/0.0.0.0/tcp/4001\"]",
            "listen = [\"/ip4/127.0.0.1/tcp/0\"]",
        )
        .replace("# [[bridge]]\n# from = \"us-sltt\"  ", "[[bridge]]\nfrom = \"us-sltt\"")
        .replace("# to = \"us-sltt\"  ", "to = \"us-sltt\"")
        .replace("# tlp = \"clear\"  ", "tlp = \"clear\"")
        .replace("# redact = [", "redact = [");
    std::fs::write(node.config(), config).expect("config");
    let pgp = node.root.join("node.pgp");
    dims_node::keys::load_or_create_pgp(&pgp, "test-node", samples::SAMPLE_TIME).expect("node.pgp");
    let bridge = node.root.join("bridge.key");
    std::fs::write(&bridge, format!("{}\n", "ab".repeat(64))).expect("bridge.key");
    std::fs::set_permissions(&bridge, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    assert_eq!(doctor_problems(&node), Vec::<String>::new());

    for (file, what) in [(&pgp, "node OpenPGP key"), (&bridge, "bridge key")] {
        std::fs::set_permissions(file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
        let sentence = format!(
            "the {what} {} is readable by others (mode 644): run `chmod 600 {}`",
            file.display(),
            file.display()
        );
        assert_eq!(doctor_problems(&node), [format!("{what}: {sentence}")]);
        let run = node.run(&["run"]);
        assert!(!run.status.success(), "dims run refuses the {what}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains(&sentence), "dims run says what doctor says:\n{stderr}");
        std::fs::set_permissions(file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    }
}

/// The data folder is made 0700 and the store, its backups and exports of AMBER and above 0600, whatever the
/// umask; `dims doctor` names a folder or store that others can read, with the command that fixes it.
#[test]
fn data_folder_store_backups_and_amber_exports_are_owner_only() {
    let node = Node::init("cert-ops");
    let data = node.root.join("data");
    assert_eq!(mode(&data), 0o700, "dims init makes the data folder owner-only");
    std::fs::remove_dir(&data).expect("remove data");
    let out = run_with_open_umask(
        &node,
        &["publish", "--tlp", "amber", "--audience", "org", "-"],
        "evil.example.com\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let store = data.join("dims.redb");
    assert_eq!(mode(&data), 0o700, "the node makes its data folder owner-only");
    assert_eq!(mode(&store), 0o600, "the store is owner-only");

    let backup = node.root.join("backup.redb");
    let amber = node.root.join("amber.json");
    let green = node.root.join("green.json");
    for (args, file, expected) in [
        (
            vec!["backup", "create", backup.to_str().expect("utf-8")],
            &backup,
            0o600,
        ),
        (
            vec!["export", "stix", "-o", amber.to_str().expect("utf-8")],
            &amber,
            0o600,
        ),
        (
            vec![
                "export",
                "stix",
                "--tlp-max",
                "green",
                "-o",
                green.to_str().expect("utf-8"),
            ],
            &green,
            0o666,
        ),
    ] {
        let out = run_with_open_umask(&node, &args, "");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(mode(file), expected, "{args:?}");
    }
    std::fs::write(&amber, "old").expect("write");
    std::fs::set_permissions(&amber, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    node.ok(&["export", "stix", "-o", amber.to_str().expect("utf-8")]);
    assert_eq!(
        mode(&amber),
        0o600,
        "an AMBER export over an existing file makes it owner-only"
    );

    assert_eq!(doctor_problems(&node), Vec::<String>::new());
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&store, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    assert_eq!(
        doctor_problems(&node),
        [
            format!(
                "data folder: {} is open to others (mode 755): run `chmod 700 {}`",
                data.display(),
                data.display()
            ),
            format!(
                "store: {} is readable by others (mode 644): run `chmod 600 {}`",
                store.display(),
                store.display()
            ),
        ]
    );
}

#[test]
fn publish_list_show_export_retract_end_to_end() {
    let node = Node::init("cert-ops");
    node.join_alone("us-sltt");
    let (text, values) = pasted_indicators(1000);

    let preview = node.run_with_input(
        &[
            "publish",
            "--tlp",
            "green",
            "--audience",
            "federation",
            "--dry-run",
            "-",
        ],
        &text,
    );
    assert!(preview.status.success(), "{}", String::from_utf8_lossy(&preview.stderr));
    assert!(String::from_utf8_lossy(&preview.stdout).contains("nothing was stored"));
    assert!(
        node.ok(&["bundles", "list", "--json"]).trim().is_empty(),
        "a dry run stores nothing"
    );

    let out = node.run_with_input(&["publish", "--tlp", "green", "--audience", "federation", "-"], &text);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let published = String::from_utf8_lossy(&out.stdout).to_string();
    let id: BundleId = published
        .split_whitespace()
        .nth(1)
        .expect("published ID")
        .parse()
        .expect("bundle id");
    assert!(published.contains("1000 indicators"), "{published}");

    let list = node.ok(&["bundles", "list", "--json"]);
    let rows: Vec<serde_json::Value> = list
        .lines()
        .map(|l| serde_json::from_str(l).expect("json row"))
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], id.to_string());
    assert_eq!(rows[0]["items"], 1000);
    assert_eq!(rows[0]["tlp"], "green");

    let show = node.ok(&["bundles", "show", &id.to_string()]);
    assert_eq!(show.lines().next(), Some("TLP:GREEN"), "the marking comes first");
    for value in &values {
        assert!(show.contains(&value.to_string()), "{value} missing from show");
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let first = dir.path().join("first.json");
    node.ok(&["export", "stix", "-o", first.to_str().expect("utf-8 path")]);
    let validator = venv_tool("stix2_validator");
    let checked = Command::new(&validator)
        .args(["--version", "2.1", "--silent"])
        .arg(&first)
        .status()
        .expect("run validator");
    assert!(checked.success(), "stix2-validator rejected the export");
    let exported: serde_json::Value = serde_json::from_slice(&std::fs::read(&first).expect("read")).expect("json");
    let indicators = exported["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["type"] == "indicator")
        .count();
    assert_eq!(indicators, 1000);

    let out = node.run(&["retract", &id.to_string(), "--reason", "false positive: shared hosting"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let active = node.ok(&["bundles", "list", "--json"]);
    assert!(
        !active.contains(&id.to_string()) || active.contains("retracted"),
        "a retracted bundle is hidden"
    );

    let second = dir.path().join("second.json");
    node.ok(&["export", "stix", "-o", second.to_str().expect("utf-8 path")]);
    let checked = Command::new(&validator)
        .args(["--version", "2.1", "--silent"])
        .arg(&second)
        .status()
        .expect("run validator");
    assert!(
        checked.success(),
        "stix2-validator rejected the export after the retraction"
    );
    let exported: serde_json::Value = serde_json::from_slice(&std::fs::read(&second).expect("read")).expect("json");
    let objects = exported["objects"].as_array().expect("objects");
    let revoked = objects
        .iter()
        .filter(|o| o["type"] == "indicator" && o["revoked"] == true)
        .count();
    let live = objects
        .iter()
        .filter(|o| o["type"] == "indicator" && o["revoked"] != true)
        .count();
    assert_eq!(
        (revoked, live),
        (1000, 0),
        "every indicator of the retracted bundle is revoked"
    );
}

#[test]
fn bad_input_names_the_problem_and_stores_nothing() {
    let node = Node::init("cert-ops");
    let out = node.run_with_input(
        &["publish", "--tlp", "amber", "-"],
        "evil.example.com\n256.1.1.1\n10.0.0.1/8\n",
    );
    assert!(!out.status.success());
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(errors.contains("line 2") && errors.contains("256.1.1.1"), "{errors}");
    assert!(
        errors.contains("10.0.0.0/8"),
        "the CIDR error suggests the network: {errors}"
    );
    assert!(
        node.ok(&["bundles", "list", "--json"]).trim().is_empty(),
        "nothing is stored"
    );

    let csv = "value,type,confidence\nevil.example.com,domain,80\n1.2.3.4,ipv4,900\n";
    let out = node.run_with_input(&["publish", "--format", "csv", "-"], csv);
    assert!(!out.status.success());
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(errors.contains("line 3") && errors.contains("confidence"), "{errors}");

    let out = node.run_with_input(
        &["publish", "--tlp", "amber", "--audience", "federation", "-"],
        "evil.example.com\n",
    );
    assert!(!out.status.success(), "AMBER to a federation is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("audience"));
    assert!(node.ok(&["bundles", "list", "--json"]).trim().is_empty());
}

/// `dims ingest` judges each line alone: a line that is not UTF-8, or longer than any envelope can be (read no
/// further than that limit), is rejected by its number, and the lines after it are still ingested.
#[test]
fn ingest_rejects_bad_lines_by_number_and_goes_on() {
    let node = Node::init("cert-ops");
    let key = node.key();
    let bundles: Vec<_> = (0..2)
        .map(|i| {
            key.sign(samples::indicator_bundle(&key, 3, samples::SAMPLE_TIME + i))
                .expect("valid")
        })
        .collect();
    let mut input = Vec::new();
    input.extend_from_slice(format!("{}\n", hex::encode(bundles[0].envelope())).as_bytes());
    input.extend_from_slice(b"0a1b\xff\xfe2c\n");
    input.extend_from_slice(&vec![b'a'; 40 << 20]);
    input.extend_from_slice(format!("\n{}\r\n", hex::encode(bundles[1].envelope())).as_bytes());
    let out = node.run_with_input(&["ingest"], &input);
    assert!(!out.status.success(), "a rejected line makes the exit status 1");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("stored {}", bundles[0].id()),
            "rejected line 2: not UTF-8 (an invalid byte after 4 bytes)".to_owned(),
            "rejected line 3: longer than 2097216 bytes, more than any hex envelope; skipped to its end".to_owned(),
            format!("stored {}", bundles[1].id()),
        ],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tiny deterministic generator (xorshift64*), so the kill points replay from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn spawn_ingest(node: &Node) -> Child {
    node.command()
        .args(["ingest", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("DIMS_CRASH_DEBUG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("spawn dims ingest")
}

/// DESIGN §14: kill -9 at random points during ingest, restart, and check that every acknowledged bundle is there
/// once, verifies, and that the indexes agree. Every round writes bundles never written before (made on the fly
/// from their index, so the run has no pool to use up) after replaying a few acknowledged ones. Set DIMS_CRASH_SEED
/// to replay a run and DIMS_CRASH_ROUNDS to change the number of kills (at least 50, the default; the release check
/// runs 1,000).
#[test]
fn acknowledged_bundles_survive_sigkill() {
    let seed = std::env::var("DIMS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_d1a5_u64);
    let rounds: usize = std::env::var("DIMS_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50)
        .max(50);
    println!("crash test seed {seed} (DIMS_CRASH_SEED={seed} replays it), {rounds} kills");
    let started_ms = dims_node::clock::now_ms();
    let mut rng = Rng(seed | 1);
    let node = Node::init("cert-ops");
    let key = node.key();
    // Bundle `i` is the same in every run with this seed: 1 to 7 indicators, created at a time that names it.
    let salt = seed % 7;
    let bundle = |i: u64| {
        key.sign(samples::indicator_bundle(
            &key,
            1 + ((i + salt) % 7) as u32,
            samples::SAMPLE_TIME + i,
        ))
        .expect("valid")
    };
    let dump = std::env::var_os("DIMS_CRASH_DUMP").map(|dump| {
        std::fs::copy(
            node.root.join("node.key"),
            std::path::Path::new(&dump).with_extension("key"),
        )
        .expect("dump key");
        std::fs::File::create(&dump).expect("dump lines")
    });
    // The ids of the bundles written so far, by index.
    let mut written: Vec<BundleId> = Vec::new();
    let acknowledged: Arc<Mutex<std::collections::BTreeSet<BundleId>>> = Arc::default();
    let mut kills = 0;
    let mut lines_sent = 0usize;
    while kills < rounds {
        let mut child = spawn_ingest(&node);
        let mut stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let acks = acknowledged.clone();
        // Acknowledgements (stored or duplicate) in this round.
        let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = answered.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("stored ").or_else(|| line.strip_prefix("duplicate ")) {
                    acks.lock().expect("lock").insert(id.parse().expect("acknowledged id"));
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        // Resend a few acknowledged bundles (replays must be stored once and answered as duplicates), then bundles
        // never written before.
        let replays: Vec<usize> = {
            let acknowledged = acknowledged.lock().expect("lock");
            (0..rng.below(20))
                .filter_map(|_| {
                    let index = rng.below(written.len().max(1) as u64) as usize;
                    written.get(index).filter(|id| acknowledged.contains(id)).map(|_| index)
                })
                .collect()
        };
        let first_new = written.len();
        let end = first_new + 50 + rng.below(400) as usize;
        let mut round_lines = Vec::with_capacity(replays.len() + end - first_new);
        for index in replays.into_iter().chain(first_new..end) {
            let bundle = bundle(index as u64);
            if index == written.len() {
                written.push(bundle.id());
            }
            round_lines.push(hex::encode(bundle.envelope()));
        }
        if let Some(mut dump) = dump.as_ref() {
            for line in &round_lines[round_lines.len() - (end - first_new)..] {
                writeln!(dump, "{line}").expect("dump line");
            }
        }
        lines_sent += round_lines.len();
        let writer = std::thread::spawn(move || {
            for line in round_lines {
                if writeln!(stdin, "{line}").is_err() {
                    break;
                }
            }
            stdin
        });
        // Kill at a random point, but only once this round has acknowledged something: on a loaded machine a
        // fixed delay could kill every round before the node finished starting, and the test would measure the
        // machine instead of the store.
        for _ in 0..200 {
            if answered.load(std::sync::atomic::Ordering::Relaxed) > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        child.kill().expect("SIGKILL the node");
        child.wait().expect("reap");
        kills += 1;
        if std::env::var_os("DIMS_CRASH_DEBUG").is_some() {
            eprintln!(
                "round {kills}: sent {first_new}..{end}, {} acknowledged",
                acknowledged.lock().expect("lock").len()
            );
        }
        drop(writer.join());
        reader.join().expect("reader");
    }

    let acknowledged = acknowledged.lock().expect("lock").clone();
    println!(
        "{kills} kills in {:.0} s: {} bundles written ({lines_sent} lines with the replays), {} acknowledged",
        (dims_node::clock::now_ms() - started_ms) as f64 / 1000.0,
        written.len(),
        acknowledged.len()
    );
    assert!(
        acknowledged.len() > 100,
        "the kills must leave time to acknowledge bundles"
    );

    let store_path = node.root.join("data/dims.redb");
    let file =
        dims_node::store::Store::check_file(&store_path).expect("redb's integrity check passes after the crashes");
    println!("redb file check after the last kill: {file:?}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = dims_node::store::Store::open(
            &store_path,
            dims_node::store::StoreConfig::default(),
            Default::default(),
        )
        .expect("the store reopens");
        let report = store.check().expect("the check runs");
        println!("integrity: {report}");
        assert!(report.is_ok(), "the bundle table and every index agree: {report}");
        for id in &acknowledged {
            let stored = store
                .get(id)
                .expect("read")
                .unwrap_or_else(|| panic!("acknowledged bundle {id} is missing"));
            assert_eq!(&stored.bundle.id(), id);
            dims_protocol::decode_and_verify(stored.bundle.envelope()).expect("a stored bundle verifies");
        }
        let count = store.count().expect("count");
        println!(
            "all {} acknowledged bundles present and verifying; {count} stored of {} written",
            acknowledged.len(),
            written.len()
        );
        assert!(
            count >= acknowledged.len() as u64,
            "every acknowledged bundle is counted"
        );
        assert!(
            count <= written.len() as u64,
            "no bundle is stored twice: {count} stored, {} written",
            written.len()
        );
        drop(store);
    });
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// The value of the sample `name` (with its labels) in a Prometheus text exposition.
fn metric_value(metrics: &str, name: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `dims run` serves health and metrics, counts what it stores and rejects, and stops cleanly on SIGTERM.
#[test]
fn run_serves_health_and_metrics_and_stops_on_sigterm() {
    let node = Node::init("cert-ops");
    node.join_alone("us-sltt");
    let out = node.run_with_input(
        &["publish", "--tlp", "clear", "--audience", "federation", "-"],
        "evil.example.com\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let child = node
        .command()
        .args(["--log-format", "json", "run"])
        .env("DIMS_HTTP__ENABLED", "true")
        .env("DIMS_HTTP__LISTEN", addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dims run");
    let mut ready = None;
    for _ in 0..100 {
        if let Some(answer) = http_get(addr, "/readyz") {
            ready = Some(answer);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ready.map(|(status, _)| status), Some(200), "the node becomes ready");
    assert_eq!(http_get(addr, "/livez").map(|(status, _)| status), Some(200));
    let (status, metrics) = http_get(addr, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    for name in [
        "dims_store_commit_batch_size",
        "dims_store_commit_seconds",
        "dims_store_bundles",
        "dims_bundles_stored_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics:\n{metrics}");
    }
    assert!(
        metrics.contains("dims_store_bundles 1"),
        "the held bundle is counted:\n{metrics}"
    );
    // Every part runs as a named worker with a status, on the operations listener and in `dims doctor`.
    let (status, workers) = http_get(addr, "/workers").expect("workers");
    assert_eq!(status, 200);
    let workers: serde_json::Value = serde_json::from_str(&workers).expect("workers JSON");
    let names: Vec<&str> = workers["workers"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|w| w["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["purge", "operations", "control"], "{workers:#}");
    for worker in workers["workers"].as_array().expect("a list") {
        assert!(
            ["running", "idle"].contains(&worker["state"].as_str().expect("a state")),
            "{workers:#}"
        );
    }
    let doctor = node
        .command()
        .arg("doctor")
        .env("DIMS_HTTP__ENABLED", "true")
        .env("DIMS_HTTP__LISTEN", addr.to_string())
        .output()
        .expect("dims doctor");
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success(), "doctor of a healthy running node: {text}");
    assert!(
        text.contains("ok       worker operations: running"),
        "doctor lists the running node's workers:\n{text}"
    );

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "SIGTERM stops the node with exit 0: {:?}",
        output.status
    );
    let logs = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(!lines.is_empty(), "--log-format json writes JSON lines:\n{logs}");
    assert!(logs.contains("stopped"), "the node logs its clean stop:\n{logs}");
}

#[test]
fn backup_and_restore_round_trip() {
    let node = Node::init("cert-ops");
    let out = node.run_with_input(
        &["publish", "--tlp", "green", "--audience", "community", "-"],
        "evil.example.com\n198.51.100.7\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = node.ok(&["bundles", "list", "--json"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let backup = dir.path().join("backup.redb");
    node.ok(&["backup", "create", backup.to_str().expect("utf-8")]);
    let again = node.run(&["backup", "create", backup.to_str().expect("utf-8")]);
    assert!(!again.status.success(), "a backup never overwrites a file");

    let out = node.run(&["backup", "restore", backup.to_str().expect("utf-8")]);
    assert!(
        !out.status.success(),
        "restore refuses to replace a store without --force"
    );
    node.ok(&["backup", "restore", "--force", backup.to_str().expect("utf-8")]);
    assert_eq!(node.ok(&["bundles", "list", "--json"]), before);
}

/// A node shares into a federation only once it has pinned that federation's roster: a publication to a federation
/// it has not joined is refused, naming the federations it has pinned, and nothing is stored.
#[test]
fn publishing_to_a_federation_needs_its_roster_pinned() {
    let node = Node::init("cert-ops");
    let publish = |audience: &str| {
        node.run_with_input(
            &["publish", "--tlp", "green", "--audience", audience, "-"],
            "evil.example.com\n",
        )
    };
    let refused = |audience: &str, federation: &str, pinned: &str| {
        let out = publish(audience);
        assert!(!out.status.success(), "{audience} is refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("this node has not joined federation {federation}"))
                && stderr.contains(&format!("(pinned: {pinned})"))
                && stderr.contains("dims federation join"),
            "{stderr}"
        );
    };
    refused("federation", "us-sltt", "none");
    refused("federation:elsewhere", "elsewhere", "none");
    assert!(
        node.ok(&["bundles", "list", "--json"]).trim().is_empty(),
        "nothing is stored"
    );

    node.join_alone("us-sltt");
    refused("federation:elsewhere", "elsewhere", "us-sltt");
    assert!(
        node.ok(&["bundles", "list", "--json"]).trim().is_empty(),
        "nothing is stored"
    );
    let out = publish("federation");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = publish("community");
    assert!(
        out.status.success(),
        "other audiences need no roster: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A GREEN bundle for `audience` in federation `federation`, signed by `origin`, as one hex line for `dims ingest`.
fn green_bundle_line(origin: &NodeKey, federation: &str, count: u32) -> String {
    let mut body = samples::indicator_bundle(origin, count, dims_node::clock::now_ms());
    body.audience = dims_protocol::Audience::Federation(dims_protocol::FederationId::new(federation).expect("slug"));
    hex::encode(origin.sign(body).expect("valid bundle").envelope()) + "\n"
}

/// The federation life cycle through the command line: admins make keys and a 2-of-3 roster, an operator joins it,
/// and from then on the node ingests GREEN bundles from members within their ceiling, and nothing from observers
/// above theirs, strangers or other federations. A successor signed by the old admins is accepted; one signed only
/// by new admins is refused with a message that says why.
#[test]
fn rosters_decide_what_a_node_ingests() {
    let node = Node::init("cert-ops");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8 path").to_owned();

    // Admin keys: ids on standard output, files 0600, never overwritten.
    let admins: Vec<String> = (1..=3)
        .map(|i| {
            node.ok(&["roster", "keygen", "--out", &path(&format!("admin{i}.key"))])
                .trim()
                .to_owned()
        })
        .collect();
    for admin in &admins {
        assert!(
            admin.parse::<dims_protocol::AdminId>().is_ok(),
            "{admin} is an admin id"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path("admin1.key"))
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        !node
            .run(&["roster", "keygen", "--out", &path("admin1.key")])
            .status
            .success()
    );

    // A 2-of-3 roster: this node and a member at GREEN, an observer at CLEAR.
    let roster = path("us-sltt.roster");
    node.ok(&[
        "roster",
        "init",
        "--federation",
        "us-sltt",
        "--threshold",
        "2",
        "--admin",
        &admins[0],
        "--admin",
        &admins[1],
        "--admin",
        &admins[2],
        "--out",
        &roster,
    ]);
    let member = samples::node_key(11);
    let observer = samples::node_key(12);
    let stranger = samples::node_key(13);
    let me = node.key().node_id().to_string();
    let add = |node_id: &str, name: &str, role: &str, ceiling: &str| {
        node.ok(&[
            "roster",
            "add",
            &roster,
            "--node",
            node_id,
            "--name",
            name,
            "--community",
            "Test community",
            "--address",
            "/ip4/127.0.0.1/tcp/4001",
            "--role",
            role,
            "--ceiling",
            ceiling,
        ])
    };
    add(&me, "This node", "regional", "green");
    node.ok(&["roster", "sign", &roster, "--admin-key", &path("admin1.key")]);
    let out = add(&member.node_id().to_string(), "Member", "member", "green");
    assert!(
        out.contains("cleared 1 signature"),
        "an edit says it cleared the signatures: {out}"
    );
    add(&observer.node_id().to_string(), "Observer", "observer", "clear");
    let out = node.run(&["roster", "sign", &roster, "--admin-key", &path("nope.key")]);
    assert!(!out.status.success());
    node.ok(&["roster", "sign", &roster, "--admin-key", &path("admin1.key")]);
    let show = node.ok(&["roster", "show", &roster]);
    assert!(show.contains("does not verify"), "one signature of two: {show}");
    node.ok(&["roster", "sign", &roster, "--admin-key", &path("admin3.key")]);
    let show = node.ok(&["roster", "show", &roster]);
    assert!(show.contains("federation  us-sltt"), "{show}");
    assert_eq!(show.matches("✓ signed").count(), 2, "{show}");
    assert!(show.contains("genesis     verifies"), "{show}");
    assert!(show.contains("Observer") && show.contains("TLP:CLEAR"), "{show}");

    // Before joining, only this node's own bundles come in.
    let member_line = green_bundle_line(&member, "us-sltt", 3);
    let out = node.run_with_input(&["ingest"], &member_line);
    assert!(!out.status.success(), "no roster pinned yet");

    let joined = node.ok(&["federation", "join", &roster]);
    assert!(
        joined.contains("joined federation us-sltt: roster version 1 pinned"),
        "{joined}"
    );
    assert!(joined.contains("ceiling TLP:GREEN"), "{joined}");
    assert!(node.ok(&["federation", "show"]).contains("federation  us-sltt"));

    let ingest = |line: &str| {
        let out = node.run_with_input(&["ingest"], line);
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (ok, text) = ingest(&member_line);
    assert!(
        ok && text.starts_with("stored "),
        "a member's GREEN bundle is ingested: {text}"
    );
    let (ok, text) = ingest(&green_bundle_line(&observer, "us-sltt", 2));
    assert!(!ok && text.contains("above the origin's own roster ceiling"), "{text}");
    let (ok, text) = ingest(&green_bundle_line(&stranger, "us-sltt", 2));
    assert!(!ok && text.contains("not on a roster"), "{text}");
    let (ok, text) = ingest(&green_bundle_line(&member, "eu-csirts", 2));
    assert!(!ok && text.contains("not on the bundle's federation roster"), "{text}");

    // A successor from a new set of admins only: refused, with the reason.
    let new_admins: Vec<String> = (4..=6)
        .map(|i| {
            node.ok(&["roster", "keygen", "--out", &path(&format!("admin{i}.key"))])
                .trim()
                .to_owned()
        })
        .collect();
    let takeover = path("takeover.roster");
    node.ok(&[
        "roster",
        "init",
        "--federation",
        "us-sltt",
        "--threshold",
        "2",
        "--admin",
        &new_admins.join(","),
        "--out",
        &takeover,
    ]);
    node.ok(&["roster", "bump", &takeover]);
    node.ok(&["roster", "sign", &takeover, "--admin-key", &path("admin4.key")]);
    node.ok(&["roster", "sign", &takeover, "--admin-key", &path("admin5.key")]);
    let out = node.run(&["federation", "update", &takeover]);
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        error.contains("signed by 0 of the admins of the pinned version 1, but 2 are needed"),
        "the refusal says why: {error}"
    );

    // A successor by the old admins that drops the member: accepted, and the member's bundles stop.
    let next = path("next.roster");
    std::fs::copy(&roster, &next).expect("copy roster");
    node.ok(&["roster", "bump", &next]);
    node.ok(&["roster", "remove", &next, "--node", &member.node_id().to_string()]);
    node.ok(&["roster", "sign", &next, "--admin-key", &path("admin2.key")]);
    node.ok(&["roster", "sign", &next, "--admin-key", &path("admin3.key")]);
    let updated = node.ok(&["federation", "update", &next]);
    assert!(updated.contains("roster updated from version 1 to 2"), "{updated}");
    let out = node.run(&["federation", "update", &roster]);
    assert!(!out.status.success(), "an older roster changes nothing");
    let (ok, text) = ingest(&green_bundle_line(&member, "us-sltt", 4));
    assert!(
        !ok && text.contains("not on a roster"),
        "a removed member's bundles are refused: {text}"
    );
}

/// A `dims run` process with its operations listener, stopped with SIGTERM when dropped.
struct Running {
    child: Option<Child>,
    http: std::net::SocketAddr,
}

impl Running {
    fn start(node: &Node, federation_port: u16) -> Running {
        let http: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let child = node
            .command()
            .args(["--log-format", "json", "run"])
            .env("DIMS_HTTP__ENABLED", "true")
            .env("DIMS_HTTP__LISTEN", http.to_string())
            .env(
                "DIMS_FEDERATION__LISTEN",
                format!("[\"/ip4/127.0.0.1/tcp/{federation_port}\"]"),
            )
            .env("DIMS_FEDERATION__REDIAL_INTERVAL_S", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dims run");
        Running {
            child: Some(child),
            http,
        }
    }

    /// `/federation/peers`, once the node answers.
    fn peers(&self) -> serde_json::Value {
        for _ in 0..200 {
            if let Some((200, body)) = http_get(self.http, "/federation/peers") {
                return serde_json::from_str(&body).expect("peers JSON");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the node at {} never served /federation/peers", self.http);
    }

    fn stat(&self, name: &str) -> u64 {
        self.peers()["stats"][name].as_u64().unwrap_or_default()
    }

    /// Stops the node with SIGTERM; its exit status and logs.
    fn stop(&mut self) -> (std::process::ExitStatus, String) {
        let child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let output = child.wait_with_output().expect("wait");
        (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `condition` every 100 ms for up to a minute; panics naming `what`.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..600 {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for: {what}");
}

fn bundle_ids(node: &Node) -> Vec<String> {
    node.ok(&["bundles", "list", "--json"])
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("json row");
            row["id"].as_str().expect("id").to_owned()
        })
        .collect()
}

fn published_id(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("published ID")
        .to_owned()
}

/// Three real `dims run` processes on loopback: a national node and two regions under a roster made with the
/// command line. GREEN goes down from the national node to both regions; an AMBER report goes up from R1 to the
/// national node only, and R2's store and export never see it; `dims peers check` passes on every node.
#[test]
fn three_dims_processes_federate_on_loopback() {
    let national = Node::init("national-soc");
    let north = Node::init("north-soc");
    let south = Node::init("south-soc");
    let nodes = [&national, &north, &south];
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let admin_key = dir.path().join("admin.key");
    let roster = dir.path().join("federation.roster");
    let roster = roster.to_str().expect("utf-8");
    let admin = national
        .ok(&["roster", "keygen", "--out", admin_key.to_str().expect("utf-8")])
        .trim()
        .to_owned();
    national.ok(&[
        "roster",
        "init",
        "--federation",
        "us-sltt",
        "--threshold",
        "1",
        "--admin",
        &admin,
        "--out",
        roster,
    ]);
    for ((node, port), (name, role)) in
        nodes
            .iter()
            .zip(&ports)
            .zip([("National", "national"), ("North", "regional"), ("South", "regional")])
    {
        national.ok(&[
            "roster",
            "add",
            roster,
            "--node",
            &node.key().node_id().to_string(),
            "--name",
            name,
            "--community",
            name,
            "--address",
            &format!("/ip4/127.0.0.1/tcp/{port}"),
            "--role",
            role,
            "--ceiling",
            "amber",
        ]);
    }
    national.ok(&[
        "roster",
        "sign",
        roster,
        "--admin-key",
        admin_key.to_str().expect("utf-8"),
    ]);
    for node in nodes {
        node.ok(&["federation", "join", roster]);
    }

    let green = published_id(&national.run_with_input(
        &["publish", "--tlp", "green", "--audience", "federation", "-"],
        "c2 at down.evil.example\n",
    ));
    let national_id = national.key().node_id().to_string();
    let amber = published_id(&north.run_with_input(
        &[
            "publish",
            "--tlp",
            "amber",
            "--audience",
            &format!("recipients:node:{national_id}"),
            "-",
        ],
        "incident beacon to up.evil.example\n",
    ));

    let mut running: Vec<Running> = nodes
        .iter()
        .zip(&ports)
        .map(|(node, port)| Running::start(node, *port))
        .collect();
    wait_until("every node connected to both others", || {
        running.iter().all(|r| r.stat("peers_connected") == 2)
    });
    wait_until("the AMBER report delivered to the national node", || {
        running[1].stat("delivered") >= 1
    });
    wait_until("the GREEN bundle at both regions", || {
        running[1..]
            .iter()
            .all(|r| r.stat("gossip_accepted") + r.stat("fetched") >= 1)
    });
    wait_until("a reconciliation round initiated by the northern region", || {
        running[1].stat("sync_rounds") >= 1
    });
    // The federation's metrics are exported (closed label sets only).
    let (status, metrics) = http_get(running[1].http, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    for name in [
        "dims_federation_peers_connected 2",
        "dims_federation_deliveries_total{outcome=\"acknowledged\"} 1",
        "dims_federation_sync_rounds_total",
        "dims_federation_connections_denied_total 0",
        "dims_federation_outbox_depth",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics:\n{metrics}");
    }
    // The counters move, not only their names exist: wire bytes on TCP too (below Noise), and reconciliation.
    for name in [
        "dims_federation_bytes_total{direction=\"sent\"}",
        "dims_federation_bytes_total{direction=\"received\"}",
        "dims_federation_sync_rounds_total",
        "dims_federation_sync_bytes_total",
    ] {
        let value = metric_value(&metrics, name).unwrap_or_else(|| panic!("{name} missing from /metrics:\n{metrics}"));
        assert!(value > 0, "{name} is {value} after reconciling over TCP:\n{metrics}");
    }
    // The self-test passes everywhere.
    for node in nodes {
        let out = node
            .command()
            .args(["peers", "check", "--json"])
            .env("DIMS_HTTP__ENABLED", "true")
            .env(
                "DIMS_HTTP__LISTEN",
                running[nodes.iter().position(|n| std::ptr::eq(*n, node)).expect("node")]
                    .http
                    .to_string(),
            )
            .output()
            .expect("dims peers check");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check JSON");
        assert!(out.status.success(), "peers check found problems: {report:#}");
        assert_eq!(report["members"].as_array().map(Vec::len), Some(2), "{report:#}");
    }
    // While the three run: the southern region publishes through its running node (the control socket), and the
    // federation carries it to the others, whose running nodes list it through theirs.
    let lateral = published_id(&south.run_with_input(
        &["publish", "--tlp", "green", "--audience", "federation", "-"],
        "scanner at lateral.evil.example\n",
    ));
    wait_until(
        "the GREEN bundle published through the running southern node at both others",
        || {
            [&national, &north]
                .iter()
                .all(|node| bundle_ids(node).contains(&lateral))
        },
    );
    for run in &mut running {
        let (status, logs) = run.stop();
        assert!(status.success(), "dims run exits 0 on SIGTERM: {status:?}\n{logs}");
    }

    let held: Vec<Vec<String>> = nodes.iter().map(|node| bundle_ids(node)).collect();
    assert!(
        held[1].contains(&green) && held[2].contains(&green),
        "GREEN went down: {held:?}"
    );
    assert!(held[0].contains(&amber), "AMBER went up: {held:?}");
    assert!(
        !held[2].contains(&amber),
        "the AMBER report reached the other region: {held:?}"
    );
    let export = dir.path().join("south.json");
    south.ok(&["export", "stix", "-o", export.to_str().expect("utf-8")]);
    let exported = std::fs::read_to_string(&export).expect("export");
    assert!(
        exported.contains("down.evil.example"),
        "the GREEN indicator is exported"
    );
    assert!(
        !exported.contains("up.evil.example"),
        "the AMBER indicator leaked into R2's export"
    );
    let show = south.run(&["bundles", "show", &amber]);
    assert!(!show.status.success(), "R2 shows the AMBER bundle");
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("file exists").permissions().mode() & 0o777
}

#[test]
fn keys_rotate_replaces_the_key_and_keeps_the_old_one_verify_only() {
    let node = Node::init("cert-ops");
    let old = node.key().node_id();
    let out = node.ok(&["keys", "rotate"]);
    let key_file = node.root.join("node.key");
    let old_file = node.root.join("node.key.old");
    let statement_file = node.root.join("node.key.rotation");
    for file in [&key_file, &old_file, &statement_file] {
        assert_eq!(mode(file), 0o600, "{} must be owner-only", file.display());
    }
    let new = node.key().node_id();
    assert_ne!(new, old, "the key changed");
    assert_eq!(
        dims_node::keys::load(&old_file).expect("old key").node_id(),
        old,
        "the old key is kept"
    );
    assert!(out.contains(&format!("{old} -> {new}")), "{out}");
    assert!(
        out.contains(&format!("dims roster remove ROSTER_FILE --node {old}")),
        "{out}"
    );
    assert!(node.ok(&["keys", "show"]).contains(&new.to_string()));
    let bytes = std::fs::read(&statement_file).expect("statement");
    let statement = dims_protocol::VerifiedStatement::decode_and_verify(&bytes).expect("a valid rotation");
    assert_eq!(statement.key(), old);
    // The statement is in the store already: importing it again changes nothing.
    let again = node.ok(&["keys", "import", statement_file.to_str().expect("utf-8 path")]);
    assert!(again.contains("already known"), "{again}");
    // A second rotation refuses to overwrite the first one's old key.
    let refused = node.run(&["keys", "rotate"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already exists"));
}

#[test]
fn keys_revoke_and_import_round_trip() {
    let node = Node::init("cert-ops");
    let other = Node::init("cert-two");
    let revocation = node.root.join("revocation.stmt");
    let out = node
        .command()
        .args(["keys", "revoke", "--reason", "laptop stolen"])
        .env("DIMS_KEYS_OUT", &revocation)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&revocation), 0o600);
    let revoked = node.key().node_id();
    let path = revocation.to_str().expect("utf-8 path");
    let imported = other.ok(&["keys", "import", path]);
    assert!(imported.contains(&format!("key {revoked} revoked")), "{imported}");
    assert!(other.ok(&["keys", "import", path]).contains("already known"));
    // A statement file that was altered is refused, naming the problem.
    let mut bytes = std::fs::read(&revocation).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let altered = node.root.join("altered.stmt");
    std::fs::write(&altered, bytes).expect("write");
    let refused = other.run(&["keys", "import", altered.to_str().expect("utf-8 path")]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not verify"));
    // A revocation for another key file, without a node configuration.
    let spare = node.root.join("spare.key");
    let spare_key = dims_node::keys::create(&spare).expect("spare key");
    let spare_out = node.root.join("spare.stmt");
    let out = Command::new(env!("CARGO_BIN_EXE_dims"))
        .arg("--config")
        .arg(node.root.join("no-such-dims.toml"))
        .args(["keys", "revoke", "--reason", "retired", "--key"])
        .arg(&spare)
        .arg("--out")
        .arg(&spare_out)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let statement =
        dims_protocol::VerifiedStatement::decode_and_verify(&std::fs::read(&spare_out).expect("read")).expect("valid");
    assert_eq!(statement.key(), spare_key.node_id());
}

/// The README's first command: `dims demo` brings up three nodes on loopback, shares the fixture bundles down, up and
/// laterally, and reports convergence; afterwards each node's store holds exactly what the markings allow it.
#[test]
fn the_demo_converges_and_each_node_holds_what_its_markings_allow() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_dims"))
        .args(["demo", "--until-converged", "--every", "1", "--dir"])
        .arg(dir.path())
        .output()
        .expect("dims demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dims demo fails:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("converged: every node holds exactly what the markings allow it"),
        "{text}"
    );
    // Judged again from the stores themselves, not the demo's own summary.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let held = |name: &str| -> Vec<(dims_protocol::Tlp, &'static str)> {
        runtime.block_on(async {
            let store = dims_node::store::Store::open(
                &dir.path().join(name).join("store.redb"),
                dims_node::store::StoreConfig::default(),
                Default::default(),
            )
            .expect("the demo store opens");
            let query = dims_node::store::ListQuery::new(100, u64::MAX / 2);
            let mut held: Vec<_> = store
                .list(&query)
                .expect("list")
                .into_iter()
                .map(|stored| {
                    let body = stored.bundle.body();
                    (body.tlp, body.content.kind())
                })
                .collect();
            held.sort();
            held
        })
    };
    use dims_protocol::Tlp::{Amber, Green};
    assert_eq!(
        held("national"),
        [(Green, "indicators"), (Green, "sitrep"), (Amber, "incident_report")],
        "the national node holds both GREEN bundles and the AMBER report sent up to it"
    );
    assert_eq!(
        held("region-north"),
        [(Green, "indicators"), (Green, "sitrep"), (Amber, "incident_report")],
        "the northern region holds its own report and both GREEN bundles"
    );
    assert_eq!(
        held("region-south"),
        [(Green, "indicators"), (Green, "sitrep")],
        "the southern region never sees the AMBER report addressed to the national node"
    );
}

/// Pins a roster of `federation` (one admin) listing this node (ceiling RED) and `peers` with their ceilings.
fn join_with_peers(node: &Node, federation: &str, peers: &[(NodeId, &str)]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let (admin_key, roster) = (path("admin.key"), path("federation.roster"));
    let admin = node.ok(&["roster", "keygen", "--out", &admin_key]).trim().to_owned();
    #[rustfmt::skip]
    node.ok(&["roster", "init", "--federation", federation, "--threshold", "1", "--admin", &admin, "--out", &roster]);
    let me = node.key().node_id();
    for (id, ceiling) in std::iter::once((me, "red")).chain(peers.iter().copied()) {
        let id = id.to_string();
        #[rustfmt::skip]
        node.ok(&[
            "roster", "add", &roster, "--node", &id, "--name", &id[..8], "--community", "Test", "--role", "regional",
            "--ceiling", ceiling,
        ]);
    }
    node.ok(&["roster", "sign", &roster, "--admin-key", &admin_key]);
    node.ok(&["federation", "join", &roster]);
}

/// The bundle ids a STIX export holds, from the dims extension of its objects.
fn exported_bundles(stix: &serde_json::Value) -> BTreeSet<String> {
    stix["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|object| object["extensions"][DIMS_EXTENSION_ID]["bundle"].as_str())
        .map(str::to_owned)
        .collect()
}

/// `dims export stix --for X` holds, for every kind of receiver, exactly the bundles the policy function lets that
/// receiver receive, over a store with every marking and audience; the file's first object names the receiver; the
/// OASIS validator accepts every file; and a bad `--for` fails, naming the bad part.
#[test]
fn export_for_a_receiver_holds_exactly_what_the_policy_gives_it() {
    let node = Node::init("cert-ops");
    let me = node.key().node_id();
    let (peer, partner) = (samples::node_key(21).node_id(), samples::node_key(22).node_id());
    join_with_peers(&node, "us-sltt", &[(peer, "amber"), (partner, "green")]);
    let add_member = |name: &str, org: &str| -> MemberId {
        let email = format!("{name}@example.org");
        let id = node.ok(&["members", "add", "--name", name, "--org", org, "--email", &email]);
        id.trim().parse().unwrap_or_else(|_| panic!("a member id: {id}"))
    };
    let alice = add_member("alice", "cert-ops");
    let published: Vec<(&str, String)> = [
        ("clear-federation", "clear", "federation".to_owned()),
        ("green-federation", "green", "federation".to_owned()),
        ("green-community", "green", "community".to_owned()),
        ("green-org", "green", "org".to_owned()),
        ("amber-org", "amber", "org".to_owned()),
        ("amber-peer", "amber", format!("recipients:node:{peer}")),
        ("strict-water", "amber+strict", format!("recipients:org:{me}/water")),
        ("red-alice", "red", format!("recipients:member:{me}/{alice}")),
    ]
    .into_iter()
    .map(|(label, tlp, audience)| {
        let out = node.run_with_input(
            &["publish", "--tlp", tlp, "--audience", &audience, "-"],
            format!("{label}.evil.example\n"),
        );
        (label, published_id(&out))
    })
    .collect();
    let label = |id: &str| published.iter().find(|(_, i)| i == id).map_or("?", |(l, _)| l);

    // Each receiver: the --for value (none: the default), what the note says, and the labels it must get.
    let cases: Vec<(Option<String>, String, Vec<&str>)> = vec![
        (Some("public".into()), "public".into(), vec!["clear-federation"]),
        (
            Some("federation".into()),
            "federation:us-sltt".into(),
            vec!["clear-federation", "green-federation"],
        ),
        (
            Some("community".into()),
            "community".into(),
            vec!["clear-federation", "green-federation", "green-community"],
        ),
        (
            None,
            "org:cert-ops".into(),
            vec![
                "clear-federation",
                "green-federation",
                "green-community",
                "green-org",
                "amber-org",
                "amber-peer",
                // The author's org keeps sight of what it sent to others, except RED.
                "strict-water",
            ],
        ),
        (
            Some("org:water".into()),
            "org:water".into(),
            vec![
                "clear-federation",
                "green-federation",
                "green-community",
                "strict-water",
            ],
        ),
        (
            Some(format!("node:{peer}")),
            format!("node:{peer}"),
            vec!["clear-federation", "green-federation", "amber-peer"],
        ),
        (
            Some(format!("member:{alice}")),
            format!("member:{alice}"),
            vec![
                "clear-federation",
                "green-federation",
                "green-community",
                "green-org",
                "amber-org",
                "amber-peer",
                "strict-water",
                "red-alice",
            ],
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    let mut exports = Vec::new();
    for (index, (spec, named, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("export-{index}.json"));
        let mut args = vec!["export", "stix", "-o", file.to_str().expect("utf-8")];
        if let Some(spec) = spec {
            args.extend(["--for", spec]);
        }
        node.ok(&args);
        let stix: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
        let first = &stix["objects"][0];
        assert_eq!(first["type"], "note", "{spec:?}: the first object is the note");
        assert_eq!(first["abstract"], format!("made for {named}"), "{spec:?}");
        let got: BTreeSet<&str> = exported_bundles(&stix).iter().map(|id| label(id)).collect();
        assert_eq!(got, expected.iter().copied().collect(), "{spec:?}");
        files.push(file);
        exports.push(stix);
    }
    let validator = venv_tool("stix2_validator");
    let checked = Command::new(&validator)
        .args(["--version", "2.1", "--silent"])
        .args(&files)
        .status()
        .expect("run validator");
    assert!(
        checked.success(),
        "stix2-validator rejected an export made for a receiver"
    );

    let stranger = format!("node:{}", samples::node_key(23).node_id());
    let itself = format!("node:{me}");
    let bad = [
        ("everyone", "unknown receiver \"everyone\""),
        ("node:xyz", "\"xyz\" in \"node:xyz\" is not a node key"),
        ("member:", "member needs the member's id"),
        (
            "org:Water Works",
            "\"Water Works\" in \"org:Water Works\" is not an org slug",
        ),
        ("federation:eu-csirts", "has not joined federation eu-csirts"),
        (
            "member:5f0c6f9e-8d1a-4c1e-9a51-3f1d2b7c9e10",
            "is not a member of this node",
        ),
        (stranger.as_str(), "is on no roster this node holds"),
        (itself.as_str(), "is this node, and an export is made for a receiver"),
    ];
    for (spec, expected) in bad {
        let out = node.run(&["export", "stix", "--for", spec, "-o", "-"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--for {spec} must fail");
        assert!(out.stdout.is_empty(), "--for {spec} writes nothing");
        assert!(stderr.contains(expected), "--for {spec}: {stderr}");
    }

    // The same answers from the policy function itself, asked directly about every stored bundle.
    let service = node.service();
    let now = dims_node::clock::now_ms();
    let view = service.node_view();
    let member_view = |member: MemberId, org: &str| MemberView {
        node: view.clone(),
        member,
        org: OrgId::new(org).expect("slug"),
        groups: Vec::new(),
        ceiling: Tlp::Red,
    };
    let federation = Membership {
        federation: FederationId::new("us-sltt").expect("slug"),
        ceiling: Tlp::Green,
    };
    let peer_view = service.rosters().view(peer, now);
    let (org_reader, water_reader, alice_reader) = (
        member_view(AUTOMATION, "cert-ops"),
        member_view(AUTOMATION, "water"),
        member_view(alice, "cert-ops"),
    );
    let receivers = [
        Receiver::Public,
        Receiver::Federation(&federation),
        Receiver::Community(&view),
        Receiver::Member(&org_reader),
        Receiver::Member(&water_reader),
        Receiver::Node(&peer_view),
        Receiver::Member(&alice_reader),
    ];
    let stored = service
        .list(
            &ListQuery {
                limit: 1000,
                include_hidden: true,
                ..ListQuery::default()
            },
            Receiver::Node(&view),
            now,
        )
        .expect("list");
    assert_eq!(stored.len(), published.len());
    for (receiver, stix) in receivers.into_iter().zip(&exports) {
        let entitled: BTreeSet<String> = stored
            .iter()
            .filter(|s| may_receive(&Marking::of(s.bundle.body()), receiver).is_ok())
            .map(|s| s.bundle.id().to_string())
            .collect();
        assert_eq!(exported_bundles(stix), entitled, "{receiver:?}");
    }
}
