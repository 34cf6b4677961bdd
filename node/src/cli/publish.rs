//! `dims publish`: indicators from STIX 2.1 JSON, CSV or free text, signed by this node and stored. Everything is
//! parsed and checked before anything is stored: a bad line or field is an error that names it, and nothing of the
//! input is published. `--dry-run` shows what would be published.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use dims_protocol::content::MAX_INDICATORS;
use dims_protocol::{Audience, Content, Indicator, Tlp};

use super::console::{Console, SUCCESS};
use super::operation::Held;
use crate::intake;
use crate::service::Draft;

/// What the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum InputFormat {
    /// Decide from the content: JSON is STIX, a header with a `value` or `indicator` column is CSV, else free text.
    Auto,
    /// A STIX 2.1 bundle, object or list of objects.
    Stix,
    /// CSV with a header row (value, type, labels, confidence, valid_from, valid_until, description, name).
    Csv,
    /// Free text: indicators are found by type detection, defanged ones (hxxp, [.]) are refanged.
    Freetext,
}

/// `dims publish` arguments.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
pub struct PublishArgs {
    /// The file to read; `-` for standard input.
    #[arg(env = "DIMS_PUBLISH_INPUT", default_value = "-")]
    pub input: PathBuf,
    /// What the input is.
    #[arg(long, env = "DIMS_PUBLISH_FORMAT", value_enum, default_value = "auto")]
    pub format: InputFormat,
    /// The marking: clear, green, amber, amber+strict or red (default: publish.default_tlp).
    #[arg(long, env = "DIMS_PUBLISH_TLP")]
    pub tlp: Option<Tlp>,
    /// Who it is for: org, community, federation[:NAME], or recipients:SPEC,SPEC... where SPEC is node:ID,
    /// org:ID/ORG, group:ID/GROUP or member:ID/UUID. Default: as narrow as the marking demands (org, or the
    /// federation for CLEAR and GREEN when publish.federation is set).
    #[arg(long, env = "DIMS_PUBLISH_AUDIENCE")]
    pub audience: Option<String>,
    /// Show what would be published and store nothing.
    #[arg(long, env = "DIMS_PUBLISH_DRY_RUN")]
    pub dry_run: bool,
    /// Publish the valid indicators even if some free-text tokens or CSV rows are invalid (they are listed).
    #[arg(long, env = "DIMS_PUBLISH_SKIP_INVALID")]
    pub skip_invalid: bool,
    /// Labels to add to every indicator (repeatable).
    #[arg(long = "label", env = "DIMS_PUBLISH_LABELS", value_delimiter = ',')]
    pub labels: Vec<String>,
}

/// Parses, previews or publishes.
pub async fn execute(on: &Held, args: PublishArgs, console: &mut Console) -> anyhow::Result<u8> {
    let settings = &on.settings;
    let input = console.read_input(&args.input)?;
    let tlp = args.tlp.unwrap_or(settings.default_tlp);
    let audience = match &args.audience {
        Some(text) => intake::audience::parse(text, settings.federation.as_ref())
            .map_err(|e| anyhow::anyhow!("--audience: {e}"))?,
        None => intake::audience::default_for(tlp, settings.federation.as_ref()),
    };
    dims_protocol::audience::check_audience(tlp, &audience)
        .map_err(|e| anyhow::anyhow!("--tlp and --audience: {e}"))?;
    let format = match args.format {
        InputFormat::Auto => sniff(&input),
        chosen => chosen,
    };
    let err = &mut console.err;
    let drafts = match format {
        InputFormat::Stix => stix_drafts(on, &input, tlp, &audience, err)?,
        _ => {
            let indicators = indicators(format, &input, &args, err)?;
            if indicators.is_empty() {
                bail!("no indicators found in {}: nothing to publish", args.input.display());
            }
            indicators
                .chunks(MAX_INDICATORS)
                .map(|chunk| Draft {
                    tlp,
                    audience: audience.clone(),
                    content: Content::Indicators(chunk.to_vec()),
                    supersedes: None,
                    expires: None,
                })
                .collect()
        }
    };
    let now = crate::clock::now_ms();
    let service = &on.service;
    // Sign every draft before storing the first, so that an invalid one stores nothing; signing checks every field
    // exactly as publishing does, so a dry run stops here.
    let signed = drafts
        .into_iter()
        .map(|draft| service.sign(draft, now))
        .collect::<Result<Vec<_>, _>>()?;
    let out = &mut console.out;
    if args.dry_run {
        for bundle in &signed {
            print_preview(bundle, out)?;
        }
        writeln!(out, "dry run: nothing was stored")?;
        return Ok(SUCCESS);
    }
    for bundle in signed {
        let bundle = service.publish_signed(bundle).await?;
        let body = bundle.body();
        writeln!(
            out,
            "published {} ({} {}, {}, audience {})",
            bundle.id(),
            body.content.indicators().len().max(1),
            if body.content.indicators().is_empty() {
                body.content.kind()
            } else {
                "indicators"
            },
            body.tlp,
            body.audience.kind()
        )?;
    }
    Ok(SUCCESS)
}

/// Guesses the format: JSON is STIX; a first line naming a value column is CSV; anything else is free text.
pub fn sniff(input: &[u8]) -> InputFormat {
    let text = String::from_utf8_lossy(&input[..input.len().min(4096)]);
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return InputFormat::Stix;
    }
    let header = trimmed.lines().next().unwrap_or_default().to_ascii_lowercase();
    let columns: Vec<&str> = header.split([',', '\t', ';']).map(str::trim).collect();
    if columns.len() > 1 && columns.iter().any(|c| *c == "value" || *c == "indicator") {
        InputFormat::Csv
    } else {
        InputFormat::Freetext
    }
}

fn indicators(
    format: InputFormat,
    input: &[u8],
    args: &PublishArgs,
    err: &mut impl Write,
) -> anyhow::Result<Vec<Indicator>> {
    let mut found = match format {
        InputFormat::Csv => {
            let options = intake::CsvOptions {
                skip_bad_rows: args.skip_invalid,
                ..Default::default()
            };
            let outcome = intake::csv(input, options)?;
            for warning in &outcome.warnings {
                writeln!(err, "warning: {warning}")?;
            }
            for skipped in &outcome.skipped {
                writeln!(err, "skipped: {skipped}")?;
            }
            outcome.indicators
        }
        _ => {
            let text = std::str::from_utf8(input).context("free text must be UTF-8")?;
            let outcome = intake::freetext(text, intake::FreetextOptions::default());
            for rejected in &outcome.rejected {
                writeln!(err, "invalid: {rejected}")?;
            }
            if let Some(cut) = &outcome.cut {
                writeln!(err, "warning: {cut}")?;
            }
            if !outcome.rejected.is_empty() && !args.skip_invalid {
                bail!(
                    "{} token(s) look like indicators but are invalid (listed above): fix them, or publish the rest \
                     with --skip-invalid",
                    outcome.rejected.len() + outcome.rejected_omitted
                );
            }
            for found in &outcome.indicators {
                for warning in &found.warnings {
                    writeln!(err, "warning: line {}: {} is {warning}", found.line, found.value)?;
                }
            }
            outcome
                .indicators
                .into_iter()
                .map(|found| Indicator::new(found.value))
                .collect()
        }
    };
    if !args.labels.is_empty() {
        for label in &args.labels {
            dims_protocol::text::check_line("--label", label, 128)?;
        }
        for indicator in &mut found {
            indicator.labels.extend(args.labels.iter().cloned());
            indicator.normalise();
        }
    }
    Ok(found)
}

fn stix_drafts(
    on: &Held,
    input: &[u8],
    tlp: Tlp,
    audience: &Audience,
    err: &mut impl Write,
) -> anyhow::Result<Vec<Draft>> {
    let author = dims_protocol::Author {
        org: on.settings.org.clone(),
        member: None,
    };
    let mut ctx = dims_protocol::stix::ImportContext::new(on.service.node_view().id, author, crate::clock::now_ms());
    ctx.default_tlp = tlp;
    ctx.default_audience = audience.clone();
    let outcome = dims_protocol::stix::import(input, &ctx)?;
    for unsupported in &outcome.unsupported {
        writeln!(err, "skipped: {unsupported}")?;
    }
    for warning in &outcome.warnings {
        writeln!(err, "warning: {warning}")?;
    }
    if outcome.drafts.is_empty() {
        bail!("the STIX input holds nothing dims can publish (see the skipped objects above)");
    }
    Ok(outcome
        .drafts
        .into_iter()
        .map(|draft| Draft {
            tlp: draft.body.tlp,
            audience: draft.body.audience,
            content: draft.body.content,
            supersedes: draft.body.supersedes,
            expires: draft.body.expires,
        })
        .collect())
}

fn print_preview(bundle: &dims_protocol::VerifiedBundle, out: &mut impl Write) -> std::io::Result<()> {
    let body = bundle.body();
    writeln!(
        out,
        "{} {} for {} ({})",
        body.tlp,
        body.content.kind(),
        body.audience.kind(),
        bundle.envelope().len()
    )?;
    for indicator in body.content.indicators() {
        writeln!(out, "  {:<7} {}", indicator.value.kind().name(), indicator.value)?;
    }
    Ok(())
}
