//! Trusted time (RFC 3161): asking a time-stamping authority (TSA) for a
//! token over a SHA-256 digest ([`Client::stamp`]), and checking such a
//! token against that digest and, optionally, the roots a user trusts
//! ([`check`]). docs/FORMAT.md §15 says how archives carry tokens.
//!
//! The ASN.1 is RustCrypto's (`x509-tsp`, `cms`, `x509-cert`, `der`), the
//! certificate path, extended key usage and signature checks are
//! `rustls-webpki`'s with its `ring` backend, and HTTP is `ureq`'s. The
//! library never prints: every outcome is a value.

use std::path::{Path, PathBuf};

mod check;
mod client;

pub use check::check;
pub use client::Client;

/// The default limit on one request, connection and reply included.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The largest reply read from a TSA. Tokens are a few KiB with their
/// certificates; anything much larger is not a time-stamp reply.
pub const MAX_REPLY: u64 = 1024 * 1024;
/// DER of the extended key usage id-kp-timeStamping (1.3.6.1.5.5.7.3.8),
/// without tag and length, as `rustls-webpki` takes it.
pub const EKU_TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// Certificates a user trusts as roots of time-stamping authorities.
#[derive(Clone, Debug)]
pub struct Roots {
    /// DER of each certificate, with its subject as text.
    certs: Vec<(Vec<u8>, String)>,
}

impl Roots {
    /// Read every certificate of a PEM file.
    pub fn from_pem_file(path: &Path) -> Result<Roots, TsaError> {
        let bad = |reason: String| TsaError::Roots {
            path: path.to_path_buf(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        Roots::from_pem(&pem).map_err(bad)
    }

    /// Read every certificate of PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<Roots, String> {
        use der::Encode;
        let parsed = x509_cert::Certificate::load_pem_chain(pem).map_err(|e| format!("not PEM certificates: {e}"))?;
        if parsed.is_empty() {
            return Err("it holds no certificate".into());
        }
        let mut certs = Vec::new();
        for c in parsed {
            let der = c.to_der().map_err(|e| format!("a certificate cannot be encoded: {e}"))?;
            let subject = c.tbs_certificate.subject.to_string();
            let cert = rustls_pki_types::CertificateDer::from(der.as_slice());
            webpki::anchor_from_trusted_cert(&cert).map_err(|e| format!("certificate {subject} cannot be a root: {e:?}"))?;
            certs.push((der, subject));
        }
        Ok(Roots { certs })
    }

    /// The subjects of the roots, in file order.
    pub fn subjects(&self) -> impl Iterator<Item = &str> {
        self.certs.iter().map(|(_, s)| s.as_str())
    }
}

/// What [`check`] found in a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenReport {
    /// The time the TSA states (TSTInfo genTime).
    pub gen_time: Option<time::OffsetDateTime>,
    /// The signer certificate's subject (RFC 4514 text), else the TSTInfo
    /// `tsa` name.
    pub tsa_name: Option<String>,
    /// The TSTInfo serial number, lowercase hex.
    pub serial: Option<String>,
    /// The TSA policy, as dotted OID text.
    pub policy: Option<String>,
    /// The verdict on the token.
    pub status: TokenStatus,
}

/// The verdict on a token, from best to worst.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    /// Valid, for this data, and its signer chains to this root (subject)
    /// with the timeStamping extended key usage, valid at genTime.
    Trusted {
        /// The root's subject.
        root: String,
    },
    /// Valid signature and imprint; no roots were given to check the signer.
    NotChecked,
    /// Valid signature and imprint, but the signer does not chain to a
    /// given root, lacks the timeStamping usage, or was not valid at genTime.
    Untrusted {
        /// Why.
        reason: String,
    },
    /// A valid token for other data (another imprint, or not SHA-256).
    Mismatch {
        /// Why.
        reason: String,
    },
    /// Not a token, or one whose signature or message digest is wrong.
    Invalid {
        /// Why.
        reason: String,
    },
}

impl TokenStatus {
    /// A short name: `trusted`, `not-checked`, `untrusted`, `mismatch`, `invalid`.
    pub fn name(&self) -> &'static str {
        match self {
            TokenStatus::Trusted { .. } => "trusted",
            TokenStatus::NotChecked => "not-checked",
            TokenStatus::Untrusted { .. } => "untrusted",
            TokenStatus::Mismatch { .. } => "mismatch",
            TokenStatus::Invalid { .. } => "invalid",
        }
    }

    /// The reason or root, when there is one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            TokenStatus::Trusted { root } => Some(root),
            TokenStatus::NotChecked => None,
            TokenStatus::Untrusted { reason } | TokenStatus::Mismatch { reason } | TokenStatus::Invalid { reason } => Some(reason),
        }
    }
}

/// Why a TSA gave no token, or roots could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TsaError {
    /// The URL is not an http or https URL.
    #[error("the TSA URL {url:?} cannot be used: {reason}. Give an http:// or https:// URL")]
    BadUrl {
        /// As given.
        url: String,
        /// Why.
        reason: String,
    },
    /// No connection: refused, no route, DNS, TLS.
    #[error("the TSA at {url} cannot be reached: {reason}. Check the URL and the network, or collect without --tsa")]
    Unreachable {
        /// The TSA.
        url: String,
        /// The transport's words.
        reason: String,
    },
    /// No whole reply within the time limit.
    #[error("the TSA at {url} did not answer within {secs} s. Try again later, or another TSA")]
    Timeout {
        /// The TSA.
        url: String,
        /// The limit.
        secs: u64,
    },
    /// The server answered with an HTTP error.
    #[error("the TSA at {url} answered HTTP {status} ({text}). Check that the URL is a time-stamping endpoint")]
    HttpStatus {
        /// The TSA.
        url: String,
        /// HTTP status code.
        status: u16,
        /// Status text.
        text: String,
    },
    /// The reply is not a TimeStampResp.
    #[error("the server at {url} did not send a time-stamp reply (content-type {content_type:?}, {reason}); it begins {head:?}. Check that the URL is an RFC 3161 endpoint")]
    NotAReply {
        /// The TSA.
        url: String,
        /// Its Content-Type header, or empty.
        content_type: String,
        /// Why it does not parse.
        reason: String,
        /// Its first bytes, printable ASCII kept and others escaped.
        head: String,
    },
    /// The TSA refused.
    #[error("the TSA at {url} refused the request: status {status}{}{}. Check the TSA's documentation for its policy and limits", .text.as_ref().map(|t| format!(", \"{t}\"")).unwrap_or_default(), .fail_info.as_ref().map(|f| format!(", failure {f}")).unwrap_or_default())]
    Rejected {
        /// PKIStatus name.
        status: String,
        /// statusString, joined.
        text: Option<String>,
        /// failInfo bits by name.
        fail_info: Option<String>,
        /// The TSA.
        url: String,
    },
    /// The token does not carry the request's nonce.
    #[error("the TSA at {url} answered with a token that does not carry this request's nonce: a replayed or misrouted reply. Try again; if it persists, do not use this TSA")]
    NonceNotEchoed {
        /// The TSA.
        url: String,
    },
    /// The token is over another digest.
    #[error("the TSA at {url} answered with a token over other data than asked ({reason}). Do not use this TSA")]
    ImprintNotEchoed {
        /// The TSA.
        url: String,
        /// What differs.
        reason: String,
    },
    /// The reply was granted but its token is unusable.
    #[error("the TSA at {url} granted a token that does not check: {reason}")]
    BadToken {
        /// The TSA.
        url: String,
        /// What [`check`] found.
        reason: String,
    },
    /// A roots file cannot be used.
    #[error("the TSA roots file {} cannot be used: {reason}. Give a PEM file of CA certificates", .path.display())]
    Roots {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}
