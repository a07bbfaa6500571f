//! Collect a directory into an in-memory archive with an ephemeral key, then
//! verify it while trusting that key's fingerprint.
//!
//! Run: `cargo run --example collect_and_verify -- /usr/share/doc/git`

use custody::collect::{CollectOptions, Collector, NoProgress};
use custody::signer::{fingerprint, Signer, TrustAnchors};
use custody::verify::{verify, NullSink, VerifyOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = std::env::args().nth(1).unwrap_or_else(|| "/etc/ssh".into());
    let mut signer = Signer::ephemeral();
    let fp = fingerprint(&signer.public_key());
    let opts = CollectOptions {
        checkpoint_bytes: 64 * 1024 * 1024,
        checkpoint_members: 1000,
        ..CollectOptions::new(vec![source.clone().into()])
    };
    let mut progress = NoProgress;
    let (summary, archive) = Collector::start(Vec::new(), &mut signer, opts, &mut progress)?.run()?;
    println!(
        "collected {source}: {} members, {} compressed bytes, chain {}",
        summary.totals.evidence_members,
        archive.len(),
        summary.chain
    );

    let trust = TrustAnchors {
        keys: Vec::new(),
        fingerprints: vec![fp],
    };
    let report = verify(
        &archive[..],
        &VerifyOptions {
            trust,
            ..Default::default()
        },
        &mut NullSink,
    )?;
    println!(
        "verdict: {} ({} checkpoints proven)",
        report.verdict.name(),
        report.proven.checkpoints
    );
    for f in report.findings.iter().take(5) {
        println!("  {:?}: {}", f.level, f.message);
    }
    Ok(())
}
