//! End to end: `takeover bench sweep` with a tiny grid (two check intervals,
//! one kill and one no-fault iteration each, 9 s jobs) against the real
//! Docker stack: the printed table has a row per setting with measured
//! numbers, and `sweep.json` says the same.

use crate::support::{objects_with_label, one_drill_at_a_time, require_docker, takeover, temp_dir};

/// The cells of a Markdown table row, trimmed.
fn cells(row: &str) -> Vec<String> {
    row.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

/// "12 / 40" as two numbers.
fn pair(cell: &str) -> (f64, f64) {
    let (a, b) = cell
        .split_once(" / ")
        .unwrap_or_else(|| panic!("not a measured pair: {cell:?}"));
    (a.parse().unwrap(), b.parse().unwrap())
}

fn rounded(v: &serde_json::Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("not measured: {v}"))
        .round()
}

#[test]
fn a_tiny_sweep_prints_a_row_per_setting_that_its_json_agrees_with() {
    let _turn = one_drill_at_a_time();
    require_docker();
    let dir = temp_dir("sweep");
    let started = std::time::Instant::now();
    let out = takeover()
        .args([
            "bench",
            "sweep",
            "--check-interval",
            "50ms,100ms",
            "--faults",
            "kill",
            "--iterations",
            "1",
            "--steady",
            "1",
            "--pace",
            "9s",
            "--out",
        ])
        .arg(&dir)
        .output()
        .expect("takeover runs");
    eprintln!("sweep: took {:.1} s", started.elapsed().as_secs_f64());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let log = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // 0: a best setting; 1: none qualified (a false failover under load).
    assert!(matches!(out.status.code(), Some(0 | 1)), "{log}");
    assert_eq!(
        log.matches("[sweep ").count(),
        2 * 2 * 2,
        "a line before and after each run: {log}"
    );

    let rows: Vec<Vec<String>> = stdout
        .lines()
        .filter(|l| l.starts_with("| 50ms |") || l.starts_with("| 100ms |"))
        .map(cells)
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("sweep.md")).unwrap(),
        stdout,
        "sweep.md is what was printed"
    );
    let json_cells = json["cells"].as_array().unwrap();
    assert_eq!(json_cells.len(), 2);
    for (row, cell) in rows.iter().zip(json_cells) {
        // check_interval | kill outage | kill failed probes | mark-downs | takeovers | worst | verdict
        assert_eq!(row.len(), 7, "{row:?}");
        assert_eq!(row[0], cell["setting"]["check_interval"].as_str().unwrap());
        let kill = &cell["faults"][0];
        assert_eq!(kill["fault"], "kill");
        assert_eq!(kill["iterations"], 1);
        let (p50, p99) = pair(&row[1]);
        assert_eq!(p50, rounded(&kill["outage_p50_ms"]), "{row:?} {kill}");
        assert_eq!(p99, rounded(&kill["outage_p99_ms"]), "{row:?} {kill}");
        let (_, failed_max) = pair(&row[2]);
        assert_eq!(failed_max, rounded(&kill["failed_probes_max"]));
        let steady = &cell["steady"];
        assert_eq!(steady["iterations"], 1);
        assert_eq!(row[3], steady["false_markdowns"].to_string());
        assert_eq!(row[4], steady["false_takeovers"].to_string());
        assert_eq!(
            row[5].parse::<f64>().unwrap(),
            p99,
            "one fault: worst is its p99"
        );
        // Each run's report is where the cell says, and its stacks are gone.
        for report in [&kill["report"], &steady["report"]] {
            let text = std::fs::read_to_string(report.as_str().unwrap()).unwrap();
            let report: takeover::report::model::Report = serde_json::from_str(&text).unwrap();
            for it in &report.iterations {
                let left = objects_with_label(&format!("takeover.run={}", it.run_id));
                assert!(left.is_empty(), "run {} left {left:?}", it.run_id);
            }
        }
    }
    let best = rows.iter().filter(|r| r[6].starts_with("**best**")).count();
    assert_eq!(best, usize::from(out.status.code() == Some(0)), "{stdout}");
    assert_eq!(json["winner"].is_null(), best == 0, "{json}");
    std::fs::remove_dir_all(&dir).ok();
}
