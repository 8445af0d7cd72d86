//! Property: rendering any template with any JSON parameters ends within its fuel,
//! never panics, and never returns more than the output limit.
//!
//! Input layout: template source, a NUL byte, then the parameters as JSON.
#![no_main]

use brokkr_core::template::{TemplateLimits, render_source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (source, parameters) = text.split_once('\0').unwrap_or((&text, "{}"));
    let parameters = serde_json::from_str(parameters).unwrap_or(serde_json::json!({}));
    let limits = TemplateLimits {
        fuel: 50_000,
        max_output_bytes: 64 * 1024,
        ..TemplateLimits::DEFAULT
    };

    if let Ok(output) = render_source(source, &parameters, &limits) {
        assert!(output.len() <= limits.max_output_bytes);
    }
});
