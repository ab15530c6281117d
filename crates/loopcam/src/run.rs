//! `loopcam run -- CMD [ARGS]`: run an unmodified application with the preload library.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use anyhow::{bail, Result};

const LIB: &str = "libloopcam_preload.so";

/// Where the preload library is: `$LOOPCAM_PRELOAD`, next to this binary (cargo builds), or in
/// `../lib/loopcam/` / `../lib/` relative to it (installed layouts).
pub fn find_preload() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("LOOPCAM_PRELOAD").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!(
            "LOOPCAM_PRELOAD points to {}, which does not exist",
            p.display()
        );
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().unwrap_or(std::path::Path::new("."));
    for cand in [
        dir.join(LIB),
        dir.join("../lib/loopcam").join(LIB),
        dir.join("../lib").join(LIB),
    ] {
        if cand.is_file() {
            return Ok(cand.canonicalize().unwrap_or(cand));
        }
    }
    bail!("cannot find {LIB} next to {} (build it with `cargo build -p loopcam-preload`, or set LOOPCAM_PRELOAD)", exe.display())
}

pub fn run(cmd: Vec<String>) -> Result<()> {
    let Some((prog, args)) = cmd.split_first() else {
        bail!("nothing to run: loopcam run -- CMD [ARGS]");
    };
    let lib = find_preload()?;
    let preload = match std::env::var("LD_PRELOAD") {
        Ok(old) if !old.is_empty() => format!("{} {old}", lib.display()),
        _ => lib.display().to_string(),
    };
    // exec replaces this process: CMD's exit status is ours, signals reach it directly.
    let err = std::process::Command::new(prog)
        .args(args)
        .env("LD_PRELOAD", preload)
        .env("LOOPCAM_SOCKET", loopcam_proto::default_socket_path())
        .exec();
    bail!("cannot run {prog}: {err}")
}
