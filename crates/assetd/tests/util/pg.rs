//! Fresh PostgreSQL databases for tests: one per test, created on the server at
//! `ASSETD_TEST_DATABASE_URL` (default: the machine's `postgres://postgres@127.0.0.1:5432/test`)
//! and dropped afterwards. (Not `#[sqlx::test]`: the same helper must serve the HTTP suites that
//! start whole servers, and `cargo test` should work without exporting DATABASE_URL.)
#![allow(dead_code, clippy::unwrap_used)]

use sqlx::Connection;

/// The admin URL tests create databases through.
pub fn admin_url() -> String {
    std::env::var("ASSETD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database that is dropped when this value is.
pub struct FreshDatabase {
    pub url: String,
    name: String,
}

impl FreshDatabase {
    pub async fn create() -> Self {
        let admin = admin_url();
        let name = format!("assetd_t_{}", hex::encode(rand_bytes()));
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is required for this test ({admin}): {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

fn rand_bytes() -> [u8; 8] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let counter = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mixed = (nanos as u64)
        ^ (u64::from(std::process::id()) << 32)
        ^ counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mixed.to_be_bytes()
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let admin = admin_url();
        let name = self.name.clone();
        // Drop runs outside async code; a short-lived thread with its own runtime does the I/O.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}
