//! A [`log`](https://docs.rs/log) logger that records each log call as a tickspan event, so
//! that libraries logging through `log` show up in tickspan's trees (as `tracing`'s through
//! [`crate::tracing_bridge`]). Feature `log`.
//!
//! ```
//! tickspan::log_bridge::init(log::LevelFilter::Info).unwrap();
//! log::info!("link up");              // an event named "link up"
//! log::warn!("retry {}", 3);          // an event named "<target> <file>:<line>"
//! ```
//!
//! Each call site (file, line, level, target) becomes one run-time callsite
//! ([`crate::callsite::runtime`]), named by its message when the message has no arguments, and
//! by its target and location otherwise: formatted arguments are run-time text, which records
//! never carry. A record costs one read of a read-write lock and a hash lookup besides the
//! ring write.

use crate::callsite::{runtime, Callsite, CallsiteKind, Level};
use crate::record::Kind;
use std::collections::HashMap;
use std::sync::RwLock;

/// Records `log` calls into the current thread's tickspan ring.
pub struct Logger {
    /// Callsite id of each call site seen: (file address, line, level, target address).
    ids: RwLock<HashMap<(usize, u32, u8, usize), u32>>,
}

/// Installs a [`Logger`] as `log`'s logger with the given maximum level.
pub fn init(max: log::LevelFilter) -> Result<(), log::SetLoggerError> {
    log::set_boxed_logger(Box::new(Logger::new()))?;
    log::set_max_level(max);
    Ok(())
}

impl Default for Logger {
    fn default() -> Self {
        Self::new()
    }
}

impl Logger {
    /// A logger with no call site seen yet.
    pub fn new() -> Logger {
        Logger { ids: RwLock::new(HashMap::new()) }
    }

    fn id(&self, r: &log::Record<'_>) -> u32 {
        let file = r.file_static().unwrap_or("");
        let target = r.target();
        let key = (file.as_ptr() as usize, r.line().unwrap_or(0), r.level() as u8, target.as_ptr() as usize);
        if let Some(&id) = self.ids.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return id;
        }
        let name: &'static str = match r.args().as_str() {
            Some(msg) => msg,
            // Once per call site, like the callsite itself: bounded by `runtime::MAX`.
            None => Box::leak(format!("{target} {file}:{}", r.line().unwrap_or(0)).into_boxed_str()),
        };
        let level = match r.level() {
            log::Level::Trace => Level::Trace,
            log::Level::Debug => Level::Debug,
            log::Level::Info => Level::Info,
            log::Level::Warn => Level::Warn,
            log::Level::Error => Level::Error,
        };
        let cs = Callsite::new(name, file, r.line().unwrap_or(0), level, CallsiteKind::Event);
        let mut ids = self.ids.write().unwrap_or_else(|e| e.into_inner());
        *ids.entry(key).or_insert_with(|| runtime::register(cs).unwrap_or(0))
    }
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let cs = self.id(r);
        if cs != 0 {
            crate::api::emit(cs | Kind::Event as u32, 0);
        }
    }

    fn flush(&self) {}
}
