//! Setting the nodes up with the command line only, as an operator would: `dims init` per honest node, the roster
//! made with `dims roster keygen|init|add|sign` and checked against the scenario's truth, `dims federation join`, an
//! automation token from `dims tokens create`, then `[http]`, `[api]` and `[federation]` written into each node's
//! `dims.toml` on loopback ports picked free beforehand.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use dims_node::clock;
use dims_protocol::{NodeId, OrgId};

use super::node::{Proc, dims_ok};
use crate::scenario::Scenario;
use crate::topology::{Kind, Topology};

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .context("cannot find a free loopback port")?
        .local_addr()?)
}

/// Sets `section.key` in a configuration table.
fn set(table: &mut toml::Table, section: &str, key: &str, value: toml::Value) {
    let entry = table
        .entry(section.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(section) = entry {
        section.insert(key.to_owned(), value);
    }
}

pub(super) fn seconds(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

/// Makes every honest node with the command line, in `dir`: `dims init`, the roster, `federation join`, a token, the
/// configuration. Replaces the topology's ids with the nodes' own keys.
pub(super) fn set_up(
    dims: &Path,
    dir: &Path,
    scenario: &Scenario,
    topology: &mut Topology,
) -> anyhow::Result<Vec<Option<Proc>>> {
    let federation = topology.federation.to_string();
    let mut procs: Vec<Option<Proc>> = Vec::new();
    let mut ids = Vec::new();
    for (index, spec) in topology.specs.iter().enumerate() {
        if spec.kind == Kind::National || spec.kind == Kind::Region || spec.kind == Kind::Observer {
            let root = dir.join(&spec.name);
            let root_text = root.to_str().context("the node folder is not UTF-8")?;
            let org =
                OrgId::new(format!("{}-soc", spec.name)).map_err(|e| anyhow::anyhow!("org of {}: {e}", spec.name))?;
            dims_ok(
                dims,
                None,
                &[
                    "init",
                    "--dir",
                    root_text,
                    "--org",
                    org.as_str(),
                    "--name",
                    &spec.name,
                    "--federation",
                    &federation,
                ],
            )?;
            let config = root.join("dims.toml");
            let shown = dims_ok(dims, Some(&config), &["keys", "show"])?;
            let id: NodeId = shown
                .lines()
                .find_map(|line| line.strip_prefix("node id"))
                .map(str::trim)
                .context("dims keys show printed no node id")?
                .parse()
                .map_err(|e| anyhow::anyhow!("dims keys show: {e}"))?;
            ids.push((index, id));
            procs.push(Some(Proc {
                name: spec.name.clone(),
                root,
                config,
                org,
                http: free_addr()?,
                api: free_addr()?,
                token: String::new(),
                child: None,
                peak_rss: None,
                exits: Vec::new(),
                clean: true,
            }));
        } else {
            procs.push(None);
        }
    }
    topology.adopt_ids(&ids)?;

    // The roster, as federation admins make it.
    let admin_key = dir.join("admin.key");
    let roster = dir.join("federation.roster");
    let roster_text = roster.to_str().context("the roster path is not UTF-8")?;
    let admin = dims_ok(
        dims,
        None,
        &["roster", "keygen", "--out", admin_key.to_str().context("UTF-8")?],
    )?;
    dims_ok(
        dims,
        None,
        &[
            "roster",
            "init",
            "--federation",
            &federation,
            "--threshold",
            "1",
            "--admin",
            admin.trim(),
            "--out",
            roster_text,
        ],
    )?;
    for spec in &topology.specs {
        let role = match spec.kind {
            Kind::National => "national",
            Kind::Region => "regional",
            Kind::Observer => "observer",
            Kind::Hostile(_) => continue,
        };
        dims_ok(
            dims,
            None,
            &[
                "roster",
                "add",
                roster_text,
                "--node",
                &spec.id().to_string(),
                "--name",
                &spec.name,
                "--community",
                &format!("{} community", spec.name),
                "--address",
                &spec.address.to_string(),
                "--role",
                role,
                "--ceiling",
                spec.ceiling.name(),
                // The scenario's roster holds from the epoch; so does this one, so the two say the same.
                "--valid-from",
                "1970-01-01T00:00:00.000Z",
            ],
        )?;
    }
    dims_ok(
        dims,
        None,
        &[
            "roster",
            "sign",
            roster_text,
            "--admin-key",
            admin_key.to_str().context("UTF-8")?,
        ],
    )?;
    // The roster the nodes pin must say what the scenario's truth says of every node.
    let bytes = std::fs::read(&roster).context("reading the roster")?;
    let pinned = dims_protocol::VerifiedRoster::genesis(&bytes).map_err(|e| anyhow::anyhow!("the roster: {e}"))?;
    let now = clock::now_ms();
    for (index, spec) in topology.specs.iter().enumerate() {
        let made = pinned.membership(&spec.id(), now);
        let truth = topology.truth_view(index).memberships.into_iter().next();
        anyhow::ensure!(
            made == truth,
            "the roster made with the command line says {made:?} of {}, the scenario {truth:?}",
            spec.name
        );
    }

    let tuning = &scenario.federation;
    for (index, proc) in procs.iter_mut().enumerate() {
        let Some(proc) = proc else { continue };
        dims_ok(dims, Some(&proc.config), &["federation", "join", roster_text])?;
        proc.token = dims_ok(
            dims,
            Some(&proc.config),
            &[
                "tokens",
                "create",
                "--label",
                "simnet",
                "--scopes",
                "read,publish",
                "--audience",
                "org,community,federation,recipients",
                "--tlp-ceiling",
                "red",
                "--expires",
                "never",
            ],
        )?
        .trim()
        .to_owned();
        let text = std::fs::read_to_string(&proc.config)?;
        let mut table: toml::Table = text
            .parse()
            .context("dims init wrote a configuration that is not TOML")?;
        set(&mut table, "http", "enabled", true.into());
        set(&mut table, "http", "listen", proc.http.to_string().into());
        set(&mut table, "api", "enabled", true.into());
        set(&mut table, "api", "listen", proc.api.to_string().into());
        set(
            &mut table,
            "federation",
            "listen",
            toml::Value::Array(vec![topology.specs[index].address.to_string().into()]),
        );
        set(
            &mut table,
            "federation",
            "reconcile_interval_s",
            toml::Value::Integer(seconds(tuning.reconcile_interval_ms) as i64),
        );
        set(
            &mut table,
            "federation",
            "redial_interval_s",
            toml::Value::Integer(seconds(tuning.redial_ms) as i64),
        );
        std::fs::write(&proc.config, toml::to_string(&table)?)?;
    }
    Ok(procs)
}
