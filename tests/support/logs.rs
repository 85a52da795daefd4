//! The log records of this library, captured for the checks of one test binary. `log` takes a
//! single logger per process: every test of the binary calls [`capture`] before it starts
//! anything (so that it is installed before Rocket could install its own), and they share the
//! records.
#![allow(dead_code)]

use std::sync::{Mutex, Once};

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static LOGGER: Once = Once::new();

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.target().starts_with("rocket_openidconnect") {
            let line = format!("{}", record.args());
            RECORDS.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    }
    fn flush(&self) {}
}

/// Installs the capturing logger, once per test binary.
pub fn capture() {
    LOGGER.call_once(|| {
        log::set_logger(&Capture).expect("the capturing logger is the first of this binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Every record so far (of every test of this binary).
pub fn records() -> Vec<String> {
    RECORDS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// How many records hold `needle`.
pub fn count(needle: &str) -> usize {
    records().iter().filter(|r| r.contains(needle)).count()
}
