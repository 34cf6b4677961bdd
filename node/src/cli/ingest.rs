//! `dims ingest`: signed bundle envelopes, one hex envelope per line, from a file or standard input (the format of
//! `fixtures/vectors/`). Each is validated like a bundle from a peer and acknowledged on standard output only after
//! it is durable: `stored ID`, `duplicate ID`, or `rejected line N: reason`. Lines are taken in groups as they
//! arrive, so that many are verified in one batch and committed in one group.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{Loaded, runtime};
use crate::service::Ingested;

/// How many lines one group may hold.
const GROUP: usize = 256;

/// `dims ingest` arguments.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The file to read; `-` for standard input.
    #[arg(env = "DIMS_INGEST_INPUT", default_value = "-")]
    pub input: PathBuf,
}

/// Ingests every line; exits 1 if any line was rejected.
pub fn run(loaded: Loaded, args: IngestArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let service = loaded.open_service()?;
        let reader: Box<dyn tokio::io::AsyncRead + Unpin + Send> = if args.input.as_os_str() == "-" {
            Box::new(tokio::io::stdin())
        } else {
            Box::new(
                tokio::fs::File::open(&args.input)
                    .await
                    .with_context(|| format!("opening {}", args.input.display()))?,
            )
        };
        let (lines_tx, mut lines_rx) = tokio::sync::mpsc::channel::<(usize, String)>(GROUP * 2);
        let reading = tokio::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            let mut number = 0;
            while let Some(line) = lines.next_line().await? {
                number += 1;
                if lines_tx.send((number, line)).await.is_err() {
                    break;
                }
            }
            anyhow::Ok(())
        });
        let mut out = tokio::io::stdout();
        let mut rejected = 0usize;
        while let Some(first) = lines_rx.recv().await {
            let mut group = vec![first];
            while group.len() < GROUP {
                match lines_rx.try_recv() {
                    Ok(line) => group.push(line),
                    Err(_) => break,
                }
            }
            let mut envelopes = Vec::with_capacity(group.len());
            let mut numbers = Vec::with_capacity(group.len());
            let mut report = String::new();
            for (number, line) in group {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                match hex::decode(line) {
                    Ok(bytes) => {
                        envelopes.push(bytes);
                        numbers.push(number);
                    }
                    Err(e) => {
                        rejected += 1;
                        report.push_str(&format!("rejected line {number}: not a hex envelope ({e})\n"));
                    }
                }
            }
            for (number, result) in numbers.into_iter().zip(service.ingest_many(&envelopes).await) {
                match result {
                    Ok(Ingested::Stored(id)) => report.push_str(&format!("stored {id}\n")),
                    Ok(Ingested::Duplicate(id)) => report.push_str(&format!("duplicate {id}\n")),
                    Err(e) => {
                        rejected += 1;
                        report.push_str(&format!("rejected line {number}: {e}\n"));
                    }
                }
            }
            out.write_all(report.as_bytes()).await?;
            out.flush().await?;
        }
        reading.await.context("the input reader stopped")??;
        drop(service);
        Ok(if rejected == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}
