//! `sqlx::migrate!` embeds `migrations/` at compile time, but cargo does not know those files are
//! inputs: without this, an incremental build would silently leave a new migration out.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
