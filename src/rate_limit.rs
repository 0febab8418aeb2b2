//! Keyed rate limits for every flow (governor's GCRA), declared in one place. Counters are per node and
//! in memory (documented): they slow attackers down; correctness never depends on them.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::RateLimitSettings;

/// `N/period`: a burst of N that refills at N per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub period: Duration,
}

impl Rate {
    /// Parses `30/min`, `10/15min`, `5/s`, `1000/h`, `100/30s`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a rate like 30/min, 10/15min, 5/s or 1000/h");
        let (count, period) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let digits = period.len() - period.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (amount, unit) = period.split_at(digits);
        let amount: u64 = if amount.is_empty() {
            1
        } else {
            amount.parse().map_err(|_| bad())?
        };
        let unit_seconds = match unit {
            "s" | "sec" => 1,
            "m" | "min" => 60,
            "h" | "hour" => 3600,
            _ => return Err(bad()),
        };
        if amount == 0 {
            return Err(bad());
        }
        Ok(Self {
            count,
            period: Duration::from_secs(amount * unit_seconds),
        })
    }

    fn quota(self) -> Quota {
        let per_cell = self.period / self.count.get();
        Quota::with_period(per_cell.max(Duration::from_nanos(1)))
            .expect("a positive period")
            .allow_burst(self.count)
    }
}

/// Every limited action, with the setting that configures it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitedAction {
    AuthorizePerIp,
    SignInPerIp,
    SignInPerAccount,
    TokenPerIp,
    TokenPerClient,
    IntrospectPerClient,
    RevokePerClient,
    UserinfoPerIp,
    EndSessionPerIp,
    UpstreamPerIp,
    EmailCodePerIp,
    EmailCodePerAccount,
    SecondFactorPerAccount,
}

impl LimitedAction {
    pub const ALL: [LimitedAction; 13] = [
        LimitedAction::AuthorizePerIp,
        LimitedAction::SignInPerIp,
        LimitedAction::SignInPerAccount,
        LimitedAction::TokenPerIp,
        LimitedAction::TokenPerClient,
        LimitedAction::IntrospectPerClient,
        LimitedAction::RevokePerClient,
        LimitedAction::UserinfoPerIp,
        LimitedAction::EndSessionPerIp,
        LimitedAction::UpstreamPerIp,
        LimitedAction::EmailCodePerIp,
        LimitedAction::EmailCodePerAccount,
        LimitedAction::SecondFactorPerAccount,
    ];

    /// The setting name under `[rate_limits]`, also the label in logs and audit.
    pub fn name(self) -> &'static str {
        match self {
            LimitedAction::AuthorizePerIp => "authorize_per_ip",
            LimitedAction::SignInPerIp => "sign_in_per_ip",
            LimitedAction::SignInPerAccount => "sign_in_per_account",
            LimitedAction::TokenPerIp => "token_per_ip",
            LimitedAction::TokenPerClient => "token_per_client",
            LimitedAction::IntrospectPerClient => "introspect_per_client",
            LimitedAction::RevokePerClient => "revoke_per_client",
            LimitedAction::UserinfoPerIp => "userinfo_per_ip",
            LimitedAction::EndSessionPerIp => "end_session_per_ip",
            LimitedAction::UpstreamPerIp => "upstream_per_ip",
            LimitedAction::EmailCodePerIp => "email_code_per_ip",
            LimitedAction::EmailCodePerAccount => "email_code_per_account",
            LimitedAction::SecondFactorPerAccount => "second_factor_per_account",
        }
    }
}

/// Over the limit: try again after this many seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub action: LimitedAction,
    pub retry_after: u64,
}

/// One keyed limiter per action, held in the application state.
pub struct RateLimiter {
    limiters: Vec<(LimitedAction, DefaultKeyedRateLimiter<String>)>,
    enabled: bool,
    failure_cost: NonZeroU32,
}

impl RateLimiter {
    pub fn new(settings: &RateLimitSettings) -> Result<Self, String> {
        let quotas = settings.quotas();
        let mut limiters = Vec::new();
        for action in LimitedAction::ALL {
            let (_, text) = quotas
                .iter()
                .find(|(name, _)| *name == action.name())
                .expect("every action has a setting");
            let rate = Rate::parse(text).map_err(|e| format!("rate_limits.{}: {e}", action.name()))?;
            limiters.push((action, DefaultKeyedRateLimiter::keyed(rate.quota())));
        }
        Ok(Self {
            limiters,
            enabled: settings.enabled,
            failure_cost: NonZeroU32::new(settings.client_auth_failure_cost).unwrap_or(NonZeroU32::MIN),
        })
    }

    /// Takes one cell for `key`, or says how long to wait.
    pub fn check(&self, action: LimitedAction, key: &str) -> Result<(), Limited> {
        self.check_n(action, key, NonZeroU32::MIN)
    }

    /// Charges a failed client authentication: it costs up to `client_auth_failure_cost` more cells
    /// (draining what is left when fewer remain).
    pub fn charge_failure(&self, action: LimitedAction, key: &str) {
        for _ in 0..self.failure_cost.get() {
            if self.check_n(action, key, NonZeroU32::MIN).is_err() {
                break;
            }
        }
    }

    fn check_n(&self, action: LimitedAction, key: &str, n: NonZeroU32) -> Result<(), Limited> {
        if !self.enabled {
            return Ok(());
        }
        let limiter = &self
            .limiters
            .iter()
            .find(|(a, _)| *a == action)
            .expect("every action has a limiter")
            .1;
        let key = key.to_string();
        let wait = match limiter.check_key_n(&key, n) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(not_until)) => not_until.wait_time_from(DefaultClock::default().now()),
            // More cells than the burst: never possible, so wait a whole period.
            Err(_) => Duration::from_secs(60),
        };
        tracing::warn!(action = action.name(), "rate limit tripped");
        Err(Limited {
            action,
            retry_after: wait.as_secs().max(1),
        })
    }

    /// Forgets keys whose limits have fully recovered, so memory stays bounded.
    pub fn shrink(&self) {
        for (_, limiter) in &self.limiters {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_units_and_multipliers() {
        let r = Rate::parse("10/15min").unwrap();
        assert_eq!((r.count.get(), r.period), (10, Duration::from_secs(900)));
        assert_eq!(Rate::parse("5/s").unwrap().period, Duration::from_secs(1));
        assert_eq!(Rate::parse("1000/h").unwrap().period, Duration::from_secs(3600));
        for bad in ["", "0/min", "ten/min", "5/fortnight", "5/0min", "5"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_key_is_limited_after_its_burst_and_others_are_not() {
        let settings = RateLimitSettings {
            sign_in_per_account: "3/min".into(),
            ..Default::default()
        };
        let limiter = RateLimiter::new(&settings).unwrap();
        for _ in 0..3 {
            limiter.check(LimitedAction::SignInPerAccount, "ada").unwrap();
        }
        let limited = limiter.check(LimitedAction::SignInPerAccount, "ada").unwrap_err();
        assert!(
            limited.retry_after >= 1 && limited.retry_after <= 20,
            "{limited:?}"
        );
        assert!(limiter.check(LimitedAction::SignInPerAccount, "bob").is_ok());
        let disabled = RateLimiter::new(&RateLimitSettings {
            enabled: false,
            ..settings
        })
        .unwrap();
        for _ in 0..10 {
            disabled.check(LimitedAction::SignInPerAccount, "ada").unwrap();
        }
    }

    #[test]
    fn failures_cost_more() {
        let settings = RateLimitSettings {
            token_per_ip: "20/min".into(),
            client_auth_failure_cost: 10,
            ..Default::default()
        };
        let limiter = RateLimiter::new(&settings).unwrap();
        limiter.charge_failure(LimitedAction::TokenPerIp, "1.2.3.4");
        limiter.check(LimitedAction::TokenPerIp, "1.2.3.4").unwrap();
        limiter.charge_failure(LimitedAction::TokenPerIp, "1.2.3.4");
        assert!(limiter.check(LimitedAction::TokenPerIp, "1.2.3.4").is_err());
    }
}
