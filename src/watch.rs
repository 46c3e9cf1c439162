//! `serve --watch`: reload the app when its files change.
//!
//! The app folder is watched recursively (the `notify` crate: inotify on
//! Linux). Changes to files that can make up an app — modules (`.js`,
//! `.mjs`, `.cjs`, `.ts`, `.mts`, `.cts`), `.json` (packages) and `.toml`
//! (the manifest) — outside hidden folders (the data folder
//! `.pyrosome/` is one) start a reload once the folder has been quiet for
//! [`QUIET`]: an editor's save, or a `git checkout` of many files, is one
//! reload. The reload is [`Runtime::reload`], run on the watcher's own
//! thread; a failed one is logged and the app keeps running as it was.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

use crate::runtime::Runtime;

/// How long the folder must be quiet after a change before the reload.
/// Long enough to gather an editor's write-rename-chmod sequence and a
/// checkout's burst of files; short enough to feel immediate.
pub const QUIET: Duration = Duration::from_millis(150);

/// File extensions whose changes reload the app.
const WATCHED: &[&str] = &["js", "mjs", "cjs", "ts", "mts", "cts", "json", "toml"];

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {source}", root.display())]
pub struct WatchError {
    /// The app folder.
    pub root: PathBuf,
    /// What the watcher said.
    #[source]
    pub source: notify::Error,
}

/// A running watcher; dropping it stops watching.
pub struct Watch {
    watcher: Option<RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Watches the folder of `runtime`'s app and reloads it on changes.
    pub fn start(runtime: Arc<Runtime>) -> Result<Watch, WatchError> {
        let root = runtime.app().root.clone();
        let failed = |source| WatchError {
            root: root.clone(),
            source,
        };
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let events_root = root.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
                Ok(event) if relevant_kind(&event.kind) => {
                    for path in event.paths {
                        if relevant_path(&events_root, &path) {
                            let _ = tx.send(path);
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("watching the app folder: {e}"),
            })
            .map_err(failed)?;
        watcher
            .watch(&root, RecursiveMode::Recursive)
            .map_err(failed)?;
        let thread = std::thread::Builder::new()
            .name("pyrosome-watch".into())
            .spawn(move || run(&runtime, &rx))
            .map_err(|e| failed(notify::Error::io(e)))?;
        tracing::info!("watching {} for changes", root.display());
        Ok(Watch {
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Dropping the watcher drops the sender: the thread's loop ends.
        self.watcher.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(runtime: &Runtime, rx: &mpsc::Receiver<PathBuf>) {
    while let Ok(first) = rx.recv() {
        let mut changed = vec![first];
        loop {
            match rx.recv_timeout(QUIET) {
                Ok(path) => changed.push(path),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        changed.sort();
        changed.dedup();
        let root = runtime.app().root.clone();
        let shown: Vec<String> = changed
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap_or(p).display().to_string())
            .collect();
        tracing::info!("changed: {}; reloading", shown.join(", "));
        // A failure is logged by `reload` itself; the app runs on as it was.
        let _ = runtime.reload();
    }
}

fn relevant_kind(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
    )
}

/// Whether a change to `path` may change the app (see the module docs).
fn relevant_path(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    let hidden = rel.components().any(|c| match c {
        Component::Normal(name) => name.to_string_lossy().starts_with('.'),
        _ => false,
    });
    !hidden
        && path
            .extension()
            .is_some_and(|e| WATCHED.iter().any(|w| e == *w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_app_files_outside_hidden_folders_count() {
        let root = Path::new("/srv/app");
        for yes in [
            "a.js",
            "lib/b.mjs",
            "pyrosome.toml",
            "x.ts",
            "node_modules/z/package.json",
        ] {
            assert!(relevant_path(root, &root.join(yes)), "{yes}");
        }
        for no in [
            ".pyrosome/data/pyrosome.redb",
            ".pyrosome/data/server.json",
            ".git/index",
            "lib/.a.js.swp",
            "README.md",
            "a.js~",
        ] {
            assert!(!relevant_path(root, &root.join(no)), "{no}");
        }
        assert!(!relevant_path(root, Path::new("/elsewhere/a.js")));
    }
}
