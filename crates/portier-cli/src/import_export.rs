//! `portier import` and `portier export`: a file of people read into an
//! organization, and its members written out, through the same use cases as
//! the API (docs/IMPORTS.md).

#[allow(unused_imports)]
use super::*;

pub(crate) struct ExportOptions<'a> {
    pub(crate) children: bool,
    pub(crate) bom: bool,
    pub(crate) columns: Option<&'a str>,
}

pub(crate) async fn export(
    config: &Config,
    org: &str,
    format: &str,
    how: ExportOptions<'_>,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let ExportOptions { children, bom, .. } = how;
    let columns = portier_server::service::export::Selection::parse(how.columns)
        .map_err(|e| anyhow::anyhow!("--columns: {}", e.message))?;
    use portier_core::export::Format;
    use std::io::Write;
    let format = Format::parse(format)
        .ok_or_else(|| anyhow::anyhow!("--format: {format:?} is not csv, json or xlsx"))?;
    let store = migrate(config).await?;
    let org = organization(&store, org).await?;
    let auth = portier_core::rights::Principal::operator(&org)
        .authorize::<portier_core::rights::MembersRead>(&org)?;
    let sink: Box<dyn Write> = match output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("--output: cannot write {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, sink);
    portier_store::export::record(
        &store,
        &portier_core::audit::Actor::Cli,
        &auth,
        format,
        children,
        &Origin::now(None),
    )
    .await?;
    use portier_server::service::export::{Cells, Text, closing, opening, start, write_xlsx};
    let columns = std::sync::Arc::new(columns);
    if format == Format::Xlsx {
        let (rx, reading) = start(&store, &auth, children, Cells::batches(&columns));
        let mut file = write_xlsx(rx, columns).await?;
        let exported = reading.await??;
        std::io::copy(&mut file, &mut out)?;
        out.flush()?;
        eprintln!("{exported} members exported");
        return Ok(());
    }
    out.write_all(opening(format, bom, &columns).as_bytes())?;
    let (mut rx, reading) = start(&store, &auth, children, Text::batches(format, &columns));
    let mut first = true;
    while let Some(batch) = rx.recv().await {
        out.write_all(batch.into_text(&mut first).as_bytes())?;
    }
    let exported = reading.await??;
    out.write_all(closing(format).as_bytes())?;
    out.flush()?;
    eprintln!("{exported} members exported");
    Ok(())
}

pub(crate) struct ImportOptions {
    pub(crate) apply: bool,
    pub(crate) invite: bool,
    pub(crate) skip_invalid: bool,
    pub(crate) json: bool,
}

/// `portier import`: the dry run's report, or the import itself with a
/// progress bar (rows per second, time left). The operator acts with every
/// right on the organization.
pub(crate) async fn import(
    config: &Config,
    org: &str,
    file: Option<&std::path::Path>,
    resume: Option<&str>,
    how: ImportOptions,
) -> anyhow::Result<()> {
    use portier_core::import::FileKind;
    let store = migrate(config).await?;
    let org = organization(&store, org).await?;
    let lifecycle = lifecycle(config)?;
    let auth = portier_core::rights::Principal::operator(&org)
        .authorize::<portier_core::rights::MembersInvite>(&org)?;
    let origin = Origin::now(None);
    let (id, checked) = match resume {
        Some(raw) => (
            raw.parse::<uuid::Uuid>()
                .map_err(|_| anyhow::anyhow!("--resume: {raw:?} is not an import id"))?,
            false,
        ),
        None => {
            let path = file.ok_or_else(|| anyhow::anyhow!("FILE: which file to import?"))?;
            let size = std::fs::metadata(path)
                .with_context(|| format!("FILE: cannot read {}", path.display()))?
                .len();
            if size > config.import_max_bytes as u64 {
                anyhow::bail!(
                    "{}: {size} bytes; a file to import holds at most {} (PORTIER_IMPORT_MAX_BYTES)",
                    path.display(),
                    config.import_max_bytes
                );
            }
            let source = std::fs::read(path)
                .with_context(|| format!("FILE: cannot read {}", path.display()))?;
            let is_xlsx = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
            let kind =
                FileKind::detect(is_xlsx.then_some(portier_core::import::XLSX_TYPE), &source)
                    .unwrap_or(FileKind::Csv);
            let mut printer = ReportPrinter::start(how.json)?;
            let checked = portier_store::import::check(&store, &auth, kind, &source, |line| {
                printer.line(line)
            })
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            printer.end(&checked)?;
            let counts = checked.counts;
            if !how.apply {
                eprintln!("dry run: nothing was written; run again with --apply to import");
                return Ok(());
            }
            if counts.invalid > 0 && !how.skip_invalid {
                anyhow::bail!(
                    "{} rows are invalid, so nothing was imported: correct them, or add --skip-invalid",
                    counts.invalid
                );
            }
            let request = portier_store::import::Request {
                file_name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
                kind,
                source,
                invite: how.invite,
                skip_invalid: how.skip_invalid,
            };
            let id = portier_store::import::enqueue(
                &store,
                &auth,
                &request,
                checked.rows(),
                portier_store::import::Waiting::ToRun,
                &origin,
            )
            .await?;
            // Checked just now: the job need not check the file again
            // before it writes.
            (id, true)
        }
    };
    let job = portier_store::import::claim(&store, Some(id), origin.now)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!("import {id} is not waiting to run (done, or running elsewhere)")
        })?;
    if job.organization.id != org.id {
        anyhow::bail!("--resume: import {id} is not one of this organization's");
    }
    let bar = indicatif::ProgressBar::new(job.import.total_rows as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let done = portier_store::import::run_job(
        &store,
        job,
        checked,
        config.import_chunk_rows,
        &lifecycle,
        |at, total| {
            bar.set_length(total);
            bar.set_position(at);
        },
    )
    .await;
    bar.finish_and_clear();
    let done = done?;
    let c = done.counts;
    eprintln!(
        "import {}: {} — {} new, {} reused, {} already members, {} invalid{}",
        done.id,
        done.state,
        c.new,
        c.reused,
        c.already_member,
        c.invalid,
        if done.invitations_held {
            "; invitations held back"
        } else {
            ""
        }
    );
    if done.state != "done" {
        anyhow::bail!(
            "the import did not finish: {}",
            done.error.unwrap_or_default()
        );
    }
    Ok(())
}

/// A check's report, printed as its lines come: one line per row that is
/// not simply new, then the columns not read and the counts; or one JSON
/// object (`ignored_columns`, `rows`, then `counts`).
pub(crate) struct ReportPrinter {
    out: std::io::BufWriter<std::io::Stdout>,
    json: bool,
    lines: u64,
    /// The first error writing, reported at the end.
    failed: Option<std::io::Error>,
}

impl ReportPrinter {
    fn start(json: bool) -> anyhow::Result<ReportPrinter> {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::io::stdout());
        if json {
            write!(out, "{{\"rows\":[")?;
        }
        Ok(ReportPrinter {
            out,
            json,
            lines: 0,
            failed: None,
        })
    }

    fn line(&mut self, r: &portier_store::import::RowReport) {
        use std::io::Write;
        if self.failed.is_some() {
            return;
        }
        let written = if self.json {
            let comma = if self.lines > 0 { "," } else { "" };
            write!(self.out, "{comma}").and_then(|_| {
                serde_json::to_writer(&mut self.out, r).map_err(std::io::Error::other)
            })
        } else if r.outcome == portier_store::import::Outcome::New {
            Ok(())
        } else {
            writeln!(
                self.out,
                "row {}: {}{}{}",
                r.row,
                r.outcome.as_str(),
                r.field
                    .as_deref()
                    .map(|f| format!(" [{f}]"))
                    .unwrap_or_default(),
                r.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default(),
            )
        };
        self.lines += 1;
        if let Err(e) = written {
            self.failed = Some(e);
        }
    }

    fn end(mut self, checked: &portier_store::import::Checked) -> anyhow::Result<()> {
        use std::io::Write;
        if let Some(e) = self.failed {
            return Err(e.into());
        }
        let counts = checked.counts;
        let ignored = checked.columns.ignored();
        if self.json {
            write!(self.out, "],\"ignored_columns\":")?;
            serde_json::to_writer(&mut self.out, &ignored)?;
            write!(self.out, ",\"counts\":")?;
            serde_json::to_writer(&mut self.out, &counts)?;
            writeln!(self.out, "}}")?;
        } else {
            for c in ignored {
                writeln!(self.out, "column {c:?} is not recognised and was not read")?;
            }
            writeln!(
                self.out,
                "{} new, {} reused, {} already members, {} invalid",
                counts.new, counts.reused, counts.already_member, counts.invalid
            )?;
        }
        self.out.flush()?;
        Ok(())
    }
}
