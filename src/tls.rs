//! HTTPS: the rustls server configuration (ring provider, TLS 1.2 and 1.3 only) from PEM files, and the
//! self-signed development pair that `gatehouse certs dev` writes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::version::{TLS12, TLS13};

/// The file names `generate_dev_cert` writes.
pub const DEV_CERT_FILE: &str = "dev-cert.pem";
pub const DEV_KEY_FILE: &str = "dev-key.pem";

/// The names the development certificate is valid for.
pub const DEV_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

/// A rustls server configuration from a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1). Only TLS 1.3 and 1.2 with the ring provider's default (AEAD, forward
/// secret) cipher suites; no client certificates. Every error names the file at fault.
///
/// ALPN is `http/1.1`; actix-web puts `h2` and `http/1.1` in front of it when it listens.
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<ServerConfig, String> {
    let certs = read_certificates(cert_path)?;
    let key = read_private_key(key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&TLS13, &TLS12])
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "{} and {}: unusable certificate/key pair: {}",
                cert_path.display(),
                key_path.display(),
                describe(&e)
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn describe(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            "the private key does not match the certificate".into()
        }
        other => other.to_string(),
    }
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error("certificate", path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("certificate", path, e))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate found (expected PEM `-----BEGIN CERTIFICATE-----` blocks)",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "{}: no private key found (expected a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)",
            path.display()
        ),
        other => pem_error("private key", path, other),
    })
}

fn pem_error(what: &str, path: &Path, error: pem::Error) -> String {
    match error {
        pem::Error::Io(e) => format!("cannot read the TLS {what} {}: {e}", path.display()),
        other => format!("{}: invalid PEM {what}: {other}", path.display()),
    }
}

/// Writes a new self-signed certificate (ECDSA P-256) for 127.0.0.1, ::1 and localhost and its key
/// into `dir` (created if needed) as `dev-cert.pem` and `dev-key.pem` (mode 0600). Refuses to replace
/// existing files. Returns (certificate path, key path). For development only: clients must be told to
/// trust this very certificate.
pub fn generate_dev_cert(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let cert_path = dir.join(DEV_CERT_FILE);
    let key_path = dir.join(DEV_KEY_FILE);
    for path in [&cert_path, &key_path] {
        if path.exists() {
            return Err(format!(
                "{} already exists; delete it to generate a new development pair",
                path.display()
            ));
        }
    }
    let names: Vec<String> = DEV_NAMES.iter().map(|n| n.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| format!("certificate: {e}"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Gatehouse development certificate");
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let year = current_year();
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 2, 1, 1);
    let key = rcgen::KeyPair::generate().map_err(|e| format!("key generation: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("certificate: {e}"))?;

    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_new(&key_path, &key.serialize_pem(), true)?;
    write_new(&cert_path, &cert.pem(), false)?;
    Ok((cert_path, key_path))
}

/// The current year (UTC), to within a day: enough for a validity window that starts a year earlier.
fn current_year() -> i32 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    1970 + (seconds / 31_556_952) as i32
}

fn write_new(path: &Path, text: &str, private: bool) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = generate_dev_cert(&dir.path().join("certs")).expect("a development pair");
        (dir, cert, key)
    }

    #[test]
    fn a_generated_pair_loads_with_http1_alpn() {
        let (_dir, cert, key) = pair();
        assert_eq!(cert.file_name().unwrap(), DEV_CERT_FILE);
        assert_eq!(key.file_name().unwrap(), DEV_KEY_FILE);
        let config = server_config(&cert, &key).expect("the pair loads");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let pem = std::fs::read_to_string(&cert).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert!(
            std::fs::read_to_string(&key)
                .unwrap()
                .contains("PRIVATE KEY-----")
        );
    }

    #[test]
    fn the_certificate_names_loopback_and_localhost() {
        let (_dir, cert, _key) = pair();
        let der = CertificateDer::from_pem_file(&cert).unwrap();
        // A client that trusts this very certificate (as `curl --cacert` does) accepts it for every
        // development name and for no other.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der.clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let accepts = |name: &str| {
            let name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
            rustls::client::danger::ServerCertVerifier::verify_server_cert(
                verifier.as_ref(),
                &der,
                &[],
                &name,
                &[],
                rustls::pki_types::UnixTime::now(),
            )
        };
        for name in DEV_NAMES {
            assert!(accepts(name).is_ok(), "{name}: {:?}", accepts(name));
        }
        assert!(accepts("example.com").is_err());
        assert!(accepts("127.0.0.2").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, _cert, key) = pair();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn an_existing_pair_is_not_replaced() {
        let (dir, cert, _key) = pair();
        let before = std::fs::read(&cert).unwrap();
        let err = generate_dev_cert(&dir.path().join("certs")).unwrap_err();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read(&cert).unwrap(), before);
    }

    #[test]
    fn a_missing_file_is_named() {
        let (dir, cert, key) = pair();
        let missing = dir.path().join("nope.pem");
        let err = server_config(&missing, &key).unwrap_err();
        assert!(err.contains("nope.pem") && err.contains("certificate"), "{err}");
        let err = server_config(&cert, &missing).unwrap_err();
        assert!(err.contains("nope.pem") && err.contains("private key"), "{err}");
    }

    #[test]
    fn garbage_is_refused_naming_the_file() {
        let (dir, cert, key) = pair();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a PEM file\n").unwrap();
        let err = server_config(&garbage, &key).unwrap_err();
        assert!(
            err.contains("garbage.pem") && err.contains("no certificate"),
            "{err}"
        );
        let err = server_config(&cert, &garbage).unwrap_err();
        assert!(
            err.contains("garbage.pem") && err.contains("no private key"),
            "{err}"
        );
        // A certificate where the key should be, and the other way round.
        let err = server_config(&cert, &cert).unwrap_err();
        assert!(err.contains("no private key"), "{err}");
        let err = server_config(&key, &key).unwrap_err();
        assert!(err.contains("no certificate"), "{err}");
        // A broken block.
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = server_config(&broken, &key).unwrap_err();
        assert!(err.contains("broken.pem") && err.contains("invalid PEM"), "{err}");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (_a, cert, _) = pair();
        let (_b, _, other_key) = pair();
        let err = server_config(&cert, &other_key).unwrap_err();
        assert!(err.contains("does not match"), "{err}");
    }
}
