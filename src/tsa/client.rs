//! Asking a TSA for a token: an RFC 3161 request over HTTP(S) POST, and
//! the checks on its reply before the token is handed back.

use std::io::Read;
use std::time::Duration;

use der::asn1::{BitString, Int, OctetString};
use der::{Any, Decode, Encode, Sequence};
use x509_tsp::{MessageImprint, TimeStampReq, TspVersion};

use super::check::{parse, sha256_algorithm};
use super::{check, TokenStatus, TsaError, DEFAULT_TIMEOUT, MAX_REPLY};

/// A time-stamping authority, by URL.
#[derive(Clone, Debug)]
pub struct Client {
    url: String,
    timeout: Duration,
}

/// TimeStampResp (RFC 3161 §2.4.2), with PKIStatusInfo's `failInfo` read as
/// a plain bit string: failure bits above 15 (e.g. systemFailure, 25) must
/// not make a refusal unreadable.
#[derive(Sequence)]
struct Reply {
    status: StatusInfo,
    #[asn1(optional = "true")]
    token: Option<Any>,
}

#[derive(Sequence)]
struct StatusInfo {
    status: u32,
    #[asn1(optional = "true")]
    text: Option<Vec<String>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

/// PKIStatus names (RFC 3161 §2.4.2).
const STATUS_NAMES: [&str; 6] = [
    "granted",
    "grantedWithMods",
    "rejection",
    "waiting",
    "revocationWarning",
    "revocationNotification",
];
/// PKIFailureInfo bits a TSA may set (RFC 3161 §2.4.2), by bit number.
const FAILURE_NAMES: [(usize, &str); 8] = [
    (0, "badAlg"),
    (2, "badRequest"),
    (5, "badDataFormat"),
    (14, "timeNotAvailable"),
    (15, "unacceptedPolicy"),
    (16, "unacceptedExtension"),
    (17, "addInfoNotAvailable"),
    (25, "systemFailure"),
];
/// Bytes of a reply that is not one shown in an error.
const HEAD_SHOWN: usize = 64;

impl Client {
    /// A client for the TSA at `url` (http or https).
    pub fn new(url: &str) -> Result<Client, TsaError> {
        let bad = |reason: String| TsaError::BadUrl {
            url: url.to_string(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad(format!("the scheme is {:?}", parsed.scheme())));
        }
        if parsed.host().is_none() {
            return Err(bad("it names no host".into()));
        }
        Ok(Client {
            url: url.to_string(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same client with another limit on each request (connection,
    /// sending and the whole reply).
    pub fn with_timeout(self, t: Duration) -> Client {
        Client { timeout: t, ..self }
    }

    /// The limit on each request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The TSA's URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Ask the TSA for a token over this SHA-256 imprint (with a random
    /// nonce and certReq), and return the DER TimeStampToken (a CMS
    /// ContentInfo) once the reply is checked: status granted or
    /// grantedWithMods, nonce and imprint echoed, signature valid.
    pub fn stamp(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, TsaError> {
        let nonce = nonce();
        let request = TimeStampReq {
            version: TspVersion::V1,
            message_imprint: MessageImprint {
                hash_algorithm: sha256_algorithm(),
                hashed_message: OctetString::new(sha256.to_vec()).expect("32 bytes fit an OCTET STRING"),
            },
            req_policy: None,
            nonce: Some(Int::new(&nonce).expect("8 bytes fit an INTEGER")),
            cert_req: true,
            extensions: None,
        }
        .to_der()
        .expect("a request encodes");
        let (content_type, body) = self.post(&request)?;
        let not_a_reply = |reason: String| TsaError::NotAReply {
            url: self.url.clone(),
            content_type: content_type.clone(),
            reason,
            head: sanitized_head(&body),
        };
        let reply = Reply::from_der(&body).map_err(|e| not_a_reply(format!("not DER TimeStampResp: {e}")))?;
        if reply.status.status > 1 {
            return Err(self.rejected(&reply.status));
        }
        let token = reply
            .token
            .ok_or_else(|| not_a_reply("status granted but no token".into()))?
            .to_der()
            .map_err(|e| not_a_reply(e.to_string()))?;
        self.check_reply(&token, sha256, &nonce)?;
        Ok(token)
    }

    /// POST the request; the reply's content type and body.
    fn post(&self, request: &[u8]) -> Result<(String, Vec<u8>), TsaError> {
        let agent = ureq::AgentBuilder::new().timeout(self.timeout).redirects(0).build();
        let response = agent
            .post(&self.url)
            .set("Content-Type", "application/timestamp-query")
            .set("Accept", "application/timestamp-reply")
            .send_bytes(request);
        let response = match response {
            Ok(r) => r,
            Err(ureq::Error::Status(status, r)) => {
                return Err(TsaError::HttpStatus {
                    url: self.url.clone(),
                    status,
                    text: r.status_text().to_string(),
                })
            }
            Err(ureq::Error::Transport(t)) => return Err(self.transport(&t)),
        };
        let content_type = response.header("Content-Type").unwrap_or_default().to_string();
        let mut body = Vec::new();
        response
            .into_reader()
            .take(MAX_REPLY + 1)
            .read_to_end(&mut body)
            .map_err(|e| self.io_failure(&e))?;
        if body.len() as u64 > MAX_REPLY {
            return Err(TsaError::NotAReply {
                url: self.url.clone(),
                content_type,
                reason: format!("the reply is longer than {MAX_REPLY} bytes"),
                head: sanitized_head(&body),
            });
        }
        Ok((content_type, body))
    }

    fn transport(&self, t: &ureq::Transport) -> TsaError {
        if timed_out(t) {
            return self.timeout_error();
        }
        TsaError::Unreachable {
            url: self.url.clone(),
            reason: t.to_string(),
        }
    }

    fn io_failure(&self, e: &std::io::Error) -> TsaError {
        if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) {
            return self.timeout_error();
        }
        TsaError::Unreachable {
            url: self.url.clone(),
            reason: format!("the reply broke off: {e}"),
        }
    }

    fn timeout_error(&self) -> TsaError {
        TsaError::Timeout {
            url: self.url.clone(),
            secs: self.timeout.as_secs_f64().ceil() as u64,
        }
    }

    fn rejected(&self, s: &StatusInfo) -> TsaError {
        let status = STATUS_NAMES
            .get(s.status as usize)
            .map_or_else(|| format!("{}", s.status), |n| format!("{} ({n})", s.status));
        let fail_info = s.fail_info.as_ref().map(|bits| {
            let set: Vec<String> = bits
                .bits()
                .enumerate()
                .filter(|(_, b)| *b)
                .map(|(i, _)| {
                    FAILURE_NAMES
                        .iter()
                        .find(|(n, _)| *n == i)
                        .map_or_else(|| format!("bit {i}"), |(_, name)| name.to_string())
                })
                .collect();
            set.join(", ")
        });
        TsaError::Rejected {
            status,
            text: s.text.as_ref().map(|t| t.join("; ")),
            fail_info,
            url: self.url.clone(),
        }
    }

    /// The token must be for this request: its nonce, its imprint, a valid
    /// signature over it.
    fn check_reply(&self, token: &[u8], sha256: &[u8; 32], nonce: &[u8]) -> Result<(), TsaError> {
        let bad = |reason: String| TsaError::BadToken {
            url: self.url.clone(),
            reason,
        };
        let parsed = parse(token).map_err(bad)?;
        let echoed = parsed
            .tst
            .nonce
            .as_ref()
            .is_some_and(|n| n.as_bytes() == Int::new(nonce).expect("fits").as_bytes());
        if !echoed {
            return Err(TsaError::NonceNotEchoed { url: self.url.clone() });
        }
        match check(token, sha256, None).status {
            TokenStatus::NotChecked => Ok(()),
            TokenStatus::Mismatch { reason } => Err(TsaError::ImprintNotEchoed {
                url: self.url.clone(),
                reason,
            }),
            other => Err(bad(other.detail().unwrap_or("unusable").to_string())),
        }
    }
}

/// Eight random bytes as a positive INTEGER that needs no leading zero.
fn nonce() -> [u8; 8] {
    let mut n = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut n);
    n[0] = (n[0] & 0x7f).max(1);
    n
}

/// Whether a transport error is a time limit running out.
fn timed_out(t: &ureq::Transport) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(t);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) {
                return true;
            }
        }
        source = e.source();
    }
    false
}

/// The first bytes of a reply, printable ASCII as is and other bytes as
/// `\xNN`, for an error message.
fn sanitized_head(body: &[u8]) -> String {
    let mut s = String::new();
    for &b in body.iter().take(HEAD_SHOWN) {
        if b == b' ' || b.is_ascii_graphic() {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    if body.len() > HEAD_SHOWN {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_other_than_http_are_refused() {
        assert!(Client::new("http://127.0.0.1:1/tsa").is_ok());
        assert!(Client::new("https://tsa.example/").is_ok());
        for bad in ["ftp://x/", "not a url", "file:///tmp/x", "http://"] {
            assert!(matches!(Client::new(bad), Err(TsaError::BadUrl { .. })), "{bad}");
        }
    }

    #[test]
    fn a_reply_head_is_shown_without_control_bytes() {
        assert_eq!(sanitized_head(b"<html>\r\n\x1b[31m"), "<html>\\x0d\\x0a\\x1b[31m");
        assert!(sanitized_head(&[b'a'; 100]).ends_with('…'));
    }
}
