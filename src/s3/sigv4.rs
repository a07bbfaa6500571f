//! AWS Signature Version 4 for S3, in the `Authorization` header: the
//! canonical request, the string to sign, the signing key and the header,
//! as AWS's "Signature Calculations for the Authorization Header" specifies
//! them. Pure: the caller gives the time and sends the request.
//!
//! Header signing, not presigned URLs: the secret-derived signature and the
//! session token stay out of URLs (which end up in error messages), and it
//! is what S3-compatible stores check most faithfully.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::config::Credentials;

/// The algorithm's name, first in the string to sign and the header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name in the credential scope.
const SERVICE: &str = "s3";
/// The credential scope's last part.
const TERMINATOR: &str = "aws4_request";
/// SHA-256 of no bytes: the payload hash of a request without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// One request to sign: its method, path (already percent-encoded, as
/// sent), query parameters (not encoded), the headers to sign besides the
/// ones signing adds, and the hex SHA-256 of its body.
pub struct Request<'a> {
    /// `GET`, `PUT`, `POST`, `HEAD` or `DELETE`.
    pub method: &'a str,
    /// The `Host` header as sent: host, and `:port` unless the scheme's default.
    pub host: &'a str,
    /// The path, percent-encoded once, as in the request line.
    pub path: &'a str,
    /// Query parameters, not encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Other headers to sign (`range`, `x-amz-storage-class`, ...).
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body.
    pub payload_sha256: &'a str,
}

/// The headers to send with a signed request: `x-amz-date`,
/// `x-amz-content-sha256`, `x-amz-security-token` with a session token,
/// and `Authorization`.
pub fn sign(req: &Request<'_>, creds: &Credentials, region: &str, time: time::OffsetDateTime) -> Vec<(&'static str, String)> {
    let time = time.to_offset(time::UtcOffset::UTC);
    let date = format!("{:04}{:02}{:02}", time.year(), u8::from(time.month()), time.day());
    let stamp = format!("{date}T{:02}{:02}{:02}Z", time.hour(), time.minute(), time.second());
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    headers.push(("host".into(), req.host.to_string()));
    headers.push(("x-amz-content-sha256".into(), req.payload_sha256.to_string()));
    headers.push(("x-amz-date".into(), stamp.clone()));
    if let Some(token) = &creds.session_token {
        headers.push(("x-amz-security-token".into(), token.clone()));
    }
    headers.sort();
    let signed_headers = headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    let canonical = canonical_request(req, &headers, &signed_headers);
    let scope = format!("{date}/{region}/{SERVICE}/{TERMINATOR}");
    let to_sign = format!(
        "{ALGORITHM}\n{stamp}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(&creds.secret_access_key, &date, region);
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    let mut out = vec![("x-amz-date", stamp), ("x-amz-content-sha256", req.payload_sha256.to_string())];
    if let Some(token) = &creds.session_token {
        out.push(("x-amz-security-token", token.clone()));
    }
    out.push((
        "Authorization",
        format!(
            "{ALGORITHM} Credential={}/{scope},SignedHeaders={signed_headers},Signature={signature}",
            creds.access_key_id
        ),
    ));
    out
}

/// The canonical request: method, path, sorted encoded query, the signed
/// headers (lower-case names, sorted), their names, and the payload hash.
fn canonical_request(req: &Request<'_>, headers: &[(String, String)], signed_headers: &str) -> String {
    let mut query: Vec<(String, String)> = req.query.iter().map(|(k, v)| (encode(k, true), encode(v, true))).collect();
    query.sort();
    let query = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let mut s = format!("{}\n{}\n{query}\n", req.method, req.path);
    for (k, v) in headers {
        s.push_str(&format!("{k}:{v}\n"));
    }
    s.push_str(&format!("\n{signed_headers}\n{}", req.payload_sha256));
    s
}

/// HMAC chain from the secret: date, region, service, terminator.
fn signing_key(secret: &str, date: &str, region: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, SERVICE.as_bytes());
    hmac(&k, TERMINATOR.as_bytes())
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// SigV4's URI encoding: every byte but `A-Z a-z 0-9 - _ . ~` as `%XX`
/// (upper-case hex), and `/` too when `slash` (query parameters) but not
/// in a path.
pub fn encode(s: &str, slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (b == b'/' && !slash) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    //! The worked examples of AWS's S3 documentation ("Examples:
    //! Signature Calculations in AWS Signature Version 4", header
    //! authentication), with its example key.
    use super::*;

    fn example_creds() -> Credentials {
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    fn example_time() -> time::OffsetDateTime {
        time::macros::datetime!(2013-05-24 00:00:00 UTC)
    }

    fn signature(req: &Request<'_>) -> String {
        let auth = sign(req, &example_creds(), "us-east-1", example_time())
            .into_iter()
            .find(|(k, _)| *k == "Authorization")
            .unwrap()
            .1;
        auth.rsplit("Signature=").next().unwrap().to_string()
    }

    #[test]
    fn get_object_with_range() {
        let req = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: &[],
            headers: &[("Range", "bytes=0-9")],
            payload_sha256: EMPTY_SHA256,
        };
        assert_eq!(signature(&req), "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    }

    #[test]
    fn put_object_with_a_storage_class() {
        let body = b"Welcome to Amazon S3.";
        let sha = hex::encode(Sha256::digest(body));
        let req = Request {
            method: "PUT",
            host: "examplebucket.s3.amazonaws.com",
            path: &format!("/{}", encode("test$file.text", false)),
            query: &[],
            headers: &[
                ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ],
            payload_sha256: &sha,
        };
        assert_eq!(signature(&req), "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    }

    #[test]
    fn get_with_a_query_without_value() {
        let req = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/",
            query: &[("lifecycle", "")],
            headers: &[],
            payload_sha256: EMPTY_SHA256,
        };
        assert_eq!(signature(&req), "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    }

    #[test]
    fn get_with_query_parameters_sorted() {
        let req = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/",
            query: &[("prefix", "J"), ("max-keys", "2")],
            headers: &[],
            payload_sha256: EMPTY_SHA256,
        };
        assert_eq!(signature(&req), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let mut creds = example_creds();
        creds.session_token = Some("token/with+chars".into());
        let req = Request {
            method: "GET",
            host: "h",
            path: "/",
            query: &[],
            headers: &[],
            payload_sha256: EMPTY_SHA256,
        };
        let headers = sign(&req, &creds, "us-east-1", example_time());
        assert!(headers.iter().any(|(k, v)| *k == "x-amz-security-token" && v == "token/with+chars"));
        let auth = &headers.iter().find(|(k, _)| *k == "Authorization").unwrap().1;
        assert!(auth.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
        assert!(!auth.contains("wJalr"), "the secret never appears in a header");
    }

    #[test]
    fn encoding_keeps_unreserved_bytes_only() {
        assert_eq!(encode("a b/c~d+e%", false), "a%20b/c~d%2Be%25");
        assert_eq!(encode("a/b", true), "a%2Fb");
        assert_eq!(encode("é", false), "%C3%A9");
    }
}
