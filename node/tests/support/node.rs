//! A node made with `dims init` in a temporary folder and driven through the `dims` binary: shared by the test
//! binaries that run the command line (`e2e.rs`, `identity.rs`), each adding the methods only it needs.

use std::path::PathBuf;
use std::process::{Command, Output};

/// A node in a temporary folder.
pub struct Node {
    _dir: tempfile::TempDir,
    /// The node's folder (its `dims.toml`, key and data).
    pub root: PathBuf,
}

impl Node {
    /// `dims init` of a node for `org`, with the operations listener off: tests never bind the default port, which
    /// another node (or another test) may hold.
    pub fn init(org: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("node");
        let out = Command::new(env!("CARGO_BIN_EXE_dims"))
            .args(["init", "--dir"])
            .arg(&root)
            .args(["--org", org, "--name", "test-node", "--federation", "us-sltt"])
            .output()
            .expect("run dims init");
        assert!(
            out.status.success(),
            "dims init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let node = Self { _dir: dir, root };
        let config = std::fs::read_to_string(node.config()).expect("read config");
        std::fs::write(node.config(), config.replace("enabled = true", "enabled = false")).expect("write config");
        node
    }

    /// The node's `dims.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("dims.toml")
    }

    /// `dims --config ...`, without the caller's `DIMS_*` settings (they would leak into the node under test).
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dims"));
        command.arg("--config").arg(self.config());
        for (key, _) in std::env::vars() {
            if key.starts_with("DIMS_") && key != "DIMS_VENV" {
                command.env_remove(key);
            }
        }
        command
    }

    /// Runs `dims ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run dims")
    }

    /// Runs `dims ARGS`, which must succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "dims {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Pins a roster of `federation` (one admin, threshold 1) that lists this node alone, as a national member with
    /// an AMBER ceiling: what a node needs before it shares into a federation.
    #[allow(dead_code, reason = "not every test binary shares into a federation")]
    pub fn join_alone(&self, federation: &str) {
        let dir = tempfile::tempdir().expect("temp dir");
        let admin_key = dir.path().join("admin.key");
        let admin_key = admin_key.to_str().expect("utf-8");
        let roster = dir.path().join("federation.roster");
        let roster = roster.to_str().expect("utf-8");
        let node_id = dims_node::keys::load(&self.root.join("node.key"))
            .expect("node key")
            .node_id()
            .to_string();
        let admin = self.ok(&["roster", "keygen", "--out", admin_key]).trim().to_owned();
        #[rustfmt::skip]
        self.ok(&["roster", "init", "--federation", federation, "--threshold", "1", "--admin", &admin, "--out", roster]);
        #[rustfmt::skip]
        self.ok(&[
            "roster", "add", roster, "--node", &node_id, "--name", "Test", "--community", "Test", "--role", "national",
            "--ceiling", "amber",
        ]);
        self.ok(&["roster", "sign", roster, "--admin-key", admin_key]);
        self.ok(&["federation", "join", roster]);
    }
}
