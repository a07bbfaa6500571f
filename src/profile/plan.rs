//! `custody collect --plan`: the walk a collection would make, counted by
//! area, without reading any content. The walk is the collector's own
//! ([`crate::source::walk`]): it examines entries with `statx` and lists
//! directories (with `O_NOATIME`), and never opens a regular file, so the
//! plan counts exactly what a collection would meet, and changes nothing.

use std::path::PathBuf;

use crate::source::{self, Skip, WalkItem, WalkOptions};

/// Most examples a plan keeps of each kind of skip.
pub const EXAMPLES: usize = 10;

/// What one area holds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AreaPlan {
    /// The area's name.
    pub name: String,
    /// Its sources on this host.
    pub sources: Vec<String>,
    /// Regular files to read.
    pub files: u64,
    /// Their bytes (apparent size: a sparse file is read over its holes).
    pub bytes: u64,
    /// Directories.
    pub dirs: u64,
    /// Symlinks, FIFOs, sockets and device nodes: recorded, never opened.
    pub other: u64,
    /// Directories on another filesystem: recorded, not descended into.
    pub other_filesystems: u64,
    /// Files over the area's size cap: recorded as skipped.
    pub capped: u64,
    /// Their bytes.
    pub capped_bytes: u64,
    /// Entries an exclusion matched (a directory counts once).
    pub excluded: u64,
    /// Entries the walk could not examine or list (recorded as skipped;
    /// usually permissions, when not root).
    pub unreadable: u64,
}

/// One skipped entry, for the examples.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Example {
    /// Host path.
    pub path: String,
    /// Size, for a capped file.
    pub size: Option<u64>,
    /// The reason the archive would record.
    pub reason: String,
}

/// A plan.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Plan {
    /// By area, in the profile's order.
    pub areas: Vec<AreaPlan>,
    /// The largest capped files.
    pub largest_capped: Vec<Example>,
    /// The first excluded entries met.
    pub excluded: Vec<Example>,
    /// The first entries the walk could not examine or list.
    pub unreadable: Vec<Example>,
    /// Directories listed without `O_NOATIME` (the kernel refused it).
    pub dirs_without_noatime: u64,
    /// Whether `stop` cut the walk short (the counts are then partial).
    pub stopped: bool,
}

impl Plan {
    /// Sum over the areas.
    pub fn total(&self) -> AreaPlan {
        let mut t = AreaPlan {
            name: "total".into(),
            ..Default::default()
        };
        for a in &self.areas {
            t.files += a.files;
            t.bytes += a.bytes;
            t.dirs += a.dirs;
            t.other += a.other;
            t.other_filesystems += a.other_filesystems;
            t.capped += a.capped;
            t.capped_bytes += a.capped_bytes;
            t.excluded += a.excluded;
            t.unreadable += a.unreadable;
        }
        t
    }
}

/// Walk `sources` under `opts`, counting into the area `area_of` gives each
/// source (`area_names` by index). `stop` is asked before each step.
pub fn plan(
    sources: &[PathBuf],
    area_of: &[usize],
    area_names: &[String],
    opts: &WalkOptions,
    stop: impl Fn() -> bool,
) -> std::io::Result<Plan> {
    let mut plan = Plan {
        areas: area_names
            .iter()
            .map(|n| AreaPlan {
                name: n.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    for (src, &area) in sources.iter().zip(area_of) {
        plan.areas[area].sources.push(src.display().to_string());
        let stats = source::walk(std::slice::from_ref(src), opts, &stop, |item| {
            let a = &mut plan.areas[area];
            match item {
                WalkItem::Entry(e) | WalkItem::Unfinished(e) => {
                    if e.metadata.is_file() {
                        a.files += 1;
                        a.bytes += e.metadata.size;
                    } else if e.other_filesystem {
                        a.other_filesystems += 1;
                    } else if e.metadata.is_dir() {
                        a.dirs += 1;
                    } else {
                        a.other += 1;
                    }
                }
                WalkItem::Skipped { archive_path, reason, why } => {
                    let example = |size| Example {
                        path: format!("/{}", source::display(&archive_path)),
                        size,
                        reason: reason.clone(),
                    };
                    match why {
                        Skip::Capped { size } => {
                            a.capped += 1;
                            a.capped_bytes += size;
                            keep_largest(&mut plan.largest_capped, example(Some(size)));
                        }
                        Skip::Excluded => {
                            a.excluded += 1;
                            if plan.excluded.len() < EXAMPLES {
                                plan.excluded.push(example(None));
                            }
                        }
                        Skip::Unexaminable | Skip::Unlistable => {
                            a.unreadable += 1;
                            if plan.unreadable.len() < EXAMPLES {
                                plan.unreadable.push(example(None));
                            }
                        }
                        Skip::Reserved | Skip::Archive => a.other += 1,
                    }
                }
            }
            Ok(())
        })?;
        plan.dirs_without_noatime += stats.dirs_without_noatime;
        if stats.stopped {
            plan.stopped = true;
            break;
        }
    }
    Ok(plan)
}

/// Keep the [`EXAMPLES`] largest, largest first.
fn keep_largest(list: &mut Vec<Example>, e: Example) {
    let at = list.partition_point(|x| x.size >= e.size);
    if at < EXAMPLES {
        list.insert(at, e);
        list.truncate(EXAMPLES);
    }
}
