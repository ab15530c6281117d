//! `loopcam-torture`: reliability checks for loopcam (issue 7). Each subcommand runs against
//! the daemon at `$LOOPCAM_SOCKET` and prints one `PASS name: figures` / `FAIL name: reason`
//! line per check; the exit status is 0 only if every check passed. See docs/RELIABILITY.md.

mod common;
mod isolation;
mod kill;
mod seeds;
mod soak;
mod stress;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "loopcam-torture", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Consumers cannot change what others see, nor map another device's memory.
    Isolation {
        /// Device X (gets a producer and consumers).
        device: String,
        /// Device Y (a different device).
        other: String,
        /// Seconds consumer A scribbles.
        #[arg(long, default_value_t = 3)]
        secs: u64,
    },
    /// Rounds of SIGKILL at chosen moments of producer/consumer life cycles.
    Kill {
        /// Device path.
        device: String,
        /// Daemon pid (for liveness and leak checks).
        #[arg(long)]
        daemon_pid: i32,
        /// Rounds.
        #[arg(long, default_value_t = 200)]
        rounds: u64,
        /// RNG seed (default: from the clock; printed).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// A kill-test victim (started by `kill`): `producer` or `consumer`.
    #[command(hide = true)]
    Victim {
        kind: String,
        device: String,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        base: u64,
    },
    /// Random calls from worker processes x threads on one device while a producer streams.
    Stress {
        /// Device path.
        device: String,
        /// Daemon pid (for liveness and resource sampling).
        #[arg(long)]
        daemon_pid: i32,
        /// Seconds to run.
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// Worker processes.
        #[arg(long, default_value_t = 4)]
        procs: usize,
        /// Threads per worker.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// A call taking longer than this fails the run.
        #[arg(long, default_value_t = 2000)]
        call_limit_ms: u64,
        /// SIGKILL a random worker (and start a replacement) this often; 0: never.
        #[arg(long, default_value_t = 5000)]
        kill_every_ms: u64,
        /// RNG seed (default: from the clock; printed).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// One stress worker process (started by `stress`).
    #[command(hide = true)]
    StressWorker {
        device: String,
        #[arg(long)]
        secs: u64,
        #[arg(long)]
        threads: usize,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        call_limit_ms: u64,
    },
    /// Writes the starting corpus of the fuzz targets (fuzz/, scripts/fuzz.sh) into DIR.
    FuzzSeeds {
        /// Directory that gets one subdirectory per fuzz target.
        dir: std::path::PathBuf,
    },
    /// Long run: 30 fps producer with periodic format changes, consumers joining and leaving.
    Soak {
        /// Device path.
        device: String,
        /// Daemon pid (for RSS and fd sampling).
        #[arg(long)]
        daemon_pid: i32,
        /// Seconds to run.
        #[arg(long, default_value_t = 600)]
        duration: u64,
        /// Seconds between format changes.
        #[arg(long, default_value_t = 120)]
        change_every: u64,
        /// Consumers joining and leaving.
        #[arg(long, default_value_t = 4)]
        consumers: usize,
        /// Producer frame rate.
        #[arg(long, default_value_t = 30)]
        fps: u32,
        /// RNG seed (default: from the clock; printed).
        #[arg(long)]
        seed: Option<u64>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let ok = match cli.cmd {
        Cmd::Isolation {
            device,
            other,
            secs,
        } => isolation::run(&device, &other, secs)?,
        Cmd::Kill {
            device,
            daemon_pid,
            rounds,
            seed,
        } => {
            let seed = seed.unwrap_or_else(common::clock_seed);
            eprintln!("kill: seed {seed}");
            kill::run(kill::KillArgs {
                device,
                daemon_pid,
                rounds,
                seed,
            })?
        }
        Cmd::Victim {
            kind,
            device,
            seed,
            base,
        } => kill::victim(&kind, &device, seed, base)?,
        Cmd::Stress {
            device,
            daemon_pid,
            secs,
            procs,
            threads,
            call_limit_ms,
            kill_every_ms,
            seed,
        } => {
            let seed = seed.unwrap_or_else(common::clock_seed);
            eprintln!("stress: seed {seed}");
            stress::run(stress::StressArgs {
                device,
                daemon_pid,
                secs,
                procs,
                threads,
                seed,
                limit_ms: call_limit_ms,
                kill_every_ms,
            })?
        }
        Cmd::StressWorker {
            device,
            secs,
            threads,
            seed,
            call_limit_ms,
        } => stress::worker(&device, secs, threads, seed, call_limit_ms)?,
        Cmd::FuzzSeeds { dir } => {
            let n = seeds::run(&dir)?;
            eprintln!("fuzz-seeds: {n} seeds in {}", dir.display());
            true
        }
        Cmd::Soak {
            device,
            daemon_pid,
            duration,
            change_every,
            consumers,
            fps,
            seed,
        } => {
            let seed = seed.unwrap_or_else(common::clock_seed);
            eprintln!("soak: seed {seed}");
            soak::run(soak::SoakArgs {
                device,
                duration,
                change_every,
                consumers,
                fps,
                daemon_pid,
                seed,
            })?
        }
    };
    std::process::exit(if ok { 0 } else { 1 });
}
