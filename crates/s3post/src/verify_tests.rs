//! Table tests of the form verifier. Each case names the rule it checks (see the module docs).

use base64::Engine as _;
use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::policy::Condition;
use crate::presign::presign_post;

const AK: &str = "AKIDASSETDTEST000001";
const SECRET: &str = "assetd-test-secret-0000000000000000000001";
const BUCKET: &str = "assetd";
const KEY: &str = "6390c49674a71f84b51a08d8/64358b9544249dc43d37d2b7_file.png";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
        .single()
        .expect("date")
}

fn signing_key(secret: &str) -> SigningKey {
    SigningKey::derive(
        &SecretKey::new(secret),
        CredentialScope::s3(now().date_naive(), "us-east-1"),
    )
}

type Fields = Vec<(String, String)>;

fn pairs(list: &[(&str, &str)]) -> Fields {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// A form signed by `secret` for `conditions`, with `fields` before the SigV4 fields.
fn form_signed_by(
    secret: &str,
    conditions: Vec<Condition>,
    fields: &[(&str, &str)],
    expires: Duration,
) -> Fields {
    let post = presign_post(&signing_key(secret), AK, now(), now() + expires, conditions)
        .expect("presign");
    let mut form = pairs(fields);
    form.extend(pairs(&[
        ("x-amz-algorithm", post.algorithm),
        ("x-amz-credential", &post.credential),
        ("x-amz-date", &post.amz_date),
        ("policy", &post.policy_base64),
        ("x-amz-signature", &post.signature),
    ]));
    form
}

fn form(conditions: Vec<Condition>, fields: &[(&str, &str)]) -> Fields {
    form_signed_by(SECRET, conditions, fields, Duration::hours(1))
}

/// The form a Webflow client posts for an assetd upload.
fn webflow_form() -> Fields {
    form(
        vec![
            Condition::eq("bucket", BUCKET),
            Condition::eq("key", KEY),
            Condition::eq("acl", "public-read"),
            Condition::eq("Content-Type", "image/png"),
            Condition::eq("Cache-Control", "max-age=31536000, must-revalidate"),
            Condition::eq("success_action_status", "201"),
            Condition::content_length_range(1, 4_194_304),
        ],
        &[
            ("acl", "public-read"),
            ("bucket", BUCKET),
            ("key", KEY),
            ("success_action_status", "201"),
            ("content-type", "image/png"),
            ("Cache-Control", "max-age=31536000, must-revalidate"),
        ],
    )
}

/// A form whose policy is the given JSON text, signed correctly.
fn form_with_policy_json(json: &str, fields: &[(&str, &str)]) -> Fields {
    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
    let key = signing_key(SECRET);
    let mut form = pairs(fields);
    form.extend(pairs(&[
        ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
        ("x-amz-credential", &key.scope().credential(AK)),
        ("x-amz-date", "20261125T100000Z"),
        ("policy", &b64),
        ("x-amz-signature", &key.sign(b64.as_bytes())),
    ]));
    form
}

fn set(mut form: Fields, name: &str, value: &str) -> Fields {
    match form.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        Some(field) => field.1 = value.to_owned(),
        None => form.push((name.to_owned(), value.to_owned())),
    }
    form
}

fn remove(mut form: Fields, name: &str) -> Fields {
    form.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    form
}

fn rename(mut form: Fields, from: &str, to: &str) -> Fields {
    for field in &mut form {
        if field.0 == from {
            field.0 = to.to_owned();
        }
    }
    form
}

fn get(form: &Fields, name: &str) -> String {
    find(form, name).expect("field").to_owned()
}

fn kind(e: &VerifyError) -> &'static str {
    match e {
        VerifyError::MissingField(_) => "MissingField",
        VerifyError::DuplicateField(_) => "DuplicateField",
        VerifyError::UnsupportedAlgorithm => "UnsupportedAlgorithm",
        VerifyError::MalformedCredential(_) => "MalformedCredential",
        VerifyError::UnknownAccessKey => "UnknownAccessKey",
        VerifyError::SignatureMismatch => "SignatureMismatch",
        VerifyError::InvalidPolicy(_) => "InvalidPolicy",
        VerifyError::Expired => "Expired",
        VerifyError::ConditionFailed(_) => "ConditionFailed",
        VerifyError::ExtraField(_) => "ExtraField",
        VerifyError::AnonymousDenied => "AnonymousDenied",
    }
}

struct Case {
    rule: &'static str,
    form: Fields,
    bucket: &'static str,
    at: DateTime<Utc>,
    expect: Result<(), &'static str>,
}

fn case(rule: &'static str, form: Fields, expect: Result<(), &'static str>) -> Case {
    Case {
        rule,
        form,
        bucket: BUCKET,
        at: now(),
        expect,
    }
}

fn run(case: &Case) -> Result<VerifiedPost, VerifyError> {
    let request = PostRequest {
        bucket: case.bucket,
        fields: &case.form,
        file_name: Some("photo.png"),
    };
    verify_post(&request, case.at, |ak| {
        (ak == AK).then(|| SecretKey::new(SECRET))
    })
}

fn cases() -> Vec<Case> {
    let good = webflow_form();
    let sig = get(&good, "x-amz-signature");
    let policy = get(&good, "policy");
    let flipped = format!(
        "{}{}",
        &sig[..63],
        if sig.ends_with('0') { "1" } else { "0" }
    );
    let credential = get(&good, "x-amz-credential");
    let ok = Ok(());
    vec![
        // Rule 1: required fields, case-insensitive names, each once.
        case(
            "baseline: the form assetd hands out verifies",
            good.clone(),
            ok,
        ),
        case(
            "names are case-insensitive: the JS SDK sends `policy` and `Content-Type`",
            rename(
                rename(good.clone(), "policy", "Policy"),
                "content-type",
                "Content-Type",
            ),
            ok,
        ),
        case(
            "names are case-insensitive: upper-case X-Amz-* as in uploadDetails",
            rename(
                rename(
                    rename(
                        rename(good.clone(), "x-amz-algorithm", "X-Amz-Algorithm"),
                        "x-amz-credential",
                        "X-Amz-Credential",
                    ),
                    "x-amz-date",
                    "X-Amz-Date",
                ),
                "x-amz-signature",
                "X-Amz-Signature",
            ),
            ok,
        ),
        case(
            "key is required",
            remove(good.clone(), "key"),
            Err("MissingField"),
        ),
        case(
            "policy is required",
            remove(good.clone(), "policy"),
            Err("MissingField"),
        ),
        case(
            "x-amz-signature is required",
            remove(good.clone(), "x-amz-signature"),
            Err("MissingField"),
        ),
        case(
            "x-amz-credential is required",
            remove(good.clone(), "x-amz-credential"),
            Err("MissingField"),
        ),
        case(
            "x-amz-date is required",
            remove(good.clone(), "x-amz-date"),
            Err("MissingField"),
        ),
        case(
            "x-amz-algorithm is required",
            remove(good.clone(), "x-amz-algorithm"),
            Err("MissingField"),
        ),
        case(
            "a key and no signature field at all is an anonymous request: AccessDenied, as S3 answers",
            remove(
                remove(
                    remove(
                        remove(remove(good.clone(), "x-amz-signature"), "x-amz-credential"),
                        "x-amz-date",
                    ),
                    "x-amz-algorithm",
                ),
                "policy",
            ),
            Err("AnonymousDenied"),
        ),
        case(
            "a policy without signature fields is anonymous too",
            remove(
                remove(
                    remove(remove(good.clone(), "x-amz-signature"), "x-amz-credential"),
                    "x-amz-date",
                ),
                "x-amz-algorithm",
            ),
            Err("AnonymousDenied"),
        ),
        case(
            "a field may appear only once, whatever its case",
            {
                let mut f = good.clone();
                f.insert(0, ("KEY".into(), "other".into()));
                f
            },
            Err("DuplicateField"),
        ),
        case(
            "only AWS4-HMAC-SHA256 is accepted",
            set(good.clone(), "x-amz-algorithm", "AWS4-HMAC-SHA1"),
            Err("UnsupportedAlgorithm"),
        ),
        // Rule 2: the credential scope.
        case(
            "the credential's service must be s3",
            set(
                good.clone(),
                "x-amz-credential",
                &credential.replace("/s3/", "/ec2/"),
            ),
            Err("MalformedCredential"),
        ),
        case(
            "the credential must end with aws4_request",
            set(
                good.clone(),
                "x-amz-credential",
                &credential.replace("aws4_request", "aws4_reqest"),
            ),
            Err("MalformedCredential"),
        ),
        case(
            "the credential has five parts",
            set(
                good.clone(),
                "x-amz-credential",
                &format!("{AK}/20261125/us-east-1/s3"),
            ),
            Err("MalformedCredential"),
        ),
        case(
            "the credential's date is the date of x-amz-date",
            set(
                good.clone(),
                "x-amz-credential",
                &credential.replace("20261125", "20261124"),
            ),
            Err("MalformedCredential"),
        ),
        case(
            "x-amz-date is ISO 8601 basic",
            set(good.clone(), "x-amz-date", "2026-11-25T10:00:00Z"),
            Err("MalformedCredential"),
        ),
        case(
            "an unknown access key is InvalidAccessKeyId",
            set(
                good.clone(),
                "x-amz-credential",
                &credential.replace(AK, "AKIDUNKNOWN"),
            ),
            Err("UnknownAccessKey"),
        ),
        // Rule 3: the signature, before the policy is decoded.
        case(
            "a signature with one hex digit changed is refused",
            set(good.clone(), "x-amz-signature", &flipped),
            Err("SignatureMismatch"),
        ),
        case(
            "a truncated signature is refused",
            set(good.clone(), "x-amz-signature", &sig[..40]),
            Err("SignatureMismatch"),
        ),
        case(
            "a non-hex signature is refused",
            set(good.clone(), "x-amz-signature", &"z".repeat(64)),
            Err("SignatureMismatch"),
        ),
        case(
            "the signature compares hex case-insensitively",
            set(good.clone(), "x-amz-signature", &sig.to_uppercase()),
            ok,
        ),
        case(
            "a policy signed with another secret is refused",
            form_signed_by(
                "another-secret",
                vec![Condition::eq("key", KEY)],
                &[("key", KEY)],
                Duration::hours(1),
            ),
            Err("SignatureMismatch"),
        ),
        case(
            "the policy is signed exactly as received (a truncated policy)",
            set(good.clone(), "policy", &policy[..policy.len() - 4]),
            Err("SignatureMismatch"),
        ),
        case(
            "the policy is signed exactly as received (re-encoded with whitespace)",
            set(good.clone(), "policy", &format!(" {policy}")),
            Err("SignatureMismatch"),
        ),
        // Rule 4: the policy document and its expiration.
        case(
            "a policy without conditions is malformed",
            form_with_policy_json(r#"{"expiration":"2026-11-25T11:00:00Z"}"#, &[("key", KEY)]),
            Err("InvalidPolicy"),
        ),
        case(
            "a policy with an extra top-level key is malformed",
            form_with_policy_json(
                r#"{"expiration":"2026-11-25T11:00:00Z","conditions":[],"x":1}"#,
                &[("key", KEY)],
            ),
            Err("InvalidPolicy"),
        ),
        case(
            "a policy that is not JSON is malformed",
            form_with_policy_json("expiration tomorrow", &[("key", KEY)]),
            Err("InvalidPolicy"),
        ),
        case(
            "a policy one second before its expiration is accepted",
            form_signed_by(
                SECRET,
                vec![Condition::eq("key", KEY)],
                &[("key", KEY)],
                Duration::seconds(1),
            ),
            ok,
        ),
        Case {
            at: now() + Duration::seconds(2),
            ..case(
                "an expired policy is refused (after expiration)",
                form_signed_by(
                    SECRET,
                    vec![Condition::eq("key", KEY)],
                    &[("key", KEY)],
                    Duration::seconds(1),
                ),
                Err("Expired"),
            )
        },
        Case {
            at: now() + Duration::seconds(1),
            ..case(
                "a policy expires at its expiration instant",
                form_signed_by(
                    SECRET,
                    vec![Condition::eq("key", KEY)],
                    &[("key", KEY)],
                    Duration::seconds(1),
                ),
                Err("Expired"),
            )
        },
        // Rule 5: conditions.
        case(
            "eq key: another key is refused",
            set(good.clone(), "key", "6390c49674a71f84b51a08d8/other.png"),
            Err("ConditionFailed"),
        ),
        case(
            "eq Content-Type: another type is refused",
            set(good.clone(), "content-type", "text/html"),
            Err("ConditionFailed"),
        ),
        case(
            "values are case-sensitive",
            set(good.clone(), "content-type", "IMAGE/PNG"),
            Err("ConditionFailed"),
        ),
        case(
            "eq acl: public-read-write is refused",
            set(good.clone(), "acl", "public-read-write"),
            Err("ConditionFailed"),
        ),
        case(
            "eq success_action_status: 200 is refused when 201 is signed",
            set(good.clone(), "success_action_status", "200"),
            Err("ConditionFailed"),
        ),
        case(
            "eq Cache-Control: another value is refused",
            set(good.clone(), "Cache-Control", "no-store"),
            Err("ConditionFailed"),
        ),
        Case {
            bucket: "other-bucket",
            ..case(
                "bucket: the URL's bucket must match",
                good.clone(),
                Err("ConditionFailed"),
            )
        },
        case(
            "bucket: a bucket form field must match too",
            set(good.clone(), "bucket", "other-bucket"),
            Err("ConditionFailed"),
        ),
        case(
            "a signed condition on an absent field fails",
            remove(good.clone(), "Cache-Control"),
            Err("ConditionFailed"),
        ),
        case(
            "[\"eq\", \"$f\", v] is the same as {\"f\": v}",
            form_with_policy_json(
                r#"{"expiration":"2026-11-25T11:00:00Z","conditions":[["eq","$key","a"],["eq","$x-amz-algorithm","AWS4-HMAC-SHA256"],["eq","$x-amz-credential","AKIDASSETDTEST000001/20261125/us-east-1/s3/aws4_request"],["eq","$x-amz-date","20261125T100000Z"]]}"#,
                &[("key", "a")],
            ),
            ok,
        ),
        case(
            "starts-with: a key under the prefix is accepted",
            form(
                vec![Condition::starts_with("key", "user/")],
                &[("key", "user/a.png")],
            ),
            ok,
        ),
        case(
            "starts-with: a key outside the prefix is refused",
            form(
                vec![Condition::starts_with("key", "user/")],
                &[("key", "admin/a.png")],
            ),
            Err("ConditionFailed"),
        ),
        case(
            "starts-with with an empty prefix accepts any value",
            form(
                vec![
                    Condition::eq("key", "k"),
                    Condition::starts_with("x-amz-meta-tag", ""),
                ],
                &[("key", "k"), ("x-amz-meta-tag", "anything")],
            ),
            ok,
        ),
        case(
            "starts-with with an empty prefix still requires the field",
            form(
                vec![
                    Condition::eq("key", "k"),
                    Condition::starts_with("x-amz-meta-tag", ""),
                ],
                &[("key", "k")],
            ),
            Err("ConditionFailed"),
        ),
        case(
            "starts-with is allowed on x-amz-meta-*",
            form(
                vec![
                    Condition::eq("key", "k"),
                    Condition::starts_with("x-amz-meta-uuid", "14"),
                ],
                &[("key", "k"), ("x-amz-meta-uuid", "1436")],
            ),
            ok,
        ),
        case(
            "bucket allows eq only",
            form(
                vec![
                    Condition::eq("key", "k"),
                    Condition::starts_with("bucket", "ass"),
                ],
                &[("key", "k")],
            ),
            Err("InvalidPolicy"),
        ),
        case(
            "success_action_status allows eq only",
            form(
                vec![
                    Condition::eq("key", "k"),
                    Condition::starts_with("success_action_status", "2"),
                ],
                &[("key", "k"), ("success_action_status", "201")],
            ),
            Err("InvalidPolicy"),
        ),
        case(
            "x-amz-* (not meta) allows eq only",
            form(
                vec![
                    Condition::eq("key", "k"),
                    Condition::starts_with("x-amz-server-side-encryption", ""),
                ],
                &[("key", "k"), ("x-amz-server-side-encryption", "AES256")],
            ),
            Err("InvalidPolicy"),
        ),
        case(
            "Content-Type starts-with checks every element of a list",
            form(
                vec![
                    Condition::eq("key", "k"),
                    Condition::starts_with("Content-Type", "image/"),
                ],
                &[("key", "k"), ("Content-Type", "image/png, image/gif")],
            ),
            ok,
        ),
        case(
            "Content-Type starts-with fails if one list element differs",
            form(
                vec![
                    Condition::eq("key", "k"),
                    Condition::starts_with("Content-Type", "image/"),
                ],
                &[("key", "k"), ("Content-Type", "image/png, text/html")],
            ),
            Err("ConditionFailed"),
        ),
        // Rule 6: coverage.
        case(
            "an unsigned x-amz-meta-* field is refused",
            set(good.clone(), "x-amz-meta-extra", "1"),
            Err("ExtraField"),
        ),
        case(
            "an unsigned non-x-amz field is refused (AWS; SeaweedFS deviates)",
            set(good.clone(), "Content-Disposition", "attachment"),
            Err("ExtraField"),
        ),
        case(
            "x-ignore-* fields are exempt",
            set(good.clone(), "x-ignore-note", "hello"),
            ok,
        ),
        case(
            "X-Ignore-* is exempt whatever its case",
            set(good.clone(), "X-Ignore-Submit", "Upload"),
            ok,
        ),
        case(
            "file, policy and x-amz-signature are exempt",
            set(good.clone(), "file", "inline"),
            ok,
        ),
        case(
            "the bucket may come from the URL alone",
            remove(good.clone(), "bucket"),
            ok,
        ),
        case(
            "the x-amz-* fields must be covered by the policy too",
            form_with_policy_json(
                r#"{"expiration":"2026-11-25T11:00:00Z","conditions":[{"key":"a"}]}"#,
                &[("key", "a")],
            ),
            Err("ExtraField"),
        ),
    ]
}

#[test]
fn verifier_table() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let got = run(case).map(|_| ()).map_err(|e| kind(&e));
        if got != case.expect {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                case.rule, case.expect, got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn verified_post_exposes_key_range_and_fields() {
    let verified = run(&case("", webflow_form(), Ok(()))).expect("valid");
    assert_eq!(verified.key, KEY);
    assert_eq!(verified.content_length_range, Some((1, 4_194_304)));
    assert_eq!(verified.access_key_id, AK);
    assert_eq!(verified.field("CONTENT-TYPE"), Some("image/png"));
    assert_eq!(verified.field("success_action_status"), Some("201"));
}

#[test]
fn filename_placeholder_expands_before_conditions() {
    let fields = form(
        vec![Condition::starts_with("key", "uploads/")],
        &[("key", "uploads/${filename}")],
    );
    let verified = run(&case("", fields, Ok(()))).expect("valid");
    assert_eq!(verified.key, "uploads/photo.png");
    // An eq condition on the raw placeholder does not match the expanded key.
    let fields = form(
        vec![Condition::eq("key", "uploads/${filename}")],
        &[("key", "uploads/${filename}")],
    );
    assert_eq!(
        run(&case("", fields, Ok(()))).map_err(|e| kind(&e)).err(),
        Some("ConditionFailed")
    );
}

#[test]
fn several_length_ranges_intersect() {
    let fields = form(
        vec![
            Condition::eq("key", "k"),
            Condition::content_length_range(1, 50),
            Condition::content_length_range(5, 100),
        ],
        &[("key", "k")],
    );
    assert_eq!(
        run(&case("", fields, Ok(())))
            .expect("valid")
            .content_length_range,
        Some((5, 50))
    );
}

#[test]
fn every_error_has_an_s3_code() {
    assert_eq!(
        VerifyError::SignatureMismatch.code(),
        "SignatureDoesNotMatch"
    );
    assert_eq!(VerifyError::UnknownAccessKey.code(), "InvalidAccessKeyId");
    assert_eq!(VerifyError::Expired.code(), "AccessDenied");
    assert_eq!(VerifyError::ExtraField("x".into()).code(), "AccessDenied");
    assert_eq!(VerifyError::MissingField("key").code(), "InvalidArgument");
    assert_eq!(VerifyError::AnonymousDenied.code(), "AccessDenied");
    assert_eq!(
        VerifyError::InvalidPolicy(String::new()).code(),
        "InvalidPolicyDocument"
    );
}
