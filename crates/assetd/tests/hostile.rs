//! The hostile-request catalog: every case states the exact status and error code it must get,
//! and after every case nothing new may exist — no asset row, no stored object, no temp file.
//! Cases are grouped by where they are stopped; SECURITY.md maps each group to the code.
#![allow(clippy::unwrap_used)]

#[path = "util/mod.rs"]
mod util;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use util::{TestServer, create_asset, details, upload};

const HASH: &str = "3c7d87c9575702bc3b1e991f4d3c638e";

/// What a case must answer: the status and the `code` of the Webflow JSON body or of the S3
/// XML body (decided by the response's Content-Type), or `None` where the code is not fixed.
struct Expect(u16, Option<&'static str>);

struct Case {
    name: String,
    request: reqwest::RequestBuilder,
    expect: Expect,
}

async fn code_of(response: reqwest::Response) -> (u16, Option<String>) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.bytes().await.unwrap();
    if content_type.starts_with("application/json") {
        let v: Value = serde_json::from_slice(&body).unwrap();
        for key in ["code", "message", "externalReference", "details"] {
            assert!(v.get(key).is_some(), "Webflow error body lacks {key}: {v}");
        }
        return (status, v["code"].as_str().map(str::to_owned));
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let code = text
        .split("<Code>")
        .nth(1)
        .and_then(|r| r.split("</Code>").next())
        .map(str::to_owned);
    (status, code)
}

fn multipart_body(
    fields: &[(String, String)],
    boundary: &str,
    file: &[u8],
    close: bool,
) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.png\"\r\nContent-Type: image/png\r\n\r\n").as_bytes());
    body.extend_from_slice(file);
    if close {
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    }
    body
}

#[tokio::test]
async fn hostile_requests_are_refused_exactly_and_leave_nothing() {
    let server = TestServer::start().await;
    if !server.embedded() {
        // The S3-endpoint half needs assetd's own endpoint; the API half runs in the other
        // configuration through the same code paths.
        return server.skip("embedded store only").await;
    }
    let site = server.site_id.to_string();
    let assets = format!("/v2/sites/{site}/assets");
    let (other_site, other_token) = server.other_site().await;
    let foreign_folder = {
        let r = server
            .client
            .post(server.url(&format!("/v2/sites/{other_site}/asset_folders")))
            .bearer_auth(&other_token)
            .json(&json!({"displayName": "theirs"}))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let my_folder = server.folder("mine", None).await;
    let read_only = server.token_with("assets:read").await;
    let stored_asset = upload(&server, "kept.png", b"kept bytes").await;
    let stored_id = stored_asset["id"].as_str().unwrap().to_owned();
    let pending = create_asset(&server, "pending.png", b"the real bytes").await;
    let pending_fields = details(&pending);
    let upload_url = pending["uploadUrl"].as_str().unwrap().to_owned();
    let deleted = create_asset(&server, "deleted.png", b"gone").await;
    let deleted_status = server
        .api(
            Method::DELETE,
            &format!("/v2/assets/{}", deleted["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(deleted_status, 204);

    let baseline_assets = server.asset_count().await;
    let baseline_objects = server.stored().await;

    let c = &server.client;
    let tok = server.token.clone();
    let post_json = |path: &str, token: &str, body: &[u8]| {
        c.post(server.url(path))
            .bearer_auth(token)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
    };
    let create_with = |body: Value| post_json(&assets, &tok, body.to_string().as_bytes());

    let mut cases: Vec<Case> = Vec::new();
    let mut add = |name: &str, request: reqwest::RequestBuilder, expect: Expect| {
        cases.push(Case {
            name: name.to_owned(),
            request,
            expect,
        });
    };
    let bad_request = || Expect(400, Some("bad_request"));
    let invalid = || Expect(400, Some("validation_error"));

    // --- Malformed bodies (http/body.rs: read_json) ---
    add(
        "malformed JSON",
        post_json(&assets, &tok, b"{"),
        bad_request(),
    );
    add(
        "truncated JSON",
        post_json(&assets, &tok, br#"{"fileName":"a.png","fileHash":"3c7d"#),
        bad_request(),
    );
    add("empty body", post_json(&assets, &tok, b""), bad_request());
    add(
        "trailing garbage after JSON",
        post_json(
            &assets,
            &tok,
            br#"{"fileName":"a.png","fileHash":"3c7d87c9575702bc3b1e991f4d3c638e"} x"#,
        ),
        bad_request(),
    );
    add(
        "invalid UTF-8 in the body",
        post_json(
            &assets,
            &tok,
            b"{\"fileName\":\"a\xff\xfe.png\",\"fileHash\":\"3c7d87c9575702bc3b1e991f4d3c638e\"}",
        ),
        bad_request(),
    );
    add(
        "deeply nested arrays",
        post_json(&assets, &tok, "[".repeat(10_000).as_bytes()),
        bad_request(),
    );
    add(
        "deeply nested objects",
        post_json(&assets, &tok, "{\"a\":".repeat(2000).as_bytes()),
        bad_request(),
    );
    add(
        "body over the limit",
        post_json(
            &assets,
            &tok,
            format!(
                "{{\"fileName\":\"a.png\",\"fileHash\":\"{HASH}\",\"pad\":\"{}\"}}",
                "x".repeat(1 << 20)
            )
            .as_bytes(),
        ),
        Expect(413, Some("bad_request")),
    );
    // --- Wrong shapes and types (create_request.rs) ---
    add("JSON null", create_with(json!(null)), invalid());
    add("JSON number", create_with(json!(5)), invalid());
    add("JSON string", create_with(json!("a.png")), invalid());
    add("JSON array", create_with(json!(["a.png", HASH])), invalid());
    add(
        "fileName as number",
        create_with(json!({"fileName": 1, "fileHash": HASH})),
        invalid(),
    );
    add(
        "fileName as array",
        create_with(json!({"fileName": ["a.png"], "fileHash": HASH})),
        invalid(),
    );
    add(
        "fileName as object",
        create_with(json!({"fileName": {"n": "a.png"}, "fileHash": HASH})),
        invalid(),
    );
    add(
        "fileName as bool",
        create_with(json!({"fileName": true, "fileHash": HASH})),
        invalid(),
    );
    add(
        "fileName null",
        create_with(json!({"fileName": null, "fileHash": HASH})),
        invalid(),
    );
    add(
        "fileHash as number",
        create_with(json!({"fileName": "a.png", "fileHash": 12345})),
        invalid(),
    );
    add(
        "fileHash null",
        create_with(json!({"fileName": "a.png", "fileHash": null})),
        invalid(),
    );
    add(
        "parentFolder as number",
        create_with(json!({"fileName": "a.png", "fileHash": HASH, "parentFolder": 7})),
        invalid(),
    );
    add(
        "parentFolder as object",
        create_with(json!({"fileName": "a.png", "fileHash": HASH, "parentFolder": {}})),
        invalid(),
    );
    // --- Hostile file names (create_request.rs: file_name_problem, file_types.rs) ---
    for (what, name) in [
        ("NUL in the name", "a\u{0}.png"),
        ("escape character", "a\u{1b}[31m.png"),
        ("DEL character", "a\u{7f}.png"),
        ("line break", "a\nb.png"),
        ("RTL override", "gnp\u{202E}.exe.png"),
        ("LRI isolate", "a\u{2066}b.png"),
        ("look-alike extension (Armenian ո)", "photo.pոg"),
        ("fullwidth dot before the extension", "photo\u{FF0E}png"),
        ("parent traversal", "../etc/passwd.png"),
        ("absolute path", "/etc/passwd.png"),
        ("backslash traversal", "..\\..\\win.png"),
        ("nested traversal", "a/../../b.png"),
        ("drive path", "C:\\x.png"),
        ("100 characters", &format!("{}.png", "n".repeat(96))),
        ("10,000 characters", &format!("{}.png", "n".repeat(10_000))),
        ("only spaces", "    "),
        ("empty", ""),
        ("extension only", ".png"),
        ("executable behind an image extension", "a.png.exe"),
        ("trailing space", "a.png "),
        ("leading space", " a.png"),
        ("HTML", "index.html"),
        ("JavaScript", "app.js"),
        ("no extension", "README"),
        (
            "80 CJK characters (240 bytes: no room for the stored name)",
            &format!("{}.png", "\u{6587}".repeat(80)),
        ),
        (
            "74 CJK characters (the original fits, its variants would not)",
            &format!("{}.png", "\u{6587}".repeat(74)),
        ),
        ("S3's ${filename} placeholder", "${filename}.png"),
    ] {
        add(
            what,
            create_with(json!({"fileName": name, "fileHash": HASH})),
            invalid(),
        );
    }
    // --- Hostile hashes and ids ---
    for (what, hash) in [
        ("31 hex digits", "3c7d87c9575702bc3b1e991f4d3c638"),
        ("33 hex digits", "3c7d87c9575702bc3b1e991f4d3c638ee"),
        ("non-hex digit", "3c7d87c9575702bc3b1e991f4d3c638g"),
        ("spaces inside", "3c7d87c9 575702bc3b1e991f4d3c638e"),
        ("fullwidth digits", "３c7d87c9575702bc3b1e991f4d3c638"),
        (
            "SHA-256 instead of MD5",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
    ] {
        add(
            &format!("fileHash: {what}"),
            create_with(json!({"fileName": "a.png", "fileHash": hash})),
            invalid(),
        );
    }
    add(
        "parentFolder of the wrong length",
        create_with(json!({"fileName": "a.png", "fileHash": HASH, "parentFolder": "abc"})),
        invalid(),
    );
    add(
        "parentFolder of another site",
        create_with(json!({"fileName": "a.png", "fileHash": HASH, "parentFolder": foreign_folder})),
        invalid(),
    );
    add(
        "parentFolder that does not exist",
        create_with(
            json!({"fileName": "a.png", "fileHash": HASH, "parentFolder": "0123456789abcdef01234567"}),
        ),
        invalid(),
    );
    // --- Authentication (http/auth.rs) ---
    let body = json!({"fileName": "a.png", "fileHash": HASH}).to_string();
    let with_auth = |value: &str| {
        c.post(server.url(&assets))
            .header(AUTHORIZATION, value)
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone())
    };
    add(
        "no Authorization header",
        c.post(server.url(&assets)).body(body.clone()),
        Expect(401, Some("not_authorized")),
    );
    add(
        "Bearer without a token",
        with_auth("Bearer"),
        Expect(401, Some("not_authorized")),
    );
    add(
        "Bearer with only spaces",
        with_auth("Bearer    "),
        Expect(401, Some("not_authorized")),
    );
    add(
        "token with a tab inside",
        with_auth(&format!("Bearer {}\tx", &tok[..32])),
        Expect(401, Some("not_authorized")),
    );
    add(
        "token with a space inside",
        with_auth(&format!("Bearer {} {}", &tok[..32], &tok[32..])),
        Expect(401, Some("not_authorized")),
    );
    add(
        "Basic scheme",
        with_auth("Basic dXNlcjpwYXNz"),
        Expect(401, Some("not_authorized")),
    );
    add(
        "Token scheme",
        with_auth(&format!("Token {tok}")),
        Expect(401, Some("not_authorized")),
    );
    add(
        "forged token",
        with_auth(&format!("Bearer {}", "a".repeat(64))),
        Expect(401, Some("not_authorized")),
    );
    add(
        "token one digit short",
        with_auth(&format!("Bearer {}", &tok[..63])),
        Expect(401, Some("not_authorized")),
    );
    add(
        "token in upper case",
        with_auth(&format!("Bearer {}", tok.to_uppercase())),
        Expect(401, Some("not_authorized")),
    );
    add(
        "60 KB Authorization header",
        with_auth(&format!("Bearer {}", "b".repeat(60_000))),
        Expect(401, Some("not_authorized")),
    );
    add(
        "lower-case bearer is accepted, then validation runs",
        c.post(server.url(&assets))
            .header(AUTHORIZATION, format!("bearer {tok}"))
            .json(&json!({"fileName": "x.exe", "fileHash": HASH})),
        invalid(),
    );
    add(
        "read-only token",
        post_json(&assets, &read_only, body.as_bytes()),
        Expect(403, Some("missing_scopes")),
    );
    add(
        "another site's token",
        post_json(&assets, &other_token, body.as_bytes()),
        Expect(404, Some("resource_not_found")),
    );
    // --- Ids in paths (http/auth.rs: Auth::site, http/lookup.rs) ---
    add(
        "site id too short",
        post_json(
            "/v2/sites/6390c49674a71f84b51a08d/assets",
            &tok,
            body.as_bytes(),
        ),
        invalid(),
    );
    add(
        "site id not hex",
        post_json(
            "/v2/sites/zzzzzzzzzzzzzzzzzzzzzzzz/assets",
            &tok,
            body.as_bytes(),
        ),
        invalid(),
    );
    add(
        "another site's id",
        post_json(
            &format!("/v2/sites/{other_site}/assets"),
            &tok,
            body.as_bytes(),
        ),
        Expect(404, Some("resource_not_found")),
    );
    add(
        "encoded traversal as the site id",
        post_json("/v2/sites/..%2F..%2Fetc/assets", &tok, body.as_bytes()),
        invalid(),
    );
    add(
        "asset id too long",
        c.delete(server.url(&format!("/v2/assets/{stored_id}0")))
            .bearer_auth(&tok),
        invalid(),
    );
    add(
        "another site's asset",
        c.delete(server.url(&format!("/v2/assets/{stored_id}")))
            .bearer_auth(&other_token),
        Expect(404, Some("resource_not_found")),
    );
    // --- Query strings (http/query.rs) ---
    add(
        "duplicate limit",
        c.get(server.url(&format!("{assets}?limit=1&limit=100")))
            .bearer_auth(&tok),
        invalid(),
    );
    add(
        "duplicate folderId",
        c.get(server.url(&format!(
            "{assets}?folderId={my_folder}&folderId={foreign_folder}"
        )))
        .bearer_auth(&tok),
        invalid(),
    );
    add(
        "limit not a number",
        c.get(server.url(&format!("{assets}?limit=abc")))
            .bearer_auth(&tok),
        invalid(),
    );
    add(
        "limit in exponent form",
        c.get(server.url(&format!("{assets}?limit=1e2")))
            .bearer_auth(&tok),
        invalid(),
    );
    add(
        "negative offset",
        c.get(server.url(&format!("{assets}?offset=-5")))
            .bearer_auth(&tok),
        invalid(),
    );
    add(
        "offset with a plus sign",
        c.get(server.url(&format!("{assets}?offset=+5")))
            .bearer_auth(&tok),
        invalid(),
    );
    add(
        "two Authorization headers",
        c.get(server.url(&assets))
            .bearer_auth(&tok)
            .bearer_auth(&read_only),
        bad_request(),
    );
    add(
        "huge offset",
        c.get(server.url(&format!("{assets}?offset=99999999999999999999")))
            .bearer_auth(&tok),
        invalid(),
    );
    // --- Updates and folders ---
    let patch = |body: &[u8]| {
        c.patch(server.url(&format!("/v2/assets/{stored_id}")))
            .bearer_auth(&tok)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
    };
    add(
        "rename to empty",
        patch(br#"{"displayName":""}"#),
        invalid(),
    );
    add(
        "rename with a control character",
        patch(b"{\"displayName\":\"a\\u0007b\"}"),
        invalid(),
    );
    add(
        "rename with an RTL override",
        patch("{\"displayName\":\"a\u{202E}b\"}".as_bytes()),
        invalid(),
    );
    add(
        "alt text as a number",
        patch(br#"{"altText":5}"#),
        invalid(),
    );
    add(
        "update body not JSON",
        patch(b"displayName=x"),
        bad_request(),
    );
    let folders = format!("/v2/sites/{site}/asset_folders");
    add(
        "duplicate folder name",
        post_json(&folders, &tok, br#"{"displayName":"mine"}"#),
        Expect(409, Some("conflict")),
    );
    for (what, name) in [
        ("a sibling's name with a leading space", " mine"),
        (
            "a sibling's name with a trailing no-break space",
            "mine\u{A0}",
        ),
        ("a sibling's name with a zero-width space", "mi\u{200B}ne"),
        ("a sibling's name behind a BOM", "\u{FEFF}mine"),
        (
            "a sibling's name ending in a zero-width joiner",
            "mine\u{200D}",
        ),
    ] {
        add(
            &format!("folder name: {what}"),
            post_json(
                &folders,
                &tok,
                json!({ "displayName": name }).to_string().as_bytes(),
            ),
            invalid(),
        );
    }
    add(
        "folder name with an RTL override",
        post_json(
            &folders,
            &tok,
            "{\"displayName\":\"x\u{202E}y\"}".as_bytes(),
        ),
        invalid(),
    );
    add(
        "folder under another site's folder",
        post_json(
            &folders,
            &tok,
            json!({"displayName": "x", "parentFolder": foreign_folder})
                .to_string()
                .as_bytes(),
        ),
        invalid(),
    );
    // --- The S3 POST endpoint (http/s3_post.rs, s3post::verify) ---
    let raw_post = |content_type: &str, body: Vec<u8>| {
        c.post(&upload_url)
            .header(CONTENT_TYPE, content_type)
            .body(body)
    };
    let form_type = "multipart/form-data; boundary=XyZ";
    add(
        "multipart without a boundary",
        raw_post(
            "multipart/form-data",
            multipart_body(&pending_fields, "XyZ", b"x", true),
        ),
        Expect(412, Some("PreconditionFailed")),
    );
    add(
        "not multipart at all",
        raw_post("application/json", b"{}".to_vec()),
        Expect(412, Some("PreconditionFailed")),
    );
    add(
        "a boundary inside the file data",
        raw_post(
            form_type,
            multipart_body(&pending_fields, "XyZ", b"the real\r\n--XyZ\r\nbytes", true),
        ),
        Expect(400, None),
    );
    add(
        "a file field that never ends",
        raw_post(
            form_type,
            multipart_body(&pending_fields, "XyZ", b"the real bytes", false),
        ),
        Expect(400, Some("IncompleteBody")),
    );
    add(
        "bytes that are not the promised ones",
        raw_post(
            form_type,
            multipart_body(&pending_fields, "XyZ", b"other bytes!!!", true),
        ),
        Expect(400, Some("BadDigest")),
    );
    let mut forged = pending_fields.clone();
    for field in &mut forged {
        if field.0 == "Policy" {
            // Same JSON, re-encoded with a trailing space: same meaning, different signed bytes.
            field.1 = base64_reencode_with_space(&field.1);
        }
    }
    add(
        "forged policy",
        raw_post(
            form_type,
            multipart_body(&forged, "XyZ", b"the real bytes", true),
        ),
        Expect(403, Some("SignatureDoesNotMatch")),
    );
    let mut replayed = details(&stored_asset);
    for field in &mut replayed {
        if field.0 == "key" {
            field.1 = pending_fields
                .iter()
                .find(|(n, _)| n == "key")
                .unwrap()
                .1
                .clone();
        }
    }
    add(
        "a policy replayed for another asset's key",
        raw_post(
            form_type,
            multipart_body(&replayed, "XyZ", b"the real bytes", true),
        ),
        Expect(403, Some("AccessDenied")),
    );
    add(
        "a policy replayed after its asset was deleted",
        raw_post(
            form_type,
            multipart_body(&details(&deleted), "XyZ", b"gone", true),
        ),
        Expect(403, Some("AccessDenied")),
    );
    let mut doubled = pending_fields.clone();
    doubled.push(("KEY".to_owned(), "other".to_owned()));
    add(
        "the key field twice",
        raw_post(
            form_type,
            multipart_body(&doubled, "XyZ", b"the real bytes", true),
        ),
        Expect(400, Some("InvalidArgument")),
    );
    let mut expired = pending_fields.clone();
    for field in &mut expired {
        if field.0 == "X-Amz-Date" {
            field.1 = "20200101T000000Z".to_owned();
        }
    }
    add(
        "x-amz-date changed to another day",
        raw_post(
            form_type,
            multipart_body(&expired, "XyZ", b"the real bytes", true),
        ),
        Expect(400, Some("InvalidArgument")),
    );

    let total = cases.len();
    assert!(total >= 80, "only {total} cases");
    let mut failures = Vec::new();
    for case in cases {
        let (status, code) = code_of(case.request.send().await.unwrap()).await;
        let Expect(want_status, want_code) = case.expect;
        if status != want_status || want_code.is_some_and(|w| code.as_deref() != Some(w)) {
            failures.push(format!(
                "{}: got {status} {code:?}, want {want_status} {want_code:?}",
                case.name
            ));
        }
        if server.asset_count().await != baseline_assets
            || server.stored().await != baseline_objects
        {
            failures.push(format!("{}: left something behind", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{total} hostile cases refused; nothing stored");
    server.stop().await;
}

fn base64_reencode_with_space(policy: &str) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut json = engine.decode(policy).unwrap();
    json.push(b' ');
    engine.encode(json)
}
