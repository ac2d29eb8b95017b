//! The POST policy parser: any bytes, as base64 text or as JSON, must parse or fail cleanly, and
//! whatever parses must re-encode to a policy that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3post::policy::PostPolicy;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PostPolicy::from_base64(text);
    }
    if let Ok(policy) = PostPolicy::from_json(data) {
        assert_eq!(PostPolicy::from_base64(&policy.to_base64()), Ok(policy));
    }
});
