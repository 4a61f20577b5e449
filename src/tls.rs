//! TLS settings turned into rustls configurations: the server's (from
//! `tls_cert_file`, `tls_key_file`, `tls_ca_cert_file`, `tls_auth_clients`)
//! and a client's (a CA to trust, an optional client certificate). PEM
//! files are read once, at start; every error names the setting and the
//! file. The crypto provider is rustls's `ring` provider, named explicitly
//! so that no process-wide default is needed.

use std::io::{Error, ErrorKind};
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::config::{Config, TlsAuthClients};

/// The `ring` provider with X25519 as the first key exchange: `ring`'s
/// default list starts with P-384, whose arithmetic there is several times
/// slower (a handshake is mostly its key exchange and signature, on the
/// engine thread). A client that sends only a P-384 share still gets P-384.
///
/// rustls marks `ring`'s provider deprecated because it has no
/// post-quantum key exchange (only `aws-lc-rs` has); classical X25519 and
/// P-256 are what Redis clients negotiate today, and `ring` builds with no
/// C toolchain beyond `cc`.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::ring::kx_group;
    Arc::new(rustls::crypto::CryptoProvider {
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        ..rustls::crypto::ring::default_provider()
    })
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

/// Every certificate in a PEM file; `setting` names where the path came
/// from (`tls_cert_file`, `--cacert`...).
pub fn load_certs(setting: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(format!("cannot read {setting} {shown}: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("{setting} {shown} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "{setting} {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(setting: &str, path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let shown = path.display();
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::Io(e) => {
            invalid(format!("cannot read {setting} {shown}: {e}"))
        }
        rustls::pki_types::pem::Error::NoItemsFound => {
            invalid(format!("{setting} {shown} holds no PEM private key"))
        }
        e => invalid(format!("{setting} {shown} is not valid PEM: {e}")),
    })
}

fn roots(setting: &str, path: &Path) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(setting, path)? {
        roots
            .add(cert)
            .map_err(|e| invalid(format!("{setting} {}: {e}", path.display())))?;
    }
    Ok(roots)
}

/// The server's TLS configuration from the config's TLS settings. Errors
/// name the missing setting or the file that cannot be used.
pub fn server_config(config: &Config) -> Result<Arc<ServerConfig>, Error> {
    config
        .tls_files_given()
        .map_err(|e| invalid(e.to_string()))?;
    let (Some(cert_file), Some(key_file)) = (&config.tls_cert_file, &config.tls_key_file) else {
        return Err(invalid("tls_cert_file and tls_key_file must be set".into()));
    };
    let certs = load_certs("tls_cert_file", cert_file)?;
    let key = load_key("tls_key_file", key_file)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?;
    let builder = match (&config.tls_ca_cert_file, config.tls_auth_clients) {
        (_, TlsAuthClients::No) => builder.with_no_client_auth(),
        (Some(ca_file), auth) => {
            let roots = Arc::new(roots("tls_ca_cert_file", ca_file)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider());
            let verifier = match auth {
                TlsAuthClients::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|e| invalid(format!("tls_ca_cert_file {}: {e}", ca_file.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        (None, _) => {
            return Err(invalid(
                "tls_auth_clients needs tls_ca_cert_file (or set tls_auth_clients no)".into(),
            ))
        }
    };
    let server = builder.with_single_cert(certs, key).map_err(|e| {
        invalid(format!(
            "tls_cert_file {} with tls_key_file {}: {e}",
            cert_file.display(),
            key_file.display()
        ))
    })?;
    Ok(Arc::new(server))
}

/// A client's TLS configuration: trust the CAs in `ca_file`; present the
/// certificate in `identity` (certificate file, key file) if given.
pub fn client_config(
    ca_file: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, Error> {
    let roots = roots("CA file", ca_file)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let client = match identity {
        None => builder.with_no_client_auth(),
        Some((cert_file, key_file)) => {
            let certs = load_certs("certificate file", cert_file)?;
            let key = load_key("key file", key_file)?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                invalid(format!(
                    "certificate file {} with key file {}: {e}",
                    cert_file.display(),
                    key_file.display()
                ))
            })?
        }
    };
    Ok(Arc::new(client))
}
