//! The shipped example configuration parses; a bad one gives one clear line.

#[test]
fn shipped_devices_toml_is_valid() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/devices.toml");
    let cfg = loopcam_daemon::load_config(&path).unwrap();
    let specs = cfg.specs().unwrap();
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].number, Some(10));
    assert!(specs[0].exclusive_caps);
    assert_eq!(specs[0].timeout_ms, Some(2000));
}

#[test]
fn a_bad_config_is_one_clear_line() {
    let dir = std::env::temp_dir().join(format!("loopcam-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.toml");
    std::fs::write(&p, "[[device]]\nnumbr = 3\n").unwrap();
    let e = loopcam_daemon::load_config(&p).unwrap_err();
    assert!(
        e.contains("bad.toml") && e.contains("numbr") && !e.contains('\n'),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
