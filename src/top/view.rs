//! Drawing `pyrosome top` with ratatui: the [`Stats`] of `model.rs` and the
//! viewer's [`Ui`] state in, a frame out. No I/O here, so a `TestBackend`
//! can draw it in tests.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::model::{MethodRow, Sort, Stats};

/// Lines of the partition change log shown.
const LOG_LINES: usize = 3;

/// Width of a worker's busy bar, in cells.
const BAR_WIDTH: usize = 30;

/// The table that arrow keys move in (`tab` switches).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pane {
    /// The services.
    Services,
    /// The methods.
    #[default]
    Methods,
}

/// The viewer's own state.
#[derive(Debug, Default)]
pub struct Ui {
    /// The focused table.
    pub focus: Pane,
    /// The methods' order.
    pub sort: Sort,
    /// Selection in the services table.
    pub services: TableState,
    /// Selection in the methods table.
    pub methods: TableState,
}

impl Ui {
    /// `tab`: the other table.
    pub fn switch_pane(&mut self) {
        self.focus = match self.focus {
            Pane::Services => Pane::Methods,
            Pane::Methods => Pane::Services,
        };
    }

    /// `↓` (`down = true`) or `↑` in the focused table.
    pub fn select(&mut self, down: bool) {
        let state = match self.focus {
            Pane::Services => &mut self.services,
            Pane::Methods => &mut self.methods,
        };
        if down {
            state.select_next();
        } else {
            state.select_previous();
        }
    }
}

/// Draws one frame: `stats` is `None` before the first snapshot; `error`
/// is why the last poll failed; `source` names the server.
pub fn draw(
    frame: &mut Frame,
    stats: Option<&Stats>,
    error: Option<&str>,
    source: &str,
    ui: &mut Ui,
) {
    let area = frame.area();
    let Some(stats) = stats else {
        let text = match error {
            Some(e) => format!("pyrosome top: {source}: {e}"),
            None => format!("pyrosome top: waiting for {source}…"),
        };
        frame.render_widget(Paragraph::new(text), area);
        return;
    };
    let log = stats.partition.log.len().min(LOG_LINES);
    let [header, workers, partition, services, methods] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(stats.workers.len() as u16 + 3),
        Constraint::Length(log as u16 + 4),
        Constraint::Length(
            (stats.services.len() as u16 + 3)
                .min(area.height / 3)
                .max(4),
        ),
        Constraint::Min(4),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(header_line(stats, error, source, ui.sort)),
        header,
    );
    frame.render_widget(workers_block(stats), workers);
    frame.render_widget(partition_block(stats), partition);
    draw_services(frame, stats, services, ui);
    draw_methods(frame, stats, methods, ui);
}

fn header_line(stats: &Stats, error: Option<&str>, source: &str, sort: Sort) -> Line<'static> {
    let interval = match stats.interval {
        Some(s) => format!("last {s:.1} s"),
        None => "since start".to_owned(),
    };
    let mut spans = vec![
        Span::styled(
            format!("pyrosome top — {} ({})", stats.app, stats.engine),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            " · {source} · up {} · rates over {interval} · sort {} (s) · tab pane · q quit",
            uptime(stats.uptime),
            sort.label()
        )),
    ];
    if let Some(e) = error {
        spans.push(Span::styled(format!(" · {e}"), Style::new().fg(Color::Red)));
    }
    Line::from(spans)
}

fn uptime(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

fn bar(share: f64) -> String {
    let filled = ((share * BAR_WIDTH as f64).round() as usize).min(BAR_WIDTH);
    format!("{}{}", "|".repeat(filled), " ".repeat(BAR_WIDTH - filled))
}

fn workers_block(stats: &Stats) -> Paragraph<'static> {
    let mut lines: Vec<Line> = stats
        .workers
        .iter()
        .map(|w| {
            let color = match w.busy {
                b if b >= 0.9 => Color::Red,
                b if b >= 0.6 => Color::Yellow,
                _ => Color::Green,
            };
            Line::from(vec![
                Span::raw(format!("worker {:<2} [", w.index)),
                Span::styled(bar(w.busy), Style::new().fg(color)),
                Span::raw(format!(
                    "] {:5.1}% busy  {:<5}  {} instance{} ran here last",
                    w.busy * 100.0,
                    if w.long { "long" } else { "short" },
                    w.instances,
                    if w.instances == 1 { "" } else { "s" }
                )),
            ])
        })
        .collect();
    lines.push(Line::raw(format!(
        "queued {} · sleeping {} · faults {} · overloaded {}",
        stats.queue_depth, stats.sleeping_workers, stats.faults, stats.overloads
    )));
    Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(" Workers "))
}

fn bytes_per_second(b: f64) -> String {
    match b {
        b if b >= 1024.0 * 1024.0 => format!("{:.1} MiB/s", b / 1024.0 / 1024.0),
        b if b >= 1024.0 => format!("{:.1} KiB/s", b / 1024.0),
        b => format!("{b:.0} B/s"),
    }
}

fn partition_block(stats: &Stats) -> Paragraph<'static> {
    let p = &stats.partition;
    let state = if p.enabled {
        format!(
            "partitioning on · long workers {}/{} · long methods' CPU share {:.0}% · {} change{}",
            p.long_workers,
            p.workers,
            p.long_share * 100.0,
            p.changes,
            if p.changes == 1 { "" } else { "s" }
        )
    } else {
        "partitioning off".to_owned()
    };
    let store = match &stats.store {
        Some(s) => format!(
            "store: {:.1} commits/s ({:.1} fsynced) · {:.1} batches/s · {}",
            s.commits,
            s.durable_commits,
            s.batches,
            bytes_per_second(s.bytes)
        ),
        None => "store: none".to_owned(),
    };
    let mut lines = vec![Line::raw(state), Line::raw(store)];
    lines.extend(p.log.iter().take(LOG_LINES).map(|c| {
        Line::raw(format!(
            "  at {}: {}.{} → {} ({:.2} ms/call)",
            uptime(c.at_seconds),
            c.service,
            c.method,
            if c.long { "long" } else { "short" },
            c.avg_cpu_ms
        ))
    }));
    Paragraph::new(lines).block(
        Block::new()
            .borders(Borders::ALL)
            .title(" Partition and store "),
    )
}

fn pane_block(title: String, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new()
    };
    Block::new()
        .borders(Borders::ALL)
        .border_style(style)
        .title(title)
}

fn header_row(cells: &[&'static str]) -> Row<'static> {
    Row::new(cells.iter().copied().map(Cell::from))
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED))
}

fn draw_services(frame: &mut Frame, stats: &Stats, area: Rect, ui: &mut Ui) {
    let rows = stats.services.iter().map(|s| {
        let placement = if s.placement.is_empty() {
            "-".to_owned()
        } else {
            s.placement
                .iter()
                .map(|(w, n)| format!("w{w}×{n}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut instances = s.instances.to_string();
        if s.spare {
            instances += " +spare";
        }
        if s.draining > 0 {
            instances += &format!(" (+{} draining)", s.draining);
        }
        Row::new([
            s.name.clone(),
            instances,
            s.long_instances.to_string(),
            placement,
            s.in_flight.to_string(),
            s.queued.to_string(),
            format!("{:.1}", s.rate),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Fill(2),
            Constraint::Length(10),
            Constraint::Length(5),
            Constraint::Fill(2),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(10),
        ],
    )
    .header(header_row(&[
        "service",
        "instances",
        "long",
        "on workers",
        "in flight",
        "queued",
        "calls/s",
    ]))
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .block(pane_block(
        format!(" Services ({}) ", stats.services.len()),
        ui.focus == Pane::Services,
    ));
    frame.render_stateful_widget(table, area, &mut ui.services);
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

fn draw_methods(frame: &mut Frame, stats: &Stats, area: Rect, ui: &mut Ui) {
    let mut methods: Vec<MethodRow> = stats.methods.clone();
    ui.sort.apply(&mut methods);
    let rows = methods.iter().map(|m| {
        let style = if m.long {
            Style::new().fg(Color::Magenta)
        } else {
            Style::new()
        };
        Row::new([
            format!("{}.{}", m.service, m.method),
            if m.long { "long" } else { "short" }.to_owned(),
            format!("{:.1}", m.rate),
            format!("{:.1}", m.errors),
            ms(m.p50_ms),
            ms(m.p99_ms),
            format!("{:.3}", m.cpu_ms),
        ])
        .style(style)
    });
    let table = Table::new(
        rows,
        [
            Constraint::Fill(3),
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(12),
        ],
    )
    .header(header_row(&[
        "method",
        "class",
        "calls/s",
        "errors/s",
        "p50 ms",
        "p99 ms",
        "cpu ms/call",
    ]))
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .block(pane_block(
        format!(
            " Methods ({}), sorted by {} ",
            methods.len(),
            ui.sort.label()
        ),
        ui.focus == Pane::Methods,
    ));
    frame.render_stateful_widget(table, area, &mut ui.methods);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::LatencyCounts;
    use crate::top::model::{derive, tests::snapshot};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    /// The screen's text, one string per line.
    pub(crate) fn screen(terminal: &Terminal<TestBackend>) -> Vec<String> {
        let buffer = terminal.backend().buffer();
        let width = buffer.area.width as usize;
        buffer
            .content()
            .chunks(width)
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
            .collect()
    }

    fn render(stats: Option<&Stats>, error: Option<&str>, ui: &mut Ui) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
        terminal
            .draw(|f| draw(f, stats, error, "127.0.0.1:9090", ui))
            .expect("draw");
        screen(&terminal)
    }

    fn line_with<'a>(lines: &'a [String], needle: &str) -> &'a str {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{}", lines.join("\n")))
    }

    #[test]
    fn shows_workers_services_methods_partition_and_store() {
        let a = snapshot(10.0, 1000, LatencyCounts::default());
        let b = snapshot(12.0, 1500, LatencyCounts::default());
        let stats = derive(Some(&a), &b);
        let lines = render(Some(&stats), None, &mut Ui::default());
        assert!(line_with(&lines, "pyrosome top — shop (quickjs)").contains("last 2.0 s"));
        // Worker 1 was busy 75 % of the time, and runs back's two short
        // instances.
        let w1 = line_with(&lines, "worker 1");
        assert!(
            w1.contains("75.0% busy") && w1.contains("2 instances"),
            "{w1}"
        );
        assert!(line_with(&lines, "worker 0").contains("long"));
        let back = line_with(&lines, "back  ");
        assert!(
            back.contains("w0×1 w1×2") && back.contains("500.0"),
            "{back}"
        );
        let fetch = line_with(&lines, "front.@fetch");
        assert!(
            fetch.contains("250.0") && fetch.contains("2.5") && fetch.contains("1.000"),
            "{fetch}"
        );
        assert!(line_with(&lines, "back.slow").contains("long"));
        // front keeps a spare isolate; back, at its maximum, does not.
        assert!(line_with(&lines, "front  ").contains("1 +spare"));
        assert!(!back.contains("spare"), "{back}");
        assert!(line_with(&lines, "long workers 1/2").contains("40%"));
        assert!(line_with(&lines, "back.slow → long").contains("25.00 ms/call"));
        assert!(line_with(&lines, "store:").contains("25.0 commits/s (12.5 fsynced)"));
        // Sorted by rate: greet (500/s) above @fetch (250/s).
        let pos = |needle: &str| lines.iter().position(|l| l.contains(needle));
        assert!(pos("back.greet") < pos("front.@fetch"));
    }

    #[test]
    fn sort_and_focus_change_what_is_drawn() {
        let stats = derive(None, &snapshot(1.0, 10, LatencyCounts::default()));
        let mut ui = Ui {
            sort: Sort::Name,
            ..Ui::default()
        };
        let lines = render(Some(&stats), None, &mut ui);
        let pos = |needle: &str| lines.iter().position(|l| l.contains(needle));
        assert!(pos("back.slow") < pos("front.@fetch"));
        assert!(line_with(&lines, "Methods (3), sorted by name").contains("name"));
        assert!(line_with(&lines, "pyrosome top").contains("since start"));
        ui.switch_pane();
        assert_eq!(ui.focus, Pane::Services);
        ui.select(true);
        let lines = render(Some(&stats), None, &mut ui);
        assert_eq!(ui.services.selected(), Some(0));
        assert!(line_with(&lines, "Services (2)").contains("Services"));
    }

    #[test]
    fn before_the_first_snapshot_it_says_why() {
        let lines = render(None, Some("cannot connect"), &mut Ui::default());
        assert!(
            lines[0].contains("127.0.0.1:9090: cannot connect"),
            "{}",
            lines[0]
        );
        let lines = render(None, None, &mut Ui::default());
        assert!(
            lines[0].contains("waiting for 127.0.0.1:9090"),
            "{}",
            lines[0]
        );
    }
}
