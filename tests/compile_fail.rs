//! What must not compile: the access modes are enforced by the type system.

// trybuild runs cargo, which a Windows test binary under Wine cannot; the native run covers it.
#[cfg_attr(
    windows,
    ignore = "trybuild runs cargo; the native test run checks this"
)]
#[test]
fn access_modes_are_enforced_at_compile_time() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
