//! Small text helpers the renderers share: escaping, number formatting, witness lines.

use super::model::FaultRecord;

/// What the witness line of a fault made by the CPU backend's emulation says.
pub const EMULATED_ON_CPU: &str = "emulated on the CPU backend";

/// A fault's witness as the renderers show it: the recorded witness, with
/// [`EMULATED_ON_CPU`] added where the evidence says the fault was emulated and the
/// witness does not say so yet; for a fault without a witness, its evidence's note
/// (a heal with nothing to revert), if any.
pub fn witness_text(fault: &FaultRecord) -> Option<String> {
    let emulated = fault.evidence.get("emulated") == Some(&serde_json::Value::Bool(true));
    match &fault.witness {
        Some(w) if emulated && !w.contains(EMULATED_ON_CPU) => {
            Some(format!("{w} ({EMULATED_ON_CPU})"))
        }
        Some(w) => Some(w.clone()),
        None => fault
            .evidence
            .get("note")
            .and_then(|n| n.as_str())
            .map(|n| format!("{n} (no witness)")),
    }
}

/// Characters XML 1.0 cannot hold (control characters but tab and line
/// breaks, and the two non-characters U+FFFE, U+FFFF): a report shows them as U+FFFD.
fn xml_forbidden(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
}

/// Escapes text for HTML, SVG and XML content and attribute values; a
/// character XML cannot hold becomes U+FFFD, so the document stays valid.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if xml_forbidden(c) => out.push('\u{FFFD}'),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes free text (a name, a description) for Markdown: `&`, `<` and `>`
/// as entities, so that no markup (a `<script>`) passes into the page, and
/// control characters as U+FFFD. Line breaks stay.
pub fn md_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if xml_forbidden(c) => out.push('\u{FFFD}'),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for a Markdown table cell (markup as [`md_text`], pipes, line breaks).
pub fn md_cell(text: &str) -> String {
    md_text(text).replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A number with as many decimals as its size calls for (`0.42`, `12.3`, `640`).
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let magnitude = value.abs();
    let text = if magnitude >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    if text == "-0" {
        "0".to_string()
    } else {
        text
    }
}

/// A value with its unit, or an em dash when it was not measured.
pub fn with_unit(value: Option<f64>, unit: &str) -> String {
    match value {
        Some(v) if unit == "bool" => if v >= 0.5 { "yes" } else { "no" }.to_string(),
        Some(v) if unit.is_empty() => number(v),
        Some(v) => format!("{} {unit}", number(v)),
        None => "—".to_string(),
    }
}

/// A value without unit, or an em dash when it was not measured.
pub fn opt(value: Option<f64>) -> String {
    value.map(number).unwrap_or_else(|| "—".to_string())
}

/// Milliseconds as seconds for time axes and event times (`8.21 s`).
pub fn seconds(ms: f64) -> String {
    format!("{:.2} s", ms / 1000.0)
}

/// A one-line text sparkline of the values, lowest to highest in eight steps;
/// a missing value is a gap (`·`).
pub fn sparkline(values: &[Option<f64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let (lo, hi) = present
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    values
        .iter()
        .map(|value| match value {
            None => '·',
            Some(v) if hi > lo => {
                let step = ((v - lo) / (hi - lo) * 7.0).round() as usize;
                BARS[step.min(7)]
            }
            Some(_) => BARS[3],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_characters() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(md_cell("a|b\nc"), "a\\|b c");
    }

    #[test]
    fn markup_and_control_characters_never_pass_through() {
        assert_eq!(escape("a\0b\x1bc\td"), "a\u{FFFD}b\u{FFFD}c\td");
        assert_eq!(
            md_text("<script>alert(1)</script>\u{7}"),
            "&lt;script&gt;alert(1)&lt;/script&gt;\u{FFFD}"
        );
        assert_eq!(md_cell("x<b>|y"), "x&lt;b&gt;\\|y");
    }

    #[test]
    fn numbers_keep_meaningful_decimals() {
        assert_eq!(number(640.0), "640");
        assert_eq!(number(210.46), "210");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(1.234), "1.23");
        assert_eq!(number(3.0), "3");
        assert_eq!(with_unit(None, "ms"), "—");
        assert_eq!(with_unit(Some(5.5), "ms"), "5.50 ms");
        assert_eq!(with_unit(Some(1.0), "bool"), "yes");
    }

    #[test]
    fn a_sparkline_spans_lowest_to_highest_with_gaps() {
        assert_eq!(sparkline(&[Some(1.0), None, Some(8.0), Some(4.5)]), "▁·█▅");
        assert_eq!(sparkline(&[Some(2.0), Some(2.0)]), "▄▄");
        assert_eq!(sparkline(&[]), "");
    }
}
