//! `seshat-sim`: runs one scenario with one seed, or sweeps many seeds.
//!
//! ```text
//! seshat-sim run   --scenario leader-failure --seed 1734 [--plant ack-before-commit] [--depth 8] [--forward]
//! seshat-sim sweep [--scenario NAME] [--seeds 1000] [--first 0] [--plant BUG] [--depth N] [--forward]
//! seshat-sim list
//! ```
//! Build it with `--cfg madsim`; `scripts/sim.sh` does. `RUST_LOG=debug` shows the nodes' logs;
//! `SESHAT_SIM_OPS=1` prints every client operation of a run; `SESHAT_SIM_FAILURE_LINES=N`
//! shows up to N lines of each failure (60 by default). `--depth N` makes every run's
//! clients pipeline up to N requests per connection instead of letting the seed choose.
//! `--forward` sets `cluster.follower_requests = "forward"` on every node: followers pass
//! the clients' data commands to the leader instead of answering `MOVED`.

#[cfg(not(madsim))]
fn main() {
    eprintln!("seshat-sim needs a simulation build: run it through scripts/sim.sh");
    std::process::exit(2);
}

#[cfg(madsim)]
fn main() {
    sim::main()
}

#[cfg(madsim)]
mod sim {
    use std::time::{Duration, Instant};

    use seshat_chaos::scenario;
    use seshat_runtime_sim::run::{bug_by_name, describe, run, RunOptions};

    pub(crate) fn main() {
        // RUST_LOG=debug shows the nodes' logs, stamped with simulated time.
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
        let args: Vec<String> = std::env::args().skip(1).collect();
        let flag = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        let mut options = RunOptions::default();
        if let Some(depth) = flag("--depth") {
            let depth = depth.parse().ok().filter(|&depth| depth >= 1);
            options.pipeline_depth_max =
                Some(depth.unwrap_or_else(|| fail("--depth needs a number from 1")));
        }
        options.forward = args.iter().any(|a| a == "--forward");
        if let Some(name) = flag("--plant") {
            options.planted_bug =
                Some(bug_by_name(&name).unwrap_or_else(|| fail(&format!("no planted bug {name}"))));
        }
        let scenarios = match flag("--scenario") {
            Some(name) => vec![scenario::by_name(&name)
                .unwrap_or_else(|| fail(&format!("no scenario {name}; try `list`")))],
            None => scenario::all(),
        };
        match args.first().map(String::as_str) {
            Some("list") => {
                for s in scenario::all() {
                    println!("{:>2} {:<28} {}", s.number, s.name, s.summary);
                }
            }
            Some("run") => {
                let seed = flag("--seed")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| fail("run needs --seed N"));
                let mut failed = false;
                for s in &scenarios {
                    println!("seed={seed} scenario={}", s.name);
                    let report = run(s, seed, &options);
                    print!("{}", describe(&report));
                    failed |= !report.passed();
                }
                std::process::exit(i32::from(failed));
            }
            Some("sweep") => {
                let seeds: u64 = flag("--seeds").and_then(|s| s.parse().ok()).unwrap_or(1000);
                let first: u64 = flag("--first").and_then(|s| s.parse().ok()).unwrap_or(0);
                let mut failed = false;
                for s in &scenarios {
                    let wall = Instant::now();
                    let mut simulated = Duration::ZERO;
                    let mut installs = 0;
                    let mut failures = Vec::new();
                    for seed in first..first + seeds {
                        let report = run(s, seed, &options);
                        simulated += report.simulated;
                        installs += report.snapshot_installs;
                        if !report.passed() {
                            print!("{}", describe(&report));
                            println!("  reproduce: {}", report.reproduce(&options));
                            failures.push(seed);
                        }
                    }
                    let wall = wall.elapsed();
                    println!(
                        "{:<28} runs={seeds} failures={} snapshot_installs={installs} simulated={:.0}s wall={:.1}s ratio={:.1} sim-s/wall-s",
                        s.name,
                        failures.len(),
                        simulated.as_secs_f64(),
                        wall.as_secs_f64(),
                        simulated.as_secs_f64() / wall.as_secs_f64().max(1e-9),
                    );
                    failed |= !failures.is_empty();
                }
                std::process::exit(i32::from(failed));
            }
            _ => fail("usage: seshat-sim list | run --scenario NAME --seed N [--plant BUG] [--depth N] [--forward] | sweep [--scenario NAME] [--seeds N] [--first N] [--plant BUG] [--depth N] [--forward]"),
        }
    }

    fn fail(message: &str) -> ! {
        eprintln!("{message}");
        std::process::exit(2);
    }
}
