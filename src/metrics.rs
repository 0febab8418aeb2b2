//! Prometheus metrics, held in the application state (no globals) and served at `/metrics` in the
//! Prometheus text format 0.0.4. Every label value comes from a closed set (route patterns, methods,
//! status codes, grant types, limited actions), never from raw paths or query strings, so the number
//! of series stays bounded whatever clients send.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Latency buckets in seconds: 0.1 ms (a cached discovery document) to 1 s and a little beyond
/// (argon2id sign-ins, a slow database).
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The connection pool as seen at scrape time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
}

/// Every metric of the gateway and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    tokens_issued: Family<GrantLabels, Counter>,
    sign_in_failures: Counter,
    rate_limit_trips: Family<ActionLabels, Counter>,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
    in_flight: Gauge,
}

/// One request being handled: counted in `http_requests_in_flight` until dropped.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        // Counters get their `_total` suffix from the encoder.
        registry.register(
            "http_requests",
            "HTTP requests by matched route pattern, method and status",
            requests.clone(),
        );
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to produce the response, by matched route pattern",
            latency.clone(),
        );
        let tokens_issued = Family::<GrantLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Successful token responses by grant type",
            tokens_issued.clone(),
        );
        let sign_in_failures = Counter::default();
        registry.register(
            "sign_in_failures",
            "Sign-ins refused for a wrong email or password",
            sign_in_failures.clone(),
        );
        let rate_limit_trips = Family::<ActionLabels, Counter>::default();
        registry.register(
            "rate_limit_trips",
            "Requests refused by a rate limit, by limited action",
            rate_limit_trips.clone(),
        );
        let pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Open database connections by state (idle, in_use)",
            pool_connections.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_max",
            "Configured size of the database pool",
            pool_max.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            tokens_issued,
            sign_in_failures,
            rate_limit_trips,
            pool_connections,
            pool_max,
            in_flight,
        }
    }

    /// Counts a request as in flight until the returned guard is dropped.
    pub fn start_request(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Requests being handled now (graceful shutdown waits for them).
    pub fn requests_in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// One answered request. `route` is the matched route pattern (`None`: no route matched).
    pub fn request(
        &self,
        route: Option<&str>,
        method: &actix_web::http::Method,
        status: u16,
        took: Duration,
    ) {
        let route = route.unwrap_or("unmatched").to_string();
        self.requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                method: method_label(method),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(took.as_secs_f64());
    }

    /// A successful token response; grant types outside the supported set are not counted.
    pub fn token_issued(&self, grant_type: &str) {
        let grant_type = match grant_type {
            "authorization_code" => "authorization_code",
            "refresh_token" => "refresh_token",
            "client_credentials" => "client_credentials",
            _ => return,
        };
        self.tokens_issued
            .get_or_create(&GrantLabels { grant_type })
            .inc();
    }

    pub fn sign_in_failed(&self) {
        self.sign_in_failures.inc();
    }

    /// A request refused by the limiter of `action` (a `LimitedAction::name`).
    pub fn rate_limited(&self, action: &'static str) {
        self.rate_limit_trips
            .get_or_create(&ActionLabels { action })
            .inc();
    }

    /// The text exposition, with the pool gauges read now.
    pub fn encode(&self, pool: PoolUsage) -> String {
        let in_use = pool.connections.saturating_sub(pool.idle);
        self.pool_connections
            .get_or_create(&PoolLabels { state: "idle" })
            .set(i64::from(pool.idle));
        self.pool_connections
            .get_or_create(&PoolLabels { state: "in_use" })
            .set(i64::from(in_use));
        self.pool_max.set(i64::from(pool.max));
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// Standard methods by name; anything else (extension methods are unbounded) as `other`.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::Method;

    #[test]
    fn the_exposition_has_every_family_and_bounded_labels() {
        let m = Metrics::new();
        m.request(Some("/token"), &Method::POST, 200, Duration::from_micros(300));
        m.request(
            None,
            &Method::from_bytes(b"BREW").unwrap(),
            404,
            Duration::from_micros(50),
        );
        m.token_issued("authorization_code");
        m.token_issued("urn:made:up");
        m.sign_in_failed();
        m.rate_limited("userinfo_per_ip");
        let text = m.encode(PoolUsage {
            connections: 3,
            idle: 2,
            max: 10,
        });
        for line in [
            "http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 1",
            "http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 1",
            "http_request_duration_seconds_bucket{route=\"/token\",le=\"0.0005\"} 1",
            "http_request_duration_seconds_count{route=\"/token\"} 1",
            "tokens_issued_total{grant_type=\"authorization_code\"} 1",
            "sign_in_failures_total 1",
            "rate_limit_trips_total{action=\"userinfo_per_ip\"} 1",
            "db_pool_connections{state=\"idle\"} 2",
            "db_pool_connections{state=\"in_use\"} 1",
            "db_pool_max 10",
            "# TYPE http_requests_total counter",
            "# TYPE http_request_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
        }
        assert!(!text.contains("urn:made:up"));
    }
}
