//! A throwaway GnuPG home driven like a member drives their own gpg: a key made by `gpg --quick-gen-key`, RED
//! decrypted and verified with `gpg --decrypt`. Shared by the test binaries that check sealed RED against the
//! machine's real GnuPG (`federation.rs`, `identity.rs`).

use tempfile::TempDir;

/// A throwaway GnuPG home: the member's own key lives here, never at any node.
pub struct Gpg {
    /// The GNUPGHOME folder.
    pub home: TempDir,
}

impl Gpg {
    /// The machine's GnuPG.
    pub const GPG: &'static str = "/usr/bin/gpg";

    /// A new, empty GnuPG home.
    pub fn new() -> Gpg {
        assert!(
            std::path::Path::new(Self::GPG).exists(),
            "GnuPG is missing ({}): run `bash scripts/setup`, which installs it (scripts/setup.d/pgp.sh)",
            Self::GPG
        );
        let home = tempfile::Builder::new()
            .prefix("dims-gpg-")
            .tempdir()
            .expect("GNUPGHOME");
        std::fs::set_permissions(home.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("private");
        Gpg { home }
    }

    /// Runs `gpg ARGS` in this home with `input` on standard input; it must succeed; its standard output.
    pub fn ok(&self, args: &[&str], input: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut child = std::process::Command::new(Self::GPG)
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("gpg starts");
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let output = child.wait_with_output().expect("gpg ends");
        let _ = writer.join();
        assert!(
            output.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// A member's key as a member would make it (ed25519 signing, cv25519 encryption); its armored public half.
    pub fn member_key(&self, user_id: &str) -> Vec<u8> {
        self.ok(&["--quick-gen-key", user_id, "ed25519", "sign", "0"], b"");
        let listing = String::from_utf8(self.ok(&["--with-colons", "--list-keys", user_id], b"")).expect("utf-8");
        let fingerprint = listing
            .lines()
            .find_map(|line| line.strip_prefix("fpr:"))
            .and_then(|rest| rest.split(':').find(|f| !f.is_empty()))
            .expect("a fingerprint")
            .to_owned();
        self.ok(&["--quick-add-key", &fingerprint, "cv25519", "encr", "0"], b"");
        self.ok(&["--armor", "--export", &fingerprint], b"")
    }
}
