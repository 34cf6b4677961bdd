//! `dims peers list|check|forget`: the federation as the running node sees it. These commands ask the node's
//! operations listener (`http.listen`, loopback by default) rather than opening the store, because the running node
//! holds the store and the connections: only it knows who is connected.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use dims_protocol::NodeId;

use super::{Loaded, runtime};
use crate::federation::checks::CheckReport;
use crate::http::PeersReport;

/// `dims peers ...`
#[derive(Debug, Subcommand)]
pub enum PeersCommand {
    /// Every roster member: connected or not, in the gossip domain or not, its score, the last reconciliation.
    List(OutputArgs),
    /// The federation self-test: reachability, key match, roster membership and versions, clock skew, protocol
    /// version, for every roster member. Exits non-zero if anything is wrong, saying what and what to do.
    Check(OutputArgs),
    /// Drop this node's pending deliveries to a member and its retry state (for a member that is gone for good;
    /// remove it from the roster too, or it will be dialed again).
    Forget(ForgetArgs),
}

/// Output format.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print JSON instead of a table.
    #[arg(long, env = "DIMS_PEERS_JSON")]
    pub json: bool,
}

/// `dims peers forget`
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The member's node id (hex), as `dims peers list` shows it.
    #[arg(env = "DIMS_PEERS_NODE")]
    pub node: NodeId,
}

/// Runs a peers command against the running node.
pub fn run(loaded: Loaded, command: PeersCommand) -> anyhow::Result<ExitCode> {
    let Some(address) = loaded.settings.http else {
        anyhow::bail!(
            "the operations listener is disabled (http.enabled = false), and dims peers asks the running node through \
             it: enable it (DIMS_HTTP__ENABLED=true) and restart the node"
        );
    };
    let base = format!("http://{address}");
    runtime()?.block_on(async move {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        match command {
            PeersCommand::List(output) => {
                let report: PeersReport = get_json(&client, &format!("{base}/federation/peers")).await?;
                if output.json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    print_list(&report);
                }
                Ok(ExitCode::SUCCESS)
            }
            PeersCommand::Check(output) => {
                let report: CheckReport = get_json(&client, &format!("{base}/federation/check")).await?;
                if output.json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    print_check(&report);
                }
                Ok(if report.ok() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            PeersCommand::Forget(args) => {
                let cookie = super::operations_cookie(&loaded.settings)?;
                let response = client
                    .post(format!("{base}/federation/forget"))
                    .bearer_auth(cookie)
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(
                        &serde_json::json!({ "node": args.node.to_string() }),
                    )?)
                    .send()
                    .await
                    .with_context(|| unreachable_hint(&base))?;
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                anyhow::ensure!(status.is_success(), "the node refused: {}", text.trim());
                println!("{}", text.trim());
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

async fn get_json<T: serde::de::DeserializeOwned>(client: &reqwest::Client, url: &str) -> anyhow::Result<T> {
    let response = client.get(url).send().await.with_context(|| unreachable_hint(url))?;
    let status = response.status();
    let body = response.text().await.context("reading the node's answer")?;
    anyhow::ensure!(status.is_success(), "{url}: {}", body.trim());
    serde_json::from_str(&body).with_context(|| format!("{url} answered something this dims cannot read"))
}

fn unreachable_hint(url: &str) -> String {
    format!("cannot reach the node at {url}: is `dims run` running with this configuration?")
}

fn print_list(report: &PeersReport) {
    println!("this node: peer {}", report.peer_id);
    println!(
        "gossip: {} accepted, {} rejected, {} ignored; {} delivered; outbox {}; {} denied connections",
        report.stats.gossip_accepted,
        report.stats.gossip_rejected,
        report.stats.gossip_ignored,
        report.stats.delivered,
        report.stats.outbox_depth,
        report.stats.connections_denied
    );
    println!(
        "{:<66} {:<10} {:<7} {:>8}  last reconciliation",
        "node", "state", "gossip", "score"
    );
    for peer in &report.peers {
        let state = if peer.connected { "connected" } else { "down" };
        let score = peer.score.map_or("-".to_owned(), |s| format!("{s:.1}"));
        let sync = peer.last_sync.as_ref().map_or("never".to_owned(), |s| {
            format!(
                "{} rounds, {} B, {} fetched",
                s.rounds,
                s.bytes_sent + s.bytes_received,
                s.need
            )
        });
        println!(
            "{:<66} {:<10} {:<7} {:>8}  {sync}",
            peer.node.to_string(),
            state,
            if peer.gossip { "yes" } else { "no" },
            score
        );
        if let Some(error) = &peer.last_error {
            println!("    last dial: {error}");
        }
    }
}

fn print_check(report: &CheckReport) {
    let rosters: Vec<String> = report.rosters.iter().map(|(f, v)| format!("{f} v{v}")).collect();
    println!("this node {} holds {}", report.node, rosters.join(", "));
    for member in &report.members {
        let verdict = if member.problems.is_empty() { "ok" } else { "PROBLEM" };
        let skew = member
            .skew_ms
            .map_or("-".to_owned(), |s| format!("{:+.1} s", s as f64 / 1000.0));
        let rtt = member.rtt_ms.map_or("-".to_owned(), |r| format!("{r} ms"));
        println!("{verdict:<8} {} ({}): skew {skew}, rtt {rtt}", member.name, member.node);
        for problem in &member.problems {
            println!("         - {problem}");
        }
    }
    if report.ok() {
        println!("all {} members pass", report.members.len());
    }
}
