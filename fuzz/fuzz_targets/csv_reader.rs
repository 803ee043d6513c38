//! Feeds arbitrary bytes to the nPrint CSV reader: it must return a table or an error, never
//! panic, and a table it returns must be self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netdiffd::nprint::parse_csv;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = parse_csv(data, std::path::Path::new("fuzz.csv")) {
        assert_eq!(t.bits.len(), t.rows * t.layout.width());
        assert!(t.bits.iter().all(|b| (-1..=1).contains(b)));
        for v in [
            t.index.as_ref().map(Vec::len),
            t.rts_us.as_ref().map(Vec::len),
        ] {
            assert!(v.is_none_or(|n| n == t.rows));
        }
        assert_eq!(t.to_model().len(), t.rows * 1024);
    }
});
