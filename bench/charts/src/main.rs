//! SVG charts of the benchmark results, drawn from the CSV files the
//! benchmark scripts write beside their markdown reports in `bench/results`:
//!
//! ```text
//! charts socialnetwork IN.csv OUT.svg [--p99-target MS] [--workload W]  # latency vs offered load
//! charts http IN.csv OUT.svg [--title TEXT]               # req/s and CPU per request
//! charts rebalance IN.csv OUT.svg                         # instance counts over time
//! ```
//!
//! - `socialnetwork` (from `bench/socialnetwork.sh`): columns `deployment,
//!   workload, target_rate, achieved_rate, p50_ms, p99_ms, p999_ms, errors,
//!   sustained`, one row per sweep step; p50 and p99 against the offered
//!   rate for each deployment (of the steps at one rate, the one with the
//!   lowest p99: a failed step is retried and passes if either run did), for
//!   the steps of one workload (`--workload`, default `mixed`; the other
//!   apps' benchmarks write theirs, e.g. `hotel-mixed`).
//! - `http` (from `bench/http-hello.sh`): `config, server, round, rps,
//!   p50_ms, p99_ms, cpu_us`, one row per closed-loop run; bars of the
//!   median over rounds, each round a dot.
//! - `rebalance` (from `cargo bench --bench scheduler -- rebalance`):
//!   `config, rep, t_ms, shift_ms, a, b`, a row whenever an instance count
//!   changed; the whole run and a zoom on the shift.
//!
//! Only plotters' SVG backend: text is written as SVG `<text>`, so nothing
//! here needs fonts or system libraries to build or run.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type Error = Box<dyn std::error::Error>;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("charts: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), Error> {
    let usage = "usage: charts socialnetwork|http|rebalance IN.csv OUT.svg [--title TEXT] [--p99-target MS] [--workload W]";
    let [kind, input, output, rest @ ..] = args else {
        return Err(usage.into());
    };
    let mut title = None;
    let mut p99_target = None;
    let mut workload = "mixed".to_owned();
    let mut rest = rest.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--title" => title = Some(value.clone()),
            "--p99-target" => p99_target = Some(value.parse::<f64>()?),
            "--workload" => workload = value.clone(),
            _ => return Err(format!("unknown flag {flag}; {usage}").into()),
        }
    }
    let table = Table::read(Path::new(input))?;
    let out = Path::new(output);
    match kind.as_str() {
        "socialnetwork" => socialnetwork(&table, out, title.as_deref(), p99_target, &workload),
        "http" => http(&table, out, title.as_deref()),
        "rebalance" => rebalance(&table, out, title.as_deref()),
        _ => Err(usage.into()),
    }
}

/// A CSV file with a header row (no quoting: the benchmarks write plain
/// fields).
struct Table {
    path: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn read(path: &Path) -> Result<Table, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines
            .next()
            .ok_or_else(|| format!("{} is empty", path.display()))?
            .split(',')
            .map(|h| h.trim().to_owned())
            .collect();
        let rows = lines
            .map(|l| l.split(',').map(|f| f.trim().to_owned()).collect())
            .collect();
        Ok(Table {
            path: path.display().to_string(),
            header,
            rows,
        })
    }

    fn column(&self, name: &str) -> Result<usize, Error> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("{} has no column {name}", self.path).into())
    }

    fn text<'a>(&self, row: &'a [String], column: usize) -> &'a str {
        row.get(column).map_or("", String::as_str)
    }

    fn number(&self, row: &[String], column: usize) -> Result<f64, Error> {
        let text = self.text(row, column);
        text.parse()
            .map_err(|e| format!("{}: {} is not a number: {e}", self.path, text).into())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Deployment or server names as the reports title them.
fn label(name: &str) -> String {
    match name {
        "pyrosome-quickjs" => "Pyrosome, QuickJS".into(),
        "pyrosome-v8" => "Pyrosome, V8".into(),
        "pyrosome" => "Pyrosome".into(),
        "node" => "Node.js".into(),
        other => other.into(),
    }
}

// ---------------------------------------------------------------------------

fn socialnetwork(
    t: &Table,
    out: &Path,
    title: Option<&str>,
    p99_target: Option<f64>,
    workload: &str,
) -> Result<(), Error> {
    let (dep, work, rate, p50, p99) = (
        t.column("deployment")?,
        t.column("workload")?,
        t.column("target_rate")?,
        t.column("p50_ms")?,
        t.column("p99_ms")?,
    );
    let sustained = t.column("sustained")?;
    // deployment -> rate -> (p50, p99, sustained) of the step with the
    // lowest p99.
    let mut series: BTreeMap<String, BTreeMap<u64, (f64, f64, bool)>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for row in &t.rows {
        if t.text(row, work) != workload {
            continue;
        }
        let d = t.text(row, dep).to_owned();
        if !order.contains(&d) {
            order.push(d.clone());
        }
        let r = t.number(row, rate)?;
        let point = (
            t.number(row, p50)?,
            t.number(row, p99)?,
            t.text(row, sustained) == "yes",
        );
        let steps = series.entry(d).or_default();
        let best = steps.entry(r as u64).or_insert(point);
        if point.1 < best.1 {
            *best = point;
        }
    }
    if series.is_empty() {
        return Err(format!("{}: no steps of the {workload} workload", t.path).into());
    }
    let max_rate = series
        .values()
        .flat_map(|s| s.keys())
        .copied()
        .max()
        .unwrap_or(1) as f64;
    let all = series.values().flat_map(|s| s.values());
    let lo = all
        .clone()
        .map(|p| p.0)
        .fold(f64::INFINITY, f64::min)
        .max(0.01);
    let hi = all.map(|p| p.1).fold(p99_target.unwrap_or(0.0), f64::max);

    let root = SVGBackend::new(out, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = title.unwrap_or("Social network, mixed workload: latency against offered load");
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(45)
        .y_label_area_size(65)
        // Room on the right for the legend.
        .build_cartesian_2d(0f64..max_rate * 1.45, (lo * 0.8..hi * 1.3).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("offered load, requests/s (open loop); filled dots: the step sustained its rate")
        .y_desc("latency, ms (log scale)")
        .y_label_formatter(&|v| format!("{v}"))
        .draw()?;
    if let Some(target) = p99_target {
        chart
            .draw_series(LineSeries::new(
                [(0.0, target), (max_rate * 1.45, target)],
                BLACK.mix(0.4).stroke_width(1),
            ))?
            .label(format!("p99 target ({target} ms)"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
    }
    for (i, d) in order.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points: Vec<(f64, f64, f64, bool)> = series[d]
            .iter()
            .map(|(r, (a, b, ok))| (*r as f64, *a, *b, *ok))
            .collect();
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.2)),
                color.stroke_width(3),
            ))?
            .label(format!("{} p99", label(d)))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
        chart.draw_series(points.iter().map(|p| {
            let style = if p.3 {
                color.filled()
            } else {
                color.stroke_width(2)
            };
            Circle::new((p.0, p.2), 5, style)
        }))?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                color.mix(0.6).stroke_width(1),
            ))?
            .label(format!("{} p50", label(d)))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.mix(0.6)));
        chart.draw_series(
            points
                .iter()
                .map(|p| TriangleMarker::new((p.0, p.1), 4, color.mix(0.6).filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}

// ---------------------------------------------------------------------------

fn http(t: &Table, out: &Path, title: Option<&str>) -> Result<(), Error> {
    let (cfg, srv, rps, cpu) = (
        t.column("config")?,
        t.column("server")?,
        t.column("rps")?,
        t.column("cpu_us")?,
    );
    let mut configs: Vec<String> = Vec::new();
    let mut servers: Vec<String> = Vec::new();
    // (config, server) -> (rps values, cpu values), one per round.
    let mut values: BTreeMap<(String, String), (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for row in &t.rows {
        let (c, s) = (t.text(row, cfg).to_owned(), t.text(row, srv).to_owned());
        if !configs.contains(&c) {
            configs.push(c.clone());
        }
        if !servers.contains(&s) {
            servers.push(s.clone());
        }
        let v = values.entry((c, s)).or_default();
        v.0.push(t.number(row, rps)?);
        v.1.push(t.number(row, cpu)?);
    }
    if configs.is_empty() {
        return Err(format!("{}: no rows", t.path).into());
    }
    let root = SVGBackend::new(out, (960, 330 * configs.len() as u32 + 50)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        title.unwrap_or("HTTP benchmark: throughput and CPU per request"),
        ("sans-serif", 22),
    )?;
    let panels = root.split_evenly((configs.len(), 2));
    for (i, c) in configs.iter().enumerate() {
        for (j, (metric, unit)) in [
            ("throughput", "requests/s"),
            ("server CPU per request", "µs"),
        ]
        .into_iter()
        .enumerate()
        {
            let bars: Vec<(f64, Vec<f64>)> = servers
                .iter()
                .map(|s| {
                    let v = values
                        .get(&(c.clone(), s.clone()))
                        .map(|v| if j == 0 { v.0.clone() } else { v.1.clone() })
                        .unwrap_or_default();
                    (median(v.clone()), v)
                })
                .collect();
            bar_panel(
                &panels[i * 2 + j],
                &format!("{c}: {metric} (median; dots: rounds)"),
                unit,
                &servers,
                &bars,
            )?;
        }
    }
    root.present()?;
    Ok(())
}

fn bar_panel(
    area: &DrawingArea<SVGBackend, Shift>,
    caption: &str,
    unit: &str,
    servers: &[String],
    bars: &[(f64, Vec<f64>)],
) -> Result<(), Error> {
    let top = bars
        .iter()
        .flat_map(|(m, v)| v.iter().chain([m]))
        .copied()
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max)
        * 1.15;
    let n = servers.len();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d((0..n.max(1) - 1).into_segmented(), 0f64..top.max(1.0))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(unit)
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => servers.get(*i).map(|s| label(s)).unwrap_or_default(),
            _ => String::new(),
        })
        .draw()?;
    for (i, (m, rounds)) in bars.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        if m.is_finite() {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *m),
                ],
                color.mix(0.75).filled(),
            );
            bar.set_margin(0, 0, 18, 18);
            chart.draw_series([bar])?;
            let text = if *m >= 1000.0 {
                format!("{:.1}k", m / 1000.0)
            } else {
                format!("{m:.1}")
            };
            let font = ("sans-serif", 13)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series([Text::new(
                text,
                (SegmentValue::CenterOf(i), *m + top * 0.01),
                font,
            )])?;
        }
        chart.draw_series(
            rounds
                .iter()
                .map(|v| Circle::new((SegmentValue::CenterOf(i), *v), 3, BLACK.filled())),
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------

fn rebalance(t: &Table, out: &Path, title: Option<&str>) -> Result<(), Error> {
    let (cfg, rep, time, shift_col, a, b) = (
        t.column("config")?,
        t.column("rep")?,
        t.column("t_ms")?,
        t.column("shift_ms")?,
        t.column("a")?,
        t.column("b")?,
    );
    // (config, rep) -> [(t, a, b)].
    type Runs = BTreeMap<(String, String), Vec<(f64, f64, f64)>>;
    let mut runs = Runs::new();
    let mut shift = 0.0;
    for row in &t.rows {
        shift = t.number(row, shift_col)?;
        runs.entry((t.text(row, cfg).to_owned(), t.text(row, rep).to_owned()))
            .or_default()
            .push((t.number(row, time)?, t.number(row, a)?, t.number(row, b)?));
    }
    if runs.is_empty() {
        return Err(format!("{}: no rows", t.path).into());
    }
    let end_of = |config: &str| {
        runs.iter()
            .filter(|((c, _), _)| c == config)
            .flat_map(|(_, r)| r.iter().map(|p| p.0))
            .fold(shift + 40.0, f64::max)
    };
    let most = runs
        .values()
        .flat_map(|r| r.iter().map(|p| p.1.max(p.2)))
        .fold(0.0, f64::max);
    let root = SVGBackend::new(out, (960, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        title.unwrap_or("Rebalancing: instances of a and b when traffic shifts from a to b"),
        ("sans-serif", 22),
    )?;
    let panels = root.split_evenly((2, 2));
    for (col, config) in ["replicate", "control"].into_iter().enumerate() {
        let name = if config == "replicate" {
            "b may replicate"
        } else {
            "control: b max_instances = 1"
        };
        for (row, (from, to, what)) in [
            (0.0, end_of(config), "whole run"),
            (shift - 10.0, shift + 40.0, "around the shift"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut chart = ChartBuilder::on(&panels[row * 2 + col])
                .caption(format!("{name}: {what}"), ("sans-serif", 16))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(40)
                .build_cartesian_2d(from..to, 0f64..most + 1.0)?;
            chart
                .configure_mesh()
                .x_desc("ms since the start (traffic moves to b at the gray line)")
                .y_desc("instances")
                .y_labels(most as usize + 2)
                .y_label_formatter(&|v| format!("{v:.0}"))
                .draw()?;
            chart.draw_series(LineSeries::new(
                [(shift, 0.0), (shift, most + 1.0)],
                BLACK.mix(0.5),
            ))?;
            let of_config = runs.iter().filter(|((c, _), _)| c == config);
            for (n, (_, points)) in of_config.enumerate() {
                for (k, (service, color)) in [("a", PALETTE[0]), ("b", PALETTE[1])]
                    .into_iter()
                    .enumerate()
                {
                    // Drawn a little apart so that equal counts of a and b
                    // stay visible.
                    let offset = if k == 0 { -0.04 } else { 0.04 };
                    let changes: Vec<(f64, f64)> = points
                        .iter()
                        .map(|p| (p.0, if k == 0 { p.1 } else { p.2 } + offset))
                        .collect();
                    let series = chart.draw_series(LineSeries::new(
                        steps(&changes, from, to),
                        color.mix(0.7).stroke_width(2),
                    ))?;
                    if row == 0 && n == 0 {
                        series.label(service).legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                        });
                    }
                }
            }
            if row == 0 {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperLeft)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.3))
                    .draw()?;
            }
        }
    }
    root.present()?;
    Ok(())
}

/// A count that changed at the given times, as a step line over
/// `[from, to]`: each value holds until the next change.
fn steps(changes: &[(f64, f64)], from: f64, to: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut current: Option<f64> = None;
    for &(t, v) in changes {
        if t <= from {
            current = Some(v);
            continue;
        }
        if t > to {
            break;
        }
        if let Some(c) = current {
            if out.is_empty() {
                out.push((from, c));
            }
            out.push((t, c));
        }
        out.push((t, v));
        current = Some(v);
    }
    if let Some(c) = current {
        if out.is_empty() {
            out.push((from, c));
        }
        out.push((to, c));
    }
    out
}
