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
    // The cause is in the message, not the error chain, so that it is said once.
    #[error("cannot read key file {path}: {cause}. Check the path and its permissions.")]
    Read {
        /// File involved.
        path: PathBuf,
        /// Cause.
        cause: std::io::Error,
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
    /// The key file is empty.
    #[error(
        "{path} is empty; it should hold an OpenSSH {what} key. Give the key file made by `custody keygen` or `ssh-keygen -t ed25519`."
    )]
    Empty {
        /// File involved.
        path: PathBuf,
        /// `private` or `public`.
        what: &'static str,
    },
    /// A public key was given where the private key is needed.
    #[error("{path} is a public key, but collect signs and needs the private key file{hint}, or `--agent` to sign with a key held by ssh-agent.")]
    PublicNotPrivate {
        /// File involved.
        path: PathBuf,
        /// Where the private half probably is, as ` (PATH)`, or empty.
        hint: String,
    },
    /// A private key was given where a public key is expected.
    #[error("{path} is a private key, but a public key is expected here: pass {public} instead{hint}.")]
    PrivateNotPublic {
        /// File involved.
        path: PathBuf,
        /// The public half's usual path, `PATH.pub`.
        public: String,
        /// How to make that file when it does not exist, or empty.
        hint: String,
    },
    /// A line of an allowed_signers file that ssh-keygen would refuse too.
    #[error("{path} line {line} is not an OpenSSH allowed_signers line: {reason}. Lines are `principals [options] keytype base64 [comment]`, as ALLOWED SIGNERS in ssh-keygen(1) describes.")]
    AllowedSigners {
        /// File involved.
        path: PathBuf,
        /// Line number, from 1.
        line: usize,
        /// What is wrong with it.
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
    /// A key file to be made already exists.
    #[error("{path} already exists, and custody never overwrites a key: choose another --output. If that key is truly no longer needed, move it and its .pub away yourself first (archives it signed are verified with its .pub, so keep that).")]
    Exists {
        /// The file that exists.
        path: PathBuf,
    },
    /// Writing a key file failed.
    #[error("cannot write key file {path}: {cause}. Check the directory exists and is writable.")]
    Write {
        /// File involved.
        path: PathBuf,
        /// Cause.
        cause: std::io::Error,
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
        let text = std::fs::read_to_string(path).map_err(|cause| KeyError::Read {
            path: path.to_owned(),
            cause,
        })?;
        if text.trim().is_empty() {
            return Err(KeyError::Empty {
                path: path.to_owned(),
                what: "private",
            });
        }
        let key = PrivateKey::from_openssh(&text).map_err(|e| {
            if first_key_line(&text).is_some_and(|l| PublicKey::from_openssh(l).is_ok()) {
                // `k.pub` names its private half `k`.
                let private = path.to_str().and_then(|p| p.strip_suffix(".pub")).map(Path::new);
                KeyError::PublicNotPrivate {
                    path: path.to_owned(),
                    hint: private
                        .filter(|p| p.is_file())
                        .map(|p| format!(" ({})", p.display()))
                        .unwrap_or_default(),
                }
            } else {
                KeyError::Malformed {
                    path: path.to_owned(),
                    what: "private",
                    reason: e.to_string(),
                }
            }
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

    /// Sign `msg` as an SSHSIG in custody's checkpoint namespace; returns
    /// the armored signature exactly as `ssh-keygen -Y sign` would write it.
    pub fn sign(&mut self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        let sig = self.sign_in(SIGNATURE_NAMESPACE, msg)?;
        armor(&sig).map_err(KeyError::Sign)
    }

    /// Sign `msg` as an SSHSIG (sha512) in `namespace`.
    pub fn sign_in(&mut self, namespace: &str, msg: &[u8]) -> Result<SshSig, KeyError> {
        Ok(match self {
            Signer::File(k) | Signer::Ephemeral(k) => {
                SshSig::sign(k, namespace, HashAlg::Sha512, msg).map_err(|e| KeyError::Sign(e.to_string()))?
            }
            Signer::Agent { client, public } => {
                let data = SshSig::signed_data(namespace, HashAlg::Sha512, msg).map_err(|e| KeyError::Sign(e.to_string()))?;
                let signature = client.sign(public.clone(), &data).map_err(|e| KeyError::Agent(e.to_string()))?;
                SshSig::new(public.key_data().clone(), namespace, HashAlg::Sha512, signature).map_err(|e| KeyError::Sign(e.to_string()))?
            }
        })
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

/// Generate a key pair into `path` (mode 0600) and `path.pub`, the private
/// key encrypted with `passphrase` when one is given (OpenSSH's bcrypt-pbkdf
/// and AES-256-CTR, as `ssh-keygen` does). Neither file may exist.
pub fn keygen(path: &Path, comment: &str, passphrase: Option<&str>) -> Result<PublicKey, KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let pub_path = path.with_file_name(format!(
        "{}.pub",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    for p in [path, &pub_path] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(KeyError::Exists { path: p.to_owned() });
        }
    }
    let mut key = PrivateKey::random(&mut rand_core::OsRng, ssh_key::Algorithm::Ed25519).expect("ed25519 key generation does not fail");
    key.set_comment(comment);
    let public = key.public_key().clone();
    if let Some(pass) = passphrase {
        key = key
            .encrypt(&mut rand_core::OsRng, pass)
            .map_err(|e| KeyError::Sign(e.to_string()))?;
    }
    let text = key.to_openssh(LineEnding::LF).map_err(|e| KeyError::Sign(e.to_string()))?;
    let create = |p: &Path, mode: u32, bytes: &[u8]| {
        let err = |cause: std::io::Error| match cause.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::Exists { path: p.to_owned() },
            _ => KeyError::Write { path: p.to_owned(), cause },
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(p)
            .map_err(err)?;
        f.write_all(bytes).map_err(err)
    };
    create(path, 0o600, text.as_bytes())?;
    let line = format!("{}\n", public.to_openssh().map_err(|e| KeyError::Sign(e.to_string()))?);
    create(&pub_path, 0o644, line.as_bytes())?;
    Ok(public)
}

/// Read an OpenSSH public key file (first non-comment line).
pub fn read_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|cause| KeyError::Read {
        path: path.to_owned(),
        cause,
    })?;
    let Some(line) = first_key_line(&text) else {
        return Err(KeyError::Empty {
            path: path.to_owned(),
            what: "public",
        });
    };
    PublicKey::from_openssh(line).map_err(|e| {
        if line.starts_with("-----BEGIN ") && line.contains("PRIVATE KEY") {
            let public = format!("{}.pub", path.display());
            let hint = if Path::new(&public).is_file() {
                String::new()
            } else {
                format!(" (make it with `ssh-keygen -y -f {} > {public}`)", path.display())
            };
            KeyError::PrivateNotPublic {
                path: path.to_owned(),
                public,
                hint,
            }
        } else {
            KeyError::Malformed {
                path: path.to_owned(),
                what: "public",
                reason: e.to_string(),
            }
        }
    })
}

/// The first line that is neither blank nor a `#` comment, trimmed.
fn first_key_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'))
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
    /// custody's checkpoint namespace.
    pub fn add_allowed_signers(&mut self, path: &Path) -> Result<(), KeyError> {
        self.add_allowed_signers_for(path, SIGNATURE_NAMESPACE)
    }

    /// Add the keys of an OpenSSH `allowed_signers` file that may sign in
    /// `namespace`.
    pub fn add_allowed_signers_for(&mut self, path: &Path, namespace: &str) -> Result<(), KeyError> {
        let text = std::fs::read_to_string(path).map_err(|cause| KeyError::Read {
            path: path.to_owned(),
            cause,
        })?;
        if first_key_line(&text).is_some_and(|l| l.starts_with("-----BEGIN ") && l.contains("PRIVATE KEY")) {
            return Err(KeyError::Malformed {
                path: path.to_owned(),
                what: "allowed_signers",
                reason:
                    "it is a private key file; --allowed-signers takes lines `principals [options] ssh-ed25519 AAAA…`, with the public key"
                        .into(),
            });
        }
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = parse_allowed_signer(line).map_err(|reason| KeyError::AllowedSigners {
                path: path.to_owned(),
                line: n + 1,
                reason,
            })?;
            if parsed.cert_authority || !parsed.namespace_allowed(namespace) {
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

/// The principals field: up to the first blank, or a double-quoted string
/// (as OpenSSH's `strdelimw` reads it). Returns it and the rest of the line.
fn principals_field(line: &str) -> Result<(&str, &str), String> {
    let line = line.trim_start();
    if let Some(quoted) = line.strip_prefix('"') {
        let end = quoted.find('"').ok_or("the quoted principals have no closing quote")?;
        return Ok((&quoted[..end], &quoted[end + 1..]));
    }
    let end = line.find([' ', '\t']).unwrap_or(line.len());
    Ok((&line[..end], &line[end..]))
}

/// Whether `word` names an SSH key type, which is how ssh-keygen tells a key
/// from an options field.
fn is_key_type(word: &str) -> bool {
    word.ends_with("-cert-v01@openssh.com") || matches!(ssh_key::Algorithm::new(word), Ok(a) if !matches!(a, ssh_key::Algorithm::Other(_)))
}

/// Split off the options field: it ends at the first blank outside double
/// quotes; `\"` inside quotes is a quote (OpenSSH's
/// `sshkey_advance_past_options`).
fn options_field(s: &str) -> Result<(&str, &str), String> {
    let bytes = s.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < bytes.len() && (quoted || (bytes[i] != b' ' && bytes[i] != b'\t')) {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'"') {
            i += 1;
        } else if bytes[i] == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    if quoted {
        return Err("a quoted option value has no closing quote".into());
    }
    Ok((&s[..i], &s[i..]))
}

/// `s` without its prefix `name`, compared ignoring ASCII case.
fn strip_prefix_ignore_case<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let head = s.get(..name.len())?;
    head.eq_ignore_ascii_case(name).then(|| &s[name.len()..])
}

/// A double-quoted option value at the start of `s` (`\"` is a quote), and
/// what follows it.
fn quoted_value<'a>(s: &'a str, option: &str) -> Result<(String, &'a str), String> {
    let body = s
        .strip_prefix('"')
        .ok_or_else(|| format!("the value of `{option}` must be in double quotes"))?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &body[i + 1..])),
            '\\' if body[i + 1..].starts_with('"') => {
                chars.next();
                value.push('"');
            }
            c => value.push(c),
        }
    }
    Err(format!("the value of `{option}` has no closing quote"))
}

/// Parse the options field as OpenSSH's `sshsigopt_parse` does:
/// comma-separated, names in any case, values in double quotes (which may
/// hold commas and blanks). Unknown options are refused, as ssh-keygen
/// refuses them.
fn parse_options(mut s: &str, signer: &mut AllowedSigner) -> Result<(), String> {
    while !s.is_empty() {
        if let Some(rest) = strip_prefix_ignore_case(s, "cert-authority") {
            signer.cert_authority = true;
            s = rest;
        } else if let Some(rest) = strip_prefix_ignore_case(s, "namespaces=") {
            if signer.namespaces.is_some() {
                return Err("`namespaces` is given twice".into());
            }
            let (value, rest) = quoted_value(rest, "namespaces")?;
            signer.namespaces = Some(value.split(',').map(str::to_owned).collect());
            s = rest;
        } else if let Some((name, rest)) = ["valid-after=", "valid-before="]
            .iter()
            .find_map(|name| strip_prefix_ignore_case(s, name).map(|rest| (name.trim_end_matches('='), rest)))
        {
            // Validity periods are not enforced (docs/FORMAT.md, notes).
            s = quoted_value(rest, name)?.1;
        }
        match s.as_bytes().first() {
            None => break,
            Some(b',') if s.len() == 1 => return Err("the options end with a comma".into()),
            Some(b',') => s = &s[1..],
            Some(_) => {
                // The option's text: up to the next comma outside quotes.
                let mut quoted = false;
                let end = s
                    .bytes()
                    .position(|b| {
                        quoted ^= b == b'"';
                        b == b',' && !quoted
                    })
                    .unwrap_or(s.len());
                let unknown = &s[..end];
                return Err(format!(
                    "unknown option `{unknown}` (ssh-keygen knows cert-authority, namespaces=\"...\", valid-after=\"...\" and valid-before=\"...\")"
                ));
            }
        }
    }
    Ok(())
}

/// Parse one allowed_signers line as ssh-keygen does: principals, then the
/// key, or an options field and then the key.
fn parse_allowed_signer(line: &str) -> Result<AllowedSigner, String> {
    let (principals, rest) = principals_field(line)?;
    let rest = rest.trim_start();
    if principals.is_empty() || rest.is_empty() {
        return Err("it has no key after the principals".into());
    }
    let first = rest.split([' ', '\t']).next().unwrap_or_default();
    let (options, key_text) = if is_key_type(first) {
        ("", rest)
    } else {
        let (options, after) = options_field(rest)?;
        (options, after.trim_start())
    };
    if key_text.is_empty() {
        return Err(format!("no key follows the options `{options}`"));
    }
    let key = PublicKey::from_openssh(key_text.trim_end()).map_err(|e| {
        let word = key_text.split([' ', '\t']).next().unwrap_or_default();
        format!("`{word} ...` is not a public key ({e})")
    })?;
    let mut signer = AllowedSigner {
        principals: principals.to_owned(),
        cert_authority: false,
        namespaces: None,
        key,
    };
    parse_options(options, &mut signer)?;
    Ok(signer)
}

/// Verify an armored SSHSIG over `msg` made by `key` in custody's namespace.
/// Returns the parsed signature's problem as text when it does not verify.
pub fn verify_signature(key: &PublicKey, msg: &[u8], armored: &[u8]) -> Result<(), String> {
    let sig = SshSig::from_pem(armored).map_err(|e| format!("not an SSHSIG signature: {e}"))?;
    verify_parsed(&sig, SIGNATURE_NAMESPACE, key, msg)?;
    let canonical = armor(&sig)?;
    if canonical != armored {
        return Err("signature text is not in canonical form (bytes altered around a valid signature)".into());
    }
    Ok(())
}

/// Verify a parsed SSHSIG over `msg` made by `key` in `namespace`: version
/// 1, ssh-ed25519 with sha512. Does not check how it was encoded.
pub fn verify_parsed(sig: &SshSig, namespace: &str, key: &PublicKey, msg: &[u8]) -> Result<(), String> {
    // The version is not signed: accepting another one (ssh-key takes 0)
    // would let the bytes of a signature no segment digest covers change.
    if sig.version() != SshSig::VERSION {
        return Err(format!("signature has SSHSIG version {}, not {}", sig.version(), SshSig::VERSION));
    }
    if sig.hash_alg() != HashAlg::Sha512 || sig.algorithm() != ssh_key::Algorithm::Ed25519 {
        return Err(format!(
            "signature uses {} with {}, not ssh-ed25519 with sha512",
            sig.algorithm(),
            sig.hash_alg()
        ));
    }
    if sig.namespace() != namespace {
        return Err(format!("signature namespace is {:?}, not {namespace:?}", sig.namespace()));
    }
    if sig.public_key() != key.key_data() {
        return Err("signature was made by a different key than the one named".into());
    }
    key.verify(namespace, msg, sig)
        .map_err(|e| format!("signature does not verify: {e}"))
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

    /// The armored signature with its SSHSIG version field set to `version`,
    /// re-armored as `ssh-keygen` writes it (base64 in lines of 70).
    fn with_version(armored: &[u8], version: u32) -> Vec<u8> {
        use base64::Engine as _;
        let text = std::str::from_utf8(armored).unwrap();
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut blob = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
        assert_eq!(&blob[..6], b"SSHSIG");
        blob[6..10].copy_from_slice(&version.to_be_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&blob);
        let mut out = String::from("-----BEGIN SSH SIGNATURE-----\n");
        for line in b64.as_bytes().chunks(70) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push('\n');
        }
        out.push_str("-----END SSH SIGNATURE-----\n");
        out.into_bytes()
    }

    #[test]
    fn only_sshsig_version_1_is_accepted() {
        let mut s = Signer::ephemeral();
        let sig = s.sign(b"doc").unwrap();
        // The rebuilt armor is byte for byte the original at version 1, so
        // only the version differs below.
        assert_eq!(with_version(&sig, 1), sig);
        verify_signature(&s.public_key(), b"doc", &sig).unwrap();
        for v in [0, 2] {
            let e = verify_signature(&s.public_key(), b"doc", &with_version(&sig, v)).unwrap_err();
            assert!(e.contains("version"), "version {v}: {e}");
        }
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
        assert!(parse_allowed_signer("just-one-token").is_err());
    }

    #[test]
    fn allowed_signers_options_as_openssh_reads_them() {
        let s = Signer::ephemeral();
        let line = public_key_line(&s.public_key());
        // The line docs/FORMAT.md §9 suggests: its value holds an `@`, which
        // must not make the options field pass for a key type.
        let a = parse_allowed_signer(&format!("custody namespaces=\"custody-checkpoint-v1@custody\" {line}")).unwrap();
        assert!(a.namespace_allowed(SIGNATURE_NAMESPACE) && !a.cert_authority);
        assert_eq!(a.key.key_data(), s.public_key().key_data());
        // Names in any case; a quoted value with commas and blanks; options after it.
        let b = parse_allowed_signer(&format!(
            "bob NAMESPACES=\"file, git,custody-checkpoint-v1@custody\",Valid-After=\"20240101\" {line} a comment"
        ))
        .unwrap();
        assert_eq!(b.namespaces.as_deref().unwrap().len(), 3);
        assert!(b.namespace_allowed(SIGNATURE_NAMESPACE));
        let c = parse_allowed_signer(&format!("carol Cert-Authority,namespaces=\"*\" {line}")).unwrap();
        assert!(c.cert_authority);
        // An escaped quote inside a value.
        let d = parse_allowed_signer(&format!("dave namespaces=\"a\\\"b,custody-*\" {line}")).unwrap();
        assert_eq!(d.namespaces.as_deref().unwrap()[0], "a\"b");
        // What ssh-keygen refuses is refused, with the reason.
        for (bad, why) in [
            (format!("eve no-touch-required {line}"), "unknown option `no-touch-required`"),
            (format!("eve namespaces=git {line}"), "double quotes"),
            (format!("eve namespaces=\"git {line}"), "no closing quote"),
            (format!("eve namespaces=\"a\",namespaces=\"b\" {line}"), "given twice"),
            (format!("eve cert-authority, {line}"), "end with a comma"),
            ("eve namespaces=\"git\"".to_string(), "no key follows"),
            ("eve ssh-ed25519 AAAA-not-base64".to_string(), "not a public key"),
        ] {
            let err = parse_allowed_signer(&bad).map(|_| ()).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}
