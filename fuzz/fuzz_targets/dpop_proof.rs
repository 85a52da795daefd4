#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rocket_openidconnect::fuzzing::dpop_proof(data);
});
