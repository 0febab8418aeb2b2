//! The load generator's transport: one HTTP/1.1 connection (plain or TLS) driven directly by hyper 1 (no
//! pool, no redirects, nothing per request but the request), with a timeout on every connect and request;
//! and the few helpers the flows need (cookies, forms, Basic credentials, hidden fields).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderMap};
use hyper::http::request::Builder;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

/// No connect or request may take longer than this; a timeout counts as an error.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub type Body = Full<Bytes>;

/// A server to connect to: its address and, for https, the TLS client configuration.
pub struct Target {
    pub addr: SocketAddr,
    /// `host:port`, sent as `Host`.
    authority: String,
    tls: Option<TlsConnector>,
}

impl Target {
    pub fn plain(addr: SocketAddr) -> Self {
        Self {
            addr,
            authority: addr.to_string(),
            tls: None,
        }
    }

    /// An https server whose certificate is `ca_pem` (trusted alone, no built-in roots). Sessions are
    /// never resumed: every connection pays a full handshake, the worst case.
    pub fn tls(addr: SocketAddr, ca_pem: &Path) -> Result<Self, String> {
        let cert = CertificateDer::from_pem_file(ca_pem)
            .map_err(|e| format!("cannot read {}: {e}", ca_pem.display()))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).map_err(|e| format!("bad certificate: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Self {
            addr,
            authority: addr.to_string(),
            tls: Some(TlsConnector::from(Arc::new(config))),
        })
    }

    pub fn get(&self, path: &str) -> Builder {
        Request::get(path).header(header::HOST, &self.authority)
    }

    pub fn post_form(&self, path: &str) -> Builder {
        Request::post(path)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
    }

    /// Opens a connection (TCP, then TLS for https, then the HTTP/1.1 handshake).
    pub async fn connect(&self) -> Result<Conn, String> {
        timeout(TIMEOUT, self.open())
            .await
            .map_err(|_| "connect timed out".to_string())?
    }

    async fn open(&self) -> Result<Conn, String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let sender = match &self.tls {
            None => handshake(TokioIo::new(tcp)).await?,
            Some(tls) => {
                let name = ServerName::IpAddress(self.addr.ip().into());
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                handshake(TokioIo::new(stream)).await?
            }
        };
        Ok(Conn { sender })
    }
}

async fn handshake<T>(io: T) -> Result<SendRequest<Body>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Finishes a request built with `Target::get`/`post_form`.
pub fn build(builder: Builder, body: impl Into<Bytes>) -> Result<Request<Body>, String> {
    builder
        .body(Full::new(body.into()))
        .map_err(|e| format!("bad request: {e}"))
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: SendRequest<Body>,
}

impl Conn {
    /// Sends one request and reads the whole response, within `TIMEOUT`.
    pub async fn send(&mut self, request: Request<Body>) -> Result<Response, String> {
        let exchange = async {
            self.sender
                .ready()
                .await
                .map_err(|e| format!("connection: {e}"))?;
            let response = self
                .sender
                .send_request(request)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("response body: {e}"))?
                .to_bytes();
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| "request timed out".to_string())?
    }
}

/// A whole response.
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<not UTF-8>")
    }

    /// Checks the status; the error names the step and shows the start of the body.
    pub fn expect(self, status: u16, step: &str) -> Result<Self, String> {
        if self.status.as_u16() == status {
            Ok(self)
        } else {
            let text: String = self.text().chars().take(200).collect();
            Err(format!(
                "{step}: HTTP {} (expected {status}) {}{text}",
                self.status.as_u16(),
                self.location()
            ))
        }
    }
}

/// A browser's cookie jar, enough for one origin.
#[derive(Default, Clone)]
pub struct Cookies(Vec<(String, String)>);

impl Cookies {
    pub fn store(&mut self, response: &Response) {
        for set in response.headers.get_all(header::SET_COOKIE) {
            let Some((name, rest)) = set.to_str().ok().and_then(|v| v.split_once('=')) else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or_default().to_string();
            self.0.retain(|(n, _)| n != name);
            self.0.push((name.to_string(), value));
        }
    }

    /// The `Cookie` request header.
    pub fn header(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        pairs.join("; ")
    }
}

/// `application/x-www-form-urlencoded`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `client_secret_basic` (RFC 6749 §2.3.1: both parts form-encoded first).
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// The value of `<input type="hidden" name="NAME" value="...">`.
pub fn hidden(html: &str, name: &str) -> Result<String, String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .ok_or_else(|| format!("no hidden field `{name}` in the page"))?
        + marker.len();
    let end = html[start..].find('"').ok_or("unterminated attribute")? + start;
    Ok(html[start..end].to_string())
}

/// A query parameter of an absolute or root-relative URL.
pub fn query_param(location: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(location)
        .or_else(|_| url::Url::parse("http://localhost").and_then(|base| base.join(location)))
        .ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
