//! Progress on a terminal (indicatif): downloads and compiles. Nothing is
//! drawn with `--quiet` or when stderr is not a terminal, so scripts and
//! logs see none of it.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

fn drawing(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// The download callback weld-dist reports to, or `None` when nothing is
/// drawn.
pub(super) fn download(quiet: bool) -> Option<Arc<dyn Fn(weld_dist::Progress) + Send + Sync>> {
    if !drawing(quiet) {
        return None;
    }
    let bar: Mutex<Option<(String, ProgressBar)>> = Mutex::new(None);
    Some(Arc::new(move |progress: weld_dist::Progress| {
        let Ok(mut bar) = bar.lock() else { return };
        if bar.as_ref().is_none_or(|(what, _)| *what != progress.what) {
            if let Some((_, old)) = bar.take() {
                old.finish_and_clear();
            }
            let new = match progress.total {
                Some(total) => ProgressBar::new(total).with_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner(),
            };
            new.set_message(progress.what.clone());
            *bar = Some((progress.what.clone(), new));
        }
        if let Some((_, current)) = bar.as_ref() {
            current.set_position(progress.done);
            if progress.total.is_some_and(|t| progress.done >= t) {
                current.finish_and_clear();
            }
        }
    }))
}

/// A spinner with `message` until the returned guard drops.
pub(super) fn spinner(quiet: bool, message: &str) -> Option<Spinner> {
    if !drawing(quiet) {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(Spinner(bar))
}

/// Clears its spinner when dropped.
pub(super) struct Spinner(ProgressBar);

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
