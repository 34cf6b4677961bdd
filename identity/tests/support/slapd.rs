//! A throwaway OpenLDAP `slapd` for tests: its own temp folder, a free loopback port, the directory of
//! `fixtures/ldap/`, killed when dropped.
//!
//! Start-up, in the order DESIGN §15 measured: fill in `fixtures/ldap/config.ldif.in` with the temp paths and this
//! machine's module and schema folders, `slapadd -n 0` it into `slapd.d`, `slapadd -n 1` the people
//! (`directory.ldif`), start `slapd -d 0` (foreground, so that this process owns it) on `ldap://127.0.0.1:PORT/`,
//! wait until the port accepts connections, then `ldapadd` the groups (`groups.ldif`) online so that the memberof
//! overlay fills `memberOf`. With TLS, `openssl` first makes a test CA and a server certificate for 127.0.0.1.
//!
//! A missing program is an error that says to run `bash scripts/setup`: the tests fail, they never skip.

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// The rootdn, which may change anything.
pub const ADMIN_DN: &str = "cn=admin,dc=dims,dc=test";
/// The rootdn's password (plain in cn=config).
pub const ADMIN_PASSWORD: &str = "admin-password";
/// The service account dims binds as.
pub const SERVICE_DN: &str = "cn=dims,ou=services,dc=dims,dc=test";
/// The service account's password.
pub const SERVICE_PASSWORD: &str = "dims-service-password";

const SETUP_HINT: &str = "run `bash scripts/setup` to install OpenLDAP (slapd, ldap-utils) for the LDAP tests";

/// How many times start-up is tried with a fresh port, in case another process takes the port first.
const START_ATTEMPTS: usize = 5;
/// Polls of the port while slapd starts (it needs about 0.1 s); the poll interval is [`POLL`].
const READY_POLLS: usize = 500;
const POLL: Duration = Duration::from_millis(20);

/// A running slapd; killed, and its folder removed, on drop.
pub struct Slapd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    tools: Tools,
    tls: bool,
}

/// Where this machine keeps the OpenLDAP programs and files.
struct Tools {
    slapd: PathBuf,
    slapadd: PathBuf,
    ldapadd: PathBuf,
    ldapmodify: PathBuf,
    module_dir: PathBuf,
    schema_dir: PathBuf,
}

impl Slapd {
    /// A server speaking plain LDAP.
    pub fn start() -> Result<Self> {
        Self::start_with(false)
    }

    /// A server that also offers StartTLS with a certificate for 127.0.0.1 signed by a fresh test CA
    /// ([`Self::ca_file`]).
    pub fn start_with_tls() -> Result<Self> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Result<Self> {
        let tools = Tools::find()?;
        let dir = tempfile::Builder::new().prefix("dims-slapd-").tempdir()?;
        let tls_lines = if tls {
            make_certificates(dir.path())?
        } else {
            String::new()
        };
        let config_ldif = fixture("config.ldif.in")?
            .replace("@DIR@", &dir.path().display().to_string())
            .replace("@MODULE_DIR@", &tools.module_dir.display().to_string())
            .replace("@SCHEMA_DIR@", &tools.schema_dir.display().to_string())
            .replace("@TLS@\n", &tls_lines);
        fs::write(dir.path().join("config.ldif"), config_ldif)?;
        fs::create_dir(dir.path().join("slapd.d"))?;
        fs::create_dir(dir.path().join("data"))?;
        let slapd_d = dir.path().join("slapd.d");
        run(Command::new(&tools.slapadd)
            .args(["-n", "0", "-F"])
            .arg(&slapd_d)
            .arg("-l")
            .arg(dir.path().join("config.ldif")))
        .context("loading cn=config with slapadd -n 0")?;
        run(Command::new(&tools.slapadd)
            .args(["-n", "1", "-F"])
            .arg(&slapd_d)
            .arg("-l")
            .arg(fixture_path("directory.ldif")))
        .context("loading fixtures/ldap/directory.ldif with slapadd -n 1")?;
        let password_file = dir.path().join("service.password");
        fs::write(&password_file, format!("{SERVICE_PASSWORD}\n"))?;
        fs::set_permissions(&password_file, fs::Permissions::from_mode(0o600))?;

        let mut last_error = anyhow!("slapd did not start");
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            match spawn(&tools.slapd, dir.path(), port) {
                Ok(child) => {
                    let server = Slapd {
                        dir,
                        child: Some(child),
                        port,
                        tools,
                        tls,
                    };
                    server.ldap_tool(&server.tools.ldapadd, &fixture("groups.ldif")?)?;
                    return Ok(server);
                }
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    /// `ldap://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        url(self.port)
    }

    /// A file (mode 0600) holding the service account's password.
    pub fn service_password_file(&self) -> PathBuf {
        self.dir.path().join("service.password")
    }

    /// The PEM file of the test CA that signed the server's certificate (TLS servers only).
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.path().join("ca.pem"))
    }

    /// A PEM file of another CA, which did not sign the server's certificate (TLS servers only).
    pub fn other_ca_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.path().join("other-ca.pem"))
    }

    /// Applies an LDIF change record online, as the rootdn (`ldapmodify`), so that overlays see it.
    pub fn modify(&self, ldif: &str) -> Result<()> {
        self.ldap_tool(&self.tools.ldapmodify, ldif)
    }

    /// Kills slapd (if running) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn ldap_tool(&self, tool: &Path, ldif: &str) -> Result<()> {
        let mut child = Command::new(tool)
            .args(["-x", "-H", &self.url(), "-D", ADMIN_DN, "-w", ADMIN_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", tool.display()))?;
        child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("no stdin for {}", tool.display()))?
            .write_all(ldif.as_bytes())?;
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!(
                "{} failed with {}: {}",
                tool.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Tools {
    fn find() -> Result<Self> {
        Ok(Tools {
            slapd: program("slapd")?,
            slapadd: program("slapadd")?,
            ldapadd: program("ldapadd")?,
            ldapmodify: program("ldapmodify")?,
            module_dir: first_existing(
                "the OpenLDAP modules (back_mdb.la, memberof.la)",
                &[
                    "/usr/lib/ldap",
                    "/usr/lib/x86_64-linux-gnu/ldap",
                    "/usr/lib/aarch64-linux-gnu/ldap",
                ],
                &["back_mdb.la", "memberof.la"],
            )?,
            schema_dir: first_existing(
                "the OpenLDAP schemas (core.ldif, cosine.ldif, inetorgperson.ldif, nis.ldif)",
                &["/etc/ldap/schema", "/etc/openldap/schema"],
                &["core.ldif", "cosine.ldif", "inetorgperson.ldif", "nis.ldif"],
            )?,
        })
    }
}

/// Starts slapd on `port` with the configuration in `dir/slapd.d` and waits until the port accepts connections.
fn spawn(slapd: &Path, dir: &Path, port: u16) -> Result<Child> {
    let log_path = dir.join("slapd.log");
    let log = || fs::read_to_string(&log_path).unwrap_or_default().trim().to_owned();
    let mut child = Command::new(slapd)
        .arg("-F")
        .arg(dir.join("slapd.d"))
        .arg("-h")
        .arg(url(port))
        .args(["-d", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log_path)?)
        .spawn()
        .with_context(|| format!("starting {}", slapd.display()))?;
    for _ in 0..READY_POLLS {
        if let Some(status) = child.try_wait()? {
            bail!("slapd exited with {status} before answering: {}", log());
        }
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(child);
        }
        std::thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
    bail!("slapd did not answer on port {port} within 10 s: {}", log())
}

fn url(port: u16) -> String {
    format!("ldap://127.0.0.1:{port}/")
}

/// A program from PATH or the sbin folders (slapd and slapadd live in /usr/sbin, often not on a user's PATH).
fn program(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| anyhow!("{name} is not installed: {SETUP_HINT}"))
}

fn first_existing(what: &str, dirs: &[&str], files: &[&str]) -> Result<PathBuf> {
    dirs.iter()
        .map(PathBuf::from)
        .find(|dir| files.iter().all(|file| dir.join(file).is_file()))
        .ok_or_else(|| anyhow!("cannot find {what} in {}: {SETUP_HINT}", dirs.join(", ")))
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/ldap")
        .join(name)
}

fn fixture(name: &str) -> Result<String> {
    let path = fixture_path(name);
    fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// A loopback port that was free a moment ago. slapd may lose it to another process before binding; the caller
/// retries with a new one.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// Runs a command to completion; its stderr is the error when it fails.
fn run(command: &mut Command) -> Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Makes a test CA, a server certificate for 127.0.0.1 and localhost signed by it, and an unrelated CA; returns the
/// olcTLS* lines of cn=config that point slapd at them.
fn make_certificates(dir: &Path) -> Result<String> {
    let openssl = program("openssl").map_err(|_| anyhow!("openssl is not installed: it makes the test CA"))?;
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for ca in ["ca", "other-ca"] {
        run(Command::new(&openssl)
            .current_dir(dir)
            .args(["req", "-x509"])
            .args(ec)
            .args([
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-days",
                "2",
            ])
            .args(["-subj", &format!("/CN=dims test {ca}")])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]))
        .context("making a test CA with openssl")?;
    }
    run(Command::new(&openssl).current_dir(dir).args(["req"]).args(ec).args([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]))
    .context("making the server key with openssl")?;
    fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )?;
    run(Command::new(&openssl)
        .current_dir(dir)
        .args([
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
        ])
        .args(["-out", "server.pem", "-days", "2", "-extfile", "server.ext"]))
    .context("signing the server certificate with openssl")?;
    let dir = dir.display();
    Ok(format!(
        "olcTLSCACertificateFile: {dir}/ca.pem\nolcTLSCertificateFile: {dir}/server.pem\n\
         olcTLSCertificateKeyFile: {dir}/server.key\n"
    ))
}
