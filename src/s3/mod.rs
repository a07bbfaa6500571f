//! Object storage: an archive streamed to an S3-compatible store while it
//! is collected (multipart upload, a part or two in memory), and read back
//! from it as a stream.
//!
//! - `config`: endpoint, region and credentials, as the AWS tools find them;
//! - `sigv4`: request signing (pure);
//! - `xml`: the few XML replies and bodies (pure);
//! - `client`: the requests, over ureq, and what a refusal means;
//! - `upload`: a `Write` that uploads parts as they fill, and its ending.

mod client;
mod config;
pub mod sigv4;
mod upload;
mod xml;

pub use client::{ObjectReader, Store};
pub use config::{Credentials, Settings, DEFAULT_REGION};
pub use upload::{largest_archive, part_size, Ending, Upload, UploadHandle, FIRST_PART, MAX_PART, MAX_PARTS, MIN_PART, PARTS_PER_STEP};

/// The URL scheme of an object: `s3://BUCKET/KEY`.
pub const SCHEME: &str = "s3://";

/// Why a request to the store, or its setting up, failed. Messages say
/// what was being done, what the store said, and what to do; they never
/// hold a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// The endpoint, region or credentials could not be worked out.
    #[error("{0}")]
    Config(String),
    /// Not an `s3://BUCKET/KEY` URL that can be used.
    #[error("{url:?} is not a usable object URL: {reason}. Give it as s3://BUCKET/KEY")]
    BadUrl {
        /// As given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// No answer from the endpoint.
    #[error("{what}: cannot reach the object store at {endpoint}: {reason}. Check the endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's endpoint_url) and the network")]
    Unreachable {
        /// What was being done.
        what: String,
        /// The endpoint.
        endpoint: String,
        /// The transport's error.
        reason: String,
    },
    /// The store answered with an error.
    #[error("{what}: the store answered {status} {code}{}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default(), hint.as_deref().map(|h| format!(". {h}")).unwrap_or_default())]
    Refused {
        /// What was being done.
        what: String,
        /// HTTP status.
        status: u16,
        /// S3's error code (`InvalidAccessKeyId`, ...), or the status text.
        code: String,
        /// S3's message.
        message: Option<String>,
        /// What to do about it.
        hint: Option<String>,
    },
    /// The store's answer is not what S3 answers.
    #[error("{what}: the store's answer cannot be used: {reason}")]
    BadReply {
        /// What was being done.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl S3Error {
    /// Whether the store refused the credentials themselves.
    pub fn is_credentials(&self) -> bool {
        matches!(self, S3Error::Refused { code, .. } if client::CREDENTIAL_CODES.contains(&code.as_str()))
    }
}

/// An object: its bucket and key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectUrl {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
}

impl ObjectUrl {
    /// `s3://BUCKET/KEY` if `arg` is one (`Ok(None)` if it is not an s3 URL).
    pub fn parse_arg(arg: &std::path::Path) -> Result<Option<ObjectUrl>, S3Error> {
        match arg.to_str() {
            Some(s) if s.starts_with(SCHEME) => ObjectUrl::parse(s).map(Some),
            _ => Ok(None),
        }
    }

    /// Parse `s3://BUCKET/KEY`.
    pub fn parse(url: &str) -> Result<ObjectUrl, S3Error> {
        let bad = |reason: &str| S3Error::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let rest = url.strip_prefix(SCHEME).ok_or_else(|| bad("it does not start with s3://"))?;
        let (bucket, key) = rest.split_once('/').ok_or_else(|| bad("it names no key after the bucket"))?;
        if bucket.len() < 3 || bucket.len() > 63 || !bucket.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) {
            return Err(bad("a bucket name is 3 to 63 letters, digits, dots and hyphens"));
        }
        if key.is_empty() || key.len() > 1024 - ".custody".len() {
            return Err(bad("the key must be 1 to 1016 bytes"));
        }
        if key.split('/').any(|seg| seg == "." || seg == "..") || key.bytes().any(|b| b.is_ascii_control()) {
            return Err(bad("the key must not have `.` or `..` segments or control characters"));
        }
        Ok(ObjectUrl {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// The object beside this one whose key has `suffix` appended
    /// (`KEY.sha256`, `KEY.custody`, `KEY.receipt`).
    pub fn with_suffix(&self, suffix: &str) -> ObjectUrl {
        ObjectUrl {
            bucket: self.bucket.clone(),
            key: format!("{}{suffix}", self.key),
        }
    }

    /// The key's last segment: the archive's name in its checksum file.
    pub fn name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }
}

impl std::fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls() {
        let o = ObjectUrl::parse("s3://case-17/hosts/web01.tar.zst").unwrap();
        assert_eq!(
            (o.bucket.as_str(), o.key.as_str(), o.name()),
            ("case-17", "hosts/web01.tar.zst", "web01.tar.zst")
        );
        assert_eq!(o.with_suffix(".sha256").to_string(), "s3://case-17/hosts/web01.tar.zst.sha256");
        for bad in [
            "s3://bucket",
            "s3://bucket/",
            "s3://b/k",
            "s3://bu cket/k",
            "s3://bucket/a/../k",
            "s3://bucket/./k",
            "http://bucket/k",
        ] {
            assert!(ObjectUrl::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ObjectUrl::parse_arg(std::path::Path::new("case.tar.zst")).unwrap(), None);
        assert!(ObjectUrl::parse_arg(std::path::Path::new("s3://x")).is_err());
    }
}
