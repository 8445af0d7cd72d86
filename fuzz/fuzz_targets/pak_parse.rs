//! Property: `pak::parse` never panics, and accepts only text of the documented shape:
//! exactly `MAX_PAK_LEN` ASCII characters starting `brk_<adm|gen|agt>_`.
#![no_main]

use brokkr_core::pak::{self, MAX_PAK_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = pak::parse(text) {
        assert_eq!(text.len(), MAX_PAK_LEN);
        let tag = &text[4..7];
        assert_eq!(tag, parsed.kind.pak_tag());
        assert!(text.starts_with("brk_"));
        assert_eq!(&text[8..24], parsed.key_id.as_str());
    }
});
