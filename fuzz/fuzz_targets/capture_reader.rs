//! Feeds arbitrary bytes to the capture reader as a whole file, reads every frame and dissects
//! it: nothing may panic, and reading must end (the reader stops at the first error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netdiffd::capture::{dissect, CaptureReader};
use std::io::Cursor;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = CaptureReader::from_reader(Cursor::new(data.to_vec()), Path::new("fuzz"))
    else {
        return;
    };
    let mut records = 0u64;
    for frame in reader {
        let Ok(frame) = frame else { break };
        records += 1;
        assert_eq!(frame.record, records);
        assert!(frame.data.len() as u64 <= data.len() as u64);
        let _ = dissect(&frame);
    }
});
