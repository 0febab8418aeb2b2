//! The one outbound HTTP client (DESIGN §4.8): https only, no redirects, a connect timeout and a
//! deadline for the whole exchange, a response size cap, and no private, loopback or link-local
//! addresses unless the connection explicitly allows them (development and tests). The address check
//! runs in the resolver, on the very addresses the socket then connects to, so DNS rebinding cannot
//! slip a private address past it.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use openidconnect::http::{self, HeaderValue};
use openidconnect::{HttpRequest, HttpResponse, SyncHttpClient};

use crate::config::FederationSettings;

/// Why an outbound request did not produce a usable response.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The URL or its addresses are not allowed (plain http, a private address, another scheme).
    #[error("refused: {0}")]
    Refused(String),
    #[error("timed out")]
    Timeout,
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("response larger than {0} bytes")]
    TooLarge(u64),
    #[error("redirect ({0}) not followed")]
    Redirect(u16),
}

/// Two agents: one that refuses private addresses and one (for connections that allow them) that does not.
pub struct Outbound {
    guarded: ureq::Agent,
    open: ureq::Agent,
    max_body: u64,
}

impl Outbound {
    pub fn new(settings: &FederationSettings) -> Self {
        let agent = |guard: bool| {
            ureq::AgentBuilder::new()
                .redirects(0)
                .timeout_connect(Duration::from_secs(settings.connect_timeout))
                .timeout(Duration::from_secs(settings.timeout))
                .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
                .resolver(GuardedResolver { guard })
                .build()
        };
        Self {
            guarded: agent(true),
            open: agent(false),
            max_body: settings.max_response_bytes,
        }
    }

    /// A client for one connection's requests, usable by `openidconnect`.
    pub fn client(&self, allow_private_network: bool) -> Client<'_> {
        Client {
            outbound: self,
            allow_private_network,
        }
    }

    fn send(&self, request: HttpRequest, allow_private: bool) -> Result<HttpResponse, OutboundError> {
        let url = request.uri().to_string();
        match request.uri().scheme_str() {
            Some("https") => {}
            Some("http") if allow_private => {}
            _ => return Err(OutboundError::Refused(format!("{url}: only https is allowed"))),
        }
        let agent = if allow_private { &self.open } else { &self.guarded };
        let mut call = agent.request(request.method().as_str(), &url);
        for (name, value) in request.headers() {
            if let Ok(value) = value.to_str() {
                call = call.set(name.as_str(), value);
            }
        }
        let response = match call.send_bytes(request.body()) {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(t)) => return Err(transport_error(t)),
        };
        let status = response.status();
        if (300..400).contains(&status) {
            return Err(OutboundError::Redirect(status));
        }
        let mut builder = http::Response::builder().status(status);
        for name in response.headers_names() {
            if let Some(value) = response.header(&name).and_then(|v| HeaderValue::from_str(v).ok()) {
                builder = builder.header(name, value);
            }
        }
        let mut body = Vec::new();
        response
            .into_reader()
            .take(self.max_body + 1)
            .read_to_end(&mut body)
            .map_err(|e| io_error(&e))?;
        if body.len() as u64 > self.max_body {
            return Err(OutboundError::TooLarge(self.max_body));
        }
        builder
            .body(body)
            .map_err(|e| OutboundError::Unreachable(format!("unreadable response: {e}")))
    }
}

/// `Outbound` for one connection, as an `openidconnect` HTTP client.
pub struct Client<'a> {
    outbound: &'a Outbound,
    allow_private_network: bool,
}

impl SyncHttpClient for Client<'_> {
    type Error = OutboundError;

    fn call(&self, request: HttpRequest) -> Result<HttpResponse, OutboundError> {
        self.outbound.send(request, self.allow_private_network)
    }
}

impl Client<'_> {
    /// GET with `Accept: application/json` and an optional bearer token.
    pub fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<HttpResponse, OutboundError> {
        let mut request = http::Request::builder()
            .method(http::Method::GET)
            .uri(url)
            .header(http::header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Vec::new())
            .map_err(|e| OutboundError::Refused(format!("{url}: {e}")))?;
        self.call(request)
    }
}

fn transport_error(t: ureq::Transport) -> OutboundError {
    use std::error::Error;
    let mut source = t.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io_error(io);
        }
        source = e.source();
    }
    match t.kind() {
        ureq::ErrorKind::Dns if t.to_string().contains(REFUSED) => OutboundError::Refused(t.to_string()),
        _ => OutboundError::Unreachable(t.to_string()),
    }
}

fn io_error(e: &std::io::Error) -> OutboundError {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => OutboundError::Timeout,
        std::io::ErrorKind::PermissionDenied if e.to_string().contains(REFUSED) => {
            OutboundError::Refused(e.to_string())
        }
        _ => OutboundError::Unreachable(e.to_string()),
    }
}

const REFUSED: &str = "refusing non-public address";

struct GuardedResolver {
    guard: bool,
}

impl ureq::Resolver for GuardedResolver {
    fn resolve(&self, netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
        if !self.guard {
            return Ok(addrs);
        }
        let public: Vec<SocketAddr> = addrs.iter().copied().filter(|a| is_public(a.ip())).collect();
        if public.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{REFUSED} for {netloc}"),
            ));
        }
        Ok(public)
    }
}

/// Whether an address is on the public internet: not loopback, private (RFC 1918, RFC 4193),
/// link-local, shared (RFC 6598), unspecified, multicast, broadcast or documentation space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "142.250.74.46"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    /// A one-shot HTTP server on loopback that answers every connection with `response` after `delay`.
    fn serve(response: Vec<u8>, delay: Duration) -> String {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let _ = std::io::Read::read(&mut stream, &mut buf);
                std::thread::sleep(delay);
                let _ = stream.write_all(&response);
            }
        });
        format!("http://{addr}/")
    }

    fn answer(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    fn get(outbound: &Outbound, url: &str) -> Result<HttpResponse, OutboundError> {
        outbound.client(true).get_json(url, None)
    }

    #[test]
    fn a_redirect_is_not_followed() {
        let url = serve(
            answer("302 Found", "Location: http://169.254.169.254/\r\n", b""),
            Duration::ZERO,
        );
        let outbound = Outbound::new(&FederationSettings::default());
        assert!(matches!(get(&outbound, &url), Err(OutboundError::Redirect(302))));
    }

    #[test]
    fn a_body_over_the_cap_is_refused_and_one_at_the_cap_is_read() {
        let settings = FederationSettings {
            max_response_bytes: 1000,
            ..Default::default()
        };
        let outbound = Outbound::new(&settings);
        let big = serve(answer("200 OK", "", &[b'a'; 1001]), Duration::ZERO);
        assert!(matches!(get(&outbound, &big), Err(OutboundError::TooLarge(1000))));
        let fits = serve(answer("200 OK", "", &[b'a'; 1000]), Duration::ZERO);
        assert_eq!(get(&outbound, &fits).unwrap().body().len(), 1000);
    }

    #[test]
    fn error_statuses_are_answers_not_transport_failures() {
        let url = serve(answer("500 Internal Server Error", "", b"{}"), Duration::ZERO);
        let outbound = Outbound::new(&FederationSettings::default());
        assert_eq!(get(&outbound, &url).unwrap().status().as_u16(), 500);
    }

    #[test]
    fn a_slow_answer_times_out_at_the_deadline() {
        let settings = FederationSettings {
            timeout: 1,
            ..Default::default()
        };
        let url = serve(answer("200 OK", "", b"{}"), Duration::from_secs(5));
        let outbound = Outbound::new(&settings);
        assert!(matches!(get(&outbound, &url), Err(OutboundError::Timeout)));
    }

    #[test]
    fn plain_http_and_loopback_are_refused_without_the_opt_in() {
        let outbound = Outbound::new(&FederationSettings::default());
        let request = |url: &str| http::Request::get(url).body(Vec::new()).unwrap();
        let client = outbound.client(false);
        assert!(matches!(
            client.call(request("http://example.com/")),
            Err(OutboundError::Refused(_))
        ));
        assert!(matches!(
            client.call(request("https://127.0.0.1:9/")),
            Err(OutboundError::Refused(_))
        ));
        assert!(matches!(
            client.call(request("ftp://example.com/")),
            Err(OutboundError::Refused(_))
        ));
    }
}
