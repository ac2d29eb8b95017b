//! File-name checks: an accepted name never contains a path separator, a control or
//! text-direction character, and always maps to a known type; the storage key built from it is
//! always a plain relative path the disk store accepts.
#![no_main]

use assetd::create_request::file_name_problem;
use assetd::file_types;
use assetd::ids::ObjectId;
use assetd::keys::{parse_storage_key, storage_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|name: &str| {
    if file_name_problem(name).is_some() || file_types::from_file_name(name).is_none() {
        return;
    }
    assert!(!name.contains(['/', '\\']));
    assert!(!name.chars().any(char::is_control));
    let site = ObjectId::generate(chrono::Utc::now());
    let asset = ObjectId::generate(chrono::Utc::now());
    let key = storage_key(site, asset, name);
    assert_eq!(parse_storage_key(&key), Some((site, asset)));
    assert_eq!(key.split('/').count(), 2);
});
