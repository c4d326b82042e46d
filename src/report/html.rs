//! `report.html`: one self-contained page (inline CSS and SVG, no scripts, no
//! network) that a person who was not there can trust at a glance: the
//! verdict on top, the expectations with their evidence, the figures across
//! iterations, the last runs of the scenario beside this one, and per
//! iteration the timeline charts, the faults with their witnesses, the events
//! and the audio verdict with a waveform picture of each resume seam.

use std::fmt::Write;

use super::chart::{self, Window};
use super::display::{escape, number, seconds, with_unit, witness_text};
use super::figure::Figure;
use super::figures;
use super::history::HistorySummary;
use super::model::{Iteration, IterationOutcome, Report, RunOutcome, Verdict};
use super::seams::{IterationSeams, VerdictView};

/// File name of the HTML report inside a report directory.
pub const FILE_NAME: &str = "report.html";

const STYLE: &str = r#"
body{font:14px/1.45 Helvetica,Arial,sans-serif;color:#212121;margin:0;background:#fafafa}
main{max-width:1160px;margin:0 auto;padding:0 16px 40px}
header{padding:18px 16px;color:#fff}
header.passed{background:#2e7d32}header.failed{background:#c62828}
header.inconclusive{background:#ef6c00}header.error{background:#6d4c41}
header h1{margin:0 0 4px;font-size:24px}header p{margin:2px 0}
.badge{display:inline-block;font-weight:bold;letter-spacing:.05em;border:2px solid #fff;border-radius:4px;padding:2px 8px;margin-bottom:8px}
.meta{opacity:.9;font-size:13px}
h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #e0e0e0;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}
table{border-collapse:collapse;background:#fff;margin:6px 0 10px}
th,td{border:1px solid #e0e0e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.v-held,.v-passed{color:#2e7d32;font-weight:bold}.v-failed{color:#c62828;font-weight:bold}
.v-inconclusive{color:#ef6c00;font-weight:bold}.v-error{color:#6d4c41;font-weight:bold}
tr.current td{background:#e3f2fd}
.chart{background:#fff;border:1px solid #e0e0e0;margin:8px 0;overflow-x:auto}
.chart svg{display:block;max-width:100%;height:auto}
.waves{display:flex;flex-wrap:wrap;gap:10px}.waves figure{margin:0;background:#fff;border:1px solid #e0e0e0;max-width:560px}
.waves figcaption{font-size:12px;padding:2px 6px;color:#424242}
.note{color:#616161;font-size:13px}
pre{background:#263238;color:#eceff1;padding:8px;overflow-x:auto;font-size:12px;max-height:320px}
details{margin:6px 0}summary{cursor:pointer;color:#1565c0}
"#;

/// Renders the report. `history` holds earlier runs (any scenario; the page
/// shows the last ones of this scenario); `seams` the audio around each resume
/// seam per iteration (see [`super::seams::collect`]).
pub fn render(report: &Report, history: &[HistorySummary], seams: &[IterationSeams]) -> String {
    let mut page = String::with_capacity(256 * 1024);
    let outcome = report.outcome.as_str();
    let _ = write!(
        page,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{} — {} — takeover</title><style>{STYLE}</style></head><body>"#,
        escape(&report.scenario.name),
        outcome.to_uppercase()
    );
    header(&mut page, report);
    page.push_str("<main>");
    expectations(&mut page, report);
    not_applicable(&mut page, report);
    figures_table(&mut page, report);
    history_section(&mut page, report, history);
    for iteration in &report.iterations {
        let iteration_seams = seams.iter().find(|s| s.iteration == iteration.index);
        iteration_section(&mut page, report, iteration, iteration_seams);
    }
    let _ = write!(
        page,
        r#"<p class="note">Written by {} {} from report.json (layout {}). Times in an iteration are ms since its start on one monotonic clock; each time figure carries its measured error bound (the gap between the probes around its recovery, plus the witness's delay when the witness began the outage); probes ran every {}.</p></main></body></html>"#,
        escape(&report.tool.name),
        escape(&report.tool.version),
        report.schema_version,
        with_unit(Some(report.probe_interval_ms), "ms")
    );
    page
}

fn header(page: &mut String, report: &Report) {
    let outcome = report.outcome.as_str();
    let duration_s = (report.ended_at - report.started_at).num_milliseconds() as f64 / 1000.0;
    let counts: Vec<String> = report
        .summary
        .outcomes
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let env = &report.environment;
    let mut where_ = vec![env.host.clone(), env.os.clone()];
    if let Some(backend) = &env.backend {
        where_.push(format!("backend {backend}"));
    }
    if let Some(docker) = &env.docker_version {
        where_.push(format!("Docker {docker}"));
    }
    let _ = write!(
        page,
        r#"<header class="{outcome}"><div class="badge">{}</div><h1>{}</h1><p>{}</p><p class="meta">run {} · started {} · {} s · {} iteration(s): {} · exit code {}</p><p class="meta">scenario file {} · {}</p></header>"#,
        outcome.to_uppercase(),
        escape(&report.scenario.name),
        escape(&report.scenario.description),
        escape(&report.run_id),
        report.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        number(duration_s),
        report.summary.iterations,
        escape(&counts.join(", ")),
        report.exit_code,
        escape(&report.scenario.file),
        escape(&where_.join(" · ")),
    );
}

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Held => "held",
        Verdict::Failed => "failed",
        Verdict::Inconclusive => "inconclusive",
    }
}

fn iteration_word(outcome: IterationOutcome) -> &'static str {
    match outcome {
        IterationOutcome::Passed => "passed",
        IterationOutcome::Failed => "failed",
        IterationOutcome::Inconclusive => "inconclusive",
        IterationOutcome::Error => "error",
    }
}

fn expectations(page: &mut String, report: &Report) {
    page.push_str(r#"<section id="expectations"><h2>Expectations</h2>"#);
    if report.expectations.is_empty() {
        page.push_str(r#"<p class="note">The scenario sets no expectations.</p></section>"#);
        return;
    }
    page.push_str("<table><tr><th>verdict</th><th>expectation</th><th>measured</th><th>limit</th><th>evidence</th></tr>");
    for e in &report.expectations {
        let word = verdict_word(e.verdict);
        let _ = write!(
            page,
            r#"<tr><td class="v-{word}">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
            word.to_uppercase(),
            escape(&e.name),
            escape(&with_unit(e.measured, &e.unit)),
            escape(&with_unit(Some(e.threshold), &e.unit)),
            escape(&e.evidence)
        );
    }
    page.push_str("</table></section>");
}

/// The checks a front-door drill left out, each with why.
fn not_applicable(page: &mut String, report: &Report) {
    if !report.is_frontdoor_only() {
        return;
    }
    let _ = write!(
        page,
        r#"<section id="not-applicable"><h2>Checks that did not apply</h2><p class="note">{}</p><table><tr><th>check</th><th>why it did not apply</th></tr>"#,
        escape(super::model::FRONTDOOR_ONLY_VERDICT)
    );
    for na in &report.not_applicable {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(&na.check),
            escape(&na.reason)
        );
    }
    page.push_str("</table></section>");
}

fn figures_table(page: &mut String, report: &Report) {
    page.push_str(r#"<section id="figures"><h2>Figures across iterations</h2><table><tr><th>figure</th><th>unit</th><th>iterations</th><th>p50</th><th>p95</th><th>p99</th><th>min</th><th>max</th><th>mean</th><th>error bound</th></tr>"#);
    for row in figures::rows(report) {
        let d = &row.distribution;
        let counted = if d.missing > 0 {
            format!("{} (+{} without a value)", d.count, d.missing)
        } else {
            d.count.to_string()
        };
        let cell = |v: Option<f64>| v.map(number).unwrap_or_else(|| "—".into());
        let _ = write!(
            page,
            r#"<tr><td title="{}">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            escape(&row.name),
            escape(&row.label),
            escape(&d.unit),
            counted,
            cell(d.p50),
            cell(d.p95),
            cell(d.p99),
            cell(d.min),
            cell(d.max),
            cell(d.mean),
            d.error_bound
                .map(|b| format!("± {}", number(b)))
                .unwrap_or_else(|| "—".into()),
        );
    }
    page.push_str(r#"</table><p class="note">Percentiles are nearest-rank across iterations. The error bound is how far each value may be from the truth, measured: the largest over the iterations of the gap between the last failed and the first good probe (the last poll before the job moved, for job times), plus the witness's delay where the witness began the outage. RTO and job RTO count from the outage's onset, the earlier of the fault's witness and the first probe that failed after the fault was requested. Latency rows distribute each iteration's p99 probe latency (timed from each probe's scheduled send, so a stalled probe counts in full).</p></section>"#);
}

fn history_section(page: &mut String, report: &Report, history: &[HistorySummary]) {
    let earlier =
        super::history::last_runs(history, &report.scenario.name, 10, Some(&report.run_id));
    page.push_str(r#"<section id="history"><h2>This run beside the last runs</h2>"#);
    if earlier.is_empty() {
        page.push_str(r#"<p class="note">No earlier run of this scenario is in the history (reports/history.jsonl).</p></section>"#);
        return;
    }
    let current = HistorySummary::of(report, std::path::Path::new(""));
    let mut runs: Vec<&HistorySummary> = earlier;
    runs.push(&current);
    page.push_str(r#"<div class="chart" style="display:inline-block">"#);
    page.push_str(&history_bars(&runs));
    page.push_str("</div><table><tr><th>started (UTC)</th><th>outcome</th><th>RTO p50</th><th>RTO p95</th><th>job RTO p50</th><th>work lost max</th><th>run</th></tr>");
    for run in &runs {
        let is_current = std::ptr::eq(*run, &current);
        let word = run.outcome.as_str();
        let _ = write!(
            page,
            r#"<tr{}><td>{}</td><td class="v-{word}">{word}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
            if is_current {
                r#" class="current""#
            } else {
                ""
            },
            run.started_at.format("%Y-%m-%d %H:%M"),
            with_unit(run.rto_p50_ms, "ms"),
            with_unit(run.rto_p95_ms, "ms"),
            with_unit(run.job_rto_p50_ms, "ms"),
            with_unit(run.work_lost_frames_max, "frames"),
            if is_current {
                format!("{} (this run)", escape(&run.run_id))
            } else {
                escape(&run.run_id)
            },
        );
    }
    page.push_str("</table></section>");
}

/// Bars of p95 RTO per run, the last one (this run) in blue.
fn history_bars(runs: &[&HistorySummary]) -> String {
    let (width, height, bottom) = (420.0, 110.0, 92.0);
    let max = runs
        .iter()
        .filter_map(|r| r.rto_p95_ms)
        .fold(0.0, f64::max)
        .max(1.0);
    let bar = (width - 20.0) / runs.len() as f64;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="history" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="Helvetica, Arial, sans-serif" font-size="10"><title>RTO p95 of the last runs</title><text x="10" y="12" fill="#424242">RTO p95 per run (max {} ms)</text><line x1="10" y1="{bottom}" x2="{}" y2="{bottom}" stroke="#9e9e9e"/>"##,
        number(max),
        width - 10.0
    );
    for (i, run) in runs.iter().enumerate() {
        let x = 10.0 + i as f64 * bar;
        let current = i + 1 == runs.len();
        let color = match (current, run.outcome) {
            (true, _) => "#1565c0",
            (_, RunOutcome::Passed) => "#81c784",
            (_, RunOutcome::Failed) => "#e57373",
            _ => "#ffb74d",
        };
        match run.rto_p95_ms {
            Some(v) => {
                let h = (v / max * (bottom - 22.0)).max(1.0);
                let _ = write!(
                    svg,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{color}"><title>{} {}: {} ms</title></rect>"#,
                    x + 2.0,
                    bottom - h,
                    (bar - 4.0).max(1.0),
                    escape(&run.run_id),
                    run.outcome.as_str(),
                    number(v)
                );
            }
            None => {
                let _ = write!(
                    svg,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#c62828">×</text>"##,
                    x + bar / 2.0,
                    bottom - 3.0
                );
            }
        }
    }
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#1565c0">this run</text></svg>"##,
        width - 10.0,
        height - 4.0
    );
    svg
}

fn iteration_section(
    page: &mut String,
    report: &Report,
    it: &Iteration,
    seams: Option<&IterationSeams>,
) {
    let word = iteration_word(it.outcome);
    let _ = write!(
        page,
        r#"<section class="iteration" id="iteration-{n}"><h2>Iteration {n} — <span class="v-{word}">{}</span></h2><p class="note">stack {} · started {} · {}</p>"#,
        word.to_uppercase(),
        escape(&it.run_id),
        it.started_at.format("%H:%M:%S UTC"),
        seconds(it.duration_ms),
        n = it.index,
    );
    if !it.reasons.is_empty() {
        page.push_str("<ul>");
        for reason in &it.reasons {
            let _ = write!(page, "<li>{}</li>", escape(reason));
        }
        page.push_str("</ul>");
    }
    let f = &it.figures;
    let plain = |figure: Figure| with_unit(figure.value(f), figure.unit());
    let bounded = |figure: Figure| match figure.error_bound(f) {
        Some(b) if figure.value(f).is_some() => {
            format!("{} ± {}", plain(figure), with_unit(Some(b), figure.unit()))
        }
        _ => plain(figure),
    };
    let _ = write!(
        page,
        r#"<table><tr><th>RTO</th><th>outage</th><th>onset</th><th>job RTO</th><th>work lost</th><th>failed probes</th><th>witness delay</th><th>detection</th><th>latency p99 before / during / after</th></tr><tr><td class="num">{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{} of {}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{} / {} / {}</td></tr></table>"#,
        bounded(Figure::Rto),
        bounded(Figure::Outage),
        match (f.onset, f.onset_ms) {
            (Some(source), Some(at)) => format!(
                "{} at {}",
                source.as_str().replace('_', " "),
                with_unit(Some(at), "ms")
            ),
            _ => "—".to_string(),
        },
        bounded(Figure::JobRto),
        plain(Figure::WorkLost),
        f.errors,
        f.probes,
        plain(Figure::WitnessDelay),
        plain(Figure::Detect),
        plain(Figure::LatencyBeforeP99),
        plain(Figure::LatencyDuringP99),
        plain(Figure::LatencyAfterP99),
    );

    if !it.faults.is_empty() {
        page.push_str("<h3>Faults</h3><table><tr><th>step</th><th>fault</th><th>target</th><th>requested</th><th>in effect</th><th>witness</th></tr>");
        for fault in &it.faults {
            let witness = match (witness_text(fault), &fault.unavailable, &fault.error) {
                (_, Some(why), _) => format!("not made here: {why}"),
                (_, _, Some(err)) => format!("injection failed: {err}"),
                (Some(w), _, _) => w,
                (None, _, _) => "NO WITNESS: the fault was not proven to take effect".into(),
            };
            let _ = write!(
                page,
                r#"<tr><td class="num">{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                fault.step,
                escape(&fault.kind),
                escape(&fault.target),
                seconds(fault.requested_at_ms),
                fault
                    .in_effect_at_ms
                    .map(|t| format!("{} (+{} ms)", seconds(t), number(t - fault.requested_at_ms)))
                    .unwrap_or_else(|| "—".into()),
                escape(&witness)
            );
        }
        page.push_str("</table>");
    }

    page.push_str("<h3>Timeline</h3>");
    if let Some(window) = Window::outage(it) {
        let title = format!("Iteration {}: around the fault", it.index);
        let _ = write!(
            page,
            r#"<div class="chart">{}</div>"#,
            chart::timeline_svg(it, window, &title)
        );
    }
    let title = format!("Iteration {}: whole run", it.index);
    let _ = write!(
        page,
        r#"<div class="chart">{}</div>"#,
        chart::timeline_svg(it, Window::whole(it), &title)
    );

    let _ = write!(
        page,
        r#"<details><summary>All {} events</summary><table><tr><th>time</th><th>event</th><th>detail</th></tr>"#,
        it.events.len()
    );
    for event in &it.events {
        let kind = event.kind.as_str();
        let _ = write!(
            page,
            r#"<tr><td class="num">{}</td><td>{}</td><td>{}</td></tr>"#,
            seconds(event.at_ms),
            escape(kind),
            escape(&event.detail)
        );
    }
    page.push_str("</table></details>");

    if let Some(job) = &it.job {
        let _ = write!(
            page,
            r#"<p class="note">Job {} ({} frames, chunks of {}, script {}, seed {}{}): final state <b>{}</b>{}.</p>"#,
            escape(&job.id),
            job.frames_total,
            job.chunk_frames,
            escape(&job.script),
            job.seed,
            job.pace_rtf
                .map(|p| format!(", paced to {} s per audio second", number(p)))
                .unwrap_or_default(),
            job.final_state,
            job.error
                .as_deref()
                .map(|e| format!(": {}", escape(e)))
                .unwrap_or_default()
        );
    }

    for runbook in &it.runbooks {
        let _ = write!(
            page,
            r#"<h3>Runbook {}</h3><p class="note">{} to {}: {}</p><pre>{}</pre>"#,
            escape(&runbook.script),
            seconds(runbook.started_at_ms),
            seconds(runbook.ended_at_ms),
            escape(&runbook.ending()),
            escape(&format!("{}{}", runbook.stdout, runbook.stderr))
        );
    }

    audio_section(page, report, it, seams);
    page.push_str("</section>");
}

fn audio_section(
    page: &mut String,
    _report: &Report,
    it: &Iteration,
    seams: Option<&IterationSeams>,
) {
    let Some(audio) = &it.audio else {
        page.push_str(r#"<h3>Audio</h3><p class="note">No audio check ran in this iteration.</p>"#);
        return;
    };
    let view = VerdictView::of(&audio.verdict);
    let word = if audio.intact { "held" } else { "failed" };
    let _ = write!(
        page,
        r#"<h3>Audio ({} check): <span class="v-{word}">{}</span></h3><p>{}</p>"#,
        escape(&audio.mode),
        if audio.intact { "INTACT" } else { "NOT INTACT" },
        escape(&view.summary),
    );
    if let Some(reference) = &audio.reference {
        let _ = write!(
            page,
            r#"<p class="note">Reference: {}</p>"#,
            escape(reference)
        );
    }
    if !view.checks.is_empty() {
        page.push_str("<table><tr><th>check</th><th>verdict</th><th>detail</th></tr>");
        for check in &view.checks {
            let word = if check.ok { "held" } else { "failed" };
            let _ = write!(
                page,
                r#"<tr><td>{}</td><td class="v-{word}">{word}</td><td>{}</td></tr>"#,
                escape(&check.name),
                escape(&check.detail)
            );
        }
        page.push_str("</table>");
    }
    let Some(seams) = seams.filter(|s| !s.windows.is_empty()) else {
        if view.seams.iter().any(|s| s.resume) {
            page.push_str(r#"<p class="note">The seams could not be read for a picture.</p>"#);
        } else {
            page.push_str(r#"<p class="note">No resume seam: one writer wrote the whole job.</p>"#);
        }
        return;
    };
    if let Some(why) = &seams.missing_audio {
        let _ = write!(
            page,
            r#"<p class="note">No waveform pictures: {}.</p>"#,
            escape(why)
        );
    }
    page.push_str(r#"<div class="waves">"#);
    for window in &seams.windows {
        let seam = &window.seam;
        let caption = format!(
            "seam at chunk {} ({} s): {} epoch {} → {} epoch {}",
            seam.chunk_index,
            number(seam.time_s),
            seam.before.writer,
            seam.before.epoch,
            seam.after.writer,
            seam.after.epoch
        );
        let score = match (seam.score, seam.threshold) {
            (Some(s), Some(t)) => format!(
                "discontinuity score {} (suspect above {})",
                number(s),
                number(t)
            ),
            (Some(s), None) => format!("discontinuity score {}", number(s)),
            _ => "no discontinuity score (exact mode compares samples instead)".into(),
        };
        let verdict = if seam.suspect { "SUSPECT" } else { "clean" };
        let picture = if window.samples.is_empty() {
            String::new()
        } else {
            chart::waveform_svg(
                &window.samples,
                window.seam_at,
                window.sample_rate,
                &caption,
                seam.suspect,
            )
        };
        // The picture carries the caption as its title; without one the caption says where the seam is.
        let _ = write!(
            page,
            r#"<figure>{picture}<figcaption>{}<b class="v-{}">{verdict}</b>: {}</figcaption></figure>"#,
            if picture.is_empty() {
                escape(&caption) + " — "
            } else {
                String::new()
            },
            if seam.suspect { "failed" } else { "held" },
            escape(&score)
        );
    }
    page.push_str("</div>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::history::HistorySummary;
    use crate::report::seams::{Seam, SeamWindow};
    use crate::report::testdata;

    fn seams_for(report: &Report) -> Vec<IterationSeams> {
        let audio = testdata::audio(1200);
        report
            .iterations
            .iter()
            .map(|it| IterationSeams {
                iteration: it.index,
                windows: vec![SeamWindow {
                    seam: Seam {
                        chunk_index: 6,
                        sample: 153_600,
                        time_s: 6.4,
                        resume: true,
                        score: Some(1.7),
                        threshold: Some(6.0),
                        ..Default::default()
                    },
                    samples: audio.clone(),
                    seam_at: 600,
                    sample_rate: 24_000,
                }],
                missing_audio: None,
            })
            .collect()
    }

    #[test]
    fn the_page_is_self_contained_and_carries_every_part() {
        let report = testdata::report();
        let page = render(&report, &[], &seams_for(&report));
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.ends_with("</html>"));
        // Only in-page references (`url(#clip)`) and the SVG namespace name look like links.
        let outside_svg_ns = page
            .replace("http://www.w3.org/2000/svg", "")
            .replace("url(#", "");
        for banned in [
            "<script", "http://", "https://", "@import", "<link", "url(", "src=",
        ] {
            assert!(
                !outside_svg_ns.contains(banned),
                "page must not contain {banned}"
            );
        }
        assert!(page.contains(
            r#"<header class="passed"><div class="badge">PASSED</div><h1>oom-kill-primary</h1>"#
        ));
        for e in &report.expectations {
            assert!(
                page.contains(&escape(&e.evidence)),
                "evidence of {} missing",
                e.name
            );
        }
        // Two charts per iteration (around the fault, whole run), one waveform per seam.
        assert_eq!(
            page.matches("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\"")
                .count(),
            6
        );
        assert_eq!(page.matches("class=\"waveform\"").count(), 3);
        assert!(page.contains("RTO (front door, from onset)") && page.contains("± 20"));
        assert!(page.contains("outage (first failed probe to recovery)"));
        assert!(page.contains("latency p99 during"));
        assert!(page.contains("oom event, exit 137, OOMKilled=true"));
        assert!(page.contains("No earlier run of this scenario"));
    }

    #[test]
    fn a_frontdoor_drill_lists_the_checks_that_did_not_apply() {
        let mut report = testdata::report();
        assert!(!render(&report, &[], &[]).contains("not-applicable"));
        report.not_applicable = vec![crate::report::model::NotApplicable {
            check: "audio".into(),
            reason: "front-door drill: <no job>".into(),
        }];
        let page = render(&report, &[], &[]);
        assert!(page.contains(r#"<section id="not-applicable">"#), "{page}");
        assert!(page.contains("front-door figures only"));
        assert!(page.contains("<td>audio</td><td>front-door drill: &lt;no job&gt;</td>"));
    }

    #[test]
    fn a_failed_expectation_and_a_missing_witness_are_shown_as_such() {
        let mut report = testdata::report();
        report.outcome = RunOutcome::Inconclusive;
        report.expectations[0].verdict = Verdict::Failed;
        report.expectations[0].evidence = "p95 2400 ms is over the limit <2000 ms>".into();
        report.iterations[1].faults[0].in_effect_at_ms = None;
        report.iterations[1].faults[0].witness = None;
        report.iterations[1].outcome = IterationOutcome::Inconclusive;
        let page = render(&report, &[], &[]);
        assert!(page.contains(r#"<header class="inconclusive">"#));
        assert!(page.contains(r#"<td class="v-failed">FAILED</td><td>rto.p95</td>"#));
        assert!(page.contains("over the limit &lt;2000 ms&gt;"));
        assert!(page.contains("NO WITNESS"));
        assert!(page.contains("The seams could not be read for a picture."));
    }

    #[test]
    fn an_emulated_gpu_fault_says_so_on_its_witness_line() {
        let mut report = testdata::report();
        let fault = &mut report.iterations[0].faults[0];
        fault.kind = "gpu".into();
        fault.witness = Some("worker hit XID_79 and reacted `unhealthy`".into());
        fault.evidence = serde_json::json!({"emulated": true});
        let page = render(&report, &[], &[]);
        assert!(
            page.contains(
                "<td>worker hit XID_79 and reacted `unhealthy` (emulated on the CPU backend)</td>"
            ),
            "the witness cell lacks the phrase"
        );
    }

    #[test]
    fn the_last_runs_of_the_scenario_stand_beside_this_one() {
        let report = testdata::report();
        let mut history = Vec::new();
        for (i, p95) in [Some(300.0), None, Some(700.0)].into_iter().enumerate() {
            let mut run = HistorySummary::of(&report, std::path::Path::new("reports/x"));
            run.run_id = format!("tk-earlier-{i}");
            run.rto_p95_ms = p95;
            history.push(run);
        }
        let mut other = history[0].clone();
        other.scenario = "another".into();
        other.run_id = "tk-other".into();
        history.push(other);
        let page = render(&report, &history, &[]);
        for id in ["tk-earlier-0", "tk-earlier-1", "tk-earlier-2"] {
            assert!(page.contains(id));
        }
        assert!(!page.contains("tk-other"));
        assert!(page.contains("tk-20261125-230000-0000 (this run)"));
        // The run without an RTO shows as a cross, not as a zero bar.
        assert!(page.contains(">×</text>"));
        assert!(page.contains(r#"class="history""#));
    }
}
