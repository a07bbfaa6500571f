//! Checking a TimeStampToken: the imprint against the data's SHA-256, the
//! signed attributes' messageDigest against the encapsulated TSTInfo, the
//! signer's signature over the signed attributes, and, when roots are
//! given, the signer's path to one of them at genTime with the
//! timeStamping extended key usage.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::OctetString;
use der::oid::db::rfc5911::{ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use der::oid::db::rfc5912::{ID_SHA_256, ID_SHA_384, ID_SHA_512};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use sha2::Digest;
use webpki::ring as alg;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::spki::AlgorithmIdentifier;
use x509_cert::Certificate;
use x509_tsp::TstInfo;

use super::{Roots, TokenReport, TokenStatus, EKU_TIME_STAMPING};

/// id-ct-TSTInfo (RFC 3161 §2.4.2).
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");

/// A token taken apart.
pub(super) struct Parsed {
    pub(super) signed: SignedData,
    /// The encapsulated TSTInfo as read.
    pub(super) tst_der: Vec<u8>,
    pub(super) tst: TstInfo,
}

/// The AlgorithmIdentifier of SHA-256, with NULL parameters as most TSAs
/// and OpenSSL write it.
pub(super) fn sha256_algorithm() -> AlgorithmIdentifier<Any> {
    AlgorithmIdentifier {
        oid: ID_SHA_256,
        parameters: Some(Any::null()),
    }
}

/// Take a token apart: a CMS SignedData holding a TSTInfo.
pub(super) fn parse(token: &[u8]) -> Result<Parsed, String> {
    let ci = ContentInfo::from_der(token).map_err(|e| format!("not a CMS ContentInfo: {e}"))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(format!("the content is {}, not SignedData", ci.content_type));
    }
    let signed: SignedData = ci.content.decode_as().map_err(|e| format!("not a CMS SignedData: {e}"))?;
    let encap = &signed.encap_content_info;
    if encap.econtent_type != ID_CT_TST_INFO {
        return Err(format!("the signed content is {}, not a TSTInfo", encap.econtent_type));
    }
    let content = encap.econtent.as_ref().ok_or("the SignedData has no content")?;
    let tst_der = content
        .decode_as::<OctetString>()
        .map_err(|e| format!("the signed content is not an OCTET STRING: {e}"))?
        .into_bytes();
    let tst = TstInfo::from_der(&tst_der).map_err(|e| format!("the TSTInfo does not parse: {e}"))?;
    Ok(Parsed { signed, tst_der, tst })
}

/// Check `token_der` against the SHA-256 of the data it should stamp, and
/// against `roots` when given. Never fails: what is wrong is the status.
pub fn check(token_der: &[u8], sha256: &[u8; 32], roots: Option<&Roots>) -> TokenReport {
    let mut report = TokenReport {
        gen_time: None,
        tsa_name: None,
        serial: None,
        policy: None,
        status: TokenStatus::NotChecked,
    };
    report.status = match examine(token_der, sha256, roots, &mut report) {
        Ok(status) => status,
        Err(reason) => TokenStatus::Invalid { reason },
    };
    report
}

fn examine(token: &[u8], sha256: &[u8; 32], roots: Option<&Roots>, report: &mut TokenReport) -> Result<TokenStatus, String> {
    let p = parse(token)?;
    let secs = p.tst.gen_time.to_unix_duration().as_secs();
    report.gen_time = i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok());
    report.serial = Some(hex::encode(p.tst.serial_number.as_bytes()));
    report.policy = Some(p.tst.policy.to_string());
    report.tsa_name = p.tst.tsa.as_ref().map(|n| match n {
        x509_cert::ext::pkix::name::GeneralName::DirectoryName(name) => name.to_string(),
        other => format!("{other:?}"),
    });
    let [signer] = p.signed.signer_infos.0.as_slice() else {
        return Err(format!("{} signers, where a token has exactly one", p.signed.signer_infos.0.len()));
    };
    check_message_digest(signer, &p.tst_der)?;
    let certs: Vec<&Certificate> = p
        .signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    let cert = certs
        .iter()
        .find(|c| identifies(&signer.sid, c))
        .ok_or("the token does not carry its signer's certificate (it was not asked with certReq, or is incomplete)")?;
    report.tsa_name = Some(cert.tbs_certificate.subject.to_string());
    let cert_der = cert
        .to_der()
        .map_err(|e| format!("the signer certificate cannot be encoded: {e}"))?;
    let cert_der = CertificateDer::from(cert_der);
    let ee = webpki::EndEntityCert::try_from(&cert_der).map_err(|e| format!("the signer certificate is not usable: {e:?}"))?;
    check_signature(signer, &ee)?;
    let imprint = &p.tst.message_imprint;
    if imprint.hash_algorithm.oid != ID_SHA_256 {
        return Ok(TokenStatus::Mismatch {
            reason: format!("the token stamps a {} digest, not SHA-256", imprint.hash_algorithm.oid),
        });
    }
    if imprint.hashed_message.as_bytes() != sha256 {
        return Ok(TokenStatus::Mismatch {
            reason: format!(
                "the token stamps SHA-256 {}, not this data's {}",
                hex::encode(imprint.hashed_message.as_bytes()),
                hex::encode(sha256)
            ),
        });
    }
    let Some(roots) = roots else {
        return Ok(TokenStatus::NotChecked);
    };
    let others: Vec<CertificateDer<'static>> = certs
        .iter()
        .filter(|c| !std::ptr::eq(**c, *cert))
        .filter_map(|c| c.to_der().ok())
        .map(CertificateDer::from)
        .collect();
    Ok(trust(&ee, &others, secs, roots))
}

/// The signed attributes' messageDigest must be the digest of the TSTInfo
/// as read, by the signer's digest algorithm.
fn check_message_digest(signer: &SignerInfo, tst_der: &[u8]) -> Result<(), String> {
    let attrs = signer.signed_attrs.as_ref().ok_or("the signer has no signed attributes")?;
    let mut digests = attrs.iter().filter(|a| a.oid == ID_MESSAGE_DIGEST);
    let (Some(attr), None) = (digests.next(), digests.next()) else {
        return Err("the signed attributes do not hold exactly one messageDigest".into());
    };
    let [value] = attr.values.as_slice() else {
        return Err("the messageDigest attribute does not hold exactly one value".into());
    };
    let stated = value
        .decode_as::<OctetString>()
        .map_err(|e| format!("the messageDigest is not an OCTET STRING: {e}"))?;
    let oid = signer.digest_alg.oid;
    let actual = if oid == ID_SHA_256 {
        sha2::Sha256::digest(tst_der).to_vec()
    } else if oid == ID_SHA_384 {
        sha2::Sha384::digest(tst_der).to_vec()
    } else if oid == ID_SHA_512 {
        sha2::Sha512::digest(tst_der).to_vec()
    } else {
        return Err(format!("the signer's digest algorithm {oid} is not SHA-256, SHA-384 or SHA-512"));
    };
    if stated.as_bytes() != actual.as_slice() {
        return Err("the messageDigest attribute is not the digest of the TSTInfo: the token was altered".into());
    }
    Ok(())
}

/// Whether `cert` is the one the signer identifier names.
fn identifies(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = &cert.tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => is.issuer == tbs.issuer && is.serial_number == tbs.serial_number,
        SignerIdentifier::SubjectKeyIdentifier(ski) => tbs
            .extensions
            .iter()
            .flatten()
            .filter(|e| e.extn_id == SUBJECT_KEY_ID)
            .any(|e| SubjectKeyIdentifier::from_der(e.extn_value.as_bytes()).is_ok_and(|own| own == *ski)),
    }
}

/// The signature over the DER of the signed attributes (as a SET, RFC 5652
/// §5.4) must verify with the signer certificate's key.
fn check_signature(signer: &SignerInfo, ee: &webpki::EndEntityCert<'_>) -> Result<(), String> {
    let attrs = signer.signed_attrs.as_ref().ok_or("the signer has no signed attributes")?;
    let signed = attrs
        .to_der()
        .map_err(|e| format!("the signed attributes cannot be encoded: {e}"))?;
    let candidates = algorithms(signer.signature_algorithm.oid, signer.digest_alg.oid)?;
    let signature = signer.signature.as_bytes();
    if candidates.iter().any(|a| ee.verify_signature(*a, &signed, signature).is_ok()) {
        Ok(())
    } else {
        Err("the signature over the signed attributes does not verify with the signer certificate: the token was altered or forged".into())
    }
}

/// The algorithms a signature may be, from its algorithm identifier and
/// the signer's digest algorithm; the key in the certificate picks one.
fn algorithms(sig: ObjectIdentifier, digest: ObjectIdentifier) -> Result<Vec<&'static dyn SignatureVerificationAlgorithm>, String> {
    let by_digest = |d256, d384, d512| -> Result<_, String> {
        if digest == ID_SHA_256 {
            Ok(d256)
        } else if digest == ID_SHA_384 {
            Ok(d384)
        } else if digest == ID_SHA_512 {
            Ok(d512)
        } else {
            Err(format!("digest algorithm {digest} is not supported"))
        }
    };
    let list = match sig {
        s if s == ECDSA_WITH_SHA256 => vec![alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
        s if s == ECDSA_WITH_SHA384 => vec![alg::ECDSA_P256_SHA384, alg::ECDSA_P384_SHA384],
        s if s == EC_PUBLIC_KEY => by_digest(
            vec![alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
            vec![alg::ECDSA_P256_SHA384, alg::ECDSA_P384_SHA384],
            vec![],
        )?,
        s if s == SHA256_WITH_RSA => vec![alg::RSA_PKCS1_2048_8192_SHA256],
        s if s == SHA384_WITH_RSA => vec![alg::RSA_PKCS1_2048_8192_SHA384],
        s if s == SHA512_WITH_RSA => vec![alg::RSA_PKCS1_2048_8192_SHA512],
        s if s == RSA_ENCRYPTION => by_digest(
            vec![alg::RSA_PKCS1_2048_8192_SHA256],
            vec![alg::RSA_PKCS1_2048_8192_SHA384],
            vec![alg::RSA_PKCS1_2048_8192_SHA512],
        )?,
        s if s == RSA_PSS => by_digest(
            vec![alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
            vec![alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
            vec![alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        )?,
        s if s == ED25519 => vec![alg::ED25519],
        _ => vec![],
    };
    if list.is_empty() || sig == ECDSA_WITH_SHA512 {
        return Err(format!("signature algorithm {sig} with digest {digest} is not supported"));
    }
    Ok(list)
}

/// The signer's path to one of the roots, valid at genTime, with the
/// timeStamping extended key usage.
fn trust(ee: &webpki::EndEntityCert<'_>, intermediates: &[CertificateDer<'_>], gen_secs: u64, roots: &Roots) -> TokenStatus {
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(gen_secs));
    let mut why = Vec::new();
    for (der, subject) in &roots.certs {
        let root = CertificateDer::from(der.as_slice());
        let Ok(anchor) = webpki::anchor_from_trusted_cert(&root) else {
            continue;
        };
        let usage = webpki::KeyUsage::required(EKU_TIME_STAMPING);
        match ee.verify_for_usage(webpki::ALL_VERIFICATION_ALGS, &[anchor], intermediates, at, usage, None, None) {
            Ok(_) => return TokenStatus::Trusted { root: subject.clone() },
            Err(e) => why.push(explain(&e)),
        }
    }
    why.dedup();
    TokenStatus::Untrusted {
        reason: format!(
            "the TSA certificate is not trusted by the given roots ({}): {}",
            roots.subjects().collect::<Vec<_>>().join("; "),
            why.join("; ")
        ),
    }
}

fn explain(e: &webpki::Error) -> String {
    match e {
        webpki::Error::UnknownIssuer => "it does not chain to them".into(),
        webpki::Error::RequiredEkuNotFoundContext(_) => "it lacks the timeStamping extended key usage".into(),
        webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => "it was not valid at genTime".into(),
        other => format!("{other:?}"),
    }
}
