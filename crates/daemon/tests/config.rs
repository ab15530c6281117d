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

#[test]
fn access_and_memory_fields_accept_numbers_and_names() {
    let dir = std::env::temp_dir().join(format!("loopcam-cfg-acc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("acc.toml");
    std::fs::write(
        &p,
        "[[device]]\nowner = \"root\"\ngroup = 44\nmode = 0o640\nmax_memory = \"64M\"\n\
         [[device]]\nowner = 1000\nmode = \"0600\"\nmax_memory = 1048576\n",
    )
    .unwrap();
    let specs = loopcam_daemon::load_config(&p).unwrap().specs().unwrap();
    assert_eq!(specs[0].owner, Some(0));
    assert_eq!(specs[0].group, Some(44));
    assert_eq!(specs[0].mode, Some(0o640));
    assert_eq!(specs[0].max_memory, Some(64 << 20));
    assert_eq!(specs[1].owner, Some(1000));
    assert_eq!(specs[1].group, None);
    assert_eq!(specs[1].mode, Some(0o600));
    assert_eq!(specs[1].max_memory, Some(1 << 20));

    std::fs::write(&p, "[[device]]\nmode = \"0999\"\n").unwrap();
    let e = loopcam_daemon::load_config(&p)
        .unwrap()
        .specs()
        .unwrap_err();
    assert!(e.contains("device 1") && e.contains("0999"), "{e}");
    std::fs::write(&p, "[[device]]\ngroup = \"no-such-group-here\"\n").unwrap();
    let e = loopcam_daemon::load_config(&p)
        .unwrap()
        .specs()
        .unwrap_err();
    assert!(e.contains("no such group"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sizes() {
    use loopcam_daemon::parse_size;
    assert_eq!(parse_size("4096"), Ok(4096));
    assert_eq!(parse_size("512K"), Ok(512 << 10));
    assert_eq!(parse_size("2g"), Ok(2 << 30));
    assert!(parse_size("0").is_err());
    assert!(parse_size("12X").is_err());
    assert!(parse_size("99999999999T").is_err());
}
