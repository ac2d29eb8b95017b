//! The webhook endpoints (`/v2/sites/{site_id}/webhooks`, `/v2/webhooks/{webhook_id}`, an assetd
//! extension) and the deliveries: signed as Webflow signs, every event delivered at least once,
//! through a failing receiver and across a restart.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::util::{TestServer, error_code, upload, upload_into};

/// Loopback receivers are internal addresses: tests open them, and retry fast.
const FLAGS: &[&str] = &[
    "--webhook-allow",
    "127.0.0.0/8",
    "--webhook-retry-base-ms",
    "100",
    "--webhook-retry-max-secs",
    "1",
];

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    event_id: String,
    timestamp: String,
    signature: String,
    body: String,
    json: Value,
}

/// A webhook receiver on 127.0.0.1:0 that records every request and answers 503 while told to
/// fail (`down`) or for its next `fail_next` requests.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    down: Arc<AtomicBool>,
    fail_next: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let fail_next = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (r, d, f, n) = (
            received.clone(),
            down.clone(),
            fail_next.clone(),
            requests.clone(),
        );
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (r, d, f, n) = (r.clone(), d.clone(), f.clone(), n.clone());
                async move {
                    n.fetch_add(1, Ordering::SeqCst);
                    let failing = d.load(Ordering::SeqCst)
                        || f.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                            left.checked_sub(1)
                        })
                        .is_ok();
                    if failing {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    r.lock().await.push(Received {
                        event_id: header("x-assetd-event-id"),
                        timestamp: header("x-webflow-timestamp"),
                        signature: header("x-webflow-signature"),
                        json: serde_json::from_str(&body).unwrap(),
                        body,
                    });
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            received,
            down,
            fail_next,
            requests,
        }
    }

    /// Waits (at most 20 s) until `n` distinct events have arrived; returns every delivery.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let received = self.received.lock().await.clone();
            let distinct: BTreeSet<&str> = received.iter().map(|r| r.event_id.as_str()).collect();
            if distinct.len() >= n {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} events arrived: {received:#?}",
                distinct.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn create_webhook(server: &TestServer, trigger: &str, url: &str) -> reqwest::Response {
    server
        .api(
            Method::POST,
            &format!("/v2/sites/{}/webhooks", server.site_id),
        )
        .json(&json!({"triggerType": trigger, "url": url}))
        .send()
        .await
        .unwrap()
}

/// Creates a webhook; returns its id and secret.
async fn hook(server: &TestServer, trigger: &str, url: &str) -> (String, String) {
    let response = create_webhook(server, trigger, url).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

fn verify(delivery: &Received, secret: &str) {
    let secret = assetd::webhook_signature::SigningSecret::new(secret.to_owned());
    let timestamp: i64 = delivery.timestamp.parse().unwrap();
    assert_eq!(
        assetd::webhook_signature::sign(&secret, timestamp, &delivery.body),
        delivery.signature,
        "signature of {delivery:?}"
    );
    let age = chrono::Utc::now().timestamp_millis() - timestamp;
    assert!((0..60_000).contains(&age), "timestamp {timestamp}");
    assert_eq!(delivery.event_id.len(), 24);
}

/// Get and Delete of webhook `id` both answer 404 `resource_not_found`.
async fn assert_get_and_delete_not_found(server: &TestServer, id: &str) {
    for method in [Method::GET, Method::DELETE] {
        let response = server
            .api(method, &format!("/v2/webhooks/{id}"))
            .send()
            .await
            .unwrap();
        let (status, code, _) = error_code(response).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (404, "resource_not_found")
        );
    }
}

#[tokio::test]
async fn create_list_get_and_delete_in_webflows_shape() {
    let server = TestServer::start_with_args(FLAGS, |_| {}).await;
    let url = "http://127.0.0.1:9/hook";
    let response = create_webhook(&server, "asset_created", url).await;
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 24);
    assert_eq!(created["triggerType"], "asset_created");
    assert_eq!(created["url"], url);
    assert_eq!(created["siteId"], server.site_id.to_string());
    assert!(created["createdOn"].as_str().unwrap().ends_with('Z'));
    assert!(created.get("lastTriggered").is_none(), "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 64);
    assert_eq!(created["deliveries"]["pending"], 0);

    let got: Value = server
        .api(Method::GET, &format!("/v2/webhooks/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        got.get("secret").is_none(),
        "the secret is shown once: {got}"
    );
    assert_eq!(got["id"], created["id"]);
    assert_eq!(got["createdOn"], created["createdOn"]);

    hook(&server, "asset_folder_changed", url).await;
    let list: Value = server
        .api(
            Method::GET,
            &format!("/v2/sites/{}/webhooks?limit=1", server.site_id),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(list["webhooks"][0]["id"], created["id"]);
    assert!(list["webhooks"][0].get("secret").is_none());
    assert_eq!(
        list["pagination"],
        json!({"limit": 1, "offset": 0, "total": 2})
    );

    let deleted = server
        .api(Method::DELETE, &format!("/v2/webhooks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_get_and_delete_not_found(&server, &id).await;
    server.stop().await;
}

#[tokio::test]
async fn errors_have_webflows_shape() {
    let server = TestServer::start_with_args(FLAGS, |_| {}).await;
    let url = "http://127.0.0.1:9/hook";
    let site_path = format!("/v2/sites/{}/webhooks", server.site_id);
    let post = |body: Value| server.api(Method::POST, &site_path).json(&body).send();
    for (body, param) in [
        (json!({"url": url}), "triggerType"),
        (json!({"triggerType": "asset_created"}), "url"),
        (
            json!({"triggerType": "form_submission", "url": url}),
            "triggerType",
        ),
        (
            json!({"triggerType": "asset_moved", "url": url}),
            "triggerType",
        ),
        (
            json!({"triggerType": "asset_created", "url": "ftp://x/"}),
            "url",
        ),
        (
            json!({"triggerType": "asset_created", "url": url, "filter": {"name": "x"}}),
            "filter",
        ),
    ] {
        let (status, code, error) = error_code(post(body.clone()).await.unwrap()).await;
        assert_eq!((status.as_u16(), code.as_str()), (400, "validation_error"));
        assert_eq!(error["details"][0]["param"], param, "{body}: {error}");
    }
    // Webflow's limit: 75 webhooks per trigger type and site.
    for _ in 0..75 {
        hook(&server, "asset_changed", url).await;
    }
    let (status, code, _) = error_code(create_webhook(&server, "asset_changed", url).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "conflict"));
    hook(&server, "asset_deleted", url).await;
    let (status, code, _) = error_code(
        server
            .api(Method::GET, "/v2/webhooks/not-an-id")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "validation_error"));
    // Another site's webhook is not found, not forbidden.
    let (other_site, other_token) = server.other_site().await;
    let theirs: Value = server
        .client
        .post(server.url(&format!("/v2/sites/{other_site}/webhooks")))
        .bearer_auth(&other_token)
        .json(&json!({"triggerType": "asset_deleted", "url": url}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let theirs = theirs["id"].as_str().unwrap();
    assert_get_and_delete_not_found(&server, theirs).await;
    let (status, code, _) = error_code(
        server
            .api(Method::GET, &format!("/v2/sites/{other_site}/webhooks"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (404, "resource_not_found")
    );
    // Scopes: reading takes assets:read, creating and deleting assets:write.
    let reader = server.token_with("assets:read").await;
    let (status, code, _) = error_code(
        server
            .client
            .post(server.url(&site_path))
            .bearer_auth(&reader)
            .json(&json!({"triggerType": "asset_created", "url": url}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "missing_scopes"));
    let writer = server.token_with("assets:write").await;
    let (status, code, _) = error_code(
        server
            .client
            .get(server.url(&site_path))
            .bearer_auth(&writer)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "missing_scopes"));
    let (status, code, _) = error_code(
        server
            .client
            .get(server.url(&site_path))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (401, "not_authorized"));
    server.stop().await;
}

#[tokio::test]
async fn internal_targets_are_refused_unless_allowed() {
    let server = TestServer::start().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0/",
    ] {
        let (status, code, error) =
            error_code(create_webhook(&server, "asset_created", url).await).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "validation_error"),
            "{url}"
        );
        assert_eq!(error["details"][0]["param"], "url");
    }
    server.stop().await;
    // `--webhook-allow 127.0.0.0/8` opens loopback, and nothing else.
    let server = TestServer::start_with_args(FLAGS, |_| {}).await;
    assert_eq!(
        create_webhook(&server, "asset_created", "http://127.0.0.1:9/hook")
            .await
            .status(),
        200
    );
    assert_eq!(
        create_webhook(&server, "asset_created", "http://10.0.0.1/")
            .await
            .status(),
        400
    );
    server.stop().await;
}

#[tokio::test]
async fn every_change_is_delivered_with_its_trigger_and_payload() {
    let server = TestServer::start_with_args(FLAGS, |_| {}).await;
    let receiver = Receiver::start().await;
    let mut secrets = Vec::new();
    for trigger in [
        "asset_created",
        "asset_changed",
        "asset_deleted",
        "asset_folder_changed",
    ] {
        secrets.push(hook(&server, trigger, &receiver.url).await.1);
    }
    // asset_created, once the bytes are there: an asset created and deleted before its bytes
    // came is no event at all.
    let never = crate::util::create_asset(&server, "never.txt", b"never").await;
    let cancelled = server
        .api(
            Method::DELETE,
            &format!("/v2/assets/{}", never["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 204);
    let asset = upload(&server, "a.txt", b"hello").await;
    let asset_id = asset["id"].as_str().unwrap().to_owned();
    let first = receiver.wait_for(1).await;
    assert_eq!(first[0].json["triggerType"], "asset_created");
    let payload = &first[0].json["payload"];
    assert_eq!(payload["id"], asset_id.as_str());
    assert_eq!(payload["size"], 5);
    assert_eq!(payload["siteId"], server.site_id.to_string());
    assert_eq!(payload["originalFileName"], "a.txt");
    assert!(payload["hostedUrl"].as_str().unwrap().starts_with("http"));
    // asset_changed.
    let folder = server.folder("docs", None).await;
    let patched = server
        .api(Method::PATCH, &format!("/v2/assets/{asset_id}"))
        .json(&json!({"displayName": "renamed.txt", "altText": "hi", "parentFolder": folder}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    // asset_folder_changed (updated), then asset_deleted.
    let renamed = server
        .api(Method::PATCH, &format!("/v2/asset_folders/{folder}"))
        .json(&json!({"displayName": "documents"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let deleted = server
        .api(Method::DELETE, &format!("/v2/assets/{asset_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    // A recursive folder delete: an asset_deleted per asset, a folder event per folder.
    let tree = server.folder("tree", None).await;
    let inner = upload_into(&server, "b.txt", b"bee", Some(&tree)).await;
    let gone = server
        .api(
            Method::DELETE,
            &format!("/v2/asset_folders/{tree}?recursive=true"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    // created a, folder docs created, changed a, docs updated, deleted a, tree created,
    // created b, deleted b, tree deleted.
    let all = receiver.wait_for(9).await;
    let events: Vec<(String, String, String)> = all
        .iter()
        .map(|r| {
            let p = &r.json["payload"];
            (
                r.json["triggerType"].as_str().unwrap().to_owned(),
                p["id"].as_str().unwrap().to_owned(),
                p["change"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let inner_id = inner["id"].as_str().unwrap().to_owned();
    let expected: BTreeSet<(String, String, String)> = [
        ("asset_created", asset_id.as_str(), ""),
        ("asset_folder_changed", folder.as_str(), "created"),
        ("asset_changed", asset_id.as_str(), ""),
        ("asset_folder_changed", folder.as_str(), "updated"),
        ("asset_deleted", asset_id.as_str(), ""),
        ("asset_folder_changed", tree.as_str(), "created"),
        ("asset_created", inner_id.as_str(), ""),
        ("asset_deleted", inner_id.as_str(), ""),
        ("asset_folder_changed", tree.as_str(), "deleted"),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    .collect();
    assert_eq!(events.iter().cloned().collect::<BTreeSet<_>>(), expected);
    let changed = all
        .iter()
        .find(|r| r.json["triggerType"] == "asset_changed")
        .unwrap();
    assert_eq!(changed.json["payload"]["displayName"], "renamed.txt");
    assert_eq!(changed.json["payload"]["altText"], "hi");
    assert_eq!(changed.json["payload"]["parentFolder"], folder.as_str());
    let renamed = all
        .iter()
        .find(|r| r.json["payload"]["change"] == "updated")
        .unwrap();
    assert_eq!(renamed.json["payload"]["displayName"], "documents");
    // Each delivery verifies with its webhook's secret, and with no other.
    for delivery in &all {
        let trigger = delivery.json["triggerType"].as_str().unwrap();
        let index = [
            "asset_created",
            "asset_changed",
            "asset_deleted",
            "asset_folder_changed",
        ]
        .iter()
        .position(|t| *t == trigger)
        .unwrap();
        verify(delivery, &secrets[index]);
    }
    server.stop().await;
}

/// Replace Asset: one `asset_replaced` when the new bytes verify (none when the replace is
/// asked for), carrying the asset with its new file; no `asset_created`.
#[tokio::test]
async fn a_replaced_file_is_one_asset_replaced_event_with_the_new_file() {
    let server = TestServer::start_with_args(FLAGS, |_| {}).await;
    let receiver = Receiver::start().await;
    let asset = upload(&server, "a.txt", b"first").await;
    let id = asset["id"].as_str().unwrap().to_owned();
    let (_, replaced_secret) = hook(&server, "asset_replaced", &receiver.url).await;
    let (_, created_secret) = hook(&server, "asset_created", &receiver.url).await;
    let new_bytes = b"the second file";
    let answer: Value = server
        .api(Method::POST, &format!("/v2/assets/{id}/replace"))
        .json(&json!({"fileName": "b.csv", "fileHash": crate::util::md5_hex(new_bytes)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        receiver.received.lock().await.is_empty(),
        "no event before the bytes arrive"
    );
    let posted = server
        .client
        .post(answer["uploadUrl"].as_str().unwrap())
        .multipart(crate::util::form(
            &crate::util::details(&answer),
            new_bytes.to_vec(),
            "text/csv",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].json["triggerType"], "asset_replaced");
    let payload = &got[0].json["payload"];
    assert_eq!(payload["id"], id.as_str());
    assert_eq!(payload["hostedUrl"], answer["hostedUrl"]);
    assert_eq!(payload["size"], new_bytes.len());
    assert_eq!(payload["originalFileName"], "b.csv");
    verify(&got[0], &replaced_secret);
    // Nothing else follows (no asset_created for a replaced file).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = receiver.received.lock().await.clone();
    assert!(
        all.iter()
            .all(|r| r.json["triggerType"] == "asset_replaced"),
        "{all:#?}"
    );
    assert!(!created_secret.is_empty());
    server.stop().await;
}

/// The receiver's status, through GET /v2/webhooks/{id}.
async fn deliveries(server: &TestServer, id: &str) -> Value {
    let body: Value = server
        .api(Method::GET, &format!("/v2/webhooks/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body
}

#[tokio::test]
async fn a_receiver_that_fails_for_a_while_receives_every_event() {
    let server = TestServer::start_with_args(FLAGS, |_| {}).await;
    let receiver = Receiver::start().await;
    receiver.fail_next.store(4, Ordering::SeqCst);
    let (id, secret) = hook(&server, "asset_folder_changed", &receiver.url).await;
    let mut folders = BTreeSet::new();
    for n in 0..5 {
        folders.insert(server.folder(&format!("f{n}"), None).await);
    }
    let all = receiver.wait_for(5).await;
    let arrived: BTreeSet<String> = all
        .iter()
        .map(|r| r.json["payload"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(arrived, folders);
    for delivery in &all {
        verify(delivery, &secret);
    }
    assert!(receiver.requests.load(Ordering::SeqCst) >= 9);
    // The status tells the story: every event delivered, none left, the failures behind it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // The status is written a few times a second.
        let status = deliveries(&server, &id).await;
        if status["deliveries"]["pending"] == 0 && status["deliveries"]["delivered"] == all.len() {
            assert_eq!(status["deliveries"]["failures"], 0, "{status}");
            assert_eq!(status["deliveries"]["lastAttempt"]["status"], 200);
            assert!(status["lastTriggered"].is_string(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn events_survive_a_restart_before_their_delivery() {
    let server = TestServer::start_with_args(FLAGS, |_| {}).await;
    let receiver = Receiver::start().await;
    receiver.down.store(true, Ordering::SeqCst);
    let (id, secret) = hook(&server, "asset_folder_changed", &receiver.url).await;
    let mut folders = BTreeSet::new();
    for n in 0..4 {
        folders.insert(server.folder(&format!("r{n}"), None).await);
    }
    // Attempted and failed at least once, then the server stops with the events undelivered.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = deliveries(&server, &id).await;
        if status["deliveries"]["failures"].as_i64().unwrap() > 0 {
            assert_eq!(status["deliveries"]["lastAttempt"]["status"], 503);
            assert_eq!(status["deliveries"]["pending"], 4);
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let server = server.restart(FLAGS).await;
    receiver.down.store(false, Ordering::SeqCst);
    // After the restart: one more folder, and every event arrives, none invented.
    folders.insert(server.folder("after", None).await);
    let all = receiver.wait_for(5).await;
    let ids: BTreeSet<&str> = all.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids.len(), 5, "{all:#?}");
    let arrived: BTreeSet<String> = all
        .iter()
        .map(|r| r.json["payload"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(arrived, folders);
    for delivery in &all {
        verify(delivery, &secret);
    }
    // Duplicates (at least once) would carry an event id already seen: none here, and none
    // arrive later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = receiver.received.lock().await.len();
    assert_eq!(later, all.len());
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_webhook_drops_its_undelivered_events() {
    let server = TestServer::start_with_args(FLAGS, |_| {}).await;
    let receiver = Receiver::start().await;
    receiver.down.store(true, Ordering::SeqCst);
    let (id, _) = hook(&server, "asset_folder_changed", &receiver.url).await;
    server.folder("x", None).await;
    assert_eq!(deliveries(&server, &id).await["deliveries"]["pending"], 1);
    let deleted = server
        .api(Method::DELETE, &format!("/v2/webhooks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    receiver.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(receiver.received.lock().await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_site_removes_its_webhooks_and_their_events() {
    let server = TestServer::start_with_args(FLAGS, |_| {}).await;
    let receiver = Receiver::start().await;
    receiver.down.store(true, Ordering::SeqCst);
    let (id, _) = hook(&server, "asset_deleted", &receiver.url).await;
    let asset = upload(&server, "doomed.txt", b"doomed").await;
    let asset_id = asset["id"].as_str().unwrap();
    let removed = server
        .api(Method::DELETE, &format!("/v2/assets/{asset_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(deliveries(&server, &id).await["deliveries"]["pending"], 1);
    assetd::site_deletion::delete_site(
        server.meta.as_ref(),
        server.state.blobs.as_ref(),
        server.site_id,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert!(
        server
            .meta
            .get_webhook(id.parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    receiver.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(receiver.received.lock().await.is_empty());
    server.stop().await;
}
