//! `custody report`: what a verification proves, told to people who are
//! not technical (legal teams, insurers, auditors), as one self-contained
//! HTML page and the same content as JSON (docs/REPORT.md).
//!
//! [`build::ReportBuilder`] gathers the figures while the archive is
//! verified (it is a [`MemberSink`](crate::verify::MemberSink)), [`model`]
//! is the data and the JSON schema, [`html`] and [`svg`] draw it, and
//! [`i18n`] holds the languages.

pub mod build;
pub mod html;
pub mod i18n;
pub mod model;
pub mod places;
pub mod svg;

pub use build::{ReportBuilder, Settings, TimeWindow};
pub use i18n::{Catalog, Lang};
pub use model::{ReportDoc, SCHEMA};
