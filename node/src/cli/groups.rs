//! `dims groups create|list|show|nominate|vouch|approve|suspend`: trust groups and Trident's vetting from the
//! command line. Every step goes through the store's `vet`, which applies `dims_identity::vetting`'s state machine to
//! the group as stored; this module only adds what an operator needs to act on a refusal: how many vouches a
//! candidate still lacks, who may approve, which command comes next.
//!
//! A member approved here becomes active (covered by `group:` recipients) when they first take part, which the
//! portal records; a group that requires OpenPGP keys lets nobody become active without one.

use std::io::Write;

use anyhow::Context;
use clap::{Args, Subcommand};
use dims_identity::vetting::{GroupPolicy, MemberState, TrustGroup, VettingError};
use dims_protocol::{GroupId, MemberId};
use serde_json::{Value, json};

use super::OutputArgs;
use super::console::{Console, SUCCESS};
use super::operation::Held;
use crate::service::Service;
use crate::store::{IdentityError, VettingStep};

/// `dims groups ...`
#[derive(Debug, Subcommand, serde::Serialize, serde::Deserialize)]
pub enum GroupsCommand {
    /// Create a trust group with its founding admins (active members from the start) and its policy.
    Create(CreateArgs),
    /// List the trust groups: id, policy, admins, and how many members are in each state.
    List {
        /// Output.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show a group's policy and every member and candidate with their state, vouches and approval.
    Show {
        /// The group.
        #[arg(env = "DIMS_GROUPS_ID")]
        group: GroupId,
        /// Output.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// An active member nominates a candidate (a member of this node).
    Nominate(StepArgs),
    /// An active member vouches for a nominated candidate, saying how they know them.
    Vouch {
        /// The group, candidate and voucher.
        #[command(flatten)]
        step: StepArgs,
        /// How the voucher knows the candidate.
        #[arg(long, env = "DIMS_GROUPS_ATTESTATION")]
        attestation: String,
    },
    /// A group admin approves a candidate who has the vouches the policy needs.
    Approve(StepArgs),
    /// A group admin blocks a member in the group (`--lift` unblocks them).
    Suspend {
        /// The group, member and admin.
        #[command(flatten)]
        step: StepArgs,
        /// Unblock instead: the member returns to where they were (an active member as approved).
        #[arg(long, env = "DIMS_GROUPS_LIFT")]
        lift: bool,
    },
}

/// `dims groups create` arguments.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
pub struct CreateArgs {
    /// The group's id, a slug such as water-utilities.
    #[arg(env = "DIMS_GROUPS_ID")]
    pub group: GroupId,
    /// A founding admin (a member id); repeat for more.
    #[arg(long = "admin", env = "DIMS_GROUPS_ADMINS", value_delimiter = ',', required = true)]
    pub admins: Vec<MemberId>,
    /// Vouches a candidate needs before an admin may approve them.
    #[arg(long, env = "DIMS_GROUPS_VOUCHES_NEEDED", default_value_t = 2)]
    pub vouches_needed: usize,
    /// Whether a member needs an OpenPGP key on file to become active.
    #[arg(long, env = "DIMS_GROUPS_PGP_REQUIRED", default_value_t = true, action = clap::ArgAction::Set)]
    pub pgp_required: bool,
    /// Days without taking part after which an active member becomes idle, or `never`.
    #[arg(long, env = "DIMS_GROUPS_IDLE_DAYS", default_value = "180")]
    pub idle_days: String,
}

/// The group, the member a step is about, and who takes it.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
pub struct StepArgs {
    /// The group.
    #[arg(env = "DIMS_GROUPS_ID")]
    pub group: GroupId,
    /// The member the step is about (the candidate).
    #[arg(env = "DIMS_GROUPS_MEMBER")]
    pub member: MemberId,
    /// The member taking the step (an active member; an admin to approve or suspend).
    #[arg(long, env = "DIMS_GROUPS_BY")]
    pub by: MemberId,
}

/// Runs a groups command.
pub async fn execute(on: &Held, command: GroupsCommand, console: &mut Console) -> anyhow::Result<u8> {
    apply(&on.service, command, crate::clock::now_ms(), &mut console.out).await?;
    Ok(SUCCESS)
}

/// Runs one groups command over `service` at `now_ms`, writing what it shows to `out`.
pub async fn apply(service: &Service, command: GroupsCommand, now_ms: u64, out: &mut impl Write) -> anyhow::Result<()> {
    match command {
        GroupsCommand::Create(args) => create(service, args, now_ms, out).await,
        GroupsCommand::List { output } => list(service, output.json, now_ms, out),
        GroupsCommand::Show { group, output } => show(service, &group, output.json, now_ms, out),
        GroupsCommand::Nominate(step) => {
            let group = step.group.clone();
            let (by, candidate) = (step.by, step.member);
            vet(service, &group, VettingStep::Nominate { by, candidate }, now_ms).await?;
            let needed = require_group(service, &group)?.policy.vouches_needed;
            writeln!(
                out,
                "nominated {candidate} in {group}; they need {needed} vouch(es): \
                 `dims groups vouch {group} {candidate} --by MEMBER --attestation TEXT`"
            )?;
            Ok(())
        }
        GroupsCommand::Vouch { step, attestation } => {
            let group = step.group.clone();
            let (by, candidate) = (step.by, step.member);
            let vouch = VettingStep::Vouch {
                by,
                candidate,
                attestation,
            };
            vet(service, &group, vouch, now_ms).await?;
            let stored = require_group(service, &group)?;
            let have = stored.members.get(&candidate).map_or(0, |m| m.vouches.len());
            let needed = stored.policy.vouches_needed;
            if stored.state(candidate, now_ms) == Some(MemberState::Vetted) {
                writeln!(
                    out,
                    "{candidate} has {have} of {needed} vouches in {group} and is vetted: \
                     `dims groups approve {group} {candidate} --by ADMIN`"
                )?;
            } else {
                writeln!(out, "{candidate} has {have} of {needed} vouches in {group}")?;
            }
            Ok(())
        }
        GroupsCommand::Approve(step) => {
            let group = step.group.clone();
            let (by, candidate) = (step.by, step.member);
            vet(service, &group, VettingStep::Approve { by, candidate }, now_ms).await?;
            let stored = require_group(service, &group)?;
            writeln!(
                out,
                "approved {candidate} in {group}: they become active when they first take part"
            )?;
            if stored.policy.pgp_required && service.store().member_cert(&candidate)?.is_none() {
                writeln!(
                    out,
                    "{group} requires an OpenPGP key and {candidate} has none: \
                     `dims members cert upload {candidate} FILE`"
                )?;
            }
            Ok(())
        }
        GroupsCommand::Suspend { step, lift } => {
            let group = step.group.clone();
            let (by, member) = (step.by, step.member);
            if lift {
                vet(service, &group, VettingStep::Unblock { by, member }, now_ms).await?;
                writeln!(out, "unblocked {member} in {group}")?;
            } else {
                vet(service, &group, VettingStep::Block { by, member }, now_ms).await?;
                writeln!(out, "blocked {member} in {group}")?;
            }
            Ok(())
        }
    }
}

/// Applies a vetting step; a refusal is explained against the group as stored, with the command that helps.
async fn vet(service: &Service, group: &GroupId, step: VettingStep, now_ms: u64) -> anyhow::Result<()> {
    match service.store().vet(group.clone(), step.clone(), now_ms).await {
        Ok(()) => Ok(()),
        Err(IdentityError::UnknownGroup(_)) => {
            anyhow::bail!(
                "no trust group {group} on this node: `dims groups list` shows them, `dims groups create` makes one"
            )
        }
        Err(IdentityError::Vetting(refusal)) => {
            let stored = require_group(service, group)?;
            Err(anyhow::anyhow!(explain(&stored, &step, &refusal, now_ms)))
        }
        Err(other) => Err(other.into()),
    }
}

/// What an operator reads when the state machine refuses `step`: the rule, and what to do.
fn explain(group: &TrustGroup, step: &VettingStep, refusal: &VettingError, now_ms: u64) -> String {
    let id = &group.id;
    let active = |admins_only: bool| {
        let names: Vec<String> = group
            .members
            .keys()
            .filter(|member| group.is_active(**member, now_ms) && (!admins_only || group.admins.contains(member)))
            .map(ToString::to_string)
            .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    match (step, refusal) {
        (
            VettingStep::Approve { candidate, .. },
            VettingError::WrongState {
                state: MemberState::Nominated,
                ..
            },
        ) => {
            let have = group.members.get(candidate).map_or(0, |m| m.vouches.len());
            format!(
                "member {candidate} needs {} vouches, has {have}: `dims groups vouch {id} {candidate} --by MEMBER \
                 --attestation TEXT` (active members of {id}: {})",
                group.policy.vouches_needed,
                active(false)
            )
        }
        (_, VettingError::Unknown { member, .. }) => format!(
            "{member} is not a member or candidate of {id}: nominate them first with \
             `dims groups nominate {id} {member} --by MEMBER`"
        ),
        (
            VettingStep::Approve { .. } | VettingStep::Block { .. } | VettingStep::Unblock { .. },
            VettingError::NotAllowed { why, .. },
        ) if why.contains("admins") => {
            format!("{refusal}; the active admins of {id} are: {}", active(true))
        }
        (_, VettingError::NotAllowed { why, .. }) if why.contains("active members") => {
            format!("{refusal}; the active members of {id} are: {}", active(false))
        }
        _ => refusal.to_string(),
    }
}

fn require_group(service: &Service, group: &GroupId) -> anyhow::Result<TrustGroup> {
    service
        .store()
        .trust_group(group)?
        .with_context(|| format!("no trust group {group} on this node: `dims groups list` shows them"))
}

/// Parses `--idle-days`: a whole number of days, or `never`.
fn parse_idle(text: &str) -> anyhow::Result<Option<u64>> {
    if text.trim().eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let days: u64 = text
        .trim()
        .parse()
        .ok()
        .filter(|days| *days > 0)
        .with_context(|| format!("--idle-days {text:?}: expected a number of days such as 180, or never"))?;
    Ok(Some(days.saturating_mul(86_400_000)))
}

/// `dims groups create`.
pub async fn create(service: &Service, args: CreateArgs, now_ms: u64, out: &mut impl Write) -> anyhow::Result<()> {
    if args.vouches_needed == 0 {
        anyhow::bail!("--vouches-needed 0 would make every nomination vetted at once: use 1 or more");
    }
    let policy = GroupPolicy {
        vouches_needed: args.vouches_needed,
        pgp_required: args.pgp_required,
        idle_after_ms: parse_idle(&args.idle_days)?,
    };
    let mut admins = args.admins;
    admins.sort_unstable();
    admins.dedup();
    for admin in &admins {
        if service.store().member(admin)?.is_none() {
            anyhow::bail!("--admin {admin}: no such member on this node; add them first with `dims members add`");
        }
    }
    let group = TrustGroup::new(args.group.clone(), policy, admins, now_ms);
    service.store().create_trust_group(group).await?;
    writeln!(out, "created trust group {}", args.group)?;
    Ok(())
}

fn counts(group: &TrustGroup, now_ms: u64) -> Vec<(&'static str, usize)> {
    let states = [
        ("nominated", MemberState::Nominated),
        ("vetted", MemberState::Vetted),
        ("approved", MemberState::Approved),
        ("active", MemberState::Active),
        ("idle", MemberState::Idle),
        ("blocked", MemberState::Blocked),
    ];
    states
        .iter()
        .map(|(name, state)| {
            let count = group
                .members
                .keys()
                .filter(|member| group.state(**member, now_ms) == Some(*state))
                .count();
            (*name, count)
        })
        .collect()
}

fn policy_text(policy: &GroupPolicy) -> String {
    format!(
        "{} vouches, pgp {}, idle after {}",
        policy.vouches_needed,
        if policy.pgp_required { "required" } else { "optional" },
        policy
            .idle_after_ms
            .map_or_else(|| "never".to_owned(), |ms| format!("{}d", ms / 86_400_000))
    )
}

fn policy_json(policy: &GroupPolicy) -> Value {
    json!({
        "vouches_needed": policy.vouches_needed,
        "pgp_required": policy.pgp_required,
        "idle_after_days": policy.idle_after_ms.map(|ms| ms / 86_400_000),
    })
}

/// `dims groups list`: a table, or one JSON object per line.
pub fn list(service: &Service, json: bool, now_ms: u64, out: &mut impl Write) -> anyhow::Result<()> {
    let groups = service.store().trust_groups()?;
    if !json {
        writeln!(out, "{:<24}  {:<42}  {:<6}  members by state", "id", "policy", "admins")?;
    }
    for group in &groups {
        let counts = counts(group, now_ms);
        if json {
            let states: serde_json::Map<String, Value> = counts
                .iter()
                .map(|(name, count)| ((*name).to_owned(), json!(count)))
                .collect();
            let row = json!({
                "id": group.id.as_str(),
                "policy": policy_json(&group.policy),
                "admins": group.admins.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "members": states,
            });
            writeln!(out, "{row}")?;
        } else {
            let states: Vec<String> = counts
                .iter()
                .filter(|(_, count)| *count > 0)
                .map(|(name, count)| format!("{count} {name}"))
                .collect();
            writeln!(
                out,
                "{:<24}  {:<42}  {:<6}  {}",
                group.id,
                policy_text(&group.policy),
                group.admins.len(),
                states.join(", ")
            )?;
        }
    }
    Ok(())
}

fn state_name(state: Option<MemberState>) -> &'static str {
    state.map_or("-", MemberState::name)
}

/// `dims groups show`: the policy and one row per member; with `--json`, one object with a `members` array.
pub fn show(service: &Service, group: &GroupId, json: bool, now_ms: u64, out: &mut impl Write) -> anyhow::Result<()> {
    let group = require_group(service, group)?;
    let store = service.store();
    let name = |member: &MemberId| {
        store
            .member(member)
            .ok()
            .flatten()
            .map_or_else(|| "(removed)".to_owned(), |record| record.profile.name)
    };
    if json {
        let members: Vec<Value> = group
            .members
            .iter()
            .map(|(member, record)| {
                json!({
                    "member": member.to_string(),
                    "name": name(member),
                    "state": state_name(group.state(*member, now_ms)),
                    "admin": group.admins.contains(member),
                    "nominated_by": record.nominated_by.to_string(),
                    "vouches": record.vouches.iter().map(|vouch| json!({
                        "by": vouch.by.to_string(),
                        "attestation": vouch.attestation,
                    })).collect::<Vec<_>>(),
                    "approved_by": record.approved_by.map(|by| by.to_string()),
                })
            })
            .collect();
        let value = json!({
            "id": group.id.as_str(),
            "policy": policy_json(&group.policy),
            "admins": group.admins.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "members": members,
        });
        writeln!(out, "{value}")?;
        return Ok(());
    }
    writeln!(out, "group   {}", group.id)?;
    writeln!(out, "policy  {}", policy_text(&group.policy))?;
    writeln!(
        out,
        "{:<36}  {:<24}  {:<9}  {:<7}  {:<5}",
        "member", "name", "state", "vouches", "admin"
    )?;
    for (member, record) in &group.members {
        writeln!(
            out,
            "{:<36}  {:<24}  {:<9}  {:<7}  {:<5}",
            member,
            name(member),
            state_name(group.state(*member, now_ms)),
            format!("{}/{}", record.vouches.len(), group.policy.vouches_needed),
            if group.admins.contains(member) { "yes" } else { "no" },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_days() {
        assert_eq!(parse_idle("never").expect("never"), None);
        assert_eq!(parse_idle("30").expect("days"), Some(30 * 86_400_000));
        for bad in ["0", "-1", "soon"] {
            let error = parse_idle(bad).expect_err(bad).to_string();
            assert!(error.contains("--idle-days"), "{error}");
        }
    }

    #[test]
    fn an_approval_short_of_vouches_says_how_many_and_what_to_run() {
        let (admin, candidate) = (MemberId([1; 16]), MemberId([2; 16]));
        let mut group = TrustGroup::new(
            GroupId::new("water").expect("slug"),
            GroupPolicy::default(),
            vec![admin],
            0,
        );
        group.nominate(admin, candidate, 0).expect("nominate");
        group.vouch(admin, candidate, "colleague", 0).expect("vouch");
        let step = VettingStep::Approve { by: admin, candidate };
        let refusal = group.approve(admin, candidate, 0).expect_err("one vouch of two");
        let text = explain(&group, &step, &refusal, 0);
        assert!(
            text.contains(&format!("member {candidate} needs 2 vouches, has 1"))
                && text.contains(&format!("dims groups vouch water {candidate} --by MEMBER")),
            "{text}"
        );
    }
}
