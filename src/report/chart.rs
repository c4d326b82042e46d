//! SVG pictures shared by the HTML and Markdown reports: an iteration's
//! timeline (probes, HAProxy's view, the job's progress, the events) and the
//! waveform around a resume seam. Pure functions of the report model; the SVG
//! is plain markup that any browser or image viewer draws without scripts.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::display::{escape, number};
use super::model::{EventKind, Iteration};
use super::state::{JobSeen, ServerStatus};

/// Width of a timeline chart in SVG user units (pixels at 100 %).
pub const TIMELINE_WIDTH: f64 = 1100.0;
/// Width of a seam waveform picture.
pub const WAVEFORM_WIDTH: f64 = 540.0;

const LEFT: f64 = 150.0;
const RIGHT: f64 = 24.0;
const LABEL_ROW: f64 = 13.0;
const MAX_LABEL_ROWS: usize = 12;
const LATENCY_HEIGHT: f64 = 130.0;
const STRIP_HEIGHT: f64 = 14.0;
const JOB_HEIGHT: f64 = 90.0;
/// Beyond this many probes in the window, probes are drawn per pixel column.
const MAX_PROBE_DOTS: usize = 600;

const GOOD: &str = "#2e7d32";
const FAILED: &str = "#c62828";
const FAULT: &str = "#d84315";
const FRONTDOOR: &str = "#6a1b9a";
const JOB: &str = "#00838f";
const PAUSE_FILL: &str = "#fff3e0";
const GRID: &str = "#e0e0e0";
const OWNER_COLORS: [&str; 4] = ["#00838f", "#1565c0", "#ef6c00", "#5d4037"];

/// The span of an iteration a chart shows, in ms since the iteration's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Left edge, in ms.
    pub from_ms: f64,
    /// Right edge, in ms.
    pub to_ms: f64,
}

impl Window {
    /// The whole iteration: from its start to its last probe, poll or event.
    pub fn whole(iteration: &Iteration) -> Window {
        let mut end = iteration.duration_ms;
        end = end.max(iteration.probes.scheduled_ms.last().copied().unwrap_or(0.0));
        if let Some(job) = &iteration.job {
            end = end.max(job.samples.last().map(|s| s.at_ms).unwrap_or(0.0));
        }
        end = end.max(iteration.events.iter().map(|e| e.at_ms).fold(0.0, f64::max));
        Window {
            from_ms: 0.0,
            to_ms: end.max(1.0),
        }
    }

    /// Around the outage: two seconds before the first fault to two seconds
    /// after the later of the sustained recovery and the job's resume (or ten
    /// seconds after the fault when neither came). `None` when no fault was requested.
    pub fn outage(iteration: &Iteration) -> Option<Window> {
        let first = |kind: EventKind| {
            iteration
                .events
                .iter()
                .find(|e| e.kind == kind)
                .map(|e| e.at_ms)
        };
        let fault = first(EventKind::FaultRequested)?;
        let recovered = [
            first(EventKind::SustainedGood),
            first(EventKind::JobProgressResumed),
        ]
        .into_iter()
        .flatten()
        .fold(None, |acc: Option<f64>, t| {
            Some(acc.map_or(t, |a| a.max(t)))
        });
        let end = recovered.unwrap_or(fault + 10_000.0).max(fault + 500.0);
        let whole = Window::whole(iteration);
        Some(Window {
            from_ms: (fault - 2_000.0).max(whole.from_ms),
            to_ms: (end + 2_000.0).min(whole.to_ms.max(end)),
        })
    }

    fn span(&self) -> f64 {
        (self.to_ms - self.from_ms).max(1e-9)
    }

    fn contains(&self, t: f64) -> bool {
        t >= self.from_ms && t <= self.to_ms
    }
}

/// The vertical marker and short label an event gets on the chart, if it gets one.
fn marker(kind: EventKind) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        EventKind::FaultRequested => ("fault requested", FAULT),
        EventKind::FaultInEffect => ("fault in effect", FAULT),
        EventKind::FaultUnwitnessed => ("no fault witness", FAULT),
        EventKind::FaultHealed => ("fault healed", FAULT),
        EventKind::FirstFailedProbe => ("first failed probe", FAILED),
        EventKind::FrontdoorMarkedPrimaryDown => ("HAProxy marks primary down", FRONTDOOR),
        EventKind::FrontdoorMarkedPrimaryUp => ("HAProxy marks primary up", FRONTDOOR),
        EventKind::SwitchedToBackup => ("switch to standby", FRONTDOOR),
        EventKind::FirstGoodProbeViaStandby => ("first good probe via standby", GOOD),
        EventKind::FirstGoodProbeViaPrimary => ("first good probe via primary", GOOD),
        EventKind::SustainedGood => ("sustained good", GOOD),
        EventKind::JobProgressResumed => ("job resumes", JOB),
        EventKind::JobOwnerChanged => ("job owner changed", JOB),
        EventKind::JobDone => ("job done", JOB),
        EventKind::JobFailed => ("job failed", FAILED),
        _ => return None,
    })
}

/// Approximate width of a label at font size 10.
fn label_width(text: &str) -> f64 {
    text.chars().count() as f64 * 5.6 + 4.0
}

struct Layout {
    window: Window,
    plot_width: f64,
}

impl Layout {
    fn x(&self, t: f64) -> f64 {
        LEFT + (t - self.window.from_ms) / self.window.span() * self.plot_width
    }
}

/// One event label placed in a row above the panels.
struct PlacedLabel {
    x: f64,
    /// Text row, or `None` when no row had room (line only).
    row: Option<usize>,
    text: &'static str,
    color: &'static str,
    anchor_end: bool,
    at_ms: f64,
    detail: String,
}

fn place_labels(iteration: &Iteration, layout: &Layout) -> Vec<PlacedLabel> {
    let mut row_end = [f64::NEG_INFINITY; MAX_LABEL_ROWS];
    let mut placed = Vec::new();
    let mut events: Vec<_> = iteration
        .events
        .iter()
        .filter(|e| layout.window.contains(e.at_ms))
        .filter_map(|e| marker(e.kind).map(|m| (e, m)))
        .collect();
    events.sort_by(|a, b| a.0.at_ms.total_cmp(&b.0.at_ms));
    let right_edge = LEFT + layout.plot_width;
    for (event, (text, color)) in events {
        let x = layout.x(event.at_ms);
        let width = label_width(text);
        let anchor_end = x + width > right_edge + RIGHT;
        let (start, end) = if anchor_end {
            (x - width, x)
        } else {
            (x, x + width)
        };
        // When every row is taken there, the marker keeps its line and tooltip but no text.
        let row = (0..MAX_LABEL_ROWS).find(|&r| row_end[r] < start);
        if let Some(row) = row {
            row_end[row] = end + 3.0;
        }
        placed.push(PlacedLabel {
            x,
            row,
            text,
            color,
            anchor_end,
            at_ms: event.at_ms,
            detail: event.detail.clone(),
        });
    }
    placed
}

/// Most ticks an axis gets, whatever the report's times say.
const MAX_TICKS: usize = 24;

/// A "nice" tick step in ms giving at most about twelve ticks over the span:
/// from 50 ms up to 10 minutes, then 1, 2 or 5 times a power of ten minutes,
/// so that any finite span, however long, gets a dozen ticks.
fn tick_step(span_ms: f64) -> f64 {
    const STEPS_S: [f64; 14] = [
        0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
    ];
    if let Some(step) = STEPS_S
        .iter()
        .map(|s| s * 1000.0)
        .find(|step| span_ms / step <= 12.0)
    {
        return step;
    }
    let mut step = 600_000.0_f64;
    while step.is_finite() && span_ms / step > 12.0 {
        for factor in [2.0, 2.5, 2.0] {
            step *= factor;
            if span_ms / step <= 12.0 {
                break;
            }
        }
    }
    if step.is_finite() {
        step
    } else {
        f64::MAX
    }
}

/// The tick times of an axis over `window`: at most [`MAX_TICKS`], counted
/// rather than stepped, since adding a step to a huge time can leave it unchanged.
fn ticks(window: Window, step: f64) -> impl Iterator<Item = f64> {
    let first = (window.from_ms / step).ceil() * step;
    let count = ((window.to_ms + 1e-6 - first) / step).floor();
    let count = if count.is_finite() && count >= 0.0 {
        (count as usize).saturating_add(1).min(MAX_TICKS)
    } else {
        0
    };
    (0..count).map(move |i| first + i as f64 * step)
}

/// Per pixel column: good latencies (min, max), good count, failed count.
#[derive(Default, Clone, Copy)]
struct Column {
    good_min: f64,
    good_max: f64,
    good: u32,
    failed: u32,
    failed_max: f64,
}

/// The timeline of one iteration as a standalone SVG document: probe latency
/// (good in green, failed in red) on a log scale, the probe verdict strip,
/// HAProxy's view of each server, the job's committed frames with the pause
/// shaded, and a marker for each event (fault, mark-down, switch, first good
/// probe, resume). `title` is drawn at the top.
pub fn timeline_svg(iteration: &Iteration, window: Window, title: &str) -> String {
    let layout = Layout {
        window,
        plot_width: TIMELINE_WIDTH - LEFT - RIGHT,
    };
    let labels = place_labels(iteration, &layout);
    let label_rows = labels
        .iter()
        .filter_map(|l| l.row)
        .map(|r| r + 1)
        .max()
        .unwrap_or(0);
    let servers = frontdoor_servers(iteration);

    let title_y = 14.0;
    let labels_top = 22.0;
    let latency_top = labels_top + label_rows as f64 * LABEL_ROW + 6.0;
    let latency_bottom = latency_top + LATENCY_HEIGHT;
    let probe_strip_top = latency_bottom + 8.0;
    let servers_top = probe_strip_top + STRIP_HEIGHT + 6.0;
    let job_top = servers_top + servers.len() as f64 * (STRIP_HEIGHT + 4.0) + 8.0;
    let has_job = iteration
        .job
        .as_ref()
        .is_some_and(|j| !j.samples.is_empty());
    let job_bottom = if has_job {
        job_top + JOB_HEIGHT
    } else {
        job_top
    };
    let axis_y = job_bottom + 4.0;
    let legend_y = axis_y + 32.0;
    let height = legend_y + 12.0;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="Helvetica, Arial, sans-serif" font-size="10" role="img" aria-label="{t}"><title>{t}</title><rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>"##,
        w = TIMELINE_WIDTH,
        h = number(height),
        t = escape(title),
    );
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="{title_y}" font-size="12" font-weight="bold" fill="#212121">{}</text>"##,
        escape(title)
    );

    // Time grid and axis.
    let step = tick_step(window.span());
    for tick in ticks(window, step) {
        let x = layout.x(tick);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{latency_top:.1}" x2="{x:.1}" y2="{axis_y:.1}" stroke="{GRID}" stroke-width="1"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#424242">{}</text>"##,
            axis_y + 12.0,
            axis_label(tick, step)
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#616161">time since the iteration started</text>"##,
        LEFT + layout.plot_width / 2.0,
        axis_y + 25.0
    );

    draw_outage_shading(&mut svg, iteration, &layout, latency_top, job_bottom);
    draw_latency(&mut svg, iteration, &layout, latency_top, latency_bottom);
    draw_probe_strip(&mut svg, iteration, &layout, probe_strip_top);
    draw_frontdoor(&mut svg, iteration, &layout, servers_top, &servers);
    if has_job {
        draw_job(&mut svg, iteration, &layout, job_top, job_bottom);
    }

    // Event markers over every panel, labels in rows above.
    for label in &labels {
        let Some(row) = label.row else {
            let _ = write!(
                svg,
                r#"<g class="event"><title>{} at {} {}</title><line x1="{x:.1}" y1="{latency_top:.1}" x2="{x:.1}" y2="{job_bottom:.1}" stroke="{c}" stroke-width="1.2" stroke-dasharray="4 2"/></g>"#,
                escape(label.text),
                super::display::seconds(label.at_ms),
                escape(&label.detail),
                x = label.x,
                c = label.color,
            );
            continue;
        };
        let label_y = labels_top + row as f64 * LABEL_ROW + 9.0;
        let _ = write!(
            svg,
            r#"<g class="event"><title>{} at {} {}</title><line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{job_bottom:.1}" stroke="{c}" stroke-width="1.2" stroke-dasharray="4 2"/><text x="{tx:.1}" y="{label_y:.1}" fill="{c}" text-anchor="{anchor}">{}</text></g>"#,
            escape(label.text),
            super::display::seconds(label.at_ms),
            escape(&label.detail),
            label_y + 2.0,
            escape(label.text),
            x = label.x,
            c = label.color,
            tx = if label.anchor_end {
                label.x - 2.0
            } else {
                label.x + 2.0
            },
            anchor = if label.anchor_end { "end" } else { "start" },
        );
    }

    // Legend.
    let items = [
        ("good probe", GOOD),
        ("failed probe", FAILED),
        ("fault", FAULT),
        ("HAProxy", FRONTDOOR),
        ("job", JOB),
    ];
    let mut x = LEFT;
    for (name, color) in items {
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{color}"/><text x="{:.1}" y="{legend_y:.1}" fill="#424242">{name}</text>"##,
            legend_y - 9.0,
            x + 14.0
        );
        x += 14.0 + label_width(name) + 12.0;
    }
    svg.push_str("</svg>");
    svg
}

fn axis_label(t_ms: f64, step_ms: f64) -> String {
    let decimals = if step_ms % 1000.0 == 0.0 {
        0
    } else if step_ms % 100.0 == 0.0 {
        1
    } else {
        2
    };
    format!("{:.*} s", decimals, t_ms / 1000.0)
}

/// Shades the span from the first fault in effect (or requested) to the
/// sustained recovery: the outage as the probes saw it.
fn draw_outage_shading(svg: &mut String, it: &Iteration, layout: &Layout, top: f64, bottom: f64) {
    let at = |kind| it.events.iter().find(|e| e.kind == kind).map(|e| e.at_ms);
    let Some(start) = at(EventKind::FaultInEffect).or(at(EventKind::FaultRequested)) else {
        return;
    };
    let end = at(EventKind::SustainedGood).unwrap_or(layout.window.to_ms);
    let (a, b) = (
        start.max(layout.window.from_ms),
        end.min(layout.window.to_ms),
    );
    if b <= a {
        return;
    }
    let _ = write!(
        svg,
        r##"<rect class="outage" x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="#ffebee" opacity="0.7"><title>outage: {} to {}</title></rect>"##,
        layout.x(a),
        (layout.x(b) - layout.x(a)).max(1.0),
        bottom - top,
        super::display::seconds(start),
        super::display::seconds(end),
    );
}

fn draw_latency(svg: &mut String, it: &Iteration, layout: &Layout, top: f64, bottom: f64) {
    let probes = &it.probes;
    let n = probes
        .scheduled_ms
        .len()
        .min(probes.latency_ms.len())
        .min(probes.ok.len());
    let in_window: Vec<usize> = (0..n)
        .filter(|&i| layout.window.contains(probes.scheduled_ms[i]))
        .collect();
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#212121">probe latency</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#757575">(ms, log)</text><rect x="{LEFT}" y="{top:.1}" width="{:.1}" height="{LATENCY_HEIGHT}" fill="none" stroke="#bdbdbd"/>"##,
        LEFT - 36.0,
        top + 12.0,
        LEFT - 36.0,
        top + 24.0,
        layout.plot_width,
    );
    if in_window.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#757575">no probes in this span</text>"##,
            LEFT + layout.plot_width / 2.0,
            (top + bottom) / 2.0
        );
        return;
    }
    let positive = |v: f64| v.max(0.01);
    let (lo, hi) = in_window
        .iter()
        .map(|&i| positive(probes.latency_ms[i]))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let decade_lo = lo.log10().floor();
    let decade_hi = hi.log10().ceil().max(decade_lo + 1.0);
    let y = |v: f64| {
        let f = (positive(v).log10() - decade_lo) / (decade_hi - decade_lo);
        bottom - 4.0 - f * (bottom - top - 8.0)
    };
    let mut decade = decade_lo;
    while decade <= decade_hi + 1e-9 {
        let value = 10f64.powf(decade);
        let yy = y(value);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="{GRID}"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#757575">{}</text>"##,
            LEFT + layout.plot_width,
            LEFT - 4.0,
            yy + 3.0,
            number(value)
        );
        decade += 1.0;
    }
    if in_window.len() <= MAX_PROBE_DOTS {
        svg.push_str(r#"<g class="probes">"#);
        for &i in &in_window {
            let color = if probes.ok[i] { GOOD } else { FAILED };
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2" fill="{color}"/>"#,
                layout.x(probes.scheduled_ms[i]),
                y(probes.latency_ms[i])
            );
        }
        svg.push_str("</g>");
        return;
    }
    let columns = layout.plot_width.ceil() as usize;
    let mut bins = vec![Column::default(); columns + 1];
    for &i in &in_window {
        let col =
            ((layout.x(probes.scheduled_ms[i]) - LEFT).floor().max(0.0) as usize).min(columns);
        let bin = &mut bins[col];
        let v = probes.latency_ms[i];
        if probes.ok[i] {
            if bin.good == 0 {
                bin.good_min = v;
                bin.good_max = v;
            } else {
                bin.good_min = bin.good_min.min(v);
                bin.good_max = bin.good_max.max(v);
            }
            bin.good += 1;
        } else {
            bin.failed_max = if bin.failed == 0 {
                v
            } else {
                bin.failed_max.max(v)
            };
            bin.failed += 1;
        }
    }
    let mut good_path = String::new();
    let mut failed_path = String::new();
    for (col, bin) in bins.iter().enumerate() {
        let x = LEFT + col as f64 + 0.5;
        if bin.good > 0 {
            let (y1, y2) = (y(bin.good_max), y(bin.good_min));
            let _ = write!(good_path, "M{x:.1} {:.1}V{:.1}", y1 - 1.0, y2 + 1.0);
        }
        if bin.failed > 0 {
            let yy = y(bin.failed_max);
            let _ = write!(failed_path, "M{x:.1} {:.1}V{:.1}", yy - 2.0, yy + 2.0);
        }
    }
    let _ = write!(
        svg,
        r#"<g class="probes"><path d="{good_path}" stroke="{GOOD}" stroke-width="1.2" fill="none"/><path d="{failed_path}" stroke="{FAILED}" stroke-width="2" fill="none"/></g>"#
    );
}

fn draw_probe_strip(svg: &mut String, it: &Iteration, layout: &Layout, top: f64) {
    let probes = &it.probes;
    let n = probes.scheduled_ms.len().min(probes.ok.len());
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#212121">probes ok / failed</text><rect x="{LEFT}" y="{top:.1}" width="{:.1}" height="{STRIP_HEIGHT}" fill="#f5f5f5"/>"##,
        LEFT - 8.0,
        top + 10.0,
        layout.plot_width
    );
    // Runs of equal verdicts become one rectangle each.
    let half = probes.interval_ms.max(0.0) / 2.0;
    let mut run: Option<(bool, f64, f64)> = None;
    let flush = |run: (bool, f64, f64), svg: &mut String| {
        let (ok, a, b) = run;
        let (a, b) = (
            (a - half).max(layout.window.from_ms),
            (b + half).min(layout.window.to_ms),
        );
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{STRIP_HEIGHT}" fill="{}"/>"#,
            layout.x(a),
            (layout.x(b) - layout.x(a)).max(1.0),
            if ok { GOOD } else { FAILED }
        );
    };
    for i in 0..n {
        let t = probes.scheduled_ms[i];
        if !layout.window.contains(t) {
            continue;
        }
        run = match run {
            Some((ok, a, _)) if ok == probes.ok[i] => Some((ok, a, t)),
            Some(done) => {
                flush(done, svg);
                Some((probes.ok[i], t, t))
            }
            None => Some((probes.ok[i], t, t)),
        };
    }
    if let Some(done) = run {
        flush(done, svg);
    }
}

/// Servers in HAProxy's samples, primary first, then in order of appearance.
fn frontdoor_servers(it: &Iteration) -> Vec<String> {
    let mut servers: Vec<String> = Vec::new();
    for sample in &it.frontdoor {
        if !servers.contains(&sample.server) {
            servers.push(sample.server.clone());
        }
    }
    servers.sort_by_key(|s| (s != "primary", s != "standby"));
    servers
}

fn status_color(status: &ServerStatus) -> &'static str {
    match status {
        ServerStatus::Up => GOOD,
        ServerStatus::Down => FAILED,
        ServerStatus::Changing(_) => "#f9a825",
        ServerStatus::Other(_) => "#9e9e9e",
    }
}

fn draw_frontdoor(svg: &mut String, it: &Iteration, layout: &Layout, top: f64, servers: &[String]) {
    for (row, server) in servers.iter().enumerate() {
        let y = top + row as f64 * (STRIP_HEIGHT + 4.0);
        let mut samples: Vec<_> = it
            .frontdoor
            .iter()
            .filter(|s| &s.server == server)
            .collect();
        samples.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
        let backup = samples.first().is_some_and(|s| s.backup);
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{FRONTDOOR}">HAProxy: {}{}</text><rect x="{LEFT}" y="{y:.1}" width="{:.1}" height="{STRIP_HEIGHT}" fill="#f5f5f5"/>"##,
            LEFT - 8.0,
            y + 10.0,
            escape(server),
            if backup { " (backup)" } else { "" },
            layout.plot_width
        );
        // Runs of the same status become one rectangle.
        samples.dedup_by(|later, earlier| later.status == earlier.status);
        for (i, sample) in samples.iter().enumerate() {
            let end = samples
                .get(i + 1)
                .map(|s| s.at_ms)
                .unwrap_or(layout.window.to_ms);
            let (a, b) = (
                sample.at_ms.max(layout.window.from_ms),
                end.min(layout.window.to_ms),
            );
            if b <= a {
                continue;
            }
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{STRIP_HEIGHT}" fill="{}"><title>{} {} from {}</title></rect>"#,
                layout.x(a),
                (layout.x(b) - layout.x(a)).max(0.5),
                status_color(&sample.status),
                escape(server),
                escape(sample.status.as_str()),
                super::display::seconds(sample.at_ms)
            );
        }
    }
}

fn draw_job(svg: &mut String, it: &Iteration, layout: &Layout, top: f64, bottom: f64) {
    let Some(job) = &it.job else { return };
    let total = job
        .frames_total
        .max(job.samples.iter().map(|s| s.frames_done).max().unwrap_or(0))
        .max(1) as f64;
    let y = |frames: u64| bottom - 2.0 - frames as f64 / total * (bottom - top - 4.0);
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{JOB}">job progress</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#757575">(frames)</text><rect x="{LEFT}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#bdbdbd"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#757575">{}</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#757575">0</text>"##,
        LEFT - 36.0,
        top + 12.0,
        LEFT - 36.0,
        top + 24.0,
        layout.plot_width,
        bottom - top,
        LEFT - 8.0,
        top + 10.0,
        number(total),
        LEFT - 8.0,
        bottom - 2.0,
    );

    // The pause: from the fault in effect to the job's progress resuming.
    let at = |kind| it.events.iter().find(|e| e.kind == kind).map(|e| e.at_ms);
    if let (Some(stop), Some(resume)) = (
        at(EventKind::FaultInEffect).or(at(EventKind::FaultRequested)),
        at(EventKind::JobProgressResumed),
    ) {
        let (a, b) = (
            stop.max(layout.window.from_ms),
            resume.min(layout.window.to_ms),
        );
        if b > a {
            let _ = write!(
                svg,
                r##"<rect class="job-pause" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{PAUSE_FILL}" stroke="#ffb74d"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#e65100">job paused {}</text>"##,
                layout.x(a),
                top + 1.0,
                (layout.x(b) - layout.x(a)).max(1.0),
                bottom - top - 2.0,
                (layout.x(a) + layout.x(b)) / 2.0,
                top + 12.0,
                super::display::seconds(resume - stop)
            );
        }
    }

    // One step line per run of the same owner, so the takeover shows as a colour change.
    let mut owners: BTreeMap<String, &str> = BTreeMap::new();
    let mut segments: Vec<(String, String)> = Vec::new();
    let mut previous: Option<(f64, u64)> = None;
    let mut unreachable = String::new();
    for sample in &job.samples {
        if sample.state == JobSeen::Unreachable {
            if layout.window.contains(sample.at_ms) {
                let _ = write!(
                    unreachable,
                    "M{:.1} {:.1}v-5",
                    layout.x(sample.at_ms),
                    bottom - 1.0
                );
            }
            continue;
        }
        let owner = sample
            .owner
            .clone()
            .unwrap_or_else(|| "unknown".to_string());
        let next_color = OWNER_COLORS[owners.len() % OWNER_COLORS.len()];
        owners.entry(owner.clone()).or_insert(next_color);
        let t = sample.at_ms;
        let point = format!("{:.1},{:.1}", layout.x(t), y(sample.frames_done));
        match segments.last_mut() {
            Some((o, points)) if *o == owner => {
                if let Some((_, frames)) = previous {
                    let _ = write!(points, " {:.1},{:.1}", layout.x(t), y(frames));
                }
                points.push(' ');
                points.push_str(&point);
            }
            _ => {
                let mut points = String::new();
                if let Some((pt, frames)) = previous {
                    let _ = write!(
                        points,
                        "{:.1},{:.1} {:.1},{:.1} ",
                        layout.x(pt),
                        y(frames),
                        layout.x(t),
                        y(frames)
                    );
                }
                points.push_str(&point);
                segments.push((owner, points));
            }
        }
        previous = Some((sample.at_ms, sample.frames_done));
    }
    // Polylines use the true times; the clip keeps what lies outside the window off the chart.
    let clip = format!(
        "clip-{:x}",
        (layout.window.from_ms.to_bits() ^ layout.window.to_ms.to_bits().rotate_left(17))
            .wrapping_add(u64::from(it.index) << 48)
    );
    let _ = write!(
        svg,
        r#"<clipPath id="{clip}"><rect x="{LEFT}" y="{top:.1}" width="{:.1}" height="{:.1}"/></clipPath><g clip-path="url(#{clip})">"#,
        layout.plot_width,
        bottom - top
    );
    for (owner, points) in &segments {
        let color = owners.get(owner).copied().unwrap_or(JOB);
        let _ = write!(
            svg,
            r#"<polyline class="job-progress" points="{points}" fill="none" stroke="{color}" stroke-width="2"><title>job owned by {}</title></polyline>"#,
            escape(owner)
        );
    }
    svg.push_str("</g>");
    if !unreachable.is_empty() {
        let _ = write!(
            svg,
            r##"<path d="{unreachable}" stroke="#9e9e9e" stroke-width="1"><title>status poll got no answer</title></path>"##
        );
    }
    // Owner key, at the right end of the panel.
    let mut x = LEFT + layout.plot_width - 6.0;
    for (owner, color) in owners.iter().rev() {
        let text = format!("owner {owner}");
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="end" fill="{color}">{}</text>"#,
            bottom - 6.0,
            escape(&text)
        );
        x -= label_width(&text) + 8.0;
    }
}

/// The waveform around one seam as a standalone SVG: `samples` is the audio
/// window, `seam_at` the index inside it where the resumed chunk starts. Drawn
/// as a line through every sample (up to four samples a pixel) or else as a
/// min/max envelope per pixel column, with the seam marked.
pub fn waveform_svg(
    samples: &[i16],
    seam_at: usize,
    sample_rate: u32,
    caption: &str,
    suspect: bool,
) -> String {
    let (width, height) = (WAVEFORM_WIDTH, 150.0);
    let (left, right, top, bottom) = (40.0, 10.0, 22.0, 124.0);
    let plot = width - left - right;
    let mid = (top + bottom) / 2.0;
    let peak = samples
        .iter()
        .map(|s| (*s as i32).unsigned_abs())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let y = |s: i16| mid - s as f64 / peak * (bottom - top) / 2.0;
    let x = |i: f64| left + i / (samples.len().max(2) - 1) as f64 * plot;
    let seam_color = if suspect { FAILED } else { FAULT };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="waveform" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="Helvetica, Arial, sans-serif" font-size="10" role="img" aria-label="{c}"><title>{c}</title><rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/><text x="{left}" y="14" font-size="11" fill="#212121">{c}</text><rect x="{left}" y="{top}" width="{plot}" height="{}" fill="#fafafa" stroke="#bdbdbd"/><line x1="{left}" y1="{mid}" x2="{}" y2="{mid}" stroke="{GRID}"/>"##,
        bottom - top,
        left + plot,
        c = escape(caption),
    );
    if samples.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{mid}" text-anchor="middle" fill="#757575">no audio around this seam</text></svg>"##,
            left + plot / 2.0
        );
        return svg;
    }
    if samples.len() as f64 <= plot * 4.0 {
        let points: Vec<String> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{:.1},{:.1}", x(i as f64), y(*s)))
            .collect();
        let _ = write!(
            svg,
            r##"<polyline class="wave" points="{}" fill="none" stroke="#37474f" stroke-width="1"/>"##,
            points.join(" ")
        );
    } else {
        let columns = plot.floor() as usize;
        let mut path = String::new();
        for col in 0..columns {
            let a = col * samples.len() / columns;
            let b = ((col + 1) * samples.len() / columns)
                .max(a + 1)
                .min(samples.len());
            let slice = &samples[a..b];
            let (lo, hi) = slice
                .iter()
                .fold((i16::MAX, i16::MIN), |(lo, hi), &s| (lo.min(s), hi.max(s)));
            let _ = write!(
                path,
                "M{:.1} {:.1}V{:.1}",
                left + col as f64 + 0.5,
                y(hi),
                y(lo) + 0.5
            );
        }
        let _ = write!(
            svg,
            r##"<path class="wave" d="{path}" stroke="#37474f" stroke-width="1" fill="none"/>"##
        );
    }
    let sx = x(seam_at.min(samples.len().saturating_sub(1)) as f64);
    let ms_per_sample = 1000.0 / sample_rate.max(1) as f64;
    let before_ms = seam_at as f64 * ms_per_sample;
    let after_ms = samples.len().saturating_sub(seam_at) as f64 * ms_per_sample;
    let _ = write!(
        svg,
        r##"<line x1="{sx:.1}" y1="{}" x2="{sx:.1}" y2="{}" stroke="{seam_color}" stroke-width="1.5" stroke-dasharray="4 2"/><text x="{sx:.1}" y="{}" text-anchor="middle" fill="{seam_color}">seam</text><text x="{left}" y="{}" fill="#616161">−{} ms</text><text x="{}" y="{}" text-anchor="end" fill="#616161">+{} ms</text></svg>"##,
        top - 2.0,
        bottom + 2.0,
        bottom + 12.0,
        bottom + 22.0,
        number(before_ms),
        left + plot,
        bottom + 22.0,
        number(after_ms),
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    #[test]
    fn absurd_times_get_a_bounded_axis_not_a_hang() {
        let report = testdata::report();
        for end in [1e12, 1e100, 1e308] {
            let mut it = report.iterations[0].clone();
            it.events[0].at_ms = end;
            let svg = timeline_svg(&it, Window::whole(&it), "far");
            let ticks = svg
                .matches(&format!("stroke=\"{GRID}\" stroke-width=\"1\"/><text"))
                .count();
            assert!((2..=MAX_TICKS).contains(&ticks), "{end}: {ticks} ticks");
        }
        // Titles with control characters keep the SVG well formed.
        let it = &report.iterations[0];
        let svg = timeline_svg(it, Window::whole(it), "a\u{0}b\u{1b}<script>");
        assert!(!svg.contains('\u{0}') && !svg.contains('\u{1b}') && !svg.contains("<script>"));
    }

    #[test]
    fn the_timeline_draws_probes_frontdoor_job_and_events() {
        let report = testdata::report();
        let it = &report.iterations[0];
        let svg = timeline_svg(it, Window::whole(it), "iteration 1");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        for label in [
            "fault in effect",
            "HAProxy marks primary down",
            "switch to standby",
            "first good probe via standby",
            "job resumes",
            "job paused",
            "HAProxy: primary",
            "HAProxy: standby (backup)",
            "owner primary",
            "owner standby",
        ] {
            assert!(svg.contains(label), "{label} missing from the chart");
        }
        // Many probes: drawn per column, failures included.
        assert!(svg.contains(&format!("stroke=\"{FAILED}\" stroke-width=\"2\"")));
        assert_eq!(svg.matches("class=\"job-progress\"").count(), 2);
    }

    #[test]
    fn the_outage_window_zooms_on_the_fault_and_draws_each_probe() {
        let report = testdata::report();
        let it = &report.iterations[0];
        let window = Window::outage(it).expect("a fault was requested");
        assert!(window.from_ms > 0.0 && window.to_ms < Window::whole(it).to_ms);
        let svg = timeline_svg(it, window, "outage");
        let failed = it
            .probes
            .scheduled_ms
            .iter()
            .zip(&it.probes.ok)
            .filter(|(t, ok)| !**ok && window.contains(**t))
            .count();
        assert!(failed > 0);
        let dots = svg.matches(&format!("r=\"2\" fill=\"{FAILED}\"")).count();
        assert_eq!(dots, failed);
    }

    #[test]
    fn event_labels_that_collide_go_to_separate_rows() {
        let report = testdata::report();
        let it = &report.iterations[0];
        let layout = Layout {
            window: Window::whole(it),
            plot_width: TIMELINE_WIDTH - LEFT - RIGHT,
        };
        let labels = place_labels(it, &layout);
        for a in &labels {
            for b in &labels {
                if std::ptr::eq(a, b) || a.row.is_none() || a.row != b.row {
                    continue;
                }
                let span = |l: &PlacedLabel| {
                    let w = label_width(l.text);
                    if l.anchor_end {
                        (l.x - w, l.x)
                    } else {
                        (l.x, l.x + w)
                    }
                };
                let (sa, sb) = (span(a), span(b));
                assert!(
                    sa.1 <= sb.0 || sb.1 <= sa.0,
                    "{} overlaps {}",
                    a.text,
                    b.text
                );
            }
        }
    }

    #[test]
    fn a_waveform_marks_the_seam_and_scales_to_the_peak() {
        let samples: Vec<i16> = (0..1200)
            .map(|i| ((i as f64 / 20.0).sin() * 8000.0) as i16)
            .collect();
        let svg = waveform_svg(&samples, 600, 24_000, "seam at chunk 9", false);
        assert!(svg.contains("class=\"wave\""));
        assert!(svg.contains(">seam<"));
        assert!(svg.contains("−25 ms") && svg.contains("+25 ms"), "{svg}");
        let empty = waveform_svg(&[], 0, 24_000, "none", true);
        assert!(empty.contains("no audio around this seam"));
    }
}
