//! The form verifier: arbitrary fields (names and values split from the input) must be judged
//! without panicking, and a forged form must never verify.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use s3post::signing::SecretKey;
use s3post::{PostRequest, verify_post};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Lines are fields, `name=value`; the first line may name the file.
    let mut lines = text.split('\n');
    let file_name = lines.next();
    let fields: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once('='))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).single().expect("date");
    let request = PostRequest { bucket: "assetd", fields: &fields, file_name };
    if let Ok(verified) = verify_post(&request, now, |_| Some(SecretKey::new("fuzz-secret"))) {
        // Only a form signed with the secret can pass; the fuzzer does not know it, so any
        // success must carry a signature it computed from a policy it also chose — impossible
        // without the key. Reaching here means the verifier accepted an unsigned form.
        panic!("accepted a form the fuzzer could not have signed: {verified:?}");
    }
});
