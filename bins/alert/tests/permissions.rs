//! A directory another user could change (as ssh's StrictModes judges it) is a configuration
//! error before anything is read or written: exit 2, naming the directory and what is wrong.

#[test]
fn a_state_directory_others_can_write_is_a_configuration_error() {
    // Arguments that would otherwise run normally.
    let args: &[&str] = &["--dry-run", "send", "hello"];
    let binary = assert_cmd::cargo::cargo_bin("alert");
    test_support::strict::refuses_a_directory_others_can_write(&binary, args, "state");
}
