//! TLS trust for the HTTP sinks: the Mozilla roots compiled in (webpki-roots, so an image needs no CA
//! files), plus the certificates of `RUNWARDEN_CA_FILE` for endpoints behind a private CA.
//!
//! The file's certificates are *added* to the compiled-in roots rather than replacing them: one
//! `RUNWARDEN_SINKS` may mix a private webhook with a public collector (`*.run.app`), and both must
//! verify. Names and validity are checked as for any endpoint; there is no "insecure" switch.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty { path: PathBuf },
    #[error("{path}: certificate {index} cannot be used as a trust anchor: {reason}")]
    Bad { path: PathBuf, index: usize, reason: String },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The certificates of a PEM file (other PEM sections, such as keys, are ignored); at least one.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::Read { path: path.into(), source })?;
    let mut certs = Vec::new();
    for (index, c) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        match c {
            Ok(c) => certs.push(c),
            Err(e) => return Err(TlsError::Bad { path: path.into(), index, reason: e.to_string() }),
        }
    }
    if certs.is_empty() {
        return Err(TlsError::Empty { path: path.into() });
    }
    // Parsed as trust anchors now, so a broken certificate stops the start, not the first request.
    let mut roots = rustls::RootCertStore::empty();
    for (index, c) in certs.iter().enumerate() {
        roots.add(c.clone()).map_err(|e| TlsError::Bad {
            path: path.into(),
            index,
            reason: e.to_string(),
        })?;
    }
    Ok(certs)
}

/// The client configuration: webpki roots plus `extra`, ring, TLS 1.2 and 1.3 (what ureq uses by
/// default, with more roots).
pub fn client_config(extra: &[CertificateDer<'static>]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for c in extra {
        roots.add(c.clone())?;
    }
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_files_without_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(matches!(read_ca_file(&empty), Err(TlsError::Empty { .. })));
        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        assert!(read_ca_file(&broken).is_err());
        assert!(matches!(read_ca_file(&dir.path().join("missing.pem")), Err(TlsError::Read { .. })));
        assert!(client_config(&[]).is_ok());
    }
}
