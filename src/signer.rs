//! Signing keys (OpenSSH key files, ssh-agent, ephemeral) and trust anchors
//! (`--key`, `allowed_signers`, fingerprints). Signatures are OpenSSH SSHSIG
//! over ed25519 so that `ssh-keygen -Y verify` checks them.

use std::path::{Path, PathBuf};

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

use crate::format::SIGNATURE_NAMESPACE;

/// Why a key could not be loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read key file {path}: {source}. Check the path and its permissions.")]
    Read {
        /// File involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not an OpenSSH key.
    #[error("{path} is not an OpenSSH {what} key ({reason}). Give a key made by `custody keygen` or `ssh-keygen -t ed25519`.")]
    Malformed {
        /// File involved.
        path: PathBuf,
        /// `private` or `public`.
        what: &'static str,
        /// Parser message.
        reason: String,
    },
    /// Not an ed25519 key.
    #[error("{path} holds a {algorithm} key; custody signs with ed25519 only. Make one with `custody keygen` or `ssh-keygen -t ed25519`.")]
    NotEd25519 {
        /// File involved.
        path: PathBuf,
        /// Algorithm found.
        algorithm: String,
    },
    /// The key is encrypted and no passphrase was available.
    #[error("{path} is passphrase-protected and no passphrase was given. Run on a terminal to be prompted, or set {env}.")]
    NeedPassphrase {
        /// File involved.
        path: PathBuf,
        /// Environment variable that can hold it.
        env: &'static str,
    },
    /// The passphrase did not decrypt the key.
    #[error("wrong passphrase for {path}. Check the passphrase (or the {env} variable) and try again.")]
    WrongPassphrase {
        /// File involved.
        path: PathBuf,
        /// Environment variable that can hold it.
        env: &'static str,
    },
    /// Talking to ssh-agent failed.
    #[error("ssh-agent: {0}. Check that SSH_AUTH_SOCK points at a running agent holding the key (`ssh-add -l`).")]
    Agent(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// Writing a key file failed.
    #[error("cannot write key file {path}: {source}. Check the directory exists and is writable.")]
    Write {
        /// File involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Environment variable read for the passphrase of an encrypted key file.
pub const PASSPHRASE_ENV: &str = "CUSTODY_KEY_PASSPHRASE";

/// Where the private key lives.
pub enum Signer {
    /// A decrypted key read from a file.
    File(PrivateKey),
    /// A fresh key that exists only in this process.
    Ephemeral(PrivateKey),
    /// A key held by ssh-agent; only the public half is here.
    Agent {
        /// Agent connection.
        client: Box<ssh_agent_client_rs::Client>,
        /// The agent's key to sign with.
        public: PublicKey,
    },
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({}, {})", self.source_name(), fingerprint(&self.public_key()))
    }
}

/// `SHA256:` fingerprint as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// OpenSSH one-line form of a public key, without comment.
pub fn public_key_line(key: &PublicKey) -> String {
    let mut k = key.clone();
    k.set_comment("");
    k.to_openssh().unwrap_or_default()
}

impl Signer {
    /// A new ed25519 key held only in memory.
    pub fn ephemeral() -> Self {
        let key = PrivateKey::random(&mut rand_core::OsRng, ssh_key::Algorithm::Ed25519).expect("ed25519 key generation does not fail");
        Signer::Ephemeral(key)
    }

    /// Load an OpenSSH private key file, decrypting it with `passphrase`
    /// (called only when the key is encrypted).
    pub fn from_file(path: &Path, passphrase: impl FnOnce() -> Option<String>) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let key = PrivateKey::from_openssh(&text).map_err(|e| KeyError::Malformed {
            path: path.to_owned(),
            what: "private",
            reason: e.to_string(),
        })?;
        if key.algorithm() != ssh_key::Algorithm::Ed25519 {
            return Err(KeyError::NotEd25519 {
                path: path.to_owned(),
                algorithm: key.algorithm().to_string(),
            });
        }
        let key = if key.is_encrypted() {
            let pass = passphrase().ok_or(KeyError::NeedPassphrase {
                path: path.to_owned(),
                env: PASSPHRASE_ENV,
            })?;
            key.decrypt(pass.as_bytes()).map_err(|_| KeyError::WrongPassphrase {
                path: path.to_owned(),
                env: PASSPHRASE_ENV,
            })?
        } else {
            key
        };
        Ok(Signer::File(key))
    }

    /// Use a key held by the ssh-agent at `socket`. With `want`, the agent
    /// key whose public half matches; otherwise its only ed25519 key.
    pub fn from_agent(socket: &Path, want: Option<&PublicKey>) -> Result<Self, KeyError> {
        let mut client = ssh_agent_client_rs::Client::connect(socket)
            .map_err(|e| KeyError::Agent(format!("cannot connect to {}: {e}", socket.display())))?;
        let identities = client.list_all_identities().map_err(|e| KeyError::Agent(e.to_string()))?;
        let ed: Vec<PublicKey> = identities
            .into_iter()
            .filter_map(|id| match id {
                ssh_agent_client_rs::Identity::PublicKey(k) => Some(k.into_owned()),
                ssh_agent_client_rs::Identity::Certificate(_) => None,
            })
            .filter(|k| k.algorithm() == ssh_key::Algorithm::Ed25519)
            .filter(|k| want.is_none_or(|w| w.key_data() == k.key_data()))
            .collect();
        let public = match ed.as_slice() {
            [one] => one.clone(),
            [] => return Err(KeyError::Agent("the agent holds no matching ed25519 key".into())),
            _ => {
                return Err(KeyError::Agent(
                    "the agent holds several ed25519 keys; name one with --agent-key PUBKEY".into(),
                ))
            }
        };
        Ok(Signer::Agent {
            client: Box::new(client),
            public,
        })
    }

    /// The public key that verifies this signer's signatures.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Signer::File(k) | Signer::Ephemeral(k) => k.public_key().clone(),
            Signer::Agent { public, .. } => public.clone(),
        }
    }

    /// `file`, `agent` or `ephemeral`, as recorded in the header.
    pub fn source_name(&self) -> &'static str {
        match self {
            Signer::File(_) => "file",
            Signer::Ephemeral(_) => "ephemeral",
            Signer::Agent { .. } => "agent",
        }
    }

    /// Sign `msg` as an SSHSIG in custody's namespace; returns the armored
    /// signature exactly as `ssh-keygen -Y sign` would write it.
    pub fn sign(&mut self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        let sig = match self {
            Signer::File(k) | Signer::Ephemeral(k) => {
                SshSig::sign(k, SIGNATURE_NAMESPACE, HashAlg::Sha512, msg).map_err(|e| KeyError::Sign(e.to_string()))?
            }
            Signer::Agent { client, public } => {
                let data = SshSig::signed_data(SIGNATURE_NAMESPACE, HashAlg::Sha512, msg).map_err(|e| KeyError::Sign(e.to_string()))?;
                let signature = client.sign(public.clone(), &data).map_err(|e| KeyError::Agent(e.to_string()))?;
                SshSig::new(public.key_data().clone(), SIGNATURE_NAMESPACE, HashAlg::Sha512, signature)
                    .map_err(|e| KeyError::Sign(e.to_string()))?
            }
        };
        armor(&sig).map_err(KeyError::Sign)
    }
}

/// The armored text of a signature, in the one form custody writes.
pub fn armor(sig: &SshSig) -> Result<Vec<u8>, String> {
    let mut pem = sig.to_pem(LineEnding::LF).map_err(|e| e.to_string())?;
    if !pem.ends_with('\n') {
        pem.push('\n');
    }
    Ok(pem.into_bytes())
}

/// Generate a key pair into `path` (mode 0600) and `path.pub`.
pub fn keygen(path: &Path, comment: &str) -> Result<PublicKey, KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut key = PrivateKey::random(&mut rand_core::OsRng, ssh_key::Algorithm::Ed25519).expect("ed25519 key generation does not fail");
    key.set_comment(comment);
    let text = key.to_openssh(LineEnding::LF).map_err(|e| KeyError::Sign(e.to_string()))?;
    let write_err = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(write_err)?;
    f.write_all(text.as_bytes()).map_err(write_err)?;
    let pub_path = path.with_file_name(format!(
        "{}.pub",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    let line = format!("{}\n", key.public_key().to_openssh().map_err(|e| KeyError::Sign(e.to_string()))?);
    std::fs::write(&pub_path, line).map_err(|source| KeyError::Write {
        path: pub_path.clone(),
        source,
    })?;
    Ok(key.public_key().clone())
}

/// Read an OpenSSH public key file (first non-comment line).
pub fn read_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    PublicKey::from_openssh(line).map_err(|e| KeyError::Malformed {
        path: path.to_owned(),
        what: "public",
        reason: e.to_string(),
    })
}

/// A key the user trusts, with the name it is trusted under.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    /// Principal(s) from allowed_signers, or the file name for `--key`.
    pub principal: String,
    /// The key.
    pub key: PublicKey,
}

/// The keys the user said to trust. Nothing else is ever trusted.
#[derive(Clone, Debug, Default)]
pub struct TrustAnchors {
    /// Trusted keys.
    pub keys: Vec<TrustedKey>,
    /// Trusted `SHA256:` fingerprints (for ephemeral keys written on a form).
    pub fingerprints: Vec<String>,
}

impl TrustAnchors {
    /// Whether any anchor was given.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.fingerprints.is_empty()
    }

    /// The principal under which `key` is trusted, if it is.
    pub fn principal_for(&self, key: &PublicKey) -> Option<String> {
        if let Some(t) = self.keys.iter().find(|t| t.key.key_data() == key.key_data()) {
            return Some(t.principal.clone());
        }
        let fp = fingerprint(key);
        self.fingerprints.contains(&fp).then(|| format!("fingerprint {fp}"))
    }

    /// Add the keys of an OpenSSH `allowed_signers` file that may sign in
    /// custody's namespace.
    pub fn add_allowed_signers(&mut self, path: &Path) -> Result<(), KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = parse_allowed_signer(line).ok_or_else(|| KeyError::Malformed {
                path: path.to_owned(),
                what: "allowed_signers",
                reason: format!("line {} is not `principals [options] key-type base64`", n + 1),
            })?;
            if parsed.cert_authority || !parsed.namespace_allowed(SIGNATURE_NAMESPACE) {
                continue;
            }
            self.keys.push(TrustedKey {
                principal: parsed.principals,
                key: parsed.key,
            });
        }
        Ok(())
    }
}

struct AllowedSigner {
    principals: String,
    cert_authority: bool,
    namespaces: Option<Vec<String>>,
    key: PublicKey,
}

impl AllowedSigner {
    fn namespace_allowed(&self, ns: &str) -> bool {
        self.namespaces.as_ref().is_none_or(|list| list.iter().any(|p| glob_match(p, ns)))
    }
}

/// OpenSSH pattern match with `*` and `?`.
fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// Split the next whitespace-separated token, honouring double quotes.
fn next_token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let mut in_quotes = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            c if c.is_whitespace() && !in_quotes => return Some((&s[..i], &s[i..])),
            _ => {}
        }
    }
    Some((s, ""))
}

fn parse_allowed_signer(line: &str) -> Option<AllowedSigner> {
    let (principals, rest) = next_token(line)?;
    let (mut tok, mut rest) = next_token(rest)?;
    let mut cert_authority = false;
    let mut namespaces = None;
    if ssh_key::Algorithm::new(tok).is_err() {
        for opt in tok.split(',') {
            let lower = opt.to_ascii_lowercase();
            if lower == "cert-authority" {
                cert_authority = true;
            } else if let Some(v) = lower.strip_prefix("namespaces=") {
                let v = v.trim_matches('"');
                namespaces = Some(v.split(',').map(str::to_owned).collect());
            }
        }
        // Options that hold quoted commas were split above; re-read them whole.
        if let Some(start) = tok.to_ascii_lowercase().find("namespaces=\"") {
            let after = &tok[start + "namespaces=\"".len()..];
            if let Some(end) = after.find('"') {
                namespaces = Some(after[..end].split(',').map(str::to_owned).collect());
            }
        }
        (tok, rest) = next_token(rest)?;
    }
    let (b64, comment) = next_token(rest)?;
    let key = PublicKey::from_openssh(&format!("{tok} {b64}{comment}")).ok()?;
    Some(AllowedSigner {
        principals: principals.to_owned(),
        cert_authority,
        namespaces,
        key,
    })
}

/// Verify an armored SSHSIG over `msg` made by `key` in custody's namespace.
/// Returns the parsed signature's problem as text when it does not verify.
pub fn verify_signature(key: &PublicKey, msg: &[u8], armored: &[u8]) -> Result<(), String> {
    let sig = SshSig::from_pem(armored).map_err(|e| format!("not an SSHSIG signature: {e}"))?;
    if sig.hash_alg() != HashAlg::Sha512 || sig.algorithm() != ssh_key::Algorithm::Ed25519 {
        return Err(format!(
            "signature uses {} with {}, not ssh-ed25519 with sha512",
            sig.algorithm(),
            sig.hash_alg()
        ));
    }
    if sig.namespace() != SIGNATURE_NAMESPACE {
        return Err(format!("signature namespace is {:?}, not {SIGNATURE_NAMESPACE:?}", sig.namespace()));
    }
    if sig.public_key() != key.key_data() {
        return Err("signature was made by a different key than the header names".into());
    }
    key.verify(SIGNATURE_NAMESPACE, msg, &sig)
        .map_err(|e| format!("signature does not verify: {e}"))?;
    let canonical = armor(&sig)?;
    if canonical != armored {
        return Err("signature text is not in canonical form (bytes altered around a valid signature)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let mut s = Signer::ephemeral();
        let sig = s.sign(b"hello").unwrap();
        verify_signature(&s.public_key(), b"hello", &sig).unwrap();
        assert!(verify_signature(&s.public_key(), b"hellO", &sig).is_err());
        let other = Signer::ephemeral();
        assert!(verify_signature(&other.public_key(), b"hello", &sig).is_err());
    }

    #[test]
    fn allowed_signers_lines() {
        let s = Signer::ephemeral();
        let line = public_key_line(&s.public_key());
        let a = parse_allowed_signer(&format!("alice@example.org {line}")).unwrap();
        assert!(a.namespace_allowed(SIGNATURE_NAMESPACE));
        let b = parse_allowed_signer(&format!("bob namespaces=\"file,git\" {line} comment")).unwrap();
        assert!(!b.namespace_allowed(SIGNATURE_NAMESPACE));
        let c = parse_allowed_signer(&format!("carol namespaces=\"custody-*\" {line}")).unwrap();
        assert!(c.namespace_allowed(SIGNATURE_NAMESPACE));
        let d = parse_allowed_signer(&format!("dave cert-authority {line}")).unwrap();
        assert!(d.cert_authority);
        assert!(parse_allowed_signer("just-one-token").is_none());
    }
}
