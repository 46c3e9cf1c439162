//! `pyrosome top`: a live view of a running server, like `htop` for the
//! app. It polls the admin listener's `GET /admin/status` every interval
//! (one second by default) and draws, in the terminal (ratatui over
//! crossterm): each worker's busy share, each service's instances and the
//! workers that last ran them, each method's rate, error rate, p50/p99
//! latency and run time per call over the last interval, the long/short
//! partition with its recent changes, and the store's commit rate.
//!
//! - `model.rs`: the numbers, from two successive snapshots (pure);
//! - `view.rs`: the drawing (ratatui widgets; tested on a `TestBackend`);
//! - here: fetching snapshots and the terminal's event loop. Keys: `q` or
//!   `Esc` quits, `tab` switches between the services and the methods
//!   table, `↑`/`↓` (or `k`/`j`) move in it, `s` cycles the methods' order
//!   (rate, p99, run time, name).

pub mod model;
pub mod view;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use crate::gateway::admin::{RemoteError, get_remote};
pub use model::{Model, Snapshot, Stats};
use view::Ui;

/// Longest wait for one `/admin/status` answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// Why `pyrosome top` could not get a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed (no server, refused...).
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The answer was not a status this version understands.
    #[error("the status from {addr} is not what this version of pyrosome expects: {source}")]
    Parse {
        /// The admin address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// Why the live view stopped other than by its user.
#[derive(Debug, thiserror::Error)]
pub enum TopError {
    /// The terminal could not be set up, read or drawn on.
    #[error("the terminal failed: {0}")]
    Terminal(#[from] std::io::Error),
}

/// One snapshot of the server whose admin listener is at `addr`.
pub fn fetch(addr: SocketAddr) -> Result<Snapshot, FetchError> {
    let body = get_remote(addr, "/admin/status", FETCH_TIMEOUT)?;
    serde_json::from_slice(&body).map_err(|source| FetchError::Parse { addr, source })
}

/// Runs the live view of the server at `addr` until the user quits,
/// polling every `interval`; `first` is a snapshot already taken (the
/// caller checks that the server answers before taking over the terminal).
pub fn run(addr: SocketAddr, interval: Duration, first: Snapshot) -> Result<(), TopError> {
    let mut terminal = ratatui::try_init()?;
    let result = event_loop(&mut terminal, addr, interval, first);
    ratatui::restore();
    result
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    addr: SocketAddr,
    interval: Duration,
    first: Snapshot,
) -> Result<(), TopError> {
    let source = addr.to_string();
    let mut model = Model::default();
    model.update(first);
    let mut ui = Ui::default();
    let mut next_poll = Instant::now() + interval;
    loop {
        let now = Instant::now();
        if now >= next_poll {
            match fetch(addr) {
                Ok(snapshot) => model.update(snapshot),
                Err(e) => model.failed(e.to_string()),
            }
            next_poll += interval;
            if next_poll < now {
                next_poll = now + interval;
            }
        }
        let stats = model.stats();
        terminal
            .draw(|f| view::draw(f, stats.as_ref(), model.error.as_deref(), &source, &mut ui))?;
        let wait = next_poll.saturating_duration_since(Instant::now());
        if !event::poll(wait)? {
            continue;
        }
        let Event::Key(key) = event::read()? else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return Ok(()),
            KeyCode::Tab | KeyCode::BackTab => ui.switch_pane(),
            KeyCode::Char('s') => ui.sort = ui.sort.next(),
            KeyCode::Down | KeyCode::Char('j') => ui.select(true),
            KeyCode::Up | KeyCode::Char('k') => ui.select(false),
            _ => {}
        }
    }
}
