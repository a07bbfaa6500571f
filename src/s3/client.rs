//! The S3 requests custody makes, signed and sent over ureq, and their
//! failures turned into [`S3Error`]s that say what to do.

use std::io::{self, Read};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::config::Settings;
use super::{sigv4, xml, ObjectUrl, S3Error};

/// S3 error codes that mean the credentials themselves were refused.
pub(super) const CREDENTIAL_CODES: [&str; 5] = [
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
];

/// How long to wait for a connection: a store that does not answer fails
/// the command this fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read or a write may stall (completing a large upload takes a while).
const STALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Bytes of an error reply read for its code and message.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;
/// Tries of a part upload or completion (a dropped connection, a 5xx):
/// waits of 1, 2 and 4 s between them.
const TRIES: u32 = 4;

/// An S3-compatible store, as its [`Settings`] reach it.
#[derive(Clone)]
pub struct Store {
    agent: ureq::Agent,
    settings: Settings,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("settings", &self.settings).finish()
    }
}

/// A request's parts, before signing.
struct Call<'a> {
    method: &'a str,
    object: &'a ObjectUrl,
    query: &'a [(&'a str, &'a str)],
    body: &'a [u8],
    what: &'a dyn Fn() -> String,
}

impl Store {
    /// A store reached with `settings`.
    pub fn new(settings: Settings) -> Store {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout_read(STALL_TIMEOUT)
            .timeout_write(STALL_TIMEOUT)
            .redirects(0)
            .build();
        Store { agent, settings }
    }

    /// The store this process's environment and the AWS files name, for `bucket`.
    pub fn from_env(bucket: &str) -> Result<Store, S3Error> {
        Ok(Store::new(Settings::from_env(&|k| std::env::var(k).ok(), bucket)?))
    }

    /// Its settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether `object` exists.
    pub fn exists(&self, object: &ObjectUrl) -> Result<bool, S3Error> {
        let what = || format!("checking whether {object} exists");
        match self.send(&Call {
            method: "HEAD",
            object,
            query: &[],
            body: &[],
            what: &what,
        }) {
            Ok(_) => Ok(true),
            Err(S3Error::Refused { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `object`'s content as a stream, or `None` if there is no such object.
    pub fn get(&self, object: &ObjectUrl) -> Result<Option<ObjectReader>, S3Error> {
        let what = || format!("reading {object}");
        match self.send(&Call {
            method: "GET",
            object,
            query: &[],
            body: &[],
            what: &what,
        }) {
            Ok(r) => Ok(Some(ObjectReader {
                inner: r.into_reader(),
                object: object.to_string(),
                read: 0,
            })),
            Err(S3Error::Refused { status: 404, code, .. }) if code != "NoSuchBucket" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Write `bytes` as `object` (small objects: checksum, log, receipt).
    pub fn put(&self, object: &ObjectUrl, bytes: &[u8]) -> Result<(), S3Error> {
        let what = || format!("writing {object}");
        self.send_retrying(&Call {
            method: "PUT",
            object,
            query: &[],
            body: bytes,
            what: &what,
        })
        .map(|_| ())
    }

    /// Start a multipart upload to `object`; its upload id.
    pub fn create_multipart(&self, object: &ObjectUrl) -> Result<String, S3Error> {
        let what = || format!("starting the upload to {object}");
        let reply = self.send(&Call {
            method: "POST",
            object,
            query: &[("uploads", "")],
            body: &[],
            what: &what,
        })?;
        let body = read_reply(reply, &what)?;
        xml::element_text(&body, "UploadId")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| S3Error::BadReply {
                what: what(),
                reason: "no UploadId in it".into(),
            })
    }

    /// Upload part `number` of upload `id`; its ETag.
    pub fn upload_part(&self, object: &ObjectUrl, id: &str, number: u32, bytes: &[u8]) -> Result<String, S3Error> {
        let what = || format!("uploading part {number} ({} bytes) of {object}", bytes.len());
        let n = number.to_string();
        let reply = self.send_retrying(&Call {
            method: "PUT",
            object,
            query: &[("partNumber", &n), ("uploadId", id)],
            body: bytes,
            what: &what,
        })?;
        reply.header("ETag").map(str::to_string).ok_or_else(|| S3Error::BadReply {
            what: what(),
            reason: "no ETag header".into(),
        })
    }

    /// Complete upload `id` with `parts` (number, ETag), in order.
    pub fn complete(&self, object: &ObjectUrl, id: &str, parts: &[(u32, String)]) -> Result<(), S3Error> {
        let what = || format!("completing the upload to {object} ({} parts)", parts.len());
        let body = xml::complete_body(parts);
        let reply = self.send_retrying(&Call {
            method: "POST",
            object,
            query: &[("uploadId", id)],
            body: body.as_bytes(),
            what: &what,
        })?;
        // S3 may answer 200 and report the failure in the body.
        let text = read_reply(reply, &what)?;
        if xml::root_is(&text, "Error") {
            return Err(refusal(200, &text, what(), &self.settings.credentials_from));
        }
        Ok(())
    }

    /// Abort upload `id`: the store drops its parts.
    pub fn abort(&self, object: &ObjectUrl, id: &str) -> Result<(), S3Error> {
        let what = || format!("aborting the upload to {object}");
        self.send(&Call {
            method: "DELETE",
            object,
            query: &[("uploadId", id)],
            body: &[],
            what: &what,
        })
        .map(|_| ())
    }

    /// The endpoint, for messages and the commands they suggest.
    pub fn endpoint(&self) -> &str {
        self.settings.endpoint.as_str().trim_end_matches('/')
    }

    /// Whether the endpoint is not AWS's own (commands then need `--endpoint-url`).
    pub fn custom_endpoint(&self) -> bool {
        self.settings.path_style && !self.endpoint().ends_with(".amazonaws.com")
    }

    fn send_retrying(&self, call: &Call<'_>) -> Result<ureq::Response, S3Error> {
        let mut wait = Duration::from_secs(1);
        let mut tries = 1;
        loop {
            match self.send(call) {
                Err(e) if tries < TRIES && transient(&e) => {
                    std::thread::sleep(wait);
                    wait *= 2;
                    tries += 1;
                }
                done => return done,
            }
        }
    }

    /// Sign and send one request.
    fn send(&self, call: &Call<'_>) -> Result<ureq::Response, S3Error> {
        let s = &self.settings;
        let key = sigv4::encode(&call.object.key, false);
        let host = host_header(&s.endpoint);
        let (host, path) = if s.path_style {
            (host, format!("/{}/{key}", call.object.bucket))
        } else {
            (format!("{}.{host}", call.object.bucket), format!("/{key}"))
        };
        let payload = if call.body.is_empty() {
            sigv4::EMPTY_SHA256.to_string()
        } else {
            hex::encode(Sha256::digest(call.body))
        };
        let signed = sigv4::sign(
            &sigv4::Request {
                method: call.method,
                host: &host,
                path: &path,
                query: call.query,
                headers: &[],
                payload_sha256: &payload,
            },
            &s.credentials,
            &s.region,
            time::OffsetDateTime::now_utc(),
        );
        let query: Vec<String> = call
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", sigv4::encode(k, true), sigv4::encode(v, true)))
            .collect();
        let url = format!(
            "{}://{host}{path}{}{}",
            s.endpoint.scheme(),
            if query.is_empty() { "" } else { "?" },
            query.join("&")
        );
        let mut request = self.agent.request(call.method, &url);
        for (name, value) in &signed {
            request = request.set(name, value);
        }
        let sent = if matches!(call.method, "PUT" | "POST") {
            request.send_bytes(call.body)
        } else {
            request.call()
        };
        sent.map_err(|e| match e {
            ureq::Error::Status(status, reply) => {
                let mut body = String::new();
                let _ = reply.into_reader().take(ERROR_BODY_LIMIT).read_to_string(&mut body);
                refusal(status, &body, (call.what)(), &s.credentials_from)
            }
            ureq::Error::Transport(t) => S3Error::Unreachable {
                what: (call.what)(),
                endpoint: self.endpoint().to_string(),
                reason: transport_reason(&t),
            },
        })
    }
}

/// `Host` as ureq sends it: the port only when it is not the scheme's default.
fn host_header(endpoint: &url::Url) -> String {
    let host = endpoint.host_str().unwrap_or_default();
    match endpoint.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// What went wrong with the connection, without the request's URL.
fn transport_reason(t: &ureq::Transport) -> String {
    let mut reason = t.kind().to_string();
    if let Some(m) = t.message() {
        reason.push_str(&format!(": {m}"));
    }
    if let Some(cause) = std::error::Error::source(t) {
        reason.push_str(&format!(": {cause}"));
    }
    reason
}

/// Failures worth another try: a dropped connection, a busy or failing store.
fn transient(e: &S3Error) -> bool {
    match e {
        S3Error::Unreachable { .. } => true,
        S3Error::Refused { status, .. } => *status >= 500 || *status == 429,
        _ => false,
    }
}

fn read_reply(reply: ureq::Response, what: &dyn Fn() -> String) -> Result<String, S3Error> {
    let mut body = String::new();
    reply
        .into_reader()
        .take(ERROR_BODY_LIMIT)
        .read_to_string(&mut body)
        .map_err(|e| S3Error::BadReply {
            what: what(),
            reason: format!("it broke off or is not text: {e}"),
        })?;
    Ok(body)
}

/// An error reply as an [`S3Error::Refused`], with what to do about it.
fn refusal(status: u16, body: &str, what: String, credentials_from: &str) -> S3Error {
    let code = xml::element_text(body, "Code").unwrap_or_else(|| match status {
        403 => "Forbidden".into(),
        404 => "NotFound".into(),
        _ => "error".into(),
    });
    let hint = match code.as_str() {
        c if CREDENTIAL_CODES.contains(&c) => Some(format!(
            "The store does not accept the credentials from {credentials_from}: check the access key id and secret (and the session token, which may have expired)"
        )),
        "AccessDenied" => Some(format!(
            "The credentials from {credentials_from} may not do this: they need s3:PutObject and s3:AbortMultipartUpload to collect, s3:GetObject to read"
        )),
        // A HEAD's refusal has no body to say why.
        "Forbidden" => Some(format!(
            "The store does not accept the credentials from {credentials_from}, or they may not read this bucket"
        )),
        "NoSuchBucket" => Some("Create the bucket first, or check its name".into()),
        "AuthorizationHeaderMalformed" | "PermanentRedirect" | "IllegalLocationConstraintException" => {
            Some("The bucket is in another region: set AWS_REGION to it".into())
        }
        "EntityTooSmall" => Some("The store refuses parts under 5 MiB: do not lower the part size".into()),
        _ => None,
    };
    S3Error::Refused {
        what,
        status,
        code,
        message: xml::element_text(body, "Message").filter(|m| !m.is_empty()),
        hint,
    }
}

/// An object's content as it arrives (no temporary file); a read error
/// names the object and how far it got.
pub struct ObjectReader {
    inner: Box<dyn Read + Send + Sync + 'static>,
    object: String,
    read: u64,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read += n as u64;
                Ok(n)
            }
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("reading {} broke off after {} bytes: {e}", self.object, self.read),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_to_do() {
        let body = "<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>";
        let e = refusal(403, body, "starting the upload to s3://b/k".into(), "the environment");
        assert!(e.is_credentials());
        let text = e.to_string();
        assert!(
            text.starts_with("starting the upload to s3://b/k: the store answered 403 InvalidAccessKeyId (The AWS"),
            "{text}"
        );
        assert!(text.contains("check the access key id and secret"), "{text}");
        let e = refusal(503, "", "x".into(), "p");
        assert!(transient(&e) && !e.is_credentials());
        assert_eq!(e.to_string(), "x: the store answered 503 error");
    }

    #[test]
    fn the_host_header_has_a_port_only_when_needed() {
        assert_eq!(host_header(&"http://127.0.0.1:9000".parse().unwrap()), "127.0.0.1:9000");
        assert_eq!(
            host_header(&"https://s3.eu-west-1.amazonaws.com".parse().unwrap()),
            "s3.eu-west-1.amazonaws.com"
        );
        assert_eq!(host_header(&"http://[::1]:80".parse().unwrap()), "[::1]");
    }
}
