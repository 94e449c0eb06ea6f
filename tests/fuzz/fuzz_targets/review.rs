//! AdmissionReview decoding on both routes: arbitrary bytes never panic, and the answer is a
//! well-formed AdmissionReview or a one-line error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultgate::admission::Route;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    for route in [Route::Validate, Route::Mutate] {
        let _ = common::check_answer(&common::webhook().review(route, data), None);
    }
});
