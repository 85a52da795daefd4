//! The clock. Decisions that depend on time take `now` as a parameter (Unix seconds), so that
//! they are tested without sleeping; only the callers at the top read the clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current Unix time in seconds.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
