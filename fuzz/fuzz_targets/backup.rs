//! Backup files (`trent::backup::read`, what `trent restore` reads): the header line, the key,
//! alias and grant lines and the end line.
//!
//! Input: a backup file.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|file: &[u8]| {
    if let Ok((_, records)) = trent::backup::read(file) {
        // A file that reads has its end line, which counts its records: at least one line each.
        assert!(records.len() < file.len());
    }
});
