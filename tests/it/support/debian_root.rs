//! A minimal Debian bookworm root, `mmdebstrap --variant=minbase` (Essential and
//! apt: what debian:bookworm-slim holds, which node:20-bookworm-slim is built
//! on), built once under the target dir and reused while its recipe holds; and
//! the binary run in it with `chroot`, the way a container runs it: its own
//! files only, the host's network (the test PostgreSQL on loopback).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use super::Outcome;

pub const SUITE: &str = "bookworm";
pub const MIRROR: &str = "http://deb.debian.org/debian";
/// The cached root's name: change it with the recipe, so an old root is not reused.
const RECIPE: &str = "bookworm-minbase-1";
/// Where the binary goes in a root, as in the Dockerfile.
pub const BINARY_IN_ROOT: &str = "/usr/local/bin/praxia-deploy";
/// A container's usual PATH (Docker's default for Debian images).
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const PREREQUISITES: &str = "`bash -c 'source scripts/prerequisites.sh && install_prerequisites'` as root";

/// Panics unless this process may `chroot`: only root may.
#[track_caller]
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test runs the binary with chroot in a Debian root, which only root may do (chroot: Operation not \
         permitted); run the tests as root (CI does), e.g. `sudo -E env PATH=\"$PATH\" cargo test --locked --test it`"
    );
}

/// The cached root, built on first use (about 15 s on 2 cores; then reused in
/// milliseconds). Panics with the fix when it cannot be built.
pub fn debian_root() -> &'static Path {
    require_root();
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match ROOT.get_or_init(build_or_reuse) {
        Ok(root) => root,
        Err(reason) => panic!("{reason}"),
    }
}

/// Builds the root unless a complete one is cached. One builder at a time (a lock
/// file: tests run in parallel, and so may two test runs); the root is built
/// under a temporary name and renamed when complete, so a cached root is a
/// complete one.
fn build_or_reuse() -> Result<PathBuf, String> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-root");
    std::fs::create_dir_all(&cache).map_err(|err| format!("create {}: {err}", cache.display()))?;
    let root = cache.join(RECIPE);
    let lock_path = cache.join(format!("{RECIPE}.lock"));
    let lock = File::create(&lock_path).map_err(|err| format!("create {}: {err}", lock_path.display()))?;
    lock.lock().map_err(|err| format!("lock {}: {err}", lock_path.display()))?;
    if root.is_dir() {
        return Ok(root);
    }
    let mmdebstrap = which("mmdebstrap").ok_or_else(|| {
        format!(
            "mmdebstrap is not installed: it builds the minimal Debian root this test runs the binary in\n\
             fix: {PREREQUISITES}, or `apt-get install mmdebstrap`"
        )
    })?;
    // A killed build's leftovers, removed under the lock; never through a mount
    // (mmdebstrap mounts /proc, /sys and /dev/pts in the root while it builds).
    let partial = cache.join(format!("{RECIPE}.partial"));
    let mounted = mounts_under(&partial);
    if !mounted.is_empty() {
        return Err(format!(
            "a killed build of the Debian root left mounts in {}: {}\nfix: `umount -R {}`, then run the tests again",
            partial.display(),
            mounted.join(", "),
            partial.display()
        ));
    }
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|err| format!("remove {}: {err}", partial.display()))?;
    }

    let started = Instant::now();
    let built = Command::new(&mmdebstrap)
        .args(["--variant=minbase", "--mode=root", "--quiet", SUITE])
        .arg(&partial)
        .arg(MIRROR)
        .output()
        .map_err(|err| format!("run {}: {err}", mmdebstrap.display()))?;
    if !built.status.success() {
        return Err(format!(
            "mmdebstrap could not build the Debian {SUITE} root ({}):\n{}\n\
             fix: it downloads the packages from {MIRROR}, which must be reachable; it runs as root",
            built.status,
            String::from_utf8_lossy(&built.stderr).trim()
        ));
    }
    std::fs::rename(&partial, &root)
        .map_err(|err| format!("rename {} to {}: {err}", partial.display(), root.display()))?;
    eprintln!("built the Debian {SUITE} minbase root in {:.1?}: {}", started.elapsed(), root.display());
    Ok(root)
}

/// The mount points at or under `dir` (from /proc/self/mountinfo).
fn mounts_under(dir: &Path) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|mount_point| Path::new(mount_point).starts_with(dir))
        .map(str::to_owned)
        .collect()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// Puts the binary under test at `BINARY_IN_ROOT` in `root`: a copy renamed into
/// place, so a test already running an older copy keeps its own.
pub fn install_binary(root: &Path) {
    let target = root.join(BINARY_IN_ROOT.trim_start_matches('/'));
    std::fs::create_dir_all(target.parent().unwrap()).expect("mkdir the binary's folder");
    let copy = target.with_file_name(format!(".praxia-deploy.{}.{}", std::process::id(), uuid::Uuid::new_v4()));
    std::fs::copy(env!("CARGO_BIN_EXE_praxia-deploy"), &copy).expect("copy the binary into the root");
    std::fs::rename(&copy, &target).expect("rename the binary into place");
}

/// The Debian root with the binary under test installed (once per test process).
pub fn debian_root_with_binary() -> &'static Path {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    let root = debian_root();
    INSTALLED.get_or_init(|| install_binary(root));
    root
}

/// `path` (a file or folder inside `root`) as the chrooted process sees it.
pub fn in_root(root: &Path, path: &Path) -> String {
    let inside = path.strip_prefix(root).unwrap_or_else(|_| panic!("{} is not in {}", path.display(), root.display()));
    format!("/{}", inside.display())
}

/// Runs `program` (a path inside `root`) with `args` chrooted into `root`, with
/// only `PATH` and `env` in its environment, as a user sees it.
pub fn run_in_root(root: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let chroot = which("chroot").unwrap_or_else(|| panic!("chroot is not installed (coreutils)\nfix: {PREREQUISITES}"));
    let mut command = Command::new(chroot);
    command.arg(root).arg(program).args(args).env_clear().env("PATH", PATH).envs(env.iter().copied());
    let outcome = Outcome::of(&mut command);
    // chroot's own failure (125), not the program's.
    assert!(
        !(outcome.code == 125 && outcome.stderr.starts_with("chroot:")),
        "chroot failed: {}{}",
        outcome.stderr,
        if outcome.stderr.contains("Operation not permitted") { "fix: run the tests as root (CI does)" } else { "" }
    );
    outcome
}
