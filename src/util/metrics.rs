//! Metrics through the `metrics` facade (feature `metrics`; docs/metrics.md lists them): the
//! one place their names and labels are written. Without the feature every function here is
//! empty. No label ever holds a token, a user name or a claim value: only provider names (from
//! the configuration), and endpoints, outcomes, reasons, channels and caches from fixed lists.

use std::collections::VecDeque;
use std::sync::Mutex;

#[cfg(feature = "metrics")]
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

/// Describes every metric to the installed recorder (at ignite).
pub(crate) fn describe() {
    #[cfg(feature = "metrics")]
    {
        describe_counter!("oidc_logins_started_total", "Logins sent to a provider");
        describe_counter!(
            "oidc_logins_completed_total",
            "Logins that came back and made a session"
        );
        describe_counter!(
            "oidc_logins_failed_total",
            "Logins that failed, by reason (an error code from a fixed list)"
        );
        describe_gauge!(
            "oidc_pending_logins",
            "Logins started within the login timeout and not finished yet"
        );
        describe_counter!(
            "oidc_refreshes_total",
            "Token refreshes with the refresh token, by outcome"
        );
        describe_counter!("oidc_logouts_total", "Sessions ended, by channel");
        describe_counter!(
            "oidc_provider_requests_total",
            "Calls to a provider, by endpoint and outcome"
        );
        describe_histogram!(
            "oidc_provider_request_duration_seconds",
            metrics::Unit::Seconds,
            "Time of a call to a provider, by endpoint"
        );
        describe_counter!(
            "oidc_cache_hits_total",
            "Cache lookups answered from the cache"
        );
        describe_counter!(
            "oidc_cache_misses_total",
            "Cache lookups that had to compute"
        );
    }
}

/// A login was sent to `provider`.
pub(crate) fn login_started(provider: &str) {
    #[cfg(feature = "metrics")]
    counter!("oidc_logins_started_total", "provider" => provider.to_owned()).increment(1);
    let _ = provider;
}

/// A login with `provider` made a session.
pub(crate) fn login_completed(provider: &str) {
    #[cfg(feature = "metrics")]
    counter!("oidc_logins_completed_total", "provider" => provider.to_owned()).increment(1);
    let _ = provider;
}

/// A login with `provider` failed (`reason`: an error code of a fixed list).
pub(crate) fn login_failed(provider: &str, reason: &'static str) {
    #[cfg(feature = "metrics")]
    counter!(
        "oidc_logins_failed_total",
        "provider" => provider.to_owned(),
        "reason" => reason
    )
    .increment(1);
    let _ = (provider, reason);
}

/// The number of `provider`'s pending logins.
pub(crate) fn pending_logins(provider: &str, count: u64) {
    #[cfg(feature = "metrics")]
    gauge!("oidc_pending_logins", "provider" => provider.to_owned()).set(count as f64);
    let _ = (provider, count);
}

/// A refresh with `provider`'s refresh token ended with `outcome`.
pub(crate) fn refresh(provider: &str, outcome: &'static str) {
    #[cfg(feature = "metrics")]
    counter!(
        "oidc_refreshes_total",
        "provider" => provider.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
    let _ = (provider, outcome);
}

/// A session of `provider` ended through `channel` (`rp_initiated`, `backchannel`,
/// `frontchannel`, `application`).
pub(crate) fn logout(provider: &str, channel: &'static str) {
    #[cfg(feature = "metrics")]
    counter!(
        "oidc_logouts_total",
        "provider" => provider.to_owned(),
        "channel" => channel
    )
    .increment(1);
    let _ = (provider, channel);
}

/// A call to `provider`'s `endpoint` (`"token endpoint"`: the label is `token`) ended with
/// `outcome` after `seconds`.
pub(crate) fn provider_request(
    provider: &str,
    endpoint: &'static str,
    outcome: &'static str,
    seconds: f64,
) {
    #[cfg(feature = "metrics")]
    {
        let endpoint = endpoint_label(endpoint);
        counter!(
            "oidc_provider_requests_total",
            "provider" => provider.to_owned(),
            "endpoint" => endpoint,
            "outcome" => outcome
        )
        .increment(1);
        histogram!(
            "oidc_provider_request_duration_seconds",
            "provider" => provider.to_owned(),
            "endpoint" => endpoint
        )
        .record(seconds);
    }
    let _ = (provider, endpoint, outcome, seconds);
}

/// A lookup in `cache` (`session`, `introspection`, `client_credentials`) was a hit or a miss.
pub(crate) fn cache_lookup(cache: &'static str, hit: bool) {
    #[cfg(feature = "metrics")]
    {
        if hit {
            counter!("oidc_cache_hits_total", "cache" => cache).increment(1);
        } else {
            counter!("oidc_cache_misses_total", "cache" => cache).increment(1);
        }
    }
    let _ = (cache, hit);
}

/// The label of an endpoint name as errors write it (`"token endpoint"` → `token`).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
fn endpoint_label(endpoint: &'static str) -> &'static str {
    match endpoint.split(' ').next() {
        Some("key") => "jwks",
        Some(
            name @ ("discovery" | "token" | "userinfo" | "introspection" | "revocation"
            | "registration"),
        ) => name,
        _ => "other",
    }
}

/// How many things opened within the last `window` seconds are still open: per-second counts
/// of what was opened, lowered when a thing closes (found by when it was opened). For the
/// pending logins, which live in the browsers' cookies: a login never finished leaves the
/// count when its second leaves the window. Memory: one entry per second of the window at
/// most, whatever the traffic.
pub(crate) struct OpenCount {
    window: i64,
    seconds: Mutex<VecDeque<(i64, u64)>>,
}

impl OpenCount {
    /// A count over the last `window` seconds.
    pub fn new(window: u64) -> Self {
        OpenCount {
            window: window as i64,
            seconds: Mutex::new(VecDeque::new()),
        }
    }

    /// One more opened at `now`; returns the count.
    pub fn open(&self, now: i64) -> u64 {
        let mut seconds = self.seconds.lock().unwrap_or_else(|e| e.into_inner());
        match seconds.back_mut() {
            Some((second, count)) if *second == now => *count += 1,
            _ => seconds.push_back((now, 1)),
        }
        self.total(&mut seconds, now)
    }

    /// The one opened at `opened_at` closed (if it is still counted); returns the count.
    pub fn close(&self, opened_at: i64, now: i64) -> u64 {
        let mut seconds = self.seconds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, count)) = seconds.iter_mut().find(|(s, _)| *s == opened_at) {
            *count = count.saturating_sub(1);
        }
        self.total(&mut seconds, now)
    }

    /// The count at `now`.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub fn current(&self, now: i64) -> u64 {
        let mut seconds = self.seconds.lock().unwrap_or_else(|e| e.into_inner());
        self.total(&mut seconds, now)
    }

    fn total(&self, seconds: &mut VecDeque<(i64, u64)>, now: i64) -> u64 {
        while seconds
            .front()
            .is_some_and(|(second, _)| *second <= now - self.window)
        {
            seconds.pop_front();
        }
        seconds.iter().map(|(_, count)| count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_things_leave_the_count_when_closed_or_out_of_the_window() {
        let count = OpenCount::new(10);
        assert_eq!(count.open(100), 1);
        assert_eq!(count.open(100), 2);
        assert_eq!(count.open(105), 3);
        assert_eq!(count.close(100, 106), 2);
        assert_eq!(count.close(99, 106), 2, "never opened: nothing to close");
        assert_eq!(count.current(109), 2);
        assert_eq!(count.current(110), 1, "the second 100 left the window");
        assert_eq!(count.close(100, 110), 1, "too late to close");
        assert_eq!(count.current(115), 0);
        assert_eq!(count.close(105, 116), 0);
    }

    #[test]
    fn endpoints_are_labelled_by_their_short_name() {
        assert_eq!(endpoint_label("token endpoint"), "token");
        assert_eq!(endpoint_label("key set endpoint (jwks_uri)"), "jwks");
        assert_eq!(endpoint_label("somewhere else"), "other");
    }
}
