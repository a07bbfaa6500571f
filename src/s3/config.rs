//! Where the store is and who we are to it, taken as the AWS command-line
//! tools take them: the environment first, then the profile's sections of
//! the shared credentials and config files.
//!
//! - Keys: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and
//!   `AWS_SESSION_TOKEN`); else the profile (`AWS_PROFILE`, or `default`) in
//!   the credentials file (`AWS_SHARED_CREDENTIALS_FILE`, or
//!   `~/.aws/credentials`), then in the config file (`AWS_CONFIG_FILE`, or
//!   `~/.aws/config`, where it is `[profile NAME]`).
//! - Region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`,
//!   else `us-east-1`.
//! - Endpoint: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's
//!   `endpoint_url`; else AWS's own (`https://s3.REGION.amazonaws.com`).
//!   A store of another kind (MinIO, Ceph, ...) is addressed path-style.
//!
//! Not read: SSO, `credential_process`, role profiles, and instance or
//! container credentials; export such credentials into the environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::S3Error;

/// An access key, and the session token of temporary credentials. Its
/// `Debug` shows the key id only.
#[derive(Clone)]
pub struct Credentials {
    /// The access key id (not secret: it is sent with every request).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"(hidden)")
            .field("session_token", &self.session_token.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}

/// How to reach the store.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Who we are.
    pub credentials: Credentials,
    /// Where they came from, for messages (`environment`, `profile NAME in FILE`).
    pub credentials_from: String,
    /// The region requests are signed for.
    pub region: String,
    /// The endpoint: `scheme://host[:port]`, no path.
    pub endpoint: url::Url,
    /// Bucket in the path (`https://host/BUCKET/KEY`) rather than in the
    /// host name.
    pub path_style: bool,
}

/// The default region, as the AWS tools assume when none is set.
pub const DEFAULT_REGION: &str = "us-east-1";

impl Settings {
    /// The settings the environment (looked up by `env`) and the shared
    /// files give, for the bucket `bucket`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>, bucket: &str) -> Result<Settings, S3Error> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let home = env("HOME").map(PathBuf::from);
        let file = |var: &str, default: &str| env(var).map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(default)));
        let profile_named = env("AWS_PROFILE");
        let profile = profile_named.clone().unwrap_or_else(|| "default".into());
        let credentials_file = file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
        let config_file = file("AWS_CONFIG_FILE", ".aws/config");
        let from_credentials = credentials_file
            .as_deref()
            .map(|p| read_section(p, &profile))
            .transpose()?
            .flatten();
        let config_section = if profile == "default" {
            "default".to_string()
        } else {
            format!("profile {profile}")
        };
        let from_config = config_file
            .as_deref()
            .map(|p| read_section(p, &config_section))
            .transpose()?
            .flatten();
        if profile_named.is_some() && from_credentials.is_none() && from_config.is_none() {
            return Err(S3Error::Config(format!(
                "AWS_PROFILE names the profile {profile:?}, but neither {} nor {} has it. Check the name, or set AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE",
                shown(credentials_file.as_deref()),
                shown(config_file.as_deref())
            )));
        }
        let from_profile = |key: &str| {
            from_credentials
                .as_ref()
                .and_then(|s| s.get(key))
                .or_else(|| from_config.as_ref().and_then(|s| s.get(key)))
                .cloned()
        };
        let (credentials, credentials_from) = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => (
                Credentials {
                    access_key_id: id,
                    secret_access_key: secret,
                    session_token: env("AWS_SESSION_TOKEN"),
                },
                "the environment (AWS_ACCESS_KEY_ID)".to_string(),
            ),
            (Some(_), None) | (None, Some(_)) => {
                return Err(S3Error::Config(
                    "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set; set both, or neither to use a profile".into(),
                ))
            }
            (None, None) => match (from_profile("aws_access_key_id"), from_profile("aws_secret_access_key")) {
                (Some(id), Some(secret)) => (
                    Credentials {
                        access_key_id: id,
                        secret_access_key: secret,
                        session_token: from_profile("aws_session_token"),
                    },
                    format!(
                        "profile {profile} ({})",
                        if from_credentials.as_ref().is_some_and(|s| s.contains_key("aws_access_key_id")) {
                            shown(credentials_file.as_deref())
                        } else {
                            shown(config_file.as_deref())
                        }
                    ),
                ),
                _ => {
                    return Err(S3Error::Config(format!(
                        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the profile {profile:?} aws_access_key_id and aws_secret_access_key in {} (AWS_PROFILE picks another profile). SSO and role profiles are not read: export their keys first (`aws configure export-credentials --format env`)",
                        shown(credentials_file.as_deref())
                    )))
                }
            },
        };
        let region = env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or_else(|| from_profile("region"))
            .unwrap_or_else(|| DEFAULT_REGION.into());
        let custom = env("AWS_ENDPOINT_URL_S3")
            .map(|u| (u, "AWS_ENDPOINT_URL_S3"))
            .or_else(|| env("AWS_ENDPOINT_URL").map(|u| (u, "AWS_ENDPOINT_URL")))
            .or_else(|| from_profile("endpoint_url").map(|u| (u, "the profile's endpoint_url")));
        let (endpoint, path_style) = match custom {
            Some((u, origin)) => (parse_endpoint(&u, origin)?, true),
            // A bucket name with dots does not fit AWS's certificate as a
            // host name: such buckets are addressed in the path.
            None => (
                parse_endpoint(&format!("https://s3.{region}.amazonaws.com"), "the region")?,
                bucket.contains('.'),
            ),
        };
        Ok(Settings {
            credentials,
            credentials_from,
            region,
            endpoint,
            path_style,
        })
    }
}

fn shown(p: Option<&Path>) -> String {
    p.map_or_else(|| "(no HOME, so no file)".into(), |p| p.display().to_string())
}

/// An endpoint URL: http or https, a host, no path, query or credentials.
fn parse_endpoint(text: &str, origin: &str) -> Result<url::Url, S3Error> {
    let bad = |why: &str| {
        S3Error::Config(format!(
            "the endpoint {text:?} from {origin} cannot be used: {why}. Give it as http://HOST:PORT or https://HOST"
        ))
    };
    let u = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("it is not http or https"));
    }
    if u.host_str().is_none() {
        return Err(bad("it names no host"));
    }
    if u.path() != "/" || u.query().is_some() || !u.username().is_empty() || u.password().is_some() {
        return Err(bad("it has a path, a query or credentials"));
    }
    Ok(u)
}

/// The keys of section `[name]` of an AWS INI file, or `None` if the file
/// or the section is absent. Indented lines (an `s3 =` block's settings)
/// are left out, as are comments.
fn read_section(path: &Path, name: &str) -> Result<Option<HashMap<String, String>>, S3Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(S3Error::Config(format!(
                "cannot read {}: {e}. Check its permissions",
                path.display()
            )))
        }
    };
    Ok(section(&text, name))
}

fn section(text: &str, name: &str) -> Option<HashMap<String, String>> {
    let mut found: Option<HashMap<String, String>> = None;
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = header.split_whitespace().collect::<Vec<_>>().join(" ") == name;
            if inside {
                found.get_or_insert_with(HashMap::new);
            }
            continue;
        }
        if let (true, Some((k, v))) = (inside, line.split_once('=')) {
            let v = v.trim();
            if !v.is_empty() {
                found
                    .as_mut()
                    .expect("inside a section")
                    .insert(k.trim().to_ascii_lowercase(), v.to_string());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)], bucket: &str) -> Result<Settings, S3Error> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_env(&|k| vars.get(k).cloned(), bucket)
    }

    #[test]
    fn sections_as_the_aws_tools_read_them() {
        let text = "[default]\nregion = eu-west-1\n# comment\n[profile case]\naws_access_key_id=AKIA1\naws_secret_access_key = s/k\ns3 =\n  addressing_style = path\nendpoint_url = http://127.0.0.1:9000\n";
        assert_eq!(section(text, "default").unwrap()["region"], "eu-west-1");
        let case = section(text, "profile case").unwrap();
        assert_eq!(case["aws_secret_access_key"], "s/k");
        assert_eq!(case["endpoint_url"], "http://127.0.0.1:9000");
        assert!(!case.contains_key("addressing_style"));
        assert!(section(text, "case").is_none());
    }

    #[test]
    fn the_environment_comes_first() {
        let s = settings(
            &[
                ("AWS_ACCESS_KEY_ID", "AKIA2"),
                ("AWS_SECRET_ACCESS_KEY", "s3cr3tvalue"),
                ("AWS_DEFAULT_REGION", "eu-central-1"),
            ],
            "bucket",
        )
        .unwrap();
        assert_eq!(s.region, "eu-central-1");
        assert_eq!(s.endpoint.as_str(), "https://s3.eu-central-1.amazonaws.com/");
        assert!(!s.path_style);
        assert!(!format!("{s:?}").contains("s3cr3tvalue"), "Debug hides the secret");
        let s = settings(
            &[
                ("AWS_ACCESS_KEY_ID", "A"),
                ("AWS_SECRET_ACCESS_KEY", "S"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ],
            "b",
        )
        .unwrap();
        assert!(s.path_style);
        assert_eq!(s.region, DEFAULT_REGION);
        assert!(settings(&[("AWS_ACCESS_KEY_ID", "A")], "b").is_err());
        assert!(settings(
            &[
                ("AWS_ACCESS_KEY_ID", "A"),
                ("AWS_SECRET_ACCESS_KEY", "S"),
                ("AWS_ENDPOINT_URL", "ftp://x")
            ],
            "b"
        )
        .is_err());
    }

    #[test]
    fn a_missing_profile_is_named() {
        let e = settings(&[("AWS_PROFILE", "nope"), ("HOME", "/nonexistent")], "b").unwrap_err();
        assert!(e.to_string().contains("\"nope\""), "{e}");
    }
}
