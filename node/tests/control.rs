//! The command line while `dims run` runs: the store commands reach the running node through its control socket
//! and print what they print without a node, while the node goes on answering API reads; an online backup restores
//! to the bundles it was taken at; the socket answers only the node's own user; a socket a killed node left is
//! detected and replaced.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

#[path = "support/node.rs"]
mod node_support;
#[path = "support/running.rs"]
mod running;

use node_support::Node;
use running::Running;

/// Runs `command` with `input` on its standard input.
fn with_input(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dims");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn published_id(out: &str) -> String {
    out.lines()
        .find_map(|line| line.strip_prefix("published "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no published line: {out}"))
        .to_owned()
}

/// API reads in the background, one every 20 ms, until [`Reads::finish`]: how many were answered 200 and what
/// every other answer was.
struct Reads {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(u64, Vec<String>)>,
}

impl Reads {
    fn start(runtime: &tokio::runtime::Runtime, running: &Running, token: &str) -> Reads {
        let stop = Arc::new(AtomicBool::new(false));
        let (client, url, token, flag) = (
            running.client.clone(),
            format!("{}/api/v1/bundles?limit=5", running.api),
            token.to_owned(),
            stop.clone(),
        );
        let task = runtime.spawn(async move {
            let (mut answered, mut refused) = (0, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                match client.get(&url).bearer_auth(&token).send().await {
                    Ok(answer) if answer.status() == 200 => answered += 1,
                    Ok(answer) => refused.push(format!("{}: {:?}", answer.status(), answer.text().await)),
                    Err(e) => refused.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (answered, refused)
        });
        Reads { stop, task }
    }

    fn finish(self, runtime: &tokio::runtime::Runtime) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        runtime.block_on(self.task).expect("reads task")
    }
}

/// Publish, list, show, export, tokens, members and groups, an online backup and the audit log, each through a
/// running node that keeps answering API reads; then the same listing without the node prints the same bytes, and
/// the online backup restores to exactly the bundles it was taken at.
#[test]
fn store_commands_go_through_the_running_node_while_it_serves() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let node = Node::init("seattle-it");
    node.join_alone("us-sltt");
    let reader = node.ok(&["tokens", "create", "--label", "siem"]).trim().to_owned();
    let mut running = runtime.block_on(Running::start(&node));
    let reads = Reads::start(&runtime, &running, &reader);
    let cwd = tempfile::tempdir().expect("cwd");
    let dims = |args: &[&str]| {
        let mut command = node.command();
        command.args(args).current_dir(cwd.path()).env("USER", "oncall-ops");
        command
    };

    // The store is held by `dims run`: every command below can only have worked through the control socket.
    let first = published_id(&ok(
        with_input(
            dims(&["publish", "--tlp", "amber", "--audience", "org", "-"]),
            "c2.evil.example\n203.0.113.9\n",
        ),
        "publish through the node",
    ));
    let listed = ok(
        dims(&["bundles", "list", "--json"]).output().expect("dims"),
        "bundles list",
    );
    assert_eq!(json_lines(&listed).len(), 1, "{listed}");
    assert_eq!(json_lines(&listed)[0]["id"], first.as_str());
    let shown = ok(
        dims(&["bundles", "show", &first]).output().expect("dims"),
        "bundles show",
    );
    assert!(
        shown.starts_with("TLP:AMBER") && shown.contains("c2.evil.example"),
        "{shown}"
    );
    // A relative output path is the caller's, not the node's working folder.
    ok(
        dims(&["export", "stix", "-o", "export.json"]).output().expect("dims"),
        "export",
    );
    let exported = std::fs::read_to_string(cwd.path().join("export.json")).expect("export in the caller's folder");
    assert!(exported.contains("c2.evil.example"), "{exported}");
    assert_eq!(
        std::fs::metadata(cwd.path().join("export.json"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600,
        "an AMBER export is owner-only, as without a node"
    );

    // A token made now works on the API at once; revoked, it is refused at once.
    let made = ok(
        dims(&["tokens", "create", "--label", "misp-sync"])
            .output()
            .expect("dims"),
        "tokens create",
    );
    let token = made.trim();
    assert_eq!(runtime.block_on(running.get(Some(token), "/api/v1/bundles")).0, 200);
    let id = token.split('_').nth(1).expect("id");
    ok(dims(&["tokens", "revoke", id]).output().expect("dims"), "tokens revoke");
    assert_eq!(runtime.block_on(running.get(Some(token), "/api/v1/bundles")).0, 401);
    let tokens = json_lines(&ok(
        dims(&["tokens", "list", "--json"]).output().expect("dims"),
        "tokens list",
    ));
    assert_eq!(tokens.len(), 2, "{tokens:?}");

    // Members and a trust group.
    let alice = ok(
        dims(&[
            "members",
            "add",
            "--name",
            "Alice Analyst",
            "--email",
            "alice@seattle.example",
        ])
        .output()
        .expect("dims"),
        "members add",
    )
    .trim()
    .to_owned();
    let members = json_lines(&ok(
        dims(&["members", "list", "--json"]).output().expect("dims"),
        "members list",
    ));
    assert_eq!(members.len(), 1);
    ok(
        dims(&["groups", "create", "water", "--admin", &alice])
            .output()
            .expect("dims"),
        "groups create",
    );
    let group = ok(
        dims(&["groups", "show", "water", "--json"]).output().expect("dims"),
        "groups show",
    );
    assert!(group.contains(&alice), "{group}");

    // An online backup, then one more bundle that it must not hold.
    let backup = ok(
        dims(&["backup", "create", "online.redb"]).output().expect("dims"),
        "backup create",
    );
    assert!(backup.starts_with("backed up 1 bundles"), "{backup}");
    let at_backup = ok(dims(&["bundles", "list"]).output().expect("dims"), "bundles list");
    let second = published_id(&ok(
        with_input(
            dims(&["publish", "--tlp", "green", "--audience", "community", "-"]),
            "203.0.113.10\n",
        ),
        "publish after the backup",
    ));

    // The audit log names the operator who typed the commands, at the command line.
    let audit = json_lines(&ok(
        dims(&["audit", "list", "--json"]).output().expect("dims"),
        "audit list",
    ));
    let publishes: Vec<&Value> = audit.iter().filter(|entry| entry["action"] == "publish").collect();
    assert_eq!(publishes.len(), 2, "{audit:#?}");
    for entry in &publishes {
        assert_eq!(entry["surface"], "cli", "{entry}");
        assert_eq!(entry["actor"], "operator:oncall-ops", "{entry}");
    }
    assert!(
        audit.iter().any(|entry| entry["action"] == "read"),
        "the AMBER show and export are recorded: {audit:#?}"
    );
    ok(dims(&["audit", "verify"]).output().expect("dims"), "audit verify");

    let through_node = ok(dims(&["bundles", "list"]).output().expect("dims"), "bundles list");
    // Restoring under a running node would swap the file out from under it: refused, and nothing changes.
    let refused = dims(&["backup", "restore", "online.redb", "--force"])
        .output()
        .expect("dims");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("a node is running on"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let (answered, refused) = reads.finish(&runtime);
    assert!(refused.is_empty(), "API reads refused during the commands: {refused:?}");
    assert!(answered >= 10, "the reads ran throughout ({answered})");
    running.stop();

    // Without the node: the same command prints the same bytes.
    let direct = ok(dims(&["bundles", "list"]).output().expect("dims"), "bundles list");
    assert_eq!(through_node, direct);
    assert!(direct.contains(&second));

    // The online backup restores to the bundles it was taken at.
    ok(
        dims(&["backup", "restore", "online.redb", "--force"])
            .output()
            .expect("dims"),
        "backup restore",
    );
    let restored = ok(dims(&["bundles", "list"]).output().expect("dims"), "bundles list");
    assert_eq!(restored, at_backup);
    assert!(!restored.contains(&second));
}

fn nix_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").expect("proc").uid()
}

/// The socket file of `node`'s running node.
fn socket(node: &Node) -> std::path::PathBuf {
    node.root.join("data").join("control.sock")
}

/// Makes every folder from `path` up to the root passable by others, as a careless operator might, so that only
/// the node's own check stands between another user and the socket.
fn open_up(path: &Path) {
    for folder in path.ancestors().skip(1) {
        if folder == Path::new("/") || folder.as_os_str().is_empty() {
            break;
        }
        let mode = std::fs::metadata(folder).expect("meta").permissions().mode();
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(mode | 0o711)).expect("chmod");
    }
}

/// Another user is refused: by the owner-only data folder first; and, with the folder and socket opened up by
/// hand, by the node itself, which checks the connecting uid the kernel reports and names the rule.
#[test]
fn the_control_socket_answers_only_the_user_that_runs_the_node() {
    assert_eq!(
        nix_uid(),
        0,
        "this test runs a client as another user (uid 65534), which needs root, as CI has"
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let node = Node::init("seattle-it");
    let mut running = runtime.block_on(Running::start(&node));
    let socket = socket(&node);
    let mode = |path: &Path| std::fs::metadata(path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600, "the socket is owner-only");
    assert_eq!(mode(socket.parent().expect("data")), 0o700, "its folder is owner-only");

    // The configuration, readable by the other user; the data folder is the node's.
    let elsewhere = tempfile::tempdir().expect("dir");
    std::fs::set_permissions(elsewhere.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let config = elsewhere.path().join("dims.toml");
    let text = std::fs::read_to_string(node.config()).expect("config");
    let data = node.root.join("data");
    let text = text.replace("data_dir = \"data\"", &format!("data_dir = \"{}\"", data.display()));
    assert!(text.contains(&data.display().to_string()), "{text}");
    std::fs::write(&config, text).expect("write config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let as_nobody = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dims"));
        command
            .arg("--config")
            .arg(&config)
            .args(["bundles", "list"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .uid(65534)
            .gid(65534)
            .current_dir("/");
        command.output().expect("dims as uid 65534")
    };

    open_up(&data);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let out = as_nobody();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("not open to you") && said.contains("run dims as the user that runs the node"),
        "{said}"
    );

    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o711)).expect("chmod");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    // The command line will not talk to a socket another user serves...
    let out = as_nobody();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("is served by uid 0, not by you (uid 65534)"), "{said}");
    // ...and the node answers any other client of another user with a refusal and nothing else.
    let raw = Command::new("python3")
        .args([
            "-c",
            // The refusal is one small frame, written at once: one read takes it.
            "import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1]); \
             sys.stdout.buffer.write(s.recv(65536))",
        ])
        .arg(&socket)
        .uid(65534)
        .gid(65534)
        .output()
        .expect("python3 as uid 65534");
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    let said = String::from_utf8_lossy(&raw.stdout);
    assert!(
        said.contains("answers only the user that runs the node (uid 0), not uid 65534"),
        "{said}"
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    // The node's own user still gets through.
    ok(
        node.command().args(["bundles", "list"]).output().expect("dims"),
        "bundles list",
    );
    running.stop();
}

/// A node killed with SIGKILL leaves its socket file; nobody answers on it. The command line then works on the store
/// itself, and the next `dims run` replaces the socket and serves on it.
#[test]
fn a_socket_left_by_a_killed_node_is_detected_and_replaced() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let node = Node::init("seattle-it");
    let running = runtime.block_on(Running::start(&node));
    assert!(socket(&node).exists());
    drop(running); // SIGKILL
    std::thread::sleep(Duration::from_millis(200));
    assert!(socket(&node).exists(), "a killed node cannot remove its socket");

    let mut publish = node.command();
    publish.args(["publish", "--tlp", "green", "--audience", "community", "-"]);
    let direct = ok(
        with_input(publish, "198.51.100.20\n"),
        "publish with a stale socket and no node",
    );
    let id = published_id(&direct);

    let mut again = runtime.block_on(Running::start(&node));
    let listed = ok(
        node.command().args(["bundles", "list"]).output().expect("dims"),
        "bundles list",
    );
    assert!(listed.contains(&id), "{listed}");
    let logs = again.stop_with_logs();
    assert!(
        logs.contains("replacing a control socket no process answers on"),
        "{logs}"
    );
    assert!(!socket(&node).exists(), "a clean stop removes the socket");
}
