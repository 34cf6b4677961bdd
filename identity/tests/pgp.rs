//! OpenPGP interoperability with the machine's GnuPG 2.2 (DESIGN §7, §12): gpg decrypts and verifies what we seal,
//! we verify what gpg signs and open what gpg encrypts to a node, tampering is refused, and every kind of unusable
//! upload is refused with its own error.
//!
//! Each test starts its own GnuPG in a temporary GNUPGHOME (an agent per home, stopped when the test ends), so the
//! tests run in parallel and never touch the user's keyring. A missing `gpg` fails the tests with the command that
//! installs it; nothing here is skipped.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail, ensure};
use dims_identity::pgp::error::EncryptionGap;
use dims_identity::pgp::{
    Encoding, Fingerprint, KeyError, Keyring, MemberCert, NodeTsk, OpenError, SealError, UploadError, VerifyError,
    open, seal, verify_detached, verify_inline,
};
use dims_protocol::samples;

const GPG: &str = "/usr/bin/gpg";
const DAY_MS: u64 = 86_400_000;

/// The wall clock, for judging keys gpg has just made. The library takes time as an argument; tests that talk to a
/// real gpg must pass the time gpg lives in.
#[allow(clippy::disallowed_methods)]
fn wall_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("milliseconds fit in u64")
}

/// A throwaway GnuPG home with its own agent.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Self {
        assert!(
            Path::new(GPG).exists(),
            "GnuPG is missing ({GPG} does not exist): run `bash scripts/setup`, which installs it (scripts/setup.d/pgp.sh)"
        );
        let home = tempfile::Builder::new()
            .prefix("dims-gpg-")
            .tempdir()
            .expect("a temporary GNUPGHOME");
        // gpg warns about a home that others can read.
        std::fs::set_permissions(home.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("GNUPGHOME made private");
        Self { home }
    }

    /// Runs gpg with `args` after the batch options, feeding `input` on standard input.
    fn run(&self, args: &[&str], input: &[u8]) -> Result<Output> {
        let mut child = Command::new(GPG)
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting gpg")?;
        let mut stdin = child.stdin.take().context("gpg's stdin")?;
        let input = input.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let output = child.wait_with_output().context("waiting for gpg")?;
        // gpg may exit without reading all its input (for example after a parse error); that is not our failure.
        let _ = writer.join();
        Ok(output)
    }

    /// Runs gpg and returns its standard output, failing with its messages if it fails.
    fn ok(&self, args: &[&str], input: &[u8]) -> Result<Vec<u8>> {
        let output = self.run(args, input)?;
        ensure!(
            output.status.success(),
            "gpg {args:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(output.stdout)
    }

    /// Generates a key the way a member would: a primary signing key, then an encryption subkey. `algorithm` is
    /// gpg's name (`ed25519` brings a `cv25519` subkey, `rsa3072` an `rsa3072` one). Returns the fingerprint.
    fn member_key(&self, user_id: &str, algorithm: &str, expire: &str, extra: &[&str]) -> Result<String> {
        let fingerprint = self.signing_only_key(user_id, algorithm, expire, extra)?;
        let subkey = if algorithm == "ed25519" { "cv25519" } else { algorithm };
        let mut args = extra.to_vec();
        args.extend(["--quick-add-key", &fingerprint, subkey, "encr", expire]);
        self.ok(&args, b"")?;
        Ok(fingerprint)
    }

    /// Generates a key with a primary signing key only.
    fn signing_only_key(&self, user_id: &str, algorithm: &str, expire: &str, extra: &[&str]) -> Result<String> {
        let mut args = extra.to_vec();
        args.extend(["--quick-gen-key", user_id, algorithm, "sign", expire]);
        self.ok(&args, b"")?;
        self.fingerprint(user_id)
    }

    /// The primary fingerprint of the key holding `user_id`.
    fn fingerprint(&self, user_id: &str) -> Result<String> {
        let listing = self.ok(&["--with-colons", "--list-keys", user_id], b"")?;
        let listing = String::from_utf8(listing)?;
        listing
            .lines()
            .find_map(|line| line.strip_prefix("fpr:"))
            .and_then(|rest| rest.split(':').find(|field| !field.is_empty()))
            .map(str::to_owned)
            .context("no fingerprint in gpg's listing")
    }

    fn export(&self, fingerprint: &str) -> Result<Vec<u8>> {
        self.ok(&["--armor", "--export", fingerprint], b"")
    }

    fn import(&self, key: &[u8]) -> Result<()> {
        self.ok(&["--import"], key).map(drop)
    }

    /// Decrypts with gpg, returning the plaintext and gpg's status lines.
    fn decrypt(&self, ciphertext: &[u8]) -> Result<(Vec<u8>, String)> {
        let output = self.run(&["--status-fd", "2", "--decrypt"], ciphertext)?;
        let status = String::from_utf8_lossy(&output.stderr).into_owned();
        ensure!(
            output.status.success(),
            "gpg --decrypt failed ({}):\n{status}",
            output.status
        );
        Ok((output.stdout, status))
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        // Stop this home's agent; the directory itself goes with the TempDir.
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "all"])
            .status();
    }
}

/// The signed envelopes of one bundle of every content kind, RED included: what a node seals.
fn envelopes() -> Vec<Vec<u8>> {
    let key = samples::node_key(1);
    let peer = samples::node_key(2).node_id();
    samples::every_kind(&key, peer)
        .into_iter()
        .map(|body| key.sign(body).expect("sample bodies sign").envelope().to_vec())
        .collect()
}

fn node(name: &str) -> NodeTsk {
    NodeTsk::generate(name, wall_ms()).expect("node certificate").tsk
}

/// Asserts that gpg's status lines report a good signature whose primary key is `signer`.
fn assert_good_signature(status: &str, signer: &Fingerprint) {
    let valid = status
        .lines()
        .filter(|line| line.starts_with("[GNUPG:] VALIDSIG "))
        .any(|line| line.split_whitespace().last() == Some(&signer.to_string()));
    assert!(status.contains("[GNUPG:] GOODSIG "), "no good signature:\n{status}");
    assert!(valid, "no valid signature by {signer}:\n{status}");
    assert!(
        status.contains("[GNUPG:] DECRYPTION_OKAY"),
        "decryption not reported okay:\n{status}"
    );
    assert!(!status.contains("BADSIG"), "a bad signature:\n{status}");
}

fn upload(bytes: &[u8], now_ms: u64) -> UploadError {
    MemberCert::parse(bytes, now_ms).expect_err("the upload must be refused")
}

// --- gpg reads what we write ----------------------------------------------------------------------------------------

#[test]
fn gpg_decrypts_and_verifies_every_kind_of_bundle_sealed_to_an_ed25519_member() -> Result<()> {
    let gpg = Gpg::new();
    let member_fpr = gpg.member_key("Alice <alice@example.org>", "ed25519", "0", &[])?;
    let node = node("county-soc");
    gpg.import(node.cert().to_armored()?.as_bytes())?;
    let now = wall_ms();
    let member = MemberCert::parse(&gpg.export(&member_fpr)?, now)?;
    assert_eq!(member.fingerprint().to_string(), member_fpr);
    assert_eq!(member.user_ids(), ["Alice <alice@example.org>"]);
    assert_eq!(member.expires_ms(), None);

    for (index, envelope) in envelopes().iter().enumerate() {
        let encoding = if index % 2 == 0 {
            Encoding::Armored
        } else {
            Encoding::Binary
        };
        let sealed = seal(envelope, std::slice::from_ref(&member), &node, now, encoding)?;
        if encoding == Encoding::Armored {
            assert!(sealed.starts_with(b"-----BEGIN PGP MESSAGE-----"));
        }
        let (plaintext, status) = gpg.decrypt(&sealed)?;
        assert_eq!(&plaintext, envelope, "bundle {index} changed in transit");
        assert_good_signature(&status, &node.fingerprint());
    }
    Ok(())
}

#[test]
fn each_of_several_recipients_decrypts_with_gpg_including_rsa3072() -> Result<()> {
    let (alice_gpg, bob_gpg) = (Gpg::new(), Gpg::new());
    let alice_fpr = alice_gpg.member_key("Alice <alice@example.org>", "ed25519", "1y", &[])?;
    let bob_fpr = bob_gpg.member_key("Bob <bob@example.org>", "rsa3072", "0", &[])?;
    let node = node("national-cert");
    let now = wall_ms();
    let members = [
        MemberCert::parse(&alice_gpg.export(&alice_fpr)?, now)?,
        MemberCert::parse(&bob_gpg.export(&bob_fpr)?, now)?,
    ];
    let alice_expiry = members[0].expires_ms().context("alice's key expires")?;
    assert!(alice_expiry > now + 360 * DAY_MS && alice_expiry < now + 370 * DAY_MS);
    let envelope = envelopes().concat();
    let sealed = seal(&envelope, &members, &node, now, Encoding::Binary)?;
    for gpg in [&alice_gpg, &bob_gpg] {
        gpg.import(node.cert().to_armored()?.as_bytes())?;
        let (plaintext, status) = gpg.decrypt(&sealed)?;
        assert_eq!(plaintext, envelope);
        assert_good_signature(&status, &node.fingerprint());
    }
    Ok(())
}

#[test]
fn gpg_decrypts_what_is_sealed_to_a_node_certificate_so_it_advertises_seipdv1_only() -> Result<()> {
    let gpg = Gpg::new();
    let sender = node("sender");
    let generated = NodeTsk::generate("receiver", wall_ms())?;
    let receiver = generated.tsk;
    gpg.import(receiver.to_armored()?.as_bytes())?;
    gpg.import(sender.cert().to_armored()?.as_bytes())?;
    let now = wall_ms();
    let as_member = MemberCert::parse(receiver.cert().to_armored()?.as_bytes(), now)?;
    assert_eq!(as_member.user_ids(), ["receiver (dims node)"]);
    let sealed = seal(b"to a node", &[as_member], &sender, now, Encoding::Armored)?;
    let (plaintext, status) = gpg.decrypt(&sealed)?;
    assert_eq!(plaintext, b"to a node");
    assert_good_signature(&status, &sender.fingerprint());

    // The revocation certificate generate() returns is one gpg applies.
    gpg.import(generated.revocation.as_bytes())?;
    let listing = String::from_utf8(gpg.ok(&["--with-colons", "--list-keys", "receiver"], b"")?)?;
    assert!(
        listing.lines().any(|line| line.starts_with("pub:r:")),
        "not revoked:\n{listing}"
    );
    Ok(())
}

// --- we read what gpg writes ----------------------------------------------------------------------------------------

#[test]
fn we_verify_detached_inline_and_cleartext_signatures_made_by_gpg() -> Result<()> {
    let gpg = Gpg::new();
    let fpr = gpg.member_key("Carol <carol@example.org>", "ed25519", "0", &[])?;
    let data = envelopes().concat();
    let armored_detached = gpg.ok(&["--armor", "--detach-sign", "-u", &fpr], &data)?;
    let binary_detached = gpg.ok(&["--detach-sign", "-u", &fpr], &data)?;
    let inline = gpg.ok(&["--sign", "-u", &fpr], &data)?;
    let text = b"indicator 192.0.2.7 seen at 10:00\nsecond line\n";
    let cleartext = gpg.ok(&["--clearsign", "-u", &fpr], text)?;
    let now = wall_ms();
    let member = MemberCert::parse(&gpg.export(&fpr)?, now)?;
    let keyring: Keyring = [&member].into_iter().collect();

    for signature in [&armored_detached, &binary_detached] {
        assert_eq!(verify_detached(&data, signature, &keyring, now)?, member.fingerprint());
    }
    let verified = verify_inline(&inline, &keyring, now)?;
    assert_eq!((verified.plaintext, verified.signer), (data, member.fingerprint()));
    let verified = verify_inline(&cleartext, &keyring, now)?;
    assert_eq!(verified.signer, member.fingerprint());
    // The cleartext framework does not sign the final line ending.
    assert_eq!(
        verified.plaintext.strip_suffix(b"\n").unwrap_or(&verified.plaintext),
        text.strip_suffix(b"\n").unwrap_or(text)
    );
    Ok(())
}

#[test]
fn we_open_what_gpg_encrypts_to_the_node_and_signs() -> Result<()> {
    let gpg = Gpg::new();
    let fpr = gpg.member_key("Dave <dave@example.org>", "rsa3072", "0", &[])?;
    let node = node("regional-soc");
    gpg.import(node.cert().to_armored()?.as_bytes())?;
    let node_fpr = node.fingerprint().to_string();
    let data = envelopes().concat();
    let sealed = gpg.ok(
        &[
            "--trust-model",
            "always",
            "--encrypt",
            "--sign",
            "-r",
            &node_fpr,
            "-u",
            &fpr,
        ],
        &data,
    )?;
    let now = wall_ms();
    let member = MemberCert::parse(&gpg.export(&fpr)?, now)?;
    let mut keyring = Keyring::new();
    keyring.add_member(&member);
    let opened = open(&sealed, &node, &keyring, now)?;
    assert_eq!((opened.plaintext, opened.signer), (data, member.fingerprint()));
    Ok(())
}

#[test]
fn a_member_opens_a_sealed_bundle_with_the_secret_key_gpg_exports() -> Result<()> {
    let gpg = Gpg::new();
    let fpr = gpg.member_key("Erin <erin@example.org>", "ed25519", "0", &[])?;
    let node = node("county-soc");
    let now = wall_ms();
    let member = MemberCert::parse(&gpg.export(&fpr)?, now)?;
    let envelope = envelopes().concat();
    let sealed = seal(&envelope, std::slice::from_ref(&member), &node, now, Encoding::Binary)?;
    let member_secret = NodeTsk::from_bytes(&gpg.ok(&["--armor", "--export-secret-keys", &fpr], b"")?)?;
    let mut keyring = Keyring::new();
    keyring.add_node(&node.cert());
    let opened = open(&sealed, &member_secret, &keyring, now)?;
    assert_eq!((opened.plaintext, opened.signer), (envelope, node.fingerprint()));
    Ok(())
}

// --- tampering and strangers are refused ------------------------------------------------------------------------------

#[test]
fn a_tampered_sealed_bundle_is_refused_by_us_and_by_gpg() -> Result<()> {
    let gpg = Gpg::new();
    let sender = node("sender");
    let receiver = node("receiver");
    gpg.import(receiver.to_armored()?.as_bytes())?;
    gpg.import(sender.cert().to_armored()?.as_bytes())?;
    let now = wall_ms();
    let recipient = MemberCert::parse(receiver.cert().to_armored()?.as_bytes(), now)?;
    let envelope = envelopes().concat();
    let sealed = seal(&envelope, &[recipient], &sender, now, Encoding::Binary)?;
    let mut keyring = Keyring::new();
    keyring.add_node(&sender.cert());
    assert_eq!(open(&sealed, &receiver, &keyring, now)?.plaintext, envelope);

    // A flipped bit in the key packet, at the start, the middle and the end of the encrypted data.
    for position in [40, 200, sealed.len() / 2, sealed.len() - 30, sealed.len() - 1] {
        let mut tampered = sealed.clone();
        tampered[position] ^= 0x01;
        let error = open(&tampered, &receiver, &keyring, now).expect_err("a tampered bundle must be refused");
        assert!(
            matches!(
                error,
                OpenError::Undecryptable { .. } | OpenError::Malformed { .. } | OpenError::BadSignature { .. }
            ),
            "byte {position}: {error}"
        );
        let output = gpg.run(&["--decrypt"], &tampered)?;
        assert!(
            !output.status.success() || output.stdout != envelope,
            "gpg accepted byte {position} flipped"
        );
    }
    Ok(())
}

#[test]
fn a_sealed_bundle_from_an_unknown_node_or_for_someone_else_is_refused() -> Result<()> {
    let (sender, receiver, stranger) = (node("sender"), node("receiver"), node("stranger"));
    let now = wall_ms();
    let recipient = MemberCert::parse(receiver.cert().to_armored()?.as_bytes(), now)?;
    let sealed = seal(b"red", &[recipient], &sender, now, Encoding::Armored)?;

    let mut strangers_only = Keyring::new();
    strangers_only.add_node(&stranger.cert());
    let error = open(&sealed, &receiver, &strangers_only, now).expect_err("unknown signer");
    assert!(
        matches!(&error, OpenError::UnknownSigner { issuers } if !issuers.is_empty()),
        "{error}"
    );

    let mut keyring = Keyring::new();
    keyring.add_node(&sender.cert());
    let error = open(&sealed, &stranger, &keyring, now).expect_err("not addressed to the stranger");
    assert!(matches!(error, OpenError::Undecryptable { .. }), "{error}");
    assert!(error.to_string().contains("addressed to someone else"), "{error}");
    Ok(())
}

#[test]
fn a_signed_but_unencrypted_message_does_not_open() -> Result<()> {
    let gpg = Gpg::new();
    let fpr = gpg.member_key("Frank <frank@example.org>", "ed25519", "0", &[])?;
    let signed = gpg.ok(&["--sign", "-u", &fpr], b"plain")?;
    let now = wall_ms();
    let keyring: Keyring = [&MemberCert::parse(&gpg.export(&fpr)?, now)?].into_iter().collect();
    let error = open(&signed, &node("receiver"), &keyring, now).expect_err("not encrypted");
    assert!(matches!(error, OpenError::NotEncrypted), "{error}");
    Ok(())
}

#[test]
fn tampered_data_a_tampered_signature_and_an_unknown_signer_do_not_verify() -> Result<()> {
    let gpg = Gpg::new();
    let fpr = gpg.member_key("Grace <grace@example.org>", "ed25519", "0", &[])?;
    let other = gpg.member_key("Heidi <heidi@example.org>", "ed25519", "0", &[])?;
    let data = b"indicator 198.51.100.4".to_vec();
    let signature = gpg.ok(&["--detach-sign", "-u", &fpr], &data)?;
    let inline = gpg.ok(&["--sign", "-u", &fpr], &data)?;
    let now = wall_ms();
    let keyring: Keyring = [&MemberCert::parse(&gpg.export(&fpr)?, now)?].into_iter().collect();
    let others: Keyring = [&MemberCert::parse(&gpg.export(&other)?, now)?].into_iter().collect();

    let mut changed = data.clone();
    changed[10] ^= 0x01;
    let error = verify_detached(&changed, &signature, &keyring, now).expect_err("changed data");
    assert!(matches!(error, VerifyError::BadSignature { .. }), "{error}");

    // The signature's last bytes are its MPIs: flipping one keeps it parseable but wrong.
    let mut broken = signature.clone();
    let last = broken.len() - 2;
    broken[last] ^= 0x01;
    let error = verify_detached(&data, &broken, &keyring, now).expect_err("changed signature");
    assert!(
        matches!(error, VerifyError::BadSignature { .. } | VerifyError::Malformed { .. }),
        "{error}"
    );

    let error = verify_detached(&data, &signature, &others, now).expect_err("unknown signer");
    assert!(
        matches!(&error, VerifyError::UnknownSigner { issuers } if !issuers.is_empty()),
        "{error}"
    );
    let error = verify_inline(&inline, &others, now).expect_err("unknown signer");
    assert!(matches!(error, VerifyError::UnknownSigner { .. }), "{error}");

    let mut inline_changed = inline.clone();
    let middle = inline_changed.len() / 2;
    inline_changed[middle] ^= 0x01;
    assert!(verify_inline(&inline_changed, &keyring, now).is_err());

    let error = verify_detached(&data, b"not a signature", &keyring, now).expect_err("garbage");
    assert!(matches!(error, VerifyError::Malformed { .. }), "{error}");
    Ok(())
}

// --- uploads ---------------------------------------------------------------------------------------------------------

#[test]
fn garbage_empty_and_non_certificate_uploads_are_malformed() -> Result<()> {
    let now = wall_ms();
    assert!(matches!(upload(b"", now), UploadError::Empty));
    assert!(matches!(upload(b" \n", now), UploadError::Empty));
    for garbage in [
        &b"hello, this is my key"[..],
        &[0x99, 0x01, 0xff, 0x00, 0x13][..],
        &(0..=255u8).collect::<Vec<_>>()[..],
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64 at all\n-----END PGP PUBLIC KEY BLOCK-----\n",
    ] {
        let error = upload(garbage, now);
        assert!(matches!(error, UploadError::Malformed { .. }), "{error}");
        assert!(error.to_string().contains("gpg --armor --export"), "{error}");
    }
    let huge = vec![b'A'; dims_identity::pgp::MAX_CERT_BYTES + 1];
    assert!(matches!(upload(&huge, now), UploadError::TooLarge { .. }));

    // A signature, or a message, is not a certificate either.
    let gpg = Gpg::new();
    let fpr = gpg.member_key("Ivan <ivan@example.org>", "ed25519", "0", &[])?;
    let signature = gpg.ok(&["--armor", "--detach-sign", "-u", &fpr], b"data")?;
    let error = upload(&signature, wall_ms());
    assert!(matches!(error, UploadError::Malformed { .. }), "{error}");
    Ok(())
}

#[test]
fn a_secret_key_upload_is_refused_and_says_to_upload_the_public_key() -> Result<()> {
    let gpg = Gpg::new();
    let fpr = gpg.member_key("Judy <judy@example.org>", "ed25519", "0", &[])?;
    let secret = gpg.ok(&["--armor", "--export-secret-keys", &fpr], b"")?;
    let error = upload(&secret, wall_ms());
    assert!(
        matches!(&error, UploadError::SecretKey { fingerprint } if fingerprint.to_string() == fpr),
        "{error}"
    );
    assert!(
        error.to_string().contains(&format!("gpg --armor --export {fpr}")),
        "{error}"
    );
    Ok(())
}

#[test]
fn a_key_without_an_encryption_subkey_is_refused_with_the_command_that_adds_one() -> Result<()> {
    let gpg = Gpg::new();
    let fpr = gpg.signing_only_key("Karl <karl@example.org>", "ed25519", "0", &[])?;
    let error = upload(&gpg.export(&fpr)?, wall_ms());
    assert!(
        matches!(
            error,
            UploadError::NoEncryptionSubkey {
                gap: EncryptionGap::Missing,
                ..
            }
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("has no encryption subkey valid now"), "{message}");
    assert!(
        message.contains(&format!("gpg --quick-add-key {fpr} cv25519 encr")),
        "{message}"
    );
    Ok(())
}

#[test]
fn an_expired_key_and_an_expired_encryption_subkey_are_refused() -> Result<()> {
    // gpg's clock set to 2020 makes keys that have long expired by now (gpg's "1y" is 365 days).
    let gpg = Gpg::new();
    let past = ["--faked-system-time", "20200101T000000!"];
    let expired = gpg.member_key("Liam <liam@example.org>", "ed25519", "1y", &past)?;
    let error = upload(&gpg.export(&expired)?, wall_ms());
    assert!(matches!(error, UploadError::Expired { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("expired at 2020-12-31T00:00:00Z"), "{message}");
    assert!(
        message.contains(&format!("gpg --quick-set-expire {expired} 2y")),
        "{message}"
    );

    let fpr = gpg.signing_only_key("Mia <mia@example.org>", "ed25519", "0", &past)?;
    gpg.ok(
        &[&past[..], &["--quick-add-key", &fpr, "cv25519", "encr", "1y"]].concat(),
        b"",
    )?;
    let error = upload(&gpg.export(&fpr)?, wall_ms());
    assert!(
        matches!(
            error,
            UploadError::NoEncryptionSubkey {
                gap: EncryptionGap::Expired,
                ..
            }
        ),
        "{error}"
    );
    Ok(())
}

#[test]
fn a_revoked_key_a_future_key_a_weak_key_and_two_keys_are_refused() -> Result<()> {
    let gpg = Gpg::new();
    let revoked = gpg.member_key("Nina <nina@example.org>", "ed25519", "0", &[])?;
    // gpg stores a revocation certificate at generation, with its armor header disarmed by a leading colon.
    let revocation = std::fs::read_to_string(gpg.home.path().join(format!("openpgp-revocs.d/{revoked}.rev")))?;
    gpg.import(revocation.replace(":-----BEGIN", "-----BEGIN").as_bytes())?;
    let error = upload(&gpg.export(&revoked)?, wall_ms());
    assert!(matches!(error, UploadError::Revoked { .. }), "{error}");

    let future = gpg.member_key(
        "Omar <omar@example.org>",
        "ed25519",
        "0",
        &["--faked-system-time", "20400101T000000!"],
    )?;
    let error = upload(&gpg.export(&future)?, wall_ms());
    assert!(matches!(error, UploadError::NotYetValid { .. }), "{error}");

    let weak = gpg.member_key("Pat <pat@example.org>", "rsa1024", "0", &[])?;
    let error = upload(&gpg.export(&weak)?, wall_ms());
    assert!(
        matches!(&error, UploadError::WeakKey { bits: 1024, fingerprint, .. } if fingerprint.to_string() == weak),
        "{error}"
    );

    let good = gpg.member_key("Quinn <quinn@example.org>", "ed25519", "0", &[])?;
    let both = gpg.ok(&["--armor", "--export", &good, &future], b"")?;
    let error = upload(&both, wall_ms());
    assert!(matches!(error, UploadError::SeveralCerts { count: 2 }), "{error}");
    Ok(())
}

#[test]
fn a_member_cert_survives_storage_as_armor() -> Result<()> {
    let gpg = Gpg::new();
    let fpr = gpg.member_key("Rita <rita@example.org>", "ed25519", "0", &[])?;
    let now = wall_ms();
    let member = MemberCert::parse(&gpg.export(&fpr)?, now)?;
    let binary = gpg.ok(&["--export", &fpr], b"")?;
    assert_eq!(MemberCert::parse(&binary, now)?, member);
    assert_eq!(MemberCert::parse(member.to_armored()?.as_bytes(), now)?, member);
    Ok(())
}

// --- sealing rules and the node certificate ---------------------------------------------------------------------------

#[test]
fn sealing_needs_recipients_that_are_still_usable() -> Result<()> {
    let gpg = Gpg::new();
    let fpr = gpg.member_key("Sam <sam@example.org>", "ed25519", "1d", &[])?;
    let node = node("county-soc");
    let now = wall_ms();
    let member = MemberCert::parse(&gpg.export(&fpr)?, now)?;
    assert!(matches!(
        seal(b"red", &[], &node, now, Encoding::Binary),
        Err(SealError::NoRecipients)
    ));
    let later = now + 2 * DAY_MS;
    let error = seal(b"red", std::slice::from_ref(&member), &node, later, Encoding::Binary).expect_err("expired");
    match &error {
        SealError::Recipient { fingerprint, problem } => {
            assert_eq!(fingerprint, &member.fingerprint());
            assert!(matches!(**problem, UploadError::Expired { .. }), "{problem}");
        }
        other => bail!("expected an expired recipient, got {other}"),
    }
    Ok(())
}

#[test]
fn the_node_certificate_round_trips_and_only_signs_after_its_creation() -> Result<()> {
    let created = wall_ms();
    let generated = NodeTsk::generate("county-soc", created)?;
    let tsk = generated.tsk;
    let armored = tsk.to_armored()?;
    assert!(armored.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
    let again = NodeTsk::from_bytes(armored.as_bytes())?;
    assert_eq!(again.fingerprint(), tsk.fingerprint());
    assert!(!format!("{again:?}").contains("PRIVATE"));

    let public = tsk.cert().to_armored()?;
    assert!(public.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    assert!(!public.contains("PRIVATE"));
    assert_eq!(tsk.cert().created_ms(), created / 1000 * 1000);
    let error = NodeTsk::from_bytes(public.as_bytes()).expect_err("no secret");
    assert!(matches!(error, KeyError::NoSecret { .. }), "{error}");
    assert!(matches!(NodeTsk::from_bytes(b"junk"), Err(KeyError::Malformed { .. })));

    // A recipient that already existed, and a signer that did not exist yet.
    let earlier = NodeTsk::generate("earlier", created - 2 * DAY_MS)?.tsk;
    let recipient = MemberCert::parse(earlier.cert().to_armored()?.as_bytes(), created - DAY_MS)?;
    let error = seal(b"red", &[recipient], &tsk, created - DAY_MS, Encoding::Binary).expect_err("before creation");
    assert!(
        matches!(error, SealError::Signer(KeyError::NoSigningKey { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("check that the clock is right"), "{error}");

    for bad in ["", "  ", "a <b@c>", "line\nbreak", "x (y)"] {
        assert!(
            matches!(NodeTsk::generate(bad, created), Err(KeyError::BadName { .. })),
            "{bad:?}"
        );
    }
    Ok(())
}
