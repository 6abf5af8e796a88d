//! The history of drills, rendered: a text table, and one self-contained
//! HTML page with a chart of coverage and verdicts over time (inline SVG,
//! no script, no network).

use std::fmt::Write as _;

use super::state::DrillRecord;

/// A recorded verdict in words.
pub fn verdict_word(verdict: &str) -> &'static str {
    match verdict {
        "verified" => "passed",
        "damaged" => "FAILED: damage",
        "unlock" => "FAILED: unlock",
        _ => "NOT PROVEN",
    }
}

fn day(started: &str) -> &str {
    started.get(..10).unwrap_or(started)
}

/// The drills as a table, one per line, oldest first.
pub fn table(records: &[DrillRecord]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<20}  {:<14}  {:>7}  {:>9}  {:>12}  {:>12}  remote",
        "started", "verdict", "sampled", "12 months", "download", "decrypt"
    );
    for r in records {
        let _ = writeln!(
            t,
            "{:<20}  {:<14}  {:>7}  {:>8.1}%  {:>6.1} MiB/s  {:>6.1} MiB/s  {}",
            r.started,
            verdict_word(&r.verdict),
            r.files_sampled,
            r.coverage_12m,
            r.download_mib_s,
            r.decrypt_mib_s,
            r.remote
        );
    }
    if let Some(trend) = trend(records) {
        let _ = writeln!(t, "\n{trend}");
    }
    t
}

/// One sentence on the throughput trend: the last drill against the
/// median of the earlier ones.
pub fn trend(records: &[DrillRecord]) -> Option<String> {
    let rates: Vec<f64> = records
        .iter()
        .map(|r| r.download_mib_s)
        .filter(|&r| r > 0.0)
        .collect();
    let (last, earlier) = rates.split_last()?;
    if earlier.is_empty() {
        return None;
    }
    let mut sorted = earlier.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let change = 100.0 * (last - median) / median;
    Some(format!(
        "Download throughput: last drill {last:.1} MiB/s, {} the median of the {} earlier ones \
         ({median:.1} MiB/s){}",
        if change.abs() < 10.0 {
            "about".to_string()
        } else if change > 0.0 {
            format!("{change:.0} % above")
        } else {
            format!("{:.0} % below", -change)
        },
        earlier.len(),
        if change < -30.0 {
            "; a restore would take longer than the last estimates said"
        } else {
            ""
        }
    ))
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn colour(verdict: &str) -> &'static str {
    match verdict {
        "verified" => "#2e7d32",
        "damaged" | "unlock" => "#c62828",
        _ => "#757575",
    }
}

/// The chart: coverage over 12 months as a line (0-100 %), each drill a
/// dot coloured by its verdict, on an axis of drills in time order.
fn chart(records: &[DrillRecord]) -> String {
    let (w, h, left, top, bottom) = (760.0, 260.0, 50.0, 20.0, 40.0);
    let plot_w = w - left - 20.0;
    let plot_h = h - top - bottom;
    let n = records.len().max(1);
    let x = |i: usize| {
        if n == 1 {
            left + plot_w / 2.0
        } else {
            left + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y = |pct: f64| top + plot_h * (1.0 - pct.clamp(0.0, 100.0) / 100.0);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" \
         height=\"{h}\" role=\"img\" aria-label=\"coverage and verdicts over time\">"
    );
    for pct in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{pct:.0} %</text>",
            left + plot_w,
            left - 6.0,
            y(pct) + 4.0,
            y = y(pct)
        );
    }
    let points: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{:.1},{:.1}", x(i), y(r.coverage_12m)))
        .collect();
    let _ = write!(
        s,
        "<polyline fill=\"none\" stroke=\"#1565c0\" stroke-width=\"2\" points=\"{}\"/>",
        points.join(" ")
    );
    for (i, r) in records.iter().enumerate() {
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"6\" fill=\"{}\"><title>{} {}: {}, {:.1} % \
             verified in 12 months</title></circle>",
            x(i),
            y(r.coverage_12m),
            colour(&r.verdict),
            esc(&r.started),
            esc(&r.remote),
            verdict_word(&r.verdict),
            r.coverage_12m
        );
    }
    let step = (n / 8).max(1);
    for (i, r) in records.iter().enumerate().step_by(step) {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x(i),
            h - bottom + 18.0,
            esc(day(&r.started))
        );
    }
    s.push_str("</svg>");
    s
}

/// One self-contained HTML page: the chart, the trend and the table.
pub fn html(title: &str, records: &[DrillRecord]) -> String {
    let mut p = String::new();
    let passed = records.iter().filter(|r| r.verdict == "verified").count();
    let _ = write!(
        p,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{t}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}}\
         table{{border-collapse:collapse}}td,th{{padding:.3em .7em;border-bottom:1px solid #ddd;\
         text-align:left}}td.n{{text-align:right}}.ok{{color:#2e7d32}}.bad{{color:#c62828}}\
         .na{{color:#757575}}</style></head><body>\n<h1>{t}</h1>\n",
        t = esc(title)
    );
    if records.is_empty() {
        p.push_str("<p>No drills recorded yet. Run <code>vaultdrill drill</code>.</p>");
    } else {
        let last = &records[records.len() - 1];
        let _ = writeln!(
            p,
            "<p>{} drills, {passed} passed. Last: {} on {}, <strong class=\"{}\">{}</strong>; \
             {:.1} % of its vault's files verified in the last 12 months.</p>",
            records.len(),
            esc(&last.remote),
            esc(&last.started),
            if last.verdict == "verified" {
                "ok"
            } else {
                "bad"
            },
            verdict_word(&last.verdict),
            last.coverage_12m
        );
        let _ = writeln!(
            p,
            "<h2>Coverage and results over time</h2>\n{}\n<p>Line: share of the files \
             verified in the 12 months before each drill. Dots: green passed, red failed, grey \
             could not run.</p>",
            chart(records)
        );
        if let Some(trend) = trend(records) {
            let _ = writeln!(p, "<p>{}</p>", esc(&trend));
        }
        p.push_str(
            "<h2>Drills</h2>\n<table><tr><th>started</th><th>remote</th><th>verdict</th>\
             <th>sampled files</th><th>12 months</th><th>download</th><th>decrypt</th>\
             <th>findings</th><th>report</th></tr>\n",
        );
        for r in records.iter().rev() {
            let class = match r.verdict.as_str() {
                "verified" => "ok",
                "damaged" | "unlock" => "bad",
                _ => "na",
            };
            let _ = writeln!(
                p,
                "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{:.1} %</td><td class=\"n\">{:.1} MiB/s</td>\
                 <td class=\"n\">{:.1} MiB/s</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&r.started),
                esc(&r.remote),
                verdict_word(&r.verdict),
                r.files_sampled,
                r.coverage_12m,
                r.download_mib_s,
                r.decrypt_mib_s,
                r.findings,
                r.report
                    .as_ref()
                    .map(|p| esc(&p.display().to_string()))
                    .unwrap_or_default()
            );
        }
        p.push_str("</table>\n");
    }
    p.push_str("</body></html>\n");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(started: &str, verdict: &str, coverage: f64, rate: f64) -> DrillRecord {
        DrillRecord {
            started: started.into(),
            remote: "b2:bucket/<vault>".into(),
            vault_id: "id".into(),
            verdict: verdict.into(),
            exit_code: 0,
            seconds: 1.0,
            files_total: 100,
            files_sampled: 5,
            bytes_downloaded: 1,
            coverage_12m: coverage,
            download_mib_s: rate,
            decrypt_mib_s: 100.0,
            findings: 0,
            report: None,
        }
    }

    #[test]
    fn the_page_is_self_contained_and_escaped() {
        let records = [
            record("2026-01-01T03:00:00Z", "verified", 5.0, 10.0),
            record("2026-02-01T03:00:00Z", "damaged", 10.0, 10.0),
            record("2026-03-01T03:00:00Z", "could_not_run", 10.0, 4.0),
        ];
        let page = html("Drills", &records);
        assert!(page.contains("<svg") && page.contains("<polyline"));
        assert_eq!(page.matches("<circle").count(), 3);
        assert!(page.contains("#c62828") && page.contains("#2e7d32"));
        assert!(!page.contains("<vault>") && page.contains("&lt;vault&gt;"));
        assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("href="));
        assert!(page.contains("60 % below"), "{page}");
    }

    #[test]
    fn no_trend_from_one_drill() {
        assert_eq!(trend(&[record("2026-01-01", "verified", 1.0, 3.0)]), None);
    }
}
