//! Take every live-response snapshot of this host, write each document to
//! a directory as `<step>.json`, and print how long each step took.
//!
//! Run: `cargo run --release --example live_snapshot -- live-snapshot`

use std::time::Instant;

use custody::live::{capture, Step};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "live".into()));
    std::fs::create_dir_all(&dir)?;
    for step in Step::ALL {
        let start = Instant::now();
        let snapshot = capture(step);
        let took = start.elapsed();
        std::fs::write(dir.join(format!("{}.json", step.name())), &snapshot.document)?;
        println!(
            "{:<10} {:<12} {:>9} bytes {:>9.1} ms",
            step.name(),
            snapshot.status,
            snapshot.document.len(),
            took.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
