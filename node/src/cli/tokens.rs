//! `dims tokens create|list|revoke`: API tokens for automation. A token is shown once, when it is created; the
//! node keeps only the hash of its secret (see `dims_identity::token`), so a lost token is revoked and replaced,
//! never recovered.

use std::io::Write;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use dims_identity::token::{AudienceScope, Scopes, TokenId, TokenRecord};
use dims_protocol::{MemberId, Tlp};
use serde_json::json;

use super::OutputArgs;
use super::console::{Console, SUCCESS};
use super::operation::Held;
use crate::grant::{AUTOMATION, audience_name, parse_expiry, scopes_text};

/// `dims tokens ...`
#[derive(Debug, Subcommand, serde::Serialize, serde::Deserialize)]
pub enum TokensCommand {
    /// Create a token. Its text (`dims_<id>_<secret>`) is printed once on standard output; store it now.
    Create(CreateArgs),
    /// List the tokens: id, label, scopes, ceiling, expiry and revocation. Never shows a secret.
    List {
        /// Output.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Revoke a token: it is refused from now on.
    Revoke {
        /// The token's id (the 16 hex digits after `dims_`, as `dims tokens list` shows).
        id: String,
    },
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum ScopeArg {
    /// Search, fetch, export, TAXII GET.
    Read,
    /// REST publish and TAXII POST.
    Publish,
}

/// Which audiences a token may publish to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum AudienceArg {
    /// The author's org only.
    Org,
    /// This node's community.
    Community,
    /// A federation.
    Federation,
    /// Named recipients.
    Recipients,
}

impl From<AudienceArg> for AudienceScope {
    fn from(arg: AudienceArg) -> Self {
        match arg {
            AudienceArg::Org => AudienceScope::Org,
            AudienceArg::Community => AudienceScope::Community,
            AudienceArg::Federation => AudienceScope::Federation,
            AudienceArg::Recipients => AudienceScope::Recipients,
        }
    }
}

/// `dims tokens create` arguments.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
pub struct CreateArgs {
    /// What the token is for, for people reading `dims tokens list` (siem-export, misp-sync).
    #[arg(long, env = "DIMS_TOKENS_LABEL")]
    pub label: String,
    /// What it may do: read, publish, or read,publish.
    #[arg(
        long,
        env = "DIMS_TOKENS_SCOPES",
        value_enum,
        value_delimiter = ',',
        default_value = "read"
    )]
    pub scopes: Vec<ScopeArg>,
    /// The audiences it may publish to: org, community, federation, recipients (comma-separated). Needed with the
    /// publish scope; a token publishes nowhere else.
    #[arg(long = "audience", env = "DIMS_TOKENS_AUDIENCE", value_enum, value_delimiter = ',')]
    pub audiences: Vec<AudienceArg>,
    /// The most restrictive marking it may read or publish: clear, green, amber, amber+strict or red.
    #[arg(long, env = "DIMS_TOKENS_TLP_CEILING", default_value = "green")]
    pub tlp_ceiling: Tlp,
    /// When it expires: a duration from now (30m, 12h, 90d, 2w) or an RFC 3339 time (2027-01-01T00:00:00Z), or
    /// `never`.
    #[arg(long, env = "DIMS_TOKENS_EXPIRES", default_value = "90d")]
    pub expires: String,
    /// The member (UUID) the token acts for: it reads what they may read, and publishes as them. Without it the
    /// token acts for this node's org as automation.
    #[arg(long, env = "DIMS_TOKENS_MEMBER")]
    pub member: Option<MemberId>,
}

/// Runs a tokens command.
pub async fn execute(on: &Held, command: TokensCommand, console: &mut Console) -> anyhow::Result<u8> {
    let store = on.service.store();
    let now = crate::clock::now_ms();
    let (out, err) = (&mut console.out, &mut console.err);
    match command {
        TokensCommand::Create(args) => {
            let expires = parse_expiry(&args.expires, now).map_err(|e| anyhow::anyhow!("--expires: {e}"))?;
            let publish = args.scopes.contains(&ScopeArg::Publish);
            if publish && args.audiences.is_empty() {
                bail!("--scopes publish needs --audience: name the audiences the token may publish to");
            }
            if !publish && !args.audiences.is_empty() {
                bail!("--audience only matters with --scopes publish: add publish, or leave --audience out");
            }
            let scopes = Scopes {
                read: args.scopes.contains(&ScopeArg::Read),
                publish,
                tlp_ceiling: args.tlp_ceiling,
                audiences: args.audiences.iter().copied().map(AudienceScope::from).collect(),
            };
            let (owner, owner_org) = match args.member {
                Some(member) => {
                    let record = store
                        .member(&member)?
                        .with_context(|| format!("--member {member}: no such member on this node"))?;
                    (member, record.profile.org)
                }
                None => (AUTOMATION, on.settings.org.clone()),
            };
            let random = crate::keys::random_bytes::<40>()?;
            let (text, record) =
                dims_identity::token::issue(&random, args.label, owner, owner_org, scopes, now, expires);
            store.put_token(record.clone()).await?;
            writeln!(
                err,
                "created token {} ({}) for {}: {}; ceiling {}; expires {}",
                record.id,
                record.label,
                owner_of(&record),
                scopes_text(&record.scopes),
                record.scopes.tlp_ceiling.label(),
                record.expires.map_or_else(|| "never".to_owned(), time),
            )?;
            writeln!(
                err,
                "the token follows; it is shown only now (dims keeps only its hash):"
            )?;
            writeln!(out, "{text}")?;
        }
        TokensCommand::List { output } => {
            let tokens = store.tokens()?;
            if !output.json {
                writeln!(
                    out,
                    "{:<16}  {:<20}  {:<40}  {:<18}  {:<34}  {:<24}  for",
                    "id", "label", "scopes", "ceiling", "expires", "revoked"
                )?;
            }
            for record in &tokens {
                print_row(record, now, output.json, out)?;
            }
        }
        TokensCommand::Revoke { id } => {
            // Through the running node this takes effect at once: its API reads the same store.
            let revoked = on.service.revoke_token(parse_id(&id)?, now).await?;
            writeln!(out, "revoked token {} (as of {})", parse_id(&id)?, time(revoked))?;
        }
    }
    Ok(SUCCESS)
}

/// A token id as `dims tokens list` shows it; a whole token is accepted too, and only its id is used.
fn parse_id(text: &str) -> anyhow::Result<TokenId> {
    let hex_id = match text.strip_prefix("dims_") {
        Some(rest) => rest.split('_').next().unwrap_or_default(),
        None => text,
    };
    hex_id
        .parse()
        .map_err(|_| anyhow::anyhow!("{text:?} is not a token id: expected 16 hex digits, as `dims tokens list` shows"))
}

fn time(ms: u64) -> String {
    dims_protocol::stix::time::format(ms).unwrap_or_else(|_| ms.to_string())
}

fn owner_of(record: &TokenRecord) -> String {
    if record.owner == AUTOMATION {
        format!("{} (automation)", record.org)
    } else {
        format!("{} ({})", record.owner, record.org)
    }
}

fn print_row(record: &TokenRecord, now: u64, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    let expired = record.expires.is_some_and(|at| at <= now);
    if json {
        let row = json!({
            "id": record.id.to_string(),
            "label": record.label,
            "read": record.scopes.read,
            "publish": record.scopes.publish,
            "audiences": record.scopes.audiences.iter().map(|scope| audience_name(*scope)).collect::<Vec<_>>(),
            "tlp_ceiling": record.scopes.tlp_ceiling.name(),
            "created": time(record.created),
            "expires": record.expires.map(time),
            "expired": expired,
            "revoked": record.revoked.map(time),
            "member": (record.owner != AUTOMATION).then(|| record.owner.to_string()),
            "org": record.org.as_str(),
        });
        return writeln!(out, "{row}");
    }
    let expires = match record.expires {
        None => "never".to_owned(),
        Some(at) if expired => format!("{} (expired)", time(at)),
        Some(at) => time(at),
    };
    writeln!(
        out,
        "{}  {:<20}  {:<40}  {:<18}  {:<34}  {:<24}  {}",
        record.id,
        record.label,
        scopes_text(&record.scopes),
        record.scopes.tlp_ceiling.label(),
        expires,
        record.revoked.map_or_else(|| "no".to_owned(), time),
        owner_of(record),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn expiries() {
        let cases: [(&str, Result<Option<u64>, &str>); 11] = [
            ("never", Ok(None)),
            ("NEVER", Ok(None)),
            ("30m", Ok(Some(NOW + 1_800_000))),
            ("12h", Ok(Some(NOW + 43_200_000))),
            ("90d", Ok(Some(NOW + 90 * 86_400_000))),
            ("2w", Ok(Some(NOW + 14 * 86_400_000))),
            ("2030-01-01T00:00:00Z", Ok(Some(1_893_456_000_000))),
            ("2020-01-01T00:00:00Z", Err("not in the future")),
            ("0d", Err("useless")),
            ("5y", Err("expected a duration")),
            ("soon", Err("expected a duration")),
        ];
        for (text, expected) in cases {
            match (parse_expiry(text, NOW), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn ids_are_read_from_ids_or_whole_tokens() {
        let id = TokenId([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(parse_id("0102030405060708").expect("id"), id);
        assert_eq!(
            parse_id(&format!("dims_0102030405060708_{}", "ab".repeat(32))).expect("token"),
            id
        );
        assert!(parse_id("0102").is_err());
        assert!(parse_id("zz02030405060708").is_err());
    }
}
