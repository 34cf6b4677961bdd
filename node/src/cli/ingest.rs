//! `dims ingest`: signed bundle envelopes, one hex envelope per line, from a file or standard input (the format of
//! `fixtures/vectors/`). Each is validated like a bundle from a peer and acknowledged on standard output only after
//! it is durable: `stored ID`, `duplicate ID`, or `rejected line N: reason`. Lines are taken in groups as they
//! arrive, so that many are verified in one batch and committed in one group.
//!
//! Each line is judged alone: one that is not UTF-8, or longer than any hex envelope can be ([`MAX_LINE_BYTES`]), is
//! rejected by its number and the next line is read. A long line is never held whole: past the limit, its bytes are
//! skipped up to its end.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{Loaded, runtime};
use crate::service::Ingested;

/// How many lines one group may hold.
const GROUP: usize = 256;

/// The longest line read: the hex of the largest envelope, with room for surrounding space.
pub const MAX_LINE_BYTES: usize = 2 * dims_protocol::encoding::MAX_BUNDLE_BYTES + 64;

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
        // Each line as text, or why it was rejected unread.
        let (lines_tx, mut lines_rx) = tokio::sync::mpsc::channel::<(usize, Result<String, String>)>(GROUP * 2);
        let reading = tokio::spawn(async move {
            let mut reader = BufReader::new(reader);
            let mut number = 0;
            while let Some(line) = next_line(&mut reader, MAX_LINE_BYTES).await? {
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
            // Answers in line order: a line rejected unread is answered where it stands, not before the group.
            let mut answers: Vec<(usize, String)> = Vec::with_capacity(group.len());
            for (number, line) in group {
                let line = match line {
                    Ok(line) => line,
                    Err(reason) => {
                        rejected += 1;
                        answers.push((number, format!("rejected line {number}: {reason}\n")));
                        continue;
                    }
                };
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
                        answers.push((number, format!("rejected line {number}: not a hex envelope ({e})\n")));
                    }
                }
            }
            for (number, result) in numbers.into_iter().zip(service.ingest_many(&envelopes).await) {
                let answer = match result {
                    Ok(Ingested::Stored(id)) => format!("stored {id}\n"),
                    Ok(Ingested::Duplicate(id)) => format!("duplicate {id}\n"),
                    Err(e) => {
                        rejected += 1;
                        format!("rejected line {number}: {e}\n")
                    }
                };
                answers.push((number, answer));
            }
            answers.sort_by_key(|&(number, _)| number);
            let report: String = answers.into_iter().map(|(_, answer)| answer).collect();
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

/// The next line of `reader` without its line end, `None` at the end of the input, or why the line is rejected: it
/// is not UTF-8, or it is longer than `max` bytes (then it is read to its end but not kept).
async fn next_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Option<Result<String, String>>> {
    let mut line = Vec::new();
    let mut too_long = false;
    let mut started = false;
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            if !started {
                return Ok(None);
            }
            break;
        }
        started = true;
        let (content, taken) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (&buffer[..at], at + 1),
            None => (buffer, buffer.len()),
        };
        let ended = taken > content.len();
        if !too_long && line.len() + content.len() > max {
            too_long = true;
            line = Vec::new();
        }
        if !too_long {
            line.extend_from_slice(content);
        }
        reader.consume(taken);
        if ended {
            break;
        }
    }
    if too_long {
        return Ok(Some(Err(format!(
            "longer than {max} bytes, more than any hex envelope; skipped to its end"
        ))));
    }
    Ok(Some(String::from_utf8(line).map_err(|e| {
        format!(
            "not UTF-8 (an invalid byte after {} bytes)",
            e.utf8_error().valid_up_to()
        )
    })))
}
