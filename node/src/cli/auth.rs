//! `dims auth test-login`: walks an operator through one OpenID Connect login with the node's `[oidc]` and `[ldap]`
//! settings, and prints what the node would make of it: the claims received, the groups at the configured claim path,
//! the directory entry, groups and org, and the roles they grant. Nothing is stored. The work is done by
//! [`crate::login`]; this module only talks to the terminal.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use url::Url;

use super::{OutputArgs, runtime};
use crate::config::{Config, Overrides};
use crate::login::{TestLogin, bind_redirect, receive_callback};

/// `dims auth ...`
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Log in once at the configured OpenID Connect provider and show the claims, groups, directory entry and
    /// roles the node resolves. Prints the URL to open on standard error and the result on standard output.
    TestLogin(TestLoginArgs),
}

/// `dims auth test-login` arguments.
#[derive(Debug, Args)]
pub struct TestLoginArgs {
    /// Instead of listening on the redirect URL's loopback port, read the URL the browser ends at from standard
    /// input (paste it from the address bar): for a redirect URL served elsewhere or not yet at all.
    #[arg(long, env = "DIMS_AUTH_PASTE")]
    pub paste: bool,
    /// How long to wait for the login to finish, in seconds.
    #[arg(long, env = "DIMS_AUTH_TIMEOUT", default_value_t = 300)]
    pub timeout: u64,
    /// Output.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs an auth command.
pub fn run(path: &Path, overrides: &Overrides, command: AuthCommand) -> anyhow::Result<ExitCode> {
    let AuthCommand::TestLogin(args) = command;
    let config = Config::load(path, overrides)?;
    let settings = config.validate(&super::config_dir(path))?;
    super::init_logging(&settings);
    let Some(oidc) = settings.oidc.clone() else {
        bail!(
            "no [oidc] section in {}: add one (the file `dims init` writes shows every key) to name the provider",
            path.display()
        );
    };
    runtime()?.block_on(async move {
        let login = TestLogin::discover(&oidc, settings.ldap.clone())
            .await
            .context("reaching the OpenID provider")?;
        let redirect: Url = oidc.redirect_url().clone();
        let listener = if args.paste {
            None
        } else {
            Some(bind_redirect(&redirect).await?)
        };
        let start = login.begin(crate::clock::now_ms());
        eprintln!("open this URL in a browser and log in:\n{}", start.authorize_url);
        let wait = Duration::from_secs(args.timeout.max(1));
        let callback = match &listener {
            Some(listener) => {
                eprintln!("waiting for the provider to send the browser to {redirect} ...");
                tokio::time::timeout(wait, receive_callback(listener, &redirect))
                    .await
                    .map_err(|_| anyhow::anyhow!("no login within {} s: start again", wait.as_secs()))??
            }
            None => {
                eprintln!("then paste the whole URL the browser ends at (it starts with {redirect}):");
                let line = tokio::time::timeout(wait, tokio::task::spawn_blocking(read_line))
                    .await
                    .map_err(|_| anyhow::anyhow!("no URL pasted within {} s: start again", wait.as_secs()))???;
                Url::parse(line.trim()).with_context(|| format!("{:?} is not a URL", line.trim()))?
            }
        };
        let report = login
            .finish(&callback, crate::clock::now_ms())
            .await
            .context("completing the login")?;
        if args.output.json {
            println!("{}", report.to_json());
        } else {
            print!("{}", report.to_text());
        }
        Ok(if report.is_complete() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

fn read_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the pasted URL")?;
    Ok(line)
}
