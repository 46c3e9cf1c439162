//! The terminal rendering of a trace (`pyrosome trace TRACE_ID`): the span
//! tree, indented, each span with a bar placed and scaled on the trace's
//! time axis, and its duration, time queued, time running and CPU time.
//!
//! In a bar, `░` is time queued (waiting for a worker), `█` time running,
//! `·` the rest of the span (a timer's delay; a store operation or fetch
//! waiting for its answer is all running).

use std::collections::HashMap;
use std::fmt::Write as _;

use super::view::{SpanView, TraceSummary, TraceView};

/// Width of the bar column, in characters.
pub const BAR_WIDTH: usize = 40;

/// Longest span label before it is cut.
const MAX_LABEL: usize = 56;

/// Milliseconds, for the columns.
fn ms(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// One line per kept trace, newest first (`pyrosome trace` without an id).
pub fn render_list(traces: &[TraceSummary]) -> String {
    if traces.is_empty() {
        return "no traces kept yet (slow and failed requests are kept; set [trace] sample_rate \
                to keep others)\n"
            .to_owned();
    }
    let mut out = format!(
        "{:<32}  {:<7}  {:>6}  {:>10}  {:>5}  {:<8}  {}\n",
        "TRACE", "KEPT", "STATUS", "DURATION", "SPANS", "SERVICE", "REQUEST"
    );
    for t in traces {
        let _ = writeln!(
            out,
            "{:<32}  {:<7}  {:>6}  {:>10}  {:>5}  {:<8}  {} {}",
            t.trace_id,
            t.kept,
            t.status,
            ms(t.duration_ns),
            t.span_count,
            t.service,
            t.method,
            t.path
        );
    }
    out
}

/// The waterfall of one trace.
pub fn render(trace: &TraceView) -> String {
    let s = &trace.summary;
    let mut out = format!(
        "trace {}  {} {} -> {}  {}  {}  kept: {}\n",
        s.trace_id,
        s.method,
        s.path,
        s.service,
        s.status,
        ms(s.duration_ns),
        s.kept
    );
    if let Some(parent) = &trace.remote_parent_id {
        let _ = writeln!(out, "continues the client's span {parent}");
    }
    let total = trace
        .spans
        .iter()
        .map(|sp| sp.start_ns + sp.duration_ns)
        .max()
        .unwrap_or(0)
        .max(1);

    // The tree: children by parent, in start order.
    let ids: std::collections::HashSet<&str> =
        trace.spans.iter().map(|sp| sp.span_id.as_str()).collect();
    let mut children: HashMap<Option<&str>, Vec<&SpanView>> = HashMap::new();
    for sp in &trace.spans {
        let parent = sp.parent_id.as_deref().filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(sp);
    }
    for list in children.values_mut() {
        list.sort_by_key(|sp| sp.start_ns);
    }
    let mut rows: Vec<(String, &SpanView)> = Vec::new();
    walk(&children, None, "", true, &mut rows);

    let label_width = rows
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0)
        .min(MAX_LABEL);
    let _ = writeln!(
        out,
        "{:<label_width$}  {:<BAR_WIDTH$}  {:>9}  {:>9}  {:>9}  {:>9}",
        "span",
        format!("0{:>w$}", ms(total), w = BAR_WIDTH - 1),
        "duration",
        "queued",
        "running",
        "cpu",
    );
    for (label, sp) in rows {
        let label: String = label.chars().take(label_width).collect();
        let _ = writeln!(
            out,
            "{label:<label_width$}  {}  {:>9}  {:>9}  {:>9}  {:>9}",
            bar(sp, total),
            ms(sp.duration_ns),
            ms(sp.queued_ns),
            ms(sp.running_ns),
            ms(sp.cpu_ns),
        );
        if let Some(error) = &sp.error {
            let _ = writeln!(out, "{:label_width$}  ✗ {error}", "");
        }
    }
    out
}

fn walk<'a>(
    children: &HashMap<Option<&str>, Vec<&'a SpanView>>,
    parent: Option<&str>,
    prefix: &str,
    top: bool,
    rows: &mut Vec<(String, &'a SpanView)>,
) {
    let Some(list) = children.get(&parent) else {
        return;
    };
    for (i, sp) in list.iter().enumerate() {
        let last = i + 1 == list.len();
        let (branch, next) = if top {
            ("", String::new())
        } else if last {
            ("└ ", format!("{prefix}  "))
        } else {
            ("├ ", format!("{prefix}│ "))
        };
        let mut label = format!("{prefix}{branch}{}", sp.name);
        if let Some(instance) = sp.instance {
            let _ = write!(label, " #{instance}");
        }
        if let Some(worker) = sp.worker {
            let _ = write!(label, " w{worker}");
        }
        if sp.error.is_some() {
            label.push_str(" ✗");
        }
        rows.push((label, sp));
        walk(children, Some(&sp.span_id), &next, false, rows);
    }
}

/// The span's bar on the trace's axis: `·` waiting, `░` queued, `█`
/// running (at least one character, so short spans show).
fn bar(sp: &SpanView, total: u64) -> String {
    let scale = |ns: u64| ((ns as u128 * BAR_WIDTH as u128) / total as u128) as usize;
    let start = scale(sp.start_ns).min(BAR_WIDTH - 1);
    let end = scale(sp.start_ns + sp.duration_ns).clamp(start + 1, BAR_WIDTH);
    let len = end - start;
    let running = if sp.duration_ns == 0 {
        len
    } else {
        ((sp.running_ns as u128 * len as u128).div_ceil(sp.duration_ns as u128) as usize).min(len)
    };
    let queued = if sp.duration_ns == 0 {
        0
    } else {
        ((sp.queued_ns as u128 * len as u128) / sp.duration_ns as u128) as usize
    }
    .min(len - running);
    let waiting = len - running - queued;
    let mut s = " ".repeat(start);
    s.push_str(&"·".repeat(waiting));
    s.push_str(&"░".repeat(queued));
    s.push_str(&"█".repeat(running));
    s.push_str(&" ".repeat(BAR_WIDTH - end));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn span(id: &str, parent: Option<&str>, name: &str, start: u64, dur: u64) -> SpanView {
        SpanView {
            span_id: id.to_owned(),
            parent_id: parent.map(str::to_owned),
            kind: "invocation".to_owned(),
            name: name.to_owned(),
            service: "s".to_owned(),
            method: "m".to_owned(),
            instance: Some(1),
            worker: Some(0),
            start_ns: start,
            duration_ns: dur,
            queued_ns: dur / 4,
            running_ns: dur - dur / 4,
            cpu_ns: dur / 2,
            outcome: "ok".to_owned(),
            error: None,
            attributes: BTreeMap::new(),
        }
    }

    #[test]
    fn children_are_indented_under_their_parent_and_bars_scale_to_the_trace() {
        let mut failed = span("c", Some("b"), "back.fail", 500_000, 250_000);
        failed.error = Some("Error: boom".to_owned());
        let trace = TraceView {
            summary: TraceSummary {
                trace_id: "ab".repeat(16),
                started_unix_ms: 0,
                duration_ns: 1_000_000,
                method: "GET".to_owned(),
                path: "/x".to_owned(),
                service: "front".to_owned(),
                status: 500,
                span_count: 3,
                error: true,
                kept: "error".to_owned(),
            },
            remote_parent_id: None,
            spans: vec![
                span("a", None, "GET /x", 0, 1_000_000),
                span("b", Some("a"), "front.@fetch", 100_000, 800_000),
                failed,
            ],
        };
        let text = render(&trace);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("GET /x -> front  500"), "{text}");
        let row = |name: &str| {
            *lines
                .iter()
                .find(|l| l.contains(name))
                .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        };
        assert!(row("GET /x #1").starts_with("GET /x"), "{text}");
        assert!(row("front.@fetch").starts_with("└ front.@fetch"), "{text}");
        assert!(row("back.fail").starts_with("  └ back.fail"), "{text}");
        assert!(text.contains("✗ Error: boom"), "{text}");
        // The root's bar fills the axis; the others start later.
        let bar_start = |name: &str| {
            row(name)
                .chars()
                .position(|c| matches!(c, '░' | '█' | '·'))
                .unwrap_or(usize::MAX)
        };
        assert!(bar_start("GET /x #1") < bar_start("front.@fetch"), "{text}");
        assert!(bar_start("front.@fetch") < bar_start("back.fail"), "{text}");
        assert_eq!(
            row("GET /x #1")
                .chars()
                .filter(|c| matches!(c, '░' | '█'))
                .count(),
            BAR_WIDTH,
            "{text}"
        );
    }
}
