//! Property: compiling any JSON document as a parameter schema never panics, and a
//! schema that compiles never refers outside itself.
#![no_main]

use brokkr_core::template::{TemplateLimits, compile_schema};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(schema) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if compile_schema(&schema, &TemplateLimits::DEFAULT).is_ok() {
        let text = schema.to_string();
        assert!(!text.contains("\"$ref\":\"http"), "{text}");
    }
});
