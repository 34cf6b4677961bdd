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
}
