//! One conformance suite for every metadata backend: each behaviour below runs against SQLite
//! (a temp file) and PostgreSQL (a fresh database).
#![allow(clippy::unwrap_used)]

#[path = "util/pg.rs"]
mod pg;

use std::sync::Arc;

use assetd::ids::ObjectId;
use assetd::meta::postgres::PostgresMeta;
use assetd::meta::sqlite::SqliteMeta;
use assetd::meta::{
    Asset, AssetChanges, AssetState, DeliveryOutcome, DeliveryStatus, MetaError, MetaStore,
    PageRequest, Replacement, Site, Variant, VariantOutcome, VariantState, Webhook,
};
use assetd::scopes::Scopes;
use assetd::tokens::TokenHash;
use assetd::webhook_events::Trigger;
use assetd::webhook_signature::SigningSecret;
use assetd::webhooks::status::{Ended, StatusBook};
use chrono::{Duration, DurationRound, TimeDelta, Utc};

fn now() -> chrono::DateTime<Utc> {
    Utc::now()
        .duration_trunc(TimeDelta::milliseconds(1))
        .unwrap()
}

async fn site(meta: &dyn MetaStore) -> ObjectId {
    let id = ObjectId::generate(now());
    meta.create_site(&Site {
        id,
        name: "s".into(),
        created_on: now(),
    })
    .await
    .unwrap();
    id
}

fn asset(
    site: ObjectId,
    folder: Option<ObjectId>,
    name: &str,
    created: chrono::DateTime<Utc>,
) -> Asset {
    let id = ObjectId::generate(created);
    Asset {
        id,
        site_id: site,
        folder_id: folder,
        original_file_name: name.into(),
        display_name: format!("{id}_{name}"),
        alt_text: None,
        content_type: "image/png".into(),
        file_hash: "0".repeat(32),
        storage_key: format!("{site}/{id}_{name}"),
        size: None,
        state: AssetState::Pending,
        upload_expires_at: created + Duration::hours(1),
        created_on: created,
        last_updated: created,
    }
}

async fn uploaded(
    meta: &dyn MetaStore,
    site: ObjectId,
    folder: Option<ObjectId>,
    name: &str,
    created: chrono::DateTime<Utc>,
) -> Asset {
    let a = asset(site, folder, name, created);
    meta.insert_asset(&a).await.unwrap();
    assert!(meta.mark_uploaded(a.id, 5, created).await.unwrap());
    meta.get_asset(a.id).await.unwrap().unwrap()
}

async fn tokens_and_sites(meta: Arc<dyn MetaStore>) {
    assert_eq!(meta.count_sites().await.unwrap(), 0);
    let a = site(meta.as_ref()).await;
    let b = site(meta.as_ref()).await;
    assert_eq!(meta.count_sites().await.unwrap(), 2);
    let hash = TokenHash::of("token-1");
    meta.create_token(
        ObjectId::generate(now()),
        &hash,
        Scopes::ALL,
        &[a, b],
        now(),
        None,
    )
    .await
    .unwrap();
    let grant = meta.find_token(&hash).await.unwrap().unwrap();
    assert_eq!(grant.scopes, Scopes::ALL);
    assert!(grant.sees(a) && grant.sees(b));
    assert!(
        meta.find_token(&TokenHash::of("token-2"))
            .await
            .unwrap()
            .is_none()
    );
    let ghost = ObjectId::generate(now());
    let err = meta
        .create_token(
            ObjectId::generate(now()),
            &TokenHash::of("t3"),
            Scopes::ALL,
            &[ghost],
            now(),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, MetaError::UnknownSite(id) if id == ghost),
        "{err:?}"
    );
    assert!(
        meta.find_token(&TokenHash::of("t3"))
            .await
            .unwrap()
            .is_none(),
        "a failed create leaves no token"
    );
}

async fn folders(meta: Arc<dyn MetaStore>) {
    let s = site(meta.as_ref()).await;
    let other = site(meta.as_ref()).await;
    let top = ObjectId::generate(now());
    meta.create_folder(top, s, None, "top", now())
        .await
        .unwrap();
    let dup = meta
        .create_folder(ObjectId::generate(now()), s, None, "top", now())
        .await
        .unwrap_err();
    assert!(matches!(dup, MetaError::Conflict(_)), "{dup:?}");
    let child = ObjectId::generate(now());
    meta.create_folder(child, s, Some(top), "top", now())
        .await
        .unwrap();
    meta.create_folder(ObjectId::generate(now()), other, None, "top", now())
        .await
        .unwrap();
    assert!(meta.folder_in_site(s, child).await.unwrap());
    assert!(!meta.folder_in_site(other, child).await.unwrap());
    let got = meta.get_folder(child).await.unwrap().unwrap();
    assert_eq!(
        (got.parent_folder, got.site_id, got.display_name.as_str()),
        (Some(top), s, "top")
    );
    let page = meta
        .list_folders(
            s,
            PageRequest {
                offset: 0,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.total), (1, 2));
    assert_eq!(page.items[0].id, top);
}

async fn concurrent_duplicate_folders(meta: Arc<dyn MetaStore>) {
    let s = site(meta.as_ref()).await;
    let attempts = (0..24).map(|_| {
        let meta = meta.clone();
        tokio::spawn(async move {
            meta.create_folder(ObjectId::generate(now()), s, None, "race", now())
                .await
        })
    });
    let results = futures_util::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(MetaError::Conflict(_)))))
        .count();
    assert_eq!((ok, conflicts), (1, 23));
}

async fn assets_lifecycle(meta: Arc<dyn MetaStore>) {
    let s = site(meta.as_ref()).await;
    let t0 = now();
    let a = asset(s, None, "a.png", t0);
    meta.insert_asset(&a).await.unwrap();
    assert_eq!(meta.get_asset(a.id).await.unwrap().unwrap(), a);
    let dup = Asset {
        id: ObjectId::generate(t0),
        ..a.clone()
    };
    assert!(matches!(
        meta.insert_asset(&dup).await.unwrap_err(),
        MetaError::Conflict(_)
    ));
    let orphan = asset(ObjectId::generate(t0), None, "o.png", t0);
    assert!(matches!(
        meta.insert_asset(&orphan).await.unwrap_err(),
        MetaError::UnknownSite(_)
    ));

    assert_eq!(
        meta.open_uploads(Some(s), t0, 10).await.unwrap(),
        vec![a.clone()]
    );
    assert!(
        meta.open_uploads(Some(s), t0 + Duration::hours(2), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        meta.list_assets(
            s,
            None,
            PageRequest {
                offset: 0,
                limit: 100
            }
        )
        .await
        .unwrap()
        .items
        .is_empty()
    );
    assert!(meta.mark_uploaded(a.id, 42, t0).await.unwrap());
    let stored = meta.get_asset(a.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.state, stored.size),
        (AssetState::Uploaded, Some(42))
    );

    let changes = AssetChanges {
        display_name: Some("New".into()),
        alt_text: Some(Some("alt".into())),
        folder: None,
    };
    let later = t0 + Duration::seconds(1);
    let updated = meta
        .update_asset(a.id, &changes, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            updated.display_name.as_str(),
            updated.alt_text.as_deref(),
            updated.last_updated
        ),
        ("New", Some("alt"), later)
    );
    let cleared = meta
        .update_asset(
            a.id,
            &AssetChanges {
                display_name: None,
                alt_text: Some(None),
                folder: None,
            },
            later,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (cleared.display_name.as_str(), cleared.alt_text),
        ("New", None)
    );
    assert!(
        meta.update_asset(ObjectId::generate(t0), &changes, later)
            .await
            .unwrap()
            .is_none()
    );

    let b = asset(s, None, "b.png", t0);
    meta.insert_asset(&b).await.unwrap();
    assert!(meta.mark_failed(b.id, t0).await.unwrap());
    assert!(
        !meta.mark_failed(a.id, t0).await.unwrap(),
        "only pending assets can fail"
    );
    let expired = meta
        .expired_pending_assets(t0 + Duration::hours(2), 10)
        .await
        .unwrap();
    assert_eq!(expired.iter().map(|x| x.id).collect::<Vec<_>>(), [b.id]);

    let removed = meta.delete_asset(a.id, later).await.unwrap().unwrap();
    assert_eq!(removed.id, a.id);
    assert!(meta.get_asset(a.id).await.unwrap().is_none());
    assert!(meta.delete_asset(a.id, later).await.unwrap().is_none());
    assert!(
        !meta.mark_uploaded(a.id, 1, later).await.unwrap(),
        "a deleted asset cannot be marked uploaded"
    );
    assert_eq!(
        meta.queued_blob_deletions(10).await.unwrap(),
        vec![a.storage_key.clone()]
    );
    meta.finish_blob_deletion(&a.storage_key, later)
        .await
        .unwrap();
    assert!(meta.queued_blob_deletions(10).await.unwrap().is_empty());
    assert_eq!(
        meta.asset_counts().await.unwrap(),
        assetd::meta::AssetCounts {
            pending: 0,
            uploaded: 0,
            failed: 1
        }
    );

    // A key whose upload window is still open stays queued until the window closes: a client
    // holding the policy could still create the object.
    meta.delete_asset(b.id, later).await.unwrap().unwrap();
    meta.finish_blob_deletion(&b.storage_key, later)
        .await
        .unwrap();
    assert_eq!(
        meta.queued_blob_deletions(10).await.unwrap(),
        vec![b.storage_key.clone()]
    );
    meta.finish_blob_deletion(&b.storage_key, t0 + Duration::hours(2))
        .await
        .unwrap();
    assert!(meta.queued_blob_deletions(10).await.unwrap().is_empty());
    assert!(meta.open_uploads(None, t0, 10).await.unwrap().is_empty());
}

async fn listing_and_folder_filter(meta: Arc<dyn MetaStore>) {
    let s = site(meta.as_ref()).await;
    let other = site(meta.as_ref()).await;
    let top = ObjectId::generate(now());
    let child = ObjectId::generate(now());
    let grandchild = ObjectId::generate(now());
    let elsewhere = ObjectId::generate(now());
    meta.create_folder(top, s, None, "top", now())
        .await
        .unwrap();
    meta.create_folder(child, s, Some(top), "child", now())
        .await
        .unwrap();
    meta.create_folder(grandchild, s, Some(child), "grandchild", now())
        .await
        .unwrap();
    meta.create_folder(elsewhere, s, None, "elsewhere", now())
        .await
        .unwrap();
    let t0 = now();
    let at = |i: i64| t0 + Duration::milliseconds(i);
    let x0 = uploaded(meta.as_ref(), s, None, "0.png", at(0)).await;
    let x1 = uploaded(meta.as_ref(), s, Some(top), "1.png", at(1)).await;
    let x2 = uploaded(meta.as_ref(), s, Some(grandchild), "2.png", at(2)).await;
    let x3 = uploaded(meta.as_ref(), s, Some(elsewhere), "3.png", at(3)).await;
    uploaded(meta.as_ref(), other, None, "theirs.png", at(4)).await;
    meta.insert_asset(&asset(s, Some(top), "pending.png", at(5)))
        .await
        .unwrap();

    let ids = |items: &[Asset]| items.iter().map(|a| a.id).collect::<Vec<_>>();
    let all = meta
        .list_assets(
            s,
            None,
            PageRequest {
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (ids(&all.items), all.total),
        (vec![x0.id, x1.id, x2.id, x3.id], 4)
    );
    let page = meta
        .list_assets(
            s,
            None,
            PageRequest {
                offset: 1,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!((ids(&page.items), page.total), (vec![x1.id, x2.id], 4));
    let past = meta
        .list_assets(
            s,
            None,
            PageRequest {
                offset: 10,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!((past.items.len(), past.total), (0, 4));
    let in_top = meta
        .list_assets(
            s,
            Some(top),
            PageRequest {
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!((ids(&in_top.items), in_top.total), (vec![x1.id, x2.id], 2));
    let in_child = meta
        .list_assets(
            s,
            Some(child),
            PageRequest {
                offset: 0,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((ids(&in_child.items), in_child.total), (vec![x2.id], 1));
    let wrong_site = meta
        .list_assets(
            other,
            Some(top),
            PageRequest {
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(wrong_site.total, 0);
    let contents = meta
        .folder_assets(&[top, grandchild, elsewhere])
        .await
        .unwrap();
    assert_eq!(
        contents,
        vec![(top, x1.id), (grandchild, x2.id), (elsewhere, x3.id)]
    );
    assert!(meta.folder_assets(&[]).await.unwrap().is_empty());
}

/// Many inserts at once (SQLite commits them in groups): every one is stored, and a duplicate
/// key fails alone without taking its neighbours down.
async fn concurrent_inserts_fail_alone(meta: Arc<dyn MetaStore>) {
    let s = site(meta.as_ref()).await;
    let t0 = now();
    let original = asset(s, None, "dup.png", t0);
    meta.insert_asset(&original).await.unwrap();
    let mut batch: Vec<Asset> = (0..100)
        .map(|i| asset(s, None, &format!("{i}.png"), t0))
        .collect();
    batch.insert(
        50,
        Asset {
            id: ObjectId::generate(t0),
            ..original.clone()
        },
    );
    let inserts = batch.into_iter().map(|a| {
        let meta = meta.clone();
        tokio::spawn(async move { (a.id, meta.insert_asset(&a).await) })
    });
    let results = futures_util::future::join_all(inserts).await;
    let mut conflicts = 0;
    for result in results {
        let (id, outcome) = result.unwrap();
        match outcome {
            Ok(()) => assert!(meta.get_asset(id).await.unwrap().is_some()),
            Err(MetaError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(conflicts, 1);
    assert_eq!(meta.asset_counts().await.unwrap().pending, 101);
}

fn planned(asset: &Asset, width: i64) -> Variant {
    Variant {
        storage_key: format!(
            "{}-p-{width}.png",
            asset.storage_key.trim_end_matches(".png")
        ),
        asset_id: asset.id,
        width,
        height: Some(width / 2),
        format: "png".into(),
        quality: 100,
        state: VariantState::Pending,
        size: None,
        file_hash: None,
        error: None,
    }
}

async fn variant_jobs(meta: Arc<dyn MetaStore>) {
    let site = site(meta.as_ref()).await;
    let t0 = now();
    let lease = Duration::seconds(60);
    // Completing a raster image's upload queues its job; other types queue nothing.
    let mut svg = asset(site, None, "logo.svg", t0);
    svg.content_type = "image/svg+xml".into();
    meta.insert_asset(&svg).await.unwrap();
    assert!(meta.mark_uploaded(svg.id, 5, t0).await.unwrap());
    assert_eq!(meta.claim_variant_job(t0, t0 + lease).await.unwrap(), None);
    let png = uploaded(meta.as_ref(), site, None, "a.png", t0).await;
    // Marking it again (a retried confirmation) does not queue a second job.
    assert!(meta.mark_uploaded(png.id, 5, t0).await.unwrap());

    let job = meta
        .claim_variant_job(t0, t0 + lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.asset_id, job.attempts), (png.id, 1));
    // Leased: nobody else gets it until the lease ends; then it is claimed again, counted.
    assert_eq!(meta.claim_variant_job(t0, t0 + lease).await.unwrap(), None);
    let later = t0 + lease;
    let again = meta
        .claim_variant_job(later, later + lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.asset_id, again.attempts), (png.id, 2));

    // Planning is idempotent: a resumed job keeps what was recorded before.
    let (small, large) = (planned(&png, 500), planned(&png, 800));
    assert!(
        meta.plan_variants(png.id, &png.storage_key, &[small.clone(), large.clone()])
            .await
            .unwrap()
    );
    assert!(
        meta.finish_variant(
            &small.storage_key,
            VariantOutcome::Done {
                size: 42,
                file_hash: "ab"
            }
        )
        .await
        .unwrap()
    );
    assert!(
        meta.plan_variants(png.id, &png.storage_key, &[small.clone(), large.clone()])
            .await
            .unwrap()
    );
    assert!(
        meta.finish_variant(&large.storage_key, VariantOutcome::Failed("broken"))
            .await
            .unwrap()
    );
    let stored = meta.variants_of(&[png.id, svg.id]).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        (
            stored[0].width,
            stored[0].state,
            stored[0].size,
            stored[0].file_hash.as_deref()
        ),
        (500, VariantState::Done, Some(42), Some("ab"))
    );
    assert_eq!(
        (stored[1].width, stored[1].state, stored[1].error.as_deref()),
        (800, VariantState::Failed, Some("broken"))
    );
    assert_eq!(
        meta.variant(&small.storage_key).await.unwrap().as_ref(),
        Some(&stored[0])
    );
    // A stale worker's finish (the first, lapsed lease's) leaves the job; the finish of the
    // lease that holds it removes it.
    meta.finish_variant_job(png.id, t0 + lease).await.unwrap();
    let third = meta
        .claim_variant_job(later + lease, later + lease * 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.attempts, 3);
    meta.finish_variant_job(png.id, later + lease * 2)
        .await
        .unwrap();
    assert_eq!(
        meta.claim_variant_job(later + lease, later + lease * 2)
            .await
            .unwrap(),
        None
    );

    // Deleting the asset removes its variant rows and queues their keys with the original's.
    let t1 = now();
    meta.delete_asset(png.id, t1).await.unwrap().unwrap();
    assert!(meta.variants_of(&[png.id]).await.unwrap().is_empty());
    let mut queued = meta.queued_blob_deletions(100).await.unwrap();
    queued.sort();
    let mut expected = vec![
        png.storage_key.clone(),
        small.storage_key.clone(),
        large.storage_key.clone(),
    ];
    expected.sort();
    assert_eq!(queued, expected);
    // A worker finishing a variant of a deleted asset learns it (and removes its object).
    assert!(
        !meta
            .finish_variant(&small.storage_key, VariantOutcome::Failed("late"))
            .await
            .unwrap()
    );
    assert!(
        !meta
            .plan_variants(png.id, &png.storage_key, &[small])
            .await
            .unwrap()
    );

    // A job whose asset is deleted before it runs disappears with it.
    let gone = uploaded(meta.as_ref(), site, None, "b.png", t1).await;
    meta.delete_asset(gone.id, t1).await.unwrap().unwrap();
    assert_eq!(
        meta.claim_variant_job(later + lease, later + lease * 2)
            .await
            .unwrap(),
        None
    );
}

async fn token_lifecycle(meta: Arc<dyn MetaStore>) {
    let (a, b) = (site(meta.as_ref()).await, site(meta.as_ref()).await);
    let t0 = now();
    let expires = t0 + chrono::Duration::hours(1);
    let (first, second) = (ObjectId::generate(t0), ObjectId::generate(t0));
    let (first_hash, second_hash) = (TokenHash::of("first"), TokenHash::of("second"));
    meta.create_token(first, &first_hash, Scopes::ALL, &[a, b], t0, Some(expires))
        .await
        .unwrap();
    let later = t0 + chrono::Duration::seconds(1);
    meta.create_token(
        second,
        &second_hash,
        "assets:read".parse().unwrap(),
        &[b],
        later,
        None,
    )
    .await
    .unwrap();

    // The expiry comes back with the grant, which says when it has passed.
    let grant = meta.find_token(&first_hash).await.unwrap().unwrap();
    assert_eq!(grant.expires_at, Some(expires));
    assert!(!grant.expired(t0) && grant.expired(expires));
    assert_eq!(
        meta.find_token(&second_hash)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        None
    );

    // Listed oldest first, with their sites; by site, only those granted it.
    let all = meta.list_tokens(None).await.unwrap();
    assert_eq!(
        all.iter().map(|t| t.id).collect::<Vec<_>>(),
        [first, second]
    );
    let mut sites = vec![a, b];
    sites.sort();
    assert_eq!(all[0].sites, sites);
    assert_eq!(
        (all[0].created_on, all[0].expires_at, all[0].last_used),
        (t0, Some(expires), None)
    );
    assert_eq!(all[1].scopes.to_string(), "assets:read");
    let of_a = meta.list_tokens(Some(a)).await.unwrap();
    assert_eq!(of_a.iter().map(|t| t.id).collect::<Vec<_>>(), [first]);

    // Last use: a later time wins, an earlier one (from a slower node) does not go back.
    let used = t0 + chrono::Duration::minutes(5);
    meta.record_token_use(&[(first, used), (second, t0)])
        .await
        .unwrap();
    meta.record_token_use(&[(first, t0)]).await.unwrap();
    let all = meta.list_tokens(None).await.unwrap();
    assert_eq!((all[0].last_used, all[1].last_used), (Some(used), Some(t0)));

    // Revoked: gone with its grants; a second revoke finds nothing; the other token stays.
    assert!(meta.revoke_token(first).await.unwrap());
    assert!(!meta.revoke_token(first).await.unwrap());
    assert!(meta.find_token(&first_hash).await.unwrap().is_none());
    assert!(meta.list_tokens(Some(a)).await.unwrap().is_empty());
    assert_eq!(meta.list_tokens(None).await.unwrap().len(), 1);
    assert!(meta.find_token(&second_hash).await.unwrap().is_some());
}

/// Every listed asset of `site` (in `folder`'s tree), paging through 100 at a time, and the
/// total each page reported (all the same).
async fn list_all(
    meta: &dyn MetaStore,
    site: ObjectId,
    folder: Option<ObjectId>,
) -> (Vec<ObjectId>, i64) {
    let mut ids = Vec::new();
    let mut totals = std::collections::BTreeSet::new();
    loop {
        let page = meta
            .list_assets(
                site,
                folder,
                PageRequest {
                    offset: ids.len() as i64,
                    limit: 100,
                },
            )
            .await
            .unwrap();
        totals.insert(page.total);
        if page.items.is_empty() {
            break;
        }
        ids.extend(page.items.iter().map(|a| a.id));
    }
    assert_eq!(totals.len(), 1, "totals changed while paging: {totals:?}");
    (ids, totals.pop_first().unwrap())
}

/// `total` of a list: what the first page says.
async fn total(meta: &dyn MetaStore, site: ObjectId, folder: Option<ObjectId>) -> i64 {
    meta.list_assets(
        site,
        folder,
        PageRequest {
            offset: 0,
            limit: 1,
        },
    )
    .await
    .unwrap()
    .total
}

/// The totals are counters, not counts: they must follow every path that makes an asset listed
/// or unlisted, and no other.
async fn list_totals_follow_every_change(meta: Arc<dyn MetaStore>) {
    let m = meta.as_ref();
    let s = site(m).await;
    let top = ObjectId::generate(now());
    let child = ObjectId::generate(now());
    m.create_folder(top, s, None, "top", now()).await.unwrap();
    m.create_folder(child, s, Some(top), "child", now())
        .await
        .unwrap();
    let t0 = now();
    let expect = |site_total, top_total, child_total| async move {
        assert_eq!(
            (
                total(m, s, None).await,
                total(m, s, Some(top)).await,
                total(m, s, Some(child)).await
            ),
            (site_total, top_total, child_total)
        );
    };
    expect(0, 0, 0).await;

    // Created (pending): not listed.
    let a = asset(s, Some(child), "a.png", t0);
    let b = asset(s, None, "b.txt", t0);
    let c = asset(s, Some(top), "c.png", t0);
    for x in [&a, &b, &c] {
        m.insert_asset(x).await.unwrap();
    }
    expect(0, 0, 0).await;

    // Uploaded: listed, in its folder and every ancestor; once, however often it is confirmed.
    assert!(m.mark_uploaded(a.id, 5, t0).await.unwrap());
    assert!(m.mark_uploaded(b.id, 5, t0).await.unwrap());
    assert!(m.mark_uploaded(a.id, 5, t0).await.unwrap());
    expect(2, 1, 1).await;

    // Failed: only a pending asset can fail, and it was not counted.
    assert!(!m.mark_failed(a.id, t0).await.unwrap());
    assert!(m.mark_failed(c.id, t0).await.unwrap());
    expect(2, 1, 1).await;
    // A failed asset whose correct bytes arrive later is listed then.
    assert!(m.mark_uploaded(c.id, 5, t0).await.unwrap());
    expect(3, 2, 1).await;

    // Deleted: an uploaded asset leaves the totals, a pending one never was in them.
    m.delete_asset(a.id, t0).await.unwrap().unwrap();
    expect(2, 1, 0).await;
    let pending = asset(s, Some(top), "p.png", t0);
    m.insert_asset(&pending).await.unwrap();
    m.delete_asset(pending.id, t0).await.unwrap().unwrap();
    assert!(m.delete_asset(a.id, t0).await.unwrap().is_none());
    expect(2, 1, 0).await;

    // The sweep deletes expired pending and failed assets: no total moves.
    let expired = asset(s, Some(child), "e.png", t0);
    let failed = asset(s, None, "f.png", t0);
    m.insert_asset(&expired).await.unwrap();
    m.insert_asset(&failed).await.unwrap();
    assert!(m.mark_failed(failed.id, t0).await.unwrap());
    let later = t0 + Duration::hours(2);
    for gone in m.expired_pending_assets(later, 100).await.unwrap() {
        m.delete_asset(gone.id, later).await.unwrap().unwrap();
    }
    expect(2, 1, 0).await;

    // A mark-uploaded of an asset deleted meanwhile changes nothing.
    assert!(!m.mark_uploaded(a.id, 5, t0).await.unwrap());
    expect(2, 1, 0).await;
    let (listed, total) = list_all(m, s, None).await;
    assert_eq!((listed.len() as i64, total), (2, 2));
}

/// Uploads of one site confirmed at the same time, and deletes at the same time, lose no update
/// of the totals (PostgreSQL's counter rows are updated by concurrent transactions).
async fn concurrent_uploads_keep_totals_exact(meta: Arc<dyn MetaStore>) {
    let s = site(meta.as_ref()).await;
    let folder = ObjectId::generate(now());
    meta.create_folder(folder, s, None, "f", now())
        .await
        .unwrap();
    let t0 = now();
    let assets: Vec<Asset> = (0..240)
        .map(|i| asset(s, (i % 3 == 0).then_some(folder), &format!("{i}.png"), t0))
        .collect();
    for a in &assets {
        meta.insert_asset(a).await.unwrap();
    }
    let in_folder = assets.iter().filter(|a| a.folder_id.is_some()).count() as i64;
    let run = |ids: Vec<ObjectId>, delete: bool| {
        let meta = meta.clone();
        tokio::spawn(async move {
            for id in ids {
                if delete {
                    meta.delete_asset(id, t0).await.unwrap().unwrap();
                } else {
                    assert!(meta.mark_uploaded(id, 5, t0).await.unwrap());
                }
            }
        })
    };
    let workers: Vec<_> = assets
        .chunks(15)
        .map(|chunk| run(chunk.iter().map(|a| a.id).collect(), false))
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(total(meta.as_ref(), s, None).await, 240);
    assert_eq!(total(meta.as_ref(), s, Some(folder)).await, in_folder);

    let deleted: Vec<&Asset> = assets.iter().step_by(2).collect();
    let deleted_in_folder = deleted.iter().filter(|a| a.folder_id.is_some()).count() as i64;
    let workers: Vec<_> = deleted
        .chunks(8)
        .map(|chunk| run(chunk.iter().map(|a| a.id).collect(), true))
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(total(meta.as_ref(), s, None).await, 120);
    assert_eq!(
        total(meta.as_ref(), s, Some(folder)).await,
        in_folder - deleted_in_folder
    );
}

/// Pages anywhere in a list, read from whichever end is nearer, hold exactly the items of that
/// slice of the list in list order (ties in creation time broken by id); with a folder filter
/// too, over a small tree (read from the per-folder index) and a large one (walked in site
/// order).
async fn pages_at_any_offset_hold_the_right_items(meta: Arc<dyn MetaStore>) {
    check_pages(meta, |_| async {}).await;
}

/// Every page of a site and of folder trees, against the list computed here. `jump(n)` moves
/// the list's position sequence on by `n` buckets (or does nothing), so that the assets fall in
/// buckets far apart, some of them empty.
async fn check_pages<F, Fut>(meta: Arc<dyn MetaStore>, jump: F)
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let s = site(meta.as_ref()).await;
    // A chain root → d1 → … → d5, and a small folder beside it.
    let mut chain = vec![ObjectId::generate(now())];
    meta.create_folder(chain[0], s, None, "root", now())
        .await
        .unwrap();
    for depth in 1..=5 {
        let id = ObjectId::generate(now());
        meta.create_folder(id, s, Some(chain[depth - 1]), "d", now())
            .await
            .unwrap();
        chain.push(id);
    }
    let small = ObjectId::generate(now());
    meta.create_folder(small, s, None, "small", now())
        .await
        .unwrap();
    let t0 = now();
    let n = 523;
    let mut assets = Vec::new();
    for i in 0..n {
        // Three assets per millisecond, created out of order.
        let created = t0 + Duration::milliseconds(((i * 7919) % n) / 3);
        let folder = match i % 10 {
            0 => Some(small),
            1..=8 => Some(chain[i as usize % chain.len()]),
            _ => None,
        };
        assets.push(asset(s, folder, &format!("{i}.png"), created));
    }
    for (i, a) in assets.iter().enumerate() {
        if i % 25 == 24 {
            jump(i as i64 % 3).await;
        }
        meta.insert_asset(a).await.unwrap();
    }
    let workers: Vec<_> = assets
        .chunks(40)
        .map(|chunk| {
            let (meta, ids) = (meta.clone(), chunk.iter().map(|a| a.id).collect::<Vec<_>>());
            tokio::spawn(async move {
                for id in ids {
                    assert!(meta.mark_uploaded(id, 5, t0).await.unwrap());
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    // One pending asset, never listed.
    meta.insert_asset(&asset(s, Some(chain[3]), "pending.png", t0))
        .await
        .unwrap();
    // The list order is the order the rows were inserted in, whatever their `created_on`
    // (created out of order above) and whatever order their uploads completed in.
    let in_list_order = |filter: &dyn Fn(&Asset) -> bool| {
        assets
            .iter()
            .filter(|a| filter(a))
            .map(|a| a.id)
            .collect::<Vec<_>>()
    };
    let below_d2 = chain[2..].to_vec();
    let cases: Vec<(Option<ObjectId>, Vec<ObjectId>)> = vec![
        (None, in_list_order(&|_| true)),
        (
            Some(chain[0]),
            in_list_order(&|a| a.folder_id.is_some_and(|f| chain.contains(&f))),
        ),
        (
            Some(chain[2]),
            in_list_order(&|a| a.folder_id.is_some_and(|f| below_d2.contains(&f))),
        ),
        (Some(small), in_list_order(&|a| a.folder_id == Some(small))),
    ];
    for (folder, expected) in cases {
        let len = expected.len() as i64;
        let mut offsets = vec![
            0,
            1,
            len / 2 - 1,
            len / 2,
            len / 2 + 1,
            len - 1,
            len,
            len + 5,
        ];
        offsets.extend((0..len).step_by(37));
        for offset in offsets.into_iter().filter(|o| *o >= 0) {
            for limit in [1, 7, 100] {
                let page = meta
                    .list_assets(s, folder, PageRequest { offset, limit })
                    .await
                    .unwrap();
                let from = (offset as usize).min(expected.len());
                let to = ((offset + limit) as usize).min(expected.len());
                assert_eq!(
                    (
                        page.items.iter().map(|a| a.id).collect::<Vec<_>>(),
                        page.total
                    ),
                    (expected[from..to].to_vec(), len),
                    "folder {folder:?}, offset {offset}, limit {limit}"
                );
            }
        }
    }
}

/// Pages of a folder tree deep into one bucket: skips past `list_plan::PER_FOLDER_SKIP_MAX`
/// (1,000), where PostgreSQL reads the bucket's range whole instead of per folder.
async fn deep_skips_in_a_tree(meta: Arc<dyn MetaStore>) {
    let s = site(meta.as_ref()).await;
    let top = ObjectId::generate(now());
    meta.create_folder(top, s, None, "top", now())
        .await
        .unwrap();
    let child = ObjectId::generate(now());
    meta.create_folder(child, s, Some(top), "child", now())
        .await
        .unwrap();
    let mut in_tree = Vec::new();
    for i in 0..1_500 {
        let folder = match i % 5 {
            0 | 2 => Some(top),
            1 | 3 => Some(child),
            _ => None,
        };
        let a = asset(s, folder, &format!("{i}.png"), now());
        meta.insert_asset(&a).await.unwrap();
        assert!(meta.mark_uploaded(a.id, 5, now()).await.unwrap());
        if folder.is_some() {
            in_tree.push(a.id);
        }
    }
    let n = in_tree.len() as i64;
    for offset in [0, 999, 1_000, 1_001, n - 50, n - 1] {
        let page = meta
            .list_assets(s, Some(top), PageRequest { offset, limit: 7 })
            .await
            .unwrap();
        let from = offset as usize;
        let to = (from + 7).min(in_tree.len());
        assert_eq!(
            (
                page.items.iter().map(|a| a.id).collect::<Vec<_>>(),
                page.total
            ),
            (in_tree[from..to].to_vec(), n),
            "offset {offset}"
        );
    }
}

/// The scrub's and the backup's view: every asset and variant through a cursor, page by page,
/// which keys a row knows, and marking an uploaded asset whose bytes are damaged.
async fn scrub_cursors(meta: Arc<dyn MetaStore>) {
    let site = site(meta.as_ref()).await;
    let t0 = now() - Duration::minutes(10);
    let mut ids = Vec::new();
    for n in 0..5 {
        let a = uploaded(
            meta.as_ref(),
            site,
            None,
            &format!("{n}.png"),
            t0 + Duration::seconds(n),
        )
        .await;
        ids.push(a.id);
    }
    let pending = asset(site, None, "p.png", t0 + Duration::seconds(9));
    meta.insert_asset(&pending).await.unwrap();
    ids.push(pending.id);
    ids.sort_by_key(ToString::to_string);
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = meta.assets_after(after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.iter().map(|a| a.id));
    }
    assert_eq!(seen, ids, "every asset once, by id, pending included");

    let first = meta.get_asset(ids[0]).await.unwrap().unwrap();
    let variants: Vec<Variant> = [500, 800, 1080]
        .iter()
        .map(|&w| planned(&first, w))
        .collect();
    assert!(
        meta.plan_variants(first.id, &first.storage_key, &variants)
            .await
            .unwrap()
    );
    let mut keys = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = meta.variants_after(after.as_deref(), 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.storage_key.clone());
        keys.extend(page.into_iter().map(|v| v.storage_key));
    }
    let mut expected: Vec<String> = variants.iter().map(|v| v.storage_key.clone()).collect();
    expected.sort();
    assert_eq!(keys, expected);

    assert!(meta.key_known(&first.storage_key).await.unwrap());
    assert!(meta.key_known(&pending.storage_key).await.unwrap());
    assert!(meta.key_known(&variants[0].storage_key).await.unwrap());
    assert!(
        !meta
            .key_known(&format!("{site}/nobody_x.png"))
            .await
            .unwrap()
    );
    let doomed = meta.get_asset(ids[1]).await.unwrap().unwrap();
    meta.delete_asset(doomed.id, now()).await.unwrap().unwrap();
    assert!(
        meta.key_known(&doomed.storage_key).await.unwrap(),
        "queued for deletion"
    );

    assert!(meta.mark_corrupt(first.id, now()).await.unwrap());
    assert_eq!(
        meta.get_asset(first.id).await.unwrap().unwrap().state,
        AssetState::Failed
    );
    assert!(
        !meta.mark_corrupt(first.id, now()).await.unwrap(),
        "no longer uploaded"
    );
    assert!(
        !meta.mark_corrupt(pending.id, now()).await.unwrap(),
        "never uploaded"
    );
    let listed = meta
        .list_assets(
            site,
            None,
            PageRequest {
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert!(listed.items.iter().all(|a| a.id != first.id));
}

fn replacement_of(asset: &Asset, name: &str, at: chrono::DateTime<Utc>) -> Replacement {
    let id = ObjectId::generate(at);
    Replacement {
        id,
        asset_id: asset.id,
        site_id: asset.site_id,
        original_file_name: name.into(),
        content_type: "image/jpeg".into(),
        file_hash: "1".repeat(32),
        storage_key: assetd::keys::replacement_key(asset.site_id, asset.id, id, name),
        upload_expires_at: at + Duration::hours(1),
        created_on: at,
    }
}

async fn queued(meta: &dyn MetaStore) -> Vec<String> {
    let mut keys = meta.queued_blob_deletions(100).await.unwrap();
    keys.sort();
    keys
}

/// Replacing a file: the newest waiting replacement wins, completing it swaps the asset's file
/// and queues and retires the old keys, and every way a replacement or its asset goes queues
/// its key.
async fn replacements(meta: Arc<dyn MetaStore>) {
    let t0 = now();
    let site = site(meta.as_ref()).await;
    let folder = ObjectId::generate(t0);
    meta.create_folder(folder, site, None, "f", t0)
        .await
        .unwrap();
    let png = uploaded(meta.as_ref(), site, Some(folder), "a.png", t0).await;
    let variant = planned(&png, 500);
    assert!(
        meta.plan_variants(png.id, &png.storage_key, std::slice::from_ref(&variant))
            .await
            .unwrap()
    );

    // An asset without its file cannot be replaced; an unknown one is not found.
    let pending = asset(site, None, "p.png", t0);
    meta.insert_asset(&pending).await.unwrap();
    assert!(matches!(
        meta.start_replacement(&replacement_of(&pending, "x.jpg", t0), t0)
            .await,
        Err(MetaError::NotUploaded)
    ));
    let mut ghost = pending.clone();
    ghost.id = ObjectId::generate(t0);
    assert_eq!(
        meta.start_replacement(&replacement_of(&ghost, "x.jpg", t0), t0)
            .await
            .unwrap(),
        None
    );

    // A second replacement drops the first, whose key is queued until its window closes.
    let first = replacement_of(&png, "b.jpg", t0);
    assert_eq!(
        meta.start_replacement(&first, t0)
            .await
            .unwrap()
            .unwrap()
            .id,
        png.id
    );
    assert!(meta.key_known(&first.storage_key).await.unwrap());
    let second = replacement_of(&png, "c.jpg", t0);
    meta.start_replacement(&second, t0).await.unwrap().unwrap();
    assert_eq!(meta.replacement(first.id).await.unwrap(), None);
    assert_eq!(
        meta.replacement(second.id).await.unwrap().as_ref(),
        Some(&second)
    );
    assert_eq!(queued(meta.as_ref()).await, vec![first.storage_key.clone()]);
    meta.finish_blob_deletion(&first.storage_key, t0)
        .await
        .unwrap();
    assert_eq!(
        queued(meta.as_ref()).await,
        vec![first.storage_key.clone()],
        "kept until its window closes"
    );
    assert_eq!(
        meta.complete_replacement(first.id, 9, t0).await.unwrap(),
        None
    );
    assert_eq!(
        meta.open_replacements(t0, 10).await.unwrap(),
        vec![second.clone()]
    );

    // Completing: the asset points at the new file, the old keys are queued and retired.
    let t1 = t0 + Duration::seconds(1);
    let replaced = meta
        .complete_replacement(second.id, 1234, t1)
        .await
        .unwrap()
        .unwrap();
    let asset = meta.get_asset(png.id).await.unwrap().unwrap();
    assert_eq!(replaced.asset, asset);
    assert_eq!(
        (
            asset.storage_key.as_str(),
            asset.original_file_name.as_str(),
            asset.content_type.as_str(),
            asset.file_hash.as_str(),
            asset.size,
            asset.last_updated,
        ),
        (
            second.storage_key.as_str(),
            "c.jpg",
            "image/jpeg",
            second.file_hash.as_str(),
            Some(1234),
            t1
        )
    );
    assert_eq!(
        (asset.folder_id, asset.display_name.as_str(), asset.state),
        (
            Some(folder),
            png.display_name.as_str(),
            AssetState::Uploaded
        )
    );
    let mut old = replaced.old_keys.clone();
    old.sort();
    let mut expected = vec![png.storage_key.clone(), variant.storage_key.clone()];
    expected.sort();
    assert_eq!(old, expected);
    for key in &expected {
        assert!(queued(meta.as_ref()).await.contains(key), "{key}");
        assert_eq!(
            meta.retired_key_owner(key).await.unwrap().unwrap().id,
            png.id
        );
    }
    assert!(meta.variants_of(&[png.id]).await.unwrap().is_empty());
    assert_eq!(meta.replacement(second.id).await.unwrap(), None);
    assert!(meta.open_replacements(t0, 10).await.unwrap().is_empty());
    // Its new variants are to be made (a job, and a worker that read the old file is refused).
    let job = meta
        .claim_variant_job(t1, t1 + Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.asset_id, job.attempts), (png.id, 1));
    assert!(
        !meta
            .plan_variants(png.id, &png.storage_key, &[planned(&png, 800)])
            .await
            .unwrap()
    );

    // A replacement dropped (bytes that did not verify, an expired window) queues its key.
    let third = replacement_of(&asset, "d.jpg", t1);
    meta.start_replacement(&third, t1).await.unwrap().unwrap();
    assert_eq!(
        meta.expired_replacements(t1 + Duration::hours(2), 10)
            .await
            .unwrap(),
        vec![third.clone()]
    );
    assert!(meta.drop_replacement(third.id, t1).await.unwrap());
    assert!(!meta.drop_replacement(third.id, t1).await.unwrap());
    assert!(queued(meta.as_ref()).await.contains(&third.storage_key));

    // Deleting the folder recursively queues a waiting replacement's key too, and ends the
    // redirects of the retired keys.
    let fourth = replacement_of(&asset, "e.jpg", t1);
    meta.start_replacement(&fourth, t1).await.unwrap().unwrap();
    let tree = meta.delete_folder(folder, true, t1).await.unwrap().unwrap();
    assert!(tree.keys.contains(&fourth.storage_key), "{:?}", tree.keys);
    assert!(queued(meta.as_ref()).await.contains(&fourth.storage_key));
    assert_eq!(meta.replacement(fourth.id).await.unwrap(), None);
    assert_eq!(
        meta.retired_key_owner(&png.storage_key).await.unwrap(),
        None
    );

    // And deleting an asset does the same.
    let other = uploaded(meta.as_ref(), site, None, "o.png", t1).await;
    let fifth = replacement_of(&other, "f.jpg", t1);
    meta.start_replacement(&fifth, t1).await.unwrap().unwrap();
    meta.delete_asset(other.id, t1).await.unwrap().unwrap();
    assert!(queued(meta.as_ref()).await.contains(&fifth.storage_key));
    assert!(meta.open_replacements(t1, 10).await.unwrap().is_empty());
}

async fn webhook(meta: &dyn MetaStore, site: ObjectId, trigger: Trigger) -> ObjectId {
    let id = ObjectId::generate(now());
    meta.create_webhook(&Webhook {
        id,
        site_id: site,
        trigger,
        url: "http://127.0.0.1:9/hook".into(),
        secret: SigningSecret::generate(),
        created_on: now(),
        status: DeliveryStatus::default(),
    })
    .await
    .unwrap();
    id
}

async fn webhook_outbox(meta: Arc<dyn MetaStore>) {
    let s = site(meta.as_ref()).await;
    let quiet = site(meta.as_ref()).await;
    let created = webhook(meta.as_ref(), s, Trigger::AssetCreated).await;
    let changed = webhook(meta.as_ref(), s, Trigger::AssetChanged).await;
    let t = now();
    // Events in the change's transaction, for the site's listening webhooks only; an upload
    // marked again is no new event, nor is another site's upload.
    let a = uploaded(meta.as_ref(), s, None, "a.png", t).await;
    assert!(meta.mark_uploaded(a.id, 5, t).await.unwrap());
    uploaded(meta.as_ref(), quiet, None, "q.txt", t).await;
    let b = asset(s, None, "b.txt", t);
    meta.insert_asset(&b).await.unwrap();
    assert!(meta.mark_uploaded(b.id, 3, t).await.unwrap());
    let changes = AssetChanges {
        display_name: Some("renamed".into()),
        ..AssetChanges::default()
    };
    meta.update_asset(a.id, &changes, t).await.unwrap().unwrap();
    let pending = |id| {
        let meta = meta.clone();
        async move { meta.get_webhook(id).await.unwrap().unwrap().status.pending }
    };
    assert_eq!((pending(created).await, pending(changed).await), (2, 1));

    // Concurrent claims never hand out one delivery twice.
    let lease = t + Duration::seconds(60);
    let claims: Vec<_> = (0..6)
        .map(|_| {
            let meta = meta.clone();
            tokio::spawn(async move { meta.claim_deliveries(t, lease, 1).await.unwrap() })
        })
        .collect();
    let mut claimed = Vec::new();
    for claim in claims {
        claimed.extend(claim.await.unwrap());
    }
    let mut keys: Vec<_> = claimed.iter().map(|d| (d.event_id, d.webhook_id)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        claimed.len(),
        "a delivery claimed twice: {claimed:?}"
    );
    assert!(claimed.len() <= 3);
    // Leased ones are not claimed again until their lease ends.
    let rest = meta.claim_deliveries(t, lease, 10).await.unwrap();
    assert_eq!(claimed.len() + rest.len(), 3);
    claimed.extend(rest);
    assert!(
        meta.claim_deliveries(t, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let snapshot: serde_json::Value = serde_json::from_str(&claimed[0].snapshot).unwrap();
    assert_eq!(snapshot["site_id"], s.to_string());
    assert!(claimed.iter().all(|d| d.attempts == 1));

    // Delivered: gone. Failed: due again at its retry time, with the webhook's other due
    // events held until then. Released: due at once. An expired lease: claimable again.
    let (ok, rest): (Vec<_>, Vec<_>) = claimed.into_iter().partition(|d| d.webhook_id == changed);
    // The status is reported apart, as the delivery worker does.
    let book = StatusBook::default();
    meta.finish_delivery(&ok[0], DeliveryOutcome::Delivered { status: 200 }, t)
        .await
        .unwrap();
    book.note(changed, ok[0].event_id, Ended::Delivered(200), t);
    meta.report_delivery_status(&book.take()).await.unwrap();
    let status = meta.get_webhook(changed).await.unwrap().unwrap().status;
    assert_eq!(
        (status.pending, status.delivered, status.failures),
        (0, 1, 0)
    );
    assert_eq!(status.last_status, Some(200));
    let retry_at = t + Duration::seconds(30);
    meta.release_delivery(&rest[1]).await.unwrap();
    meta.finish_delivery(
        &rest[0],
        DeliveryOutcome::Failed {
            status: Some(503),
            error: "down",
            retry_at: Some(retry_at),
        },
        t,
    )
    .await
    .unwrap();
    book.note(
        created,
        rest[0].event_id,
        Ended::Failed(Some(503), "down".into()),
        t,
    );
    meta.report_delivery_status(&book.take()).await.unwrap();
    let again = meta.claim_deliveries(t, lease, 10).await.unwrap();
    assert!(again.is_empty(), "held behind the failure: {again:?}");
    let lease = retry_at + Duration::seconds(60);
    let due = meta.claim_deliveries(retry_at, lease, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert!(
        meta.claim_deliveries(retry_at, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let after_lease = lease + Duration::seconds(1);
    let due = meta
        .claim_deliveries(after_lease, after_lease + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 2, "claimable again once the lease ran out");
    let mut attempts: Vec<i64> = due.iter().map(|d| d.attempts).collect();
    attempts.sort_unstable();
    // The released one's attempt was given back.
    assert_eq!(attempts, [2, 3]);
    let status = meta.get_webhook(created).await.unwrap().unwrap().status;
    assert_eq!(status.failures, 1);
    assert_eq!(status.last_error.as_deref(), Some("down"));
    // Given up: gone, counted.
    meta.finish_delivery(
        &due[0],
        DeliveryOutcome::Failed {
            status: None,
            error: "timed out",
            retry_at: None,
        },
        after_lease,
    )
    .await
    .unwrap();
    book.note(
        created,
        due[0].event_id,
        Ended::GaveUp(None, "timed out".into()),
        after_lease,
    );
    meta.report_delivery_status(&book.take()).await.unwrap();
    let status = meta.get_webhook(created).await.unwrap().unwrap().status;
    assert_eq!(
        (status.pending, status.given_up, status.failures),
        (1, 1, 2)
    );
    assert_eq!(status.last_status, None);
    // Deleting the webhook drops what it had left; a site being deleted loses its webhooks
    // and takes no new one.
    assert!(meta.delete_webhook(created).await.unwrap());
    assert!(!meta.delete_webhook(created).await.unwrap());
    assert!(
        meta.claim_deliveries(after_lease + Duration::hours(1), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(meta.start_site_deletion(s, t).await.unwrap());
    assert!(meta.get_webhook(changed).await.unwrap().is_none());
    let refused = meta
        .create_webhook(&Webhook {
            id: ObjectId::generate(t),
            site_id: s,
            trigger: Trigger::AssetDeleted,
            url: "http://127.0.0.1:9/".into(),
            secret: SigningSecret::generate(),
            created_on: t,
            status: DeliveryStatus::default(),
        })
        .await;
    assert!(
        matches!(refused, Err(MetaError::UnknownSite(_))),
        "{refused:?}"
    );
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let meta: Arc<dyn MetaStore> = Arc::new(SqliteMeta::open(&dir.path().join("m.sqlite3")).await.unwrap());
                    super::$case(meta).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let db = pg::FreshDatabase::create().await;
                    let meta: Arc<dyn MetaStore> = Arc::new(PostgresMeta::connect(&db.url).await.unwrap());
                    super::$case(meta).await;
                }
            )*
        }
    };
}

conformance!(
    concurrent_inserts_fail_alone,
    tokens_and_sites,
    token_lifecycle,
    folders,
    concurrent_duplicate_folders,
    assets_lifecycle,
    listing_and_folder_filter,
    variant_jobs,
    list_totals_follow_every_change,
    concurrent_uploads_keep_totals_exact,
    pages_at_any_offset_hold_the_right_items,
    deep_skips_in_a_tree,
    scrub_cursors,
    replacements,
    webhook_outbox,
);

/// The WAL's checkpoint sequence number (bytes 12..16 of its header, big-endian), which SQLite
/// increments each time the WAL starts over from its beginning.
fn wal_restarts(wal: &std::path::Path) -> u32 {
    let header = std::fs::read(wal).unwrap();
    u32::from_be_bytes(header[12..16].try_into().unwrap())
}

/// Under a steady stream of commits, with never a pause for a checkpoint to catch up, the WAL
/// still starts over again and again instead of growing with every write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_starts_over_under_steady_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite3");
    let meta: Arc<dyn MetaStore> = Arc::new(SqliteMeta::open(&path).await.unwrap());
    let s = site(meta.as_ref()).await;
    let wal = dir.path().join("m.sqlite3-wal");
    let restarts_before = wal_restarts(&wal);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (meta, stop) = (meta.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let a = asset(s, None, &format!("{w}-{i}.png"), now());
                    meta.insert_asset(&a).await.unwrap();
                    i += 1;
                }
                i
            })
        })
        .collect();
    // Eight checkpoint periods of writing.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut written = 0;
    for writer in writers {
        written += writer.await.unwrap();
    }
    let restarts = wal_restarts(&wal).wrapping_sub(restarts_before);
    assert!(
        restarts >= 2,
        "the WAL started over {restarts} times during {written} inserts"
    );
    assert!(std::fs::metadata(&wal).unwrap().len() <= 64 << 20);
}

/// The PostgreSQL group-commit writer keeps its connection between batches; when the database
/// has dropped it meanwhile (a restart, an administrator), the next create still succeeds.
#[tokio::test]
async fn postgres_writer_replaces_a_dropped_connection() {
    let db = pg::FreshDatabase::create().await;
    let pg = PostgresMeta::connect(&db.url).await.unwrap();
    let meta: Arc<dyn MetaStore> = Arc::new(pg.clone());
    let s = site(meta.as_ref()).await;
    let first = asset(s, None, "before.png", now());
    meta.insert_asset(&first).await.unwrap();
    let dropped: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(pg.pool())
    .await
    .unwrap();
    assert!(!dropped.is_empty(), "the writer's connection was open");
    // Past the writer's idle check.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let second = asset(s, None, "after.png", now());
    meta.insert_asset(&second).await.unwrap();
    assert!(meta.get_asset(second.id).await.unwrap().is_some());
    assert!(meta.get_asset(first.id).await.unwrap().is_some());
}

/// A copy of a backend's migrations from before the list counters.
fn migrations_before(backend: &str, first_left_out: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.as_str() < first_left_out {
            std::fs::copy(entry.path(), dir.path().join(name)).unwrap();
        }
    }
    dir
}

/// Rows an existing database has before the list counters: site `a` with a folder `f` and its
/// child `g`, site `b`; assets in every state. Returns (a, f, g, b, a pending asset in g).
fn existing_rows() -> (String, ObjectId, ObjectId, ObjectId, ObjectId, ObjectId) {
    let t = now().timestamp_millis();
    let [a, f, g, b] = [0; 4].map(|_| ObjectId::generate(now()));
    let mut sql = format!(
        "INSERT INTO sites (id, name, created_on) VALUES ('{a}', 'a', {t}), ('{b}', 'b', {t}); \
         INSERT INTO asset_folders (id, site_id, parent_folder, display_name, created_on, \
         last_updated) VALUES ('{f}', '{a}', NULL, 'f', {t}, {t}), \
         ('{g}', '{a}', '{f}', 'g', {t}, {t});"
    );
    let mut pending_in_g = None;
    let rows: [(ObjectId, Option<ObjectId>, &str, usize); 6] = [
        (a, None, "uploaded", 5),
        (a, Some(f), "uploaded", 3),
        (a, Some(g), "uploaded", 2),
        (a, Some(g), "pending", 4),
        (a, None, "failed", 2),
        (b, None, "uploaded", 7),
    ];
    for (site, folder, state, count) in rows {
        for i in 0..count {
            let id = ObjectId::generate(now());
            if state == "pending" {
                pending_in_g = Some(id);
            }
            let folder = folder.map_or("NULL".to_owned(), |f| format!("'{f}'"));
            sql += &format!(
                "INSERT INTO assets (id, site_id, folder_id, original_file_name, display_name, \
                 content_type, file_hash, storage_key, size, state, upload_expires_at, \
                 created_on, last_updated) VALUES ('{id}', '{site}', {folder}, '{i}.png', \
                 '{id}_{i}.png', 'image/png', '{hash}', '{site}/{id}', 5, '{state}', {t}, {t}, \
                 {t});",
                hash = "0".repeat(32)
            );
        }
    }
    (sql, a, f, g, b, pending_in_g.unwrap())
}

/// After the migration, the totals count the rows that were there before it, and keep counting.
async fn check_backfilled_totals(
    meta: &dyn MetaStore,
    (a, f, g, b, pending): (ObjectId, ObjectId, ObjectId, ObjectId, ObjectId),
) {
    assert_eq!(total(meta, a, None).await, 10);
    assert_eq!(total(meta, a, Some(f)).await, 5);
    assert_eq!(total(meta, a, Some(g)).await, 2);
    assert_eq!(total(meta, b, None).await, 7);
    assert_eq!(list_all(meta, a, Some(f)).await.0.len(), 5);
    // The list order before the migrations (created_on, then id) is kept: every row here was
    // created in the same millisecond.
    let (listed, _) = list_all(meta, a, None).await;
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    assert!(meta.mark_uploaded(pending, 5, now()).await.unwrap());
    assert_eq!(total(meta, a, None).await, 11);
    assert_eq!(total(meta, a, Some(f)).await, 6);
    assert_eq!(total(meta, a, Some(g)).await, 3);
}

/// A SQLite database migrated up to `first_left_out`, given `existing_rows`, then opened (every
/// later migration runs).
async fn sqlite_migrated_from(first_left_out: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite3");
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    let old = migrations_before("sqlite", first_left_out);
    sqlx::migrate::Migrator::new(old.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let (sql, a, f, g, b, pending) = existing_rows();
    sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
    pool.close().await;
    let meta = SqliteMeta::open(&path).await.unwrap();
    check_backfilled_totals(&meta, (a, f, g, b, pending)).await;
}

async fn postgres_migrated_from(first_left_out: &str) {
    let db = pg::FreshDatabase::create().await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let old = migrations_before("postgres", first_left_out);
    sqlx::migrate::Migrator::new(old.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let (sql, a, f, g, b, pending) = existing_rows();
    sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
    let meta = PostgresMeta::from_pool(pool).await.unwrap();
    check_backfilled_totals(&meta, (a, f, g, b, pending)).await;
}

#[tokio::test]
async fn sqlite_migrations_backfill_list_totals() {
    sqlite_migrated_from("0007_list_counts").await;
}

#[tokio::test]
async fn sqlite_migration_to_list_positions_keeps_totals_and_order() {
    sqlite_migrated_from("0008_list_positions").await;
}

#[tokio::test]
async fn postgres_migrations_backfill_list_totals() {
    postgres_migrated_from("0006_list_counts").await;
}

#[tokio::test]
async fn postgres_migration_to_list_positions_keeps_totals_and_order() {
    postgres_migrated_from("0007_list_positions").await;
}

/// Pages whose assets lie in buckets far apart (the position sequence moved on between
/// inserts) and across bucket boundaries.
#[tokio::test]
async fn sqlite_pages_across_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let meta = SqliteMeta::open(&dir.path().join("m.sqlite3"))
        .await
        .unwrap();
    let pool = meta.pool().clone();
    check_pages(Arc::new(meta), |buckets| {
        let pool = pool.clone();
        async move {
            // To the last position of a bucket: the next asset starts the following one.
            sqlx::query("UPDATE list_sequence SET last = (last / $1 + $2) * $1 - 1")
                .bind(BUCKET)
                .bind(buckets + 1)
                .execute(&pool)
                .await
                .unwrap();
        }
    })
    .await;
    assert_spread_over_buckets(
        sqlx::query_scalar("SELECT COUNT(DISTINCT bucket) FROM site_list_counts")
            .fetch_one(&pool)
            .await
            .unwrap(),
    );
}

/// The assets of `check_pages` jumped buckets: 523 of them in 20 jumps, some by 2 buckets.
fn assert_spread_over_buckets(buckets: i64) {
    assert!(buckets > 20, "only {buckets} buckets used");
}

#[tokio::test]
async fn postgres_pages_across_buckets() {
    let db = pg::FreshDatabase::create().await;
    let meta = PostgresMeta::connect(&db.url).await.unwrap();
    let pool = meta.pool().clone();
    check_pages(Arc::new(meta), |buckets| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "SELECT setval('assets_list_seq', (nextval('assets_list_seq') / $1 + $2) * $1, false)",
            )
            .bind(BUCKET)
            .bind(buckets + 1)
            .execute(&pool)
            .await
            .unwrap();
        }
    })
    .await;
    assert_spread_over_buckets(
        sqlx::query_scalar("SELECT COUNT(DISTINCT bucket) FROM site_list_counts")
            .fetch_one(&pool)
            .await
            .unwrap(),
    );
}

/// The size of a list bucket (`list_plan::BUCKET_SIZE`, and `>> 14` in the migrations).
const BUCKET: i64 = 1 << 14;
