//! The background sweep: expired pending assets and queued blob deletions.

use assetd::sweep::{PENDING_GRACE, SweepReport, sweep_once};
use chrono::{Duration, Utc};

use crate::util::{TestServer, create_asset, upload};

#[tokio::test]
async fn expired_pending_assets_are_removed_and_uploaded_ones_kept() {
    let server = TestServer::start().await;
    let pending = create_asset(&server, "never.png", b"never").await;
    let kept = upload(&server, "kept.png", b"kept").await;

    // Before the policy expires (plus grace) nothing is touched.
    let report = sweep_once(&server.state.sweep_work(), Utc::now())
        .await
        .unwrap();
    assert_eq!(report, SweepReport::default());

    let later = Utc::now()
        + Duration::hours(1)
        + Duration::from_std(PENDING_GRACE).unwrap()
        + Duration::minutes(1);
    let report = sweep_once(&server.state.sweep_work(), later).await.unwrap();
    assert_eq!(report.expired_assets, 1);
    let pending_id = pending["id"].as_str().unwrap().parse().unwrap();
    assert!(server.meta.get_asset(pending_id).await.unwrap().is_none());
    let kept_id = kept["id"].as_str().unwrap().parse().unwrap();
    assert!(server.meta.get_asset(kept_id).await.unwrap().is_some());
    assert_eq!(
        server.stored().await.0,
        [kept["uploadDetails"]["key"].as_str().unwrap().to_owned()]
    );
    assert!(
        server
            .meta
            .queued_blob_deletions(10)
            .await
            .unwrap()
            .is_empty()
    );
    server.stop().await;
}

#[tokio::test]
async fn queued_deletions_are_retried_until_the_bytes_are_gone() {
    let server = TestServer::start().await;
    let created = upload(&server, "x.png", b"x").await;
    let id = created["id"].as_str().unwrap().parse().unwrap();
    // With S3 storage, let assetd see the upload first (as any read would).
    let asset = server.meta.get_asset(id).await.unwrap().unwrap();
    server.state.confirmer.check(asset).await.unwrap();
    // As if the process died between removing the row and deleting the bytes.
    server
        .meta
        .delete_asset(id, Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(server.stored().await.0.len(), 1);
    let report = sweep_once(&server.state.sweep_work(), Utc::now())
        .await
        .unwrap();
    assert_eq!(report.blobs_deleted, 1);
    assert_eq!(server.stored().await, (vec![], 0));
    assert!(
        server
            .meta
            .queued_blob_deletions(10)
            .await
            .unwrap()
            .is_empty()
    );
    server.stop().await;
}
