//! `dims sealed list|export|cert`: the RED bundles this node hands to its members as OpenPGP messages, sealed to
//! their certificates and signed with this node's OpenPGP key. A member decrypts one with their own key
//! (`gpg --decrypt FILE`, after importing the node's certificate from `dims sealed cert`) and gets the signed bundle
//! envelope, which `dims ingest`-style tools can verify.
//!
//! Two kinds are handed out. RED that another node sealed for members of this one arrives as ciphertext
//! (`sealed_v1`); this node cannot read it and exports it as received. RED that this node published itself for its
//! own members never travels (the federation delivers only to other nodes), so the origin holds it in clear, as it
//! holds every bundle it signs; `export` seals it on demand to the named members of this node, exactly as the
//! federation seals RED for another node's members (`dims_identity::pgp::seal`, signed by `node.pgp`), after the
//! policy function has said each of those members may receive it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use dims_identity::pgp::{Encoding, MemberCert, seal};
use dims_protocol::audience::Recipient;
use dims_protocol::policy::{Carriage, MemberView, Receiver, may_receive};
use dims_protocol::{BundleId, Marking, MemberId, Tlp, VerifiedBundle};

use super::console::{Console, SUCCESS};
use super::operation::Held;
use crate::federation::Sealing;
use crate::service::Service;
use crate::store::{ListQuery, ReadKind};

/// `dims sealed ...`
#[derive(Debug, Subcommand, serde::Serialize, serde::Deserialize)]
pub enum SealedCommand {
    /// The RED bundles held for members: sealed ones from other nodes (id, origin, members, size, arrival), then
    /// this node's own RED for its members (sealed when exported).
    List {
        /// Output.
        #[command(flatten)]
        output: super::OutputArgs,
    },
    /// Write one RED bundle as a binary OpenPGP message to a file or standard output, for its member to decrypt.
    Export(ExportArgs),
    /// Print this node's OpenPGP certificate (ASCII-armored): what members import to verify sealed bundles.
    Cert,
}

/// `dims sealed export`
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
pub struct ExportArgs {
    /// The bundle id.
    #[arg(env = "DIMS_SEALED_ID")]
    pub id: BundleId,
    /// Where to write it; standard output when absent.
    #[arg(short, long, env = "DIMS_SEALED_OUT")]
    pub out: Option<PathBuf>,
    /// For this node's own RED: seal to this member only (one of those it names), rather than to all of them.
    #[arg(long, env = "DIMS_SEALED_MEMBER")]
    pub member: Option<MemberId>,
}

/// Runs a sealed command.
pub async fn execute(on: &Held, command: SealedCommand, console: &mut Console) -> anyhow::Result<u8> {
    let service = &on.service;
    match command {
        SealedCommand::List { output } => list(service, output.json, &mut console.out)?,
        SealedCommand::Export(args) => {
            let message = export(service, on.sealing()?, args.id, args.member, crate::clock::now_ms()).await?;
            match &args.out {
                Some(path) => {
                    let path = console.path(path);
                    std::fs::write(&path, &message).with_context(|| format!("writing {}", path.display()))?;
                }
                None => console.out.write_all(&message)?,
            }
        }
        SealedCommand::Cert => {
            let sealing = on.sealing()?;
            writeln!(
                console.err,
                "# this node's OpenPGP certificate {}",
                sealing.0.fingerprint()
            )?;
            console.out.write_all(sealing.0.cert().to_armored()?.as_bytes())?;
        }
    }
    Ok(SUCCESS)
}

/// The members of this node that `bundle` names, when it is this node's own RED; empty otherwise.
fn local_recipients(service: &Service, bundle: &VerifiedBundle) -> Vec<MemberId> {
    let body = bundle.body();
    let me = service.node_view().id;
    if body.tlp != Tlp::Red || body.origin != me {
        return Vec::new();
    }
    body.audience
        .recipients()
        .iter()
        .filter_map(|recipient| match recipient {
            Recipient::Member(node, member) if *node == me => Some(*member),
            _ => None,
        })
        .collect()
}

/// `dims sealed list`: received sealed RED first, then this node's own RED for its members.
pub fn list(service: &Service, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let ids = |members: &[MemberId]| members.iter().map(ToString::to_string).collect::<Vec<_>>();
    for record in service.store().sealed_all()? {
        let (members, received) = (ids(&record.members), super::roster::time(record.received_ms));
        if json {
            let row = serde_json::json!({
                "id": record.id.to_string(), "from": record.origin.to_string(), "members": members,
                "sealed": "received", "bytes": record.ciphertext.len(), "received": received,
            });
            writeln!(out, "{row}")?;
        } else {
            writeln!(
                out,
                "{}  from {}  for {}  {} bytes  received {received}",
                record.id,
                record.origin,
                members.join(","),
                record.ciphertext.len(),
            )?;
        }
    }
    let me = service.node_view().id;
    let mut query = ListQuery {
        limit: 500,
        ..ListQuery::default()
    };
    loop {
        let page = service.store().by_origin(me, &query)?;
        for stored in &page {
            let members = local_recipients(service, &stored.bundle);
            if members.is_empty() || stored.status.is_hidden() {
                continue;
            }
            let (members, published) = (ids(&members), super::roster::time(stored.bundle.body().created));
            if json {
                let row = serde_json::json!({
                    "id": stored.bundle.id().to_string(), "from": me.to_string(), "members": members,
                    "sealed": "on_export", "published": published,
                });
                writeln!(out, "{row}")?;
            } else {
                writeln!(
                    out,
                    "{}  from this node  for {}  sealed on export  published {published}",
                    stored.bundle.id(),
                    members.join(","),
                )?;
            }
        }
        match page.last() {
            Some(last) if page.len() == query.limit => query.after = Some(last.cursor()),
            _ => return Ok(()),
        }
    }
}

/// `dims sealed export`: the sealed message for `id`, as received from another node, or this node's own RED sealed
/// now to its named local members (`only`: one of them).
pub async fn export(
    service: &Service,
    sealing: &Sealing,
    id: BundleId,
    only: Option<MemberId>,
    now_ms: u64,
) -> anyhow::Result<Vec<u8>> {
    let store = service.store();
    if let Some(record) = store.sealed(&id)? {
        if only.is_some() {
            bail!(
                "bundle {id} arrived sealed from {}: it is exported as received, without --member",
                record.origin
            );
        }
        return Ok(record.ciphertext);
    }
    let stored = store
        .get(&id)?
        .with_context(|| format!("no RED bundle {id} for this node's members: see `dims sealed list`"))?;
    if stored.status.is_hidden() {
        bail!("bundle {id} was retracted or superseded: it is no longer handed out");
    }
    let named = local_recipients(service, &stored.bundle);
    if named.is_empty() {
        bail!("bundle {id} is not RED addressed to members of this node: `dims bundles show {id}` shows its audience");
    }
    let members = match only {
        Some(member) if named.contains(&member) => vec![member],
        Some(member) => bail!(
            "bundle {id} does not name member {member}; it names {}",
            list_ids(&named)
        ),
        None => named,
    };
    let body = stored.bundle.body();
    let node = service.node_view();
    let mut certs = Vec::with_capacity(members.len());
    for member in &members {
        let record = store
            .member(member)?
            .with_context(|| format!("member {member}, whom bundle {id} names, is not on this node"))?;
        if record.is_suspended() {
            bail!("member {member} is suspended: reinstate them (`dims members reinstate {member}`) or pass --member");
        }
        let view = MemberView {
            node: node.clone(),
            member: *member,
            org: record.profile.org.clone(),
            groups: store.active_groups(*member, now_ms)?,
            ceiling: Tlp::Red,
        };
        match may_receive(&Marking::of(body), Receiver::Member(&view)) {
            Ok(Carriage::Show) => {}
            Ok(other) => bail!("the policy hands bundle {id} to member {member} only as {other:?}"),
            Err(denial) => bail!("the policy refuses bundle {id} to member {member}: {denial}"),
        }
        let stored_cert = store.member_cert(member)?.with_context(|| {
            format!("member {member} has no OpenPGP certificate: `dims members cert upload {member} FILE`")
        })?;
        let cert: MemberCert = stored_cert.cert()?;
        certs.push(cert);
    }
    // The operator handles only ciphertext, but handing RED out is recorded as an export of it.
    store.record_read(ReadKind::Export, [&stored.bundle]).await?;
    Ok(seal(
        stored.bundle.envelope(),
        &certs,
        &sealing.0,
        now_ms,
        Encoding::Binary,
    )?)
}

fn list_ids(members: &[MemberId]) -> String {
    members.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
