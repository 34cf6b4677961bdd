//! The `dims` binary: parse the command line, run the command, report errors with their causes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = dims_node::cli::Cli::parse();
    match dims_node::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
