//! `dims init`: a new node in a folder — a secret key (mode 0600), a commented `dims.toml` and a data folder (mode
//! 0700).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use dims_protocol::{FederationId, OrgId};

use crate::config;

/// `dims init` arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder for the node (created if absent): DIR/dims.toml, DIR/node.key and DIR/data.
    #[arg(long, env = "DIMS_INIT_DIR", default_value = ".")]
    pub dir: PathBuf,
    /// A human name for the node.
    #[arg(long, env = "DIMS_INIT_NAME", default_value = "dims")]
    pub name: String,
    /// The organisation the operator publishes as (a slug such as cert-ops).
    #[arg(long, env = "DIMS_INIT_ORG")]
    pub org: String,
    /// The federation `--audience federation` will mean.
    #[arg(long, env = "DIMS_INIT_FEDERATION")]
    pub federation: Option<String>,
}

/// Writes the node's files, refusing to overwrite any.
pub fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    OrgId::new(&args.org).map_err(|e| anyhow::anyhow!("--org: {e}"))?;
    if let Some(federation) = &args.federation {
        FederationId::new(federation).map_err(|e| anyhow::anyhow!("--federation: {e}"))?;
    }
    let config_path = args.dir.join("dims.toml");
    let key_path = args.dir.join("node.key");
    for existing in [&config_path, &key_path] {
        if existing.exists() {
            bail!(
                "{} already exists: dims init never overwrites a node; choose another --dir",
                existing.display()
            );
        }
    }
    crate::files::create_private_dir(&args.dir.join("data"))
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let key = crate::keys::create(&key_path)?;
    std::fs::write(
        &config_path,
        config::template(&args.name, &args.org, args.federation.as_deref()),
    )
    .with_context(|| format!("writing {}", config_path.display()))?;
    println!("created node {} in {}", key.node_id(), args.dir.display());
    println!("  config  {}", config_path.display());
    println!(
        "  key     {} (mode 0600: back it up, never share it)",
        key_path.display()
    );
    println!("next: dims --config {} doctor", config_path.display());
    Ok(ExitCode::SUCCESS)
}
