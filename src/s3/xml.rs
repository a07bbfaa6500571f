//! The little XML S3 speaks here: the text of one element of a flat reply
//! (`UploadId`, an error's `Code` and `Message`), and the body that
//! completes a multipart upload. Replies are small and flat, so this reads
//! them as text rather than with a general XML parser.

/// The text of the first `<name>…</name>` in `xml`, entities decoded.
pub fn element_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(unescape(&xml[start..start + len]))
}

/// Whether `xml`'s root element is `name` (after any declaration).
pub fn root_is(xml: &str, name: &str) -> bool {
    let mut rest = xml.trim_start();
    if rest.starts_with("<?") {
        rest = rest.find("?>").map_or("", |i| rest[i + 2..].trim_start());
    }
    rest.strip_prefix('<')
        .and_then(|r| r.strip_prefix(name))
        .is_some_and(|r| r.starts_with(['>', ' ', '/', '\t', '\r', '\n']))
}

/// The CompleteMultipartUpload body: each part's number and ETag, in order.
pub fn complete_body(parts: &[(u32, String)]) -> String {
    let mut s = String::from("<CompleteMultipartUpload>");
    for (number, etag) in parts {
        s.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
            escape(etag)
        ));
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_upload_id_and_an_error() {
        let created = r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE&amp;x</UploadId></InitiateMultipartUploadResult>"#;
        assert_eq!(element_text(created, "UploadId").as_deref(), Some("VXBsb2FkIElE&x"));
        assert!(root_is(created, "InitiateMultipartUploadResult"));
        let error = "<Error><Code>InvalidAccessKeyId</Code><Message>The key &quot;AKIA&quot; &#x41;&#66;</Message></Error>";
        assert!(root_is(error, "Error"));
        assert!(!root_is(error, "Err"));
        assert_eq!(element_text(error, "Code").as_deref(), Some("InvalidAccessKeyId"));
        assert_eq!(element_text(error, "Message").as_deref(), Some("The key \"AKIA\" AB"));
        assert_eq!(element_text(error, "RequestId"), None);
        assert_eq!(unescape("a & b &bogus; &"), "a & b &bogus; &");
    }

    #[test]
    fn writes_the_completion_body() {
        let body = complete_body(&[(1, "\"e1\"".into()), (2, "\"e<2>\"".into())]);
        assert_eq!(
            body,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\"e&lt;2&gt;\"</ETag></Part></CompleteMultipartUpload>"
        );
    }
}
