//! Property: checking any text as deployment YAML never panics and never recurses deep
//! enough to overflow the stack, however the text nests.
#![no_main]

use brokkr_core::template::check_yaml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = check_yaml(text);
    }
});
