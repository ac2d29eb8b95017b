//! Upload Asset request validation: any JSON body is accepted or refused with field errors, and
//! whatever is accepted has a name and hash that the rules allow.
#![no_main]

use assetd::create_request::{CreateAssetRequest, file_name_problem};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    match CreateAssetRequest::from_json(&body) {
        Ok(request) => {
            assert!(file_name_problem(&request.file_name).is_none());
            assert_eq!(request.file_hash.len(), 32);
            assert!(request.file_hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
});
