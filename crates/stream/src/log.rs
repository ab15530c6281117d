//! Logging that stays calm when a device misbehaves.
//!
//! ustreamer logs a dozen lines per restart and restarts many times a second on a broken driver
//! (issue #261). Here every error kind is logged the first time it happens; repeats are counted
//! and summarised in one line, at most once per second and then at doubling intervals (1, 2, 4
//! … 60 s) while the error persists; when capture has run cleanly again, one line says so with
//! the totals. Restart attempts themselves are not logged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Errors.
    Error,
    /// Warnings.
    Warn,
    /// Information.
    Info,
    /// Debugging.
    Debug,
}

/// Where log lines go instead of `tracing` (tests count them).
pub type LogSink = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// A log front end: `tracing` events by default, or a sink.
#[derive(Clone, Default)]
pub struct Logger {
    sink: Option<LogSink>,
}

impl Logger {
    /// Logs to `sink` if given, else to `tracing`.
    pub fn new(sink: Option<LogSink>) -> Logger {
        Logger { sink }
    }

    /// One line.
    pub fn log(&self, level: Level, msg: &str) {
        if let Some(s) = &self.sink {
            if level != Level::Debug {
                s(level, msg);
            }
            return;
        }
        match level {
            Level::Error => tracing::error!(target: "loopcam_stream", "{msg}"),
            Level::Warn => tracing::warn!(target: "loopcam_stream", "{msg}"),
            Level::Info => tracing::info!(target: "loopcam_stream", "{msg}"),
            Level::Debug => tracing::debug!(target: "loopcam_stream", "{msg}"),
        }
    }
}

struct Kind {
    last_line: Instant,
    interval: Duration,
    /// Occurrences since the last line.
    pending: u64,
    total: u64,
    since: Instant,
    last: Instant,
}

/// Per-kind rate limiting of error lines.
pub struct ErrorLog {
    log: Logger,
    kinds: HashMap<&'static str, Kind>,
}

const MAX_INTERVAL: Duration = Duration::from_secs(60);

impl ErrorLog {
    /// A limiter writing to `log`.
    pub fn new(log: Logger) -> ErrorLog {
        ErrorLog {
            log,
            kinds: HashMap::new(),
        }
    }

    /// Reports one occurrence of error `kind`.
    pub fn report(&mut self, level: Level, kind: &'static str, msg: &str) {
        let now = Instant::now();
        match self.kinds.get_mut(kind) {
            None => {
                self.log.log(level, msg);
                self.kinds.insert(
                    kind,
                    Kind {
                        last_line: now,
                        interval: Duration::from_secs(1),
                        pending: 0,
                        total: 1,
                        since: now,
                        last: now,
                    },
                );
            }
            Some(k) => {
                k.total += 1;
                k.pending += 1;
                k.last = now;
                let elapsed = now - k.last_line;
                if elapsed >= k.interval {
                    self.log.log(
                        level,
                        &format!(
                            "{msg} [{} more in the last {:.0} s; {} in {:.0} s]",
                            k.pending,
                            elapsed.as_secs_f64(),
                            k.total,
                            (now - k.since).as_secs_f64()
                        ),
                    );
                    k.pending = 0;
                    k.last_line = now;
                    k.interval = (k.interval * 2).min(MAX_INTERVAL);
                }
            }
        }
    }

    /// Whether any error is being counted.
    pub fn has_errors(&self) -> bool {
        !self.kinds.is_empty()
    }

    /// Capture works again: one line with the totals, and the counters start over.
    pub fn recovered(&mut self, what: &str) {
        if self.kinds.is_empty() {
            return;
        }
        let first = self.kinds.values().map(|k| k.since).min();
        let last = self.kinds.values().map(|k| k.last).max();
        let mut parts: Vec<String> = self
            .kinds
            .iter()
            .map(|(name, k)| format!("{name} ×{}", k.total))
            .collect();
        parts.sort();
        let secs = match (first, last) {
            (Some(f), Some(l)) => (l - f).as_secs_f64(),
            _ => 0.0,
        };
        self.log.log(
            Level::Info,
            &format!("{what} (errors over {secs:.0} s: {})", parts.join(", ")),
        );
        self.kinds.clear();
    }
}
