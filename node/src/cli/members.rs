//! `dims members add|list|show|suspend|reinstate|remove` and `dims members cert upload|show`: the people of this
//! node, their Ops-Trust profiles, the login each is found under, and their OpenPGP certificates.
//!
//! A member made here is the record a portal login finds: the store keys members on the OpenID Connect login
//! (issuer, subject) in `member_logins_v1` (`Store::member_by_login`), and `add --issuer --subject` writes that row in
//! the member's own transaction. The directory name (`oidc.username_claim`) is never a key: it only asks LDAP for
//! groups, org and roles, so it is not taken here. A certificate goes through `Store::upload_cert`, which validates
//! it as `dims_identity::pgp` does and sets the profile's fingerprint.
//!
//! Each command's logic is a function over the [`Service`] and a writer, so the same code can later answer through a
//! running node's control socket; [`run`] only opens the store and reads files.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use dims_identity::directory::{Contact, Profile};
use dims_protocol::{MemberId, OrgId};
use serde_json::{Value, json};

use super::OutputArgs;
use super::console::{Console, SUCCESS};
use super::operation::Held;
use crate::service::Service;
use crate::store::{Login, MemberRecord};

/// `dims members ...`
#[derive(Debug, Subcommand, serde::Serialize, serde::Deserialize)]
pub enum MembersCommand {
    /// Add a member; prints the new member's id (a UUID) on standard output.
    Add(AddArgs),
    /// List the members: id, name, org, e-mail, login, OpenPGP key, status.
    List {
        /// Output.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show one member's profile, login, key and status.
    Show {
        /// The member's id.
        #[arg(env = "DIMS_MEMBERS_ID")]
        member: MemberId,
        /// Output.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Suspend a member on this node: their tokens are revoked at once, they get no new token and take no vetting
    /// step, and a login that finds them is refused, until `dims members reinstate`.
    Suspend {
        /// The member's id.
        #[arg(env = "DIMS_MEMBERS_ID")]
        member: MemberId,
        /// Why, for the record.
        #[arg(long, env = "DIMS_MEMBERS_REASON", default_value = "suspended by the operator")]
        reason: String,
    },
    /// Lift a member's suspension (their revoked tokens stay revoked: create new ones).
    Reinstate {
        /// The member's id.
        #[arg(env = "DIMS_MEMBERS_ID")]
        member: MemberId,
    },
    /// Delete a member: profile, login, certificate and tokens. Refused while a trust group names them (block them
    /// there, or suspend them, instead).
    Remove {
        /// The member's id.
        #[arg(env = "DIMS_MEMBERS_ID")]
        member: MemberId,
    },
    /// A member's OpenPGP certificate: what RED bundles for them are sealed to.
    #[command(subcommand)]
    Cert(CertCommand),
}

/// `dims members cert ...`
#[derive(Debug, Subcommand, serde::Serialize, serde::Deserialize)]
pub enum CertCommand {
    /// Upload a member's certificate (ASCII-armored or binary; `-` reads standard input). It is validated (a usable
    /// encryption subkey, not expired or revoked, accepted algorithms) and replaces any earlier one.
    Upload {
        /// The member's id.
        #[arg(env = "DIMS_MEMBERS_ID")]
        member: MemberId,
        /// The certificate file, or `-` for standard input.
        #[arg(env = "DIMS_MEMBERS_CERT_FILE")]
        file: PathBuf,
    },
    /// Print a member's certificate: a `# fingerprint ...` line, then the certificate ASCII-armored (gpg --import
    /// skips the line).
    Show {
        /// The member's id.
        #[arg(env = "DIMS_MEMBERS_ID")]
        member: MemberId,
    },
}

/// `dims members add` arguments: an Ops-Trust profile and the login it is found under.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
pub struct AddArgs {
    /// Full name.
    #[arg(long, env = "DIMS_MEMBERS_NAME")]
    pub name: String,
    /// The member's organisation (a slug); this node's org when absent.
    #[arg(long, env = "DIMS_MEMBERS_ORG")]
    pub org: Option<OrgId>,
    /// E-mail address (contact only: a login is never matched on it).
    #[arg(long, env = "DIMS_MEMBERS_EMAIL")]
    pub email: String,
    /// IANA time zone, such as America/Los_Angeles, or UTC.
    #[arg(long, env = "DIMS_MEMBERS_TIME_ZONE")]
    pub time_zone: Option<String>,
    /// Nearest airport, a three-letter IATA code such as SEA.
    #[arg(long, env = "DIMS_MEMBERS_AIRPORT")]
    pub airport: Option<String>,
    /// Telephone in E.164 form, such as +12065550100.
    #[arg(long, env = "DIMS_MEMBERS_PHONE")]
    pub phone: Option<String>,
    /// The OpenID Connect issuer URL of the member's login (with --subject): the portal finds the member by it.
    #[arg(long, env = "DIMS_MEMBERS_ISSUER", requires = "subject")]
    pub issuer: Option<String>,
    /// The subject (`sub`) the provider gives the member (with --issuer); `dims auth test-login` shows it.
    #[arg(long, env = "DIMS_MEMBERS_SUBJECT", requires = "issuer")]
    pub subject: Option<String>,
}

/// Runs a members command.
pub async fn execute(on: &Held, command: MembersCommand, console: &mut Console) -> anyhow::Result<u8> {
    let service = &on.service;
    let now = crate::clock::now_ms();
    let out = &mut console.out;
    match command {
        MembersCommand::Add(args) => {
            add(service, args, &on.settings.org, now, out).await?;
        }
        MembersCommand::List { output } => list(service, output.json, out)?,
        MembersCommand::Show { member, output } => show(service, member, output.json, out)?,
        MembersCommand::Suspend { member, reason } => suspend(service, member, reason, now, out).await?,
        MembersCommand::Reinstate { member } => {
            service.store().reinstate_member(member, now).await?;
            writeln!(
                out,
                "reinstated member {member}; create new tokens for them if they need any"
            )?;
        }
        MembersCommand::Remove { member } => remove(service, member, out).await?,
        MembersCommand::Cert(CertCommand::Upload { member, file }) => {
            let bytes = console.read_input(&file)?;
            upload_cert(service, member, &bytes, now, &mut console.out).await?;
        }
        MembersCommand::Cert(CertCommand::Show { member }) => show_cert(service, member, out)?,
    }
    Ok(SUCCESS)
}

/// `dims members add`: stores the profile (and login row) and writes the new id.
pub async fn add(
    service: &Service,
    args: AddArgs,
    node_org: &OrgId,
    now_ms: u64,
    out: &mut impl Write,
) -> anyhow::Result<MemberId> {
    let id = crate::keys::new_member_id()?;
    let login = match (args.issuer, args.subject) {
        (Some(issuer), Some(subject)) => {
            let login = Login { issuer, subject };
            if let Some(owner) = service.store().member_by_login(&login)? {
                anyhow::bail!(
                    "the login {} / {} is already member {} ({}): one login is one member; see `dims members show {}`",
                    login.issuer,
                    login.subject,
                    owner.profile.id,
                    owner.profile.name,
                    owner.profile.id
                );
            }
            Some(login)
        }
        _ => None,
    };
    let record = MemberRecord {
        profile: Profile {
            id,
            name: args.name,
            org: args.org.unwrap_or_else(|| node_org.clone()),
            time_zone: args.time_zone,
            nearest_airport: args.airport.map(|code| code.to_ascii_uppercase()),
            contact: Contact {
                email: Some(args.email),
                phone: args.phone,
                ..Contact::default()
            },
            pgp_fingerprint: None,
        },
        login,
        created_ms: now_ms,
        updated_ms: now_ms,
        suspended: None,
    };
    record
        .profile
        .check()
        .map_err(|field| anyhow::anyhow!("--{}: {field}", flag_of(&field.field)))?;
    service.store().put_member(record).await?;
    writeln!(out, "{id}")?;
    Ok(id)
}

/// The `dims members add` flag that sets a profile field.
fn flag_of(field: &str) -> &str {
    match field {
        "nearest_airport" => "airport",
        "time_zone" => "time-zone",
        "contact.email" => "email",
        "contact.phone" => "phone",
        other => other,
    }
}

/// `dims members list`: a table, or one JSON object per line.
pub fn list(service: &Service, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let members = service.store().members()?;
    if json {
        for record in &members {
            writeln!(out, "{}", member_json(record))?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<36}  {:<24}  {:<20}  {:<30}  {:<5}  {:<5}  status",
        "id", "name", "org", "email", "login", "key"
    )?;
    for record in &members {
        let profile = &record.profile;
        writeln!(
            out,
            "{:<36}  {:<24}  {:<20}  {:<30}  {:<5}  {:<5}  {}",
            profile.id,
            profile.name,
            profile.org,
            profile.contact.email.as_deref().unwrap_or("-"),
            if record.login.is_some() { "yes" } else { "no" },
            if profile.pgp_fingerprint.is_some() { "yes" } else { "no" },
            status(record),
        )?;
    }
    Ok(())
}

fn status(record: &MemberRecord) -> String {
    match &record.suspended {
        None => "active".to_owned(),
        Some(suspension) => format!("suspended since {}", time(suspension.since_ms)),
    }
}

fn time(ms: u64) -> String {
    dims_protocol::stix::time::format(ms).unwrap_or_else(|_| ms.to_string())
}

/// A member as one JSON object.
pub fn member_json(record: &MemberRecord) -> Value {
    let profile = &record.profile;
    json!({
        "id": profile.id.to_string(),
        "name": profile.name,
        "org": profile.org.as_str(),
        "email": profile.contact.email,
        "phone": profile.contact.phone,
        "time_zone": profile.time_zone,
        "nearest_airport": profile.nearest_airport,
        "pgp_fingerprint": profile.pgp_fingerprint,
        "login": record.login.as_ref().map(|login| json!({ "issuer": login.issuer, "subject": login.subject })),
        "suspended": record.suspended.as_ref().map(|s| json!({ "since": time(s.since_ms), "reason": s.reason })),
        "created": time(record.created_ms),
        "updated": time(record.updated_ms),
    })
}

fn require(service: &Service, member: MemberId) -> anyhow::Result<MemberRecord> {
    service
        .store()
        .member(&member)?
        .with_context(|| format!("no member {member} on this node: `dims members list` shows them"))
}

/// `dims members show`.
pub fn show(service: &Service, member: MemberId, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let record = require(service, member)?;
    if json {
        writeln!(out, "{}", member_json(&record))?;
        return Ok(());
    }
    let profile = &record.profile;
    let none = || "-".to_owned();
    let rows = [
        ("id", profile.id.to_string()),
        ("name", profile.name.clone()),
        ("org", profile.org.to_string()),
        ("email", profile.contact.email.clone().unwrap_or_else(none)),
        ("phone", profile.contact.phone.clone().unwrap_or_else(none)),
        ("time zone", profile.time_zone.clone().unwrap_or_else(none)),
        ("airport", profile.nearest_airport.clone().unwrap_or_else(none)),
        (
            "login",
            record
                .login
                .as_ref()
                .map_or_else(none, |login| format!("{} / {}", login.issuer, login.subject)),
        ),
        ("openpgp key", profile.pgp_fingerprint.clone().unwrap_or_else(none)),
        (
            "status",
            match &record.suspended {
                None => "active".to_owned(),
                Some(s) => format!("suspended since {}: {}", time(s.since_ms), s.reason),
            },
        ),
        ("created", time(record.created_ms)),
        ("updated", time(record.updated_ms)),
    ];
    for (label, value) in rows {
        writeln!(out, "{label:<12}{value}")?;
    }
    Ok(())
}

/// `dims members suspend`.
pub async fn suspend(
    service: &Service,
    member: MemberId,
    reason: String,
    now_ms: u64,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let live_tokens = service
        .store()
        .tokens()?
        .iter()
        .filter(|token| token.owner == member && token.revoked.is_none())
        .count();
    service.store().suspend_member(member, now_ms, reason).await?;
    let record = require(service, member)?;
    let since = record.suspended.map_or(now_ms, |s| s.since_ms);
    writeln!(
        out,
        "suspended member {member} ({}) since {}; {live_tokens} token(s) revoked",
        record.profile.name,
        time(since)
    )?;
    Ok(())
}

/// `dims members remove`.
pub async fn remove(service: &Service, member: MemberId, out: &mut impl Write) -> anyhow::Result<()> {
    let record = require(service, member)?;
    service.store().remove_member(member).await?;
    writeln!(out, "removed member {member} ({})", record.profile.name)?;
    Ok(())
}

/// `dims members cert upload`: validates and stores the certificate, and writes its fingerprint.
pub async fn upload_cert(
    service: &Service,
    member: MemberId,
    upload: &[u8],
    now_ms: u64,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    require(service, member)?;
    let stored = service.store().upload_cert(member, upload, now_ms).await?;
    writeln!(
        out,
        "stored the OpenPGP certificate {} for member {member}",
        stored.fingerprint
    )?;
    Ok(())
}

/// `dims members cert show`: the fingerprint as an armor comment line, then the armored certificate.
pub fn show_cert(service: &Service, member: MemberId, out: &mut impl Write) -> anyhow::Result<()> {
    require(service, member)?;
    let stored = service.store().member_cert(&member)?.with_context(|| {
        format!("member {member} has no OpenPGP certificate: upload one with `dims members cert upload {member} FILE`")
    })?;
    writeln!(out, "# fingerprint {}", stored.fingerprint)?;
    out.write_all(stored.armored.as_bytes())?;
    if !stored.armored.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(())
}
