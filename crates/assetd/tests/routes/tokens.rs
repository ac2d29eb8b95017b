//! Token lifecycle as requests see it: expiry, revocation, last use.

use std::time::Duration;

use assetd::ids::ObjectId;
use assetd::scopes::Scopes;
use assetd::tokens::TokenHash;

use crate::util::TestServer;

async fn status_with(server: &TestServer, token: &str) -> u16 {
    server
        .client
        .get(server.url("/v2/sites"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_expired_token_gets_401_even_while_its_grant_is_cached() {
    // The default token cache keeps a grant 10 s; the token expires long before that.
    let server = TestServer::start().await;
    let now = assetd::timestamp::now();
    let expires = now + chrono::Duration::milliseconds(1500);
    server
        .meta
        .create_token(
            ObjectId::generate(now),
            &TokenHash::of("short-lived"),
            Scopes::ALL,
            &[server.site_id],
            now,
            Some(expires),
        )
        .await
        .unwrap();
    assert_eq!(status_with(&server, "short-lived").await, 200);
    let left = (expires - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(100)).await;
    assert_eq!(status_with(&server, "short-lived").await, 401);
    // Another token of the same site still works.
    assert_eq!(status_with(&server, &server.token).await, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_revoked_token_gets_401_once_the_token_cache_has_forgotten_it() {
    let server = TestServer::start_with(|s| s.token_cache_ttl = Duration::from_secs(1)).await;
    let token = server.token_with("assets:read").await;
    assert_eq!(status_with(&server, &token).await, 200);
    let listed = server.meta.list_tokens(Some(server.site_id)).await.unwrap();
    let id = listed.last().unwrap().id;
    assert!(server.meta.revoke_token(id).await.unwrap());
    // Within the cache's TTL (1 s) plus a margin, bounded.
    let mut status = 0;
    for _ in 0..30 {
        status = status_with(&server, &token).await;
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401);
    assert_eq!(status_with(&server, &server.token).await, 200);
    server.stop().await;
}

#[tokio::test]
async fn last_use_is_noted_per_request_and_written_in_one_batch() {
    let server = TestServer::start().await;
    let before = assetd::timestamp::now();
    for _ in 0..5 {
        assert_eq!(status_with(&server, &server.token).await, 200);
    }
    let ours = |tokens: Vec<assetd::meta::TokenInfo>| tokens.into_iter().next().unwrap();
    // Nothing is written per request…
    let listed = ours(server.meta.list_tokens(Some(server.site_id)).await.unwrap());
    assert_eq!(listed.last_used, None);
    // …the flush writes the latest use.
    server.state.token_usage.flush(server.meta.as_ref()).await;
    let listed = ours(server.meta.list_tokens(Some(server.site_id)).await.unwrap());
    let used = listed.last_used.expect("recorded");
    assert!(used >= before && used <= chrono::Utc::now(), "{used}");
    server.stop().await;
}
