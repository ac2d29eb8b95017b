//! What a person or a script sees: a progress bar on a terminal (assets, bytes, rate, ETA),
//! one line per failure (or, with `--json`, one JSON object per folder and asset), and the
//! summary at the end.

use std::io::Write;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::json;

/// One failed asset.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// Source id.
    pub source_id: String,
    /// Its file name.
    pub file_name: String,
    /// Why.
    pub reason: String,
}

/// The counts of a run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Nothing was written.
    pub dry_run: bool,
    /// Folders created.
    pub folders_created: u64,
    /// Folders already on the destination.
    pub folders_existing: u64,
    /// Assets copied.
    pub imported: u64,
    /// Assets whose name or alt text was brought up to date.
    pub updated: u64,
    /// Assets already on the destination as they are on the source.
    pub skipped: u64,
    /// Assets that could not be copied.
    pub failed: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// `kept`, `mapped`, or `unknown` (nothing was created).
    pub ids: String,
    /// 429 answers from the source's API.
    pub source_throttled: u64,
    /// 429 answers from the destination's API.
    pub destination_throttled: u64,
    /// Calls retried after a 5xx or a connection failure.
    pub retried: u64,
    /// Seconds the run took.
    pub seconds: f64,
    /// Why each failed asset failed.
    pub failures: Vec<Failure>,
}

impl Summary {
    /// Whether the run changed nothing on the destination.
    pub fn changed_nothing(&self) -> bool {
        self.folders_created + self.imported + self.updated == 0
    }

    /// The closing lines for a person.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if self.dry_run {
            out.push_str(&format!(
                "dry run: would create {} folders, import {} assets ({}), update {}; {} assets and {} folders are already there\n",
                self.folders_created,
                self.imported,
                human_bytes(self.bytes),
                self.updated,
                self.skipped,
                self.folders_existing
            ));
            return out;
        }
        if self.changed_nothing() && self.failed == 0 {
            out.push_str(&format!(
                "nothing to do: all {} assets and {} folders are already on the destination\n",
                self.skipped, self.folders_existing
            ));
        }
        out.push_str(&format!(
            "imported {} assets ({}), created {} folders, updated {}, skipped {}, failed {} in {:.1} s; ids {}; throttled {} (source) + {} (destination), retried {}\n",
            self.imported,
            human_bytes(self.bytes),
            self.folders_created,
            self.updated,
            self.skipped,
            self.failed,
            self.seconds,
            self.ids,
            self.source_throttled,
            self.destination_throttled,
            self.retried
        ));
        for f in &self.failures {
            out.push_str(&format!(
                "failed: {} {}: {}\n",
                f.source_id, f.file_name, f.reason
            ));
        }
        out
    }
}

fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// Where events go.
pub struct Reporter {
    json: bool,
    bar: ProgressBar,
    out: Mutex<()>,
}

impl Reporter {
    /// A reporter; the bar is drawn only if `progress` and stderr is a terminal.
    pub fn new(json: bool, progress: bool) -> Self {
        let target = if progress && !json {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self {
            json,
            bar,
            out: Mutex::new(()),
        }
    }

    /// Starts the bar for `assets` assets of `bytes` bytes.
    pub fn start(&self, assets: u64, bytes: u64) {
        self.bar.set_length(bytes);
        self.bar.set_message(format!("0/{assets} assets"));
    }

    /// Bytes arrived (or, negative, were taken back by a retry).
    pub fn bytes(&self, n: i64) {
        if n >= 0 {
            self.bar.inc(n.unsigned_abs());
        } else {
            self.bar
                .set_position(self.bar.position().saturating_sub(n.unsigned_abs()));
        }
    }

    /// An asset finished (`done` of `total`).
    pub fn advanced(&self, done: u64, total: u64) {
        self.bar.set_message(format!("{done}/{total} assets"));
    }

    fn line(&self, text: &str, to_stderr: bool) {
        let _guard = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.bar.suspend(|| {
            if to_stderr {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            } else {
                let _ = writeln!(std::io::stdout().lock(), "{text}");
            }
        });
    }

    /// A folder's outcome: `created`, `exists`, `would-create`.
    pub fn folder(&self, src: &str, name: &str, dst: Option<&str>, action: &str) {
        if self.json {
            self.line(
                &json!({"event": "folder", "sourceId": src, "displayName": name,
                        "destinationId": dst, "action": action})
                .to_string(),
                false,
            );
        } else if action.starts_with("would") {
            self.line(&format!("{action} folder {name:?} ({src})"), false);
        }
    }

    /// An asset's outcome: `imported`, `updated`, `skipped`, `failed`, `would-import`,
    /// `would-update`.
    pub fn asset(
        &self,
        src: &str,
        file_name: &str,
        dst: Option<&str>,
        action: &str,
        bytes: u64,
        reason: Option<&str>,
    ) {
        if self.json {
            self.line(
                &json!({"event": "asset", "sourceId": src, "fileName": file_name,
                        "destinationId": dst, "action": action, "bytes": bytes,
                        "reason": reason})
                .to_string(),
                false,
            );
        } else if let Some(reason) = reason {
            self.line(&format!("assetd: {src} {file_name}: {reason}"), true);
        } else if action.starts_with("would") {
            self.line(
                &format!("{action} {file_name} ({src}, {})", human_bytes(bytes)),
                false,
            );
        }
    }

    /// A remark for a person (JSON: an `note` event).
    pub fn note(&self, text: &str) {
        if self.json {
            self.line(
                &json!({"event": "note", "message": text}).to_string(),
                false,
            );
        } else {
            self.line(&format!("assetd: {text}"), true);
        }
    }

    /// The end.
    pub fn summary(&self, summary: &Summary) {
        self.bar.finish_and_clear();
        if self.json {
            self.line(
                &json!({"event": "summary", "summary": summary}).to_string(),
                false,
            );
        } else {
            self.line(summary.text().trim_end(), false);
        }
    }
}
