//! What the runtime knows about its process and its clients, handed to the core as values for
//! INFO: the counters connections share ([`Counters`]), the process's static facts
//! ([`process_info`]) and a sample of its RSS and CPU time ([`Probe`]).
//!
//! The core reads none of this itself (it is sans-IO): the driver reads the counters and the
//! probe just before an INFO or `CONFIG RESETSTAT` reaches the node, and hands them over with
//! `Node::handle_runtime_stats`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use seshat_core::stats::{CommandStats, ProcessInfo, RuntimeStats};

/// Counters every connection of a node adds to: relaxed atomics, no lock, no allocation.
#[derive(Debug, Default)]
pub struct Counters {
    /// Per command and per error code.
    pub commands: CommandStats,
    /// Connections accepted.
    pub connections_received: AtomicU64,
    /// Connections refused at `max_concurrent_client_connections`.
    pub connections_rejected: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Everything counted so far, with `sample`'s process facts.
    pub fn snapshot(&self, sample: ProcessSample) -> RuntimeStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RuntimeStats {
            rss_bytes: sample.rss_bytes,
            rss_peak_bytes: sample.rss_peak_bytes,
            cpu_sys: sample.cpu_sys,
            cpu_user: sample.cpu_user,
            connections_received: load(&self.connections_received),
            connections_rejected: load(&self.connections_rejected),
            net_input_bytes: load(&self.net_input_bytes),
            net_output_bytes: load(&self.net_output_bytes),
            commands: self.commands.snapshot(),
        }
    }
}

/// The process's memory and CPU time at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessSample {
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// The largest resident set size so far, bytes.
    pub rss_peak_bytes: u64,
    /// CPU time in the kernel, all threads.
    pub cpu_sys: Duration,
    /// CPU time in user space, all threads.
    pub cpu_user: Duration,
}

/// How the driver samples the process: the operating system's figures on a server; the
/// simulator, whose nodes share one real process, passes [`Probe::None`] (zeros).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `getrusage(2)` for CPU time, `/proc/self/status` for RSS and its peak.
    OperatingSystem,
    /// Nothing to sample: every figure is 0.
    None,
}

impl Probe {
    /// Reads the figures now. A few system calls; the driver calls it only for INFO.
    pub fn sample(self) -> ProcessSample {
        match self {
            Probe::None => ProcessSample::default(),
            Probe::OperatingSystem => {
                let (cpu_user, cpu_sys) = cpu_times();
                let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
                ProcessSample {
                    rss_bytes: status_kib(&status, "VmRSS:") * 1024,
                    rss_peak_bytes: status_kib(&status, "VmHWM:") * 1024,
                    cpu_sys,
                    cpu_user,
                }
            }
        }
    }
}

/// User and system CPU time of the whole process.
fn cpu_times() -> (Duration, Duration) {
    // SAFETY: getrusage with RUSAGE_SELF and a zeroed rusage it fills in.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return (Duration::ZERO, Duration::ZERO);
        }
        usage
    };
    let duration = |time: libc::timeval| {
        Duration::from_secs(time.tv_sec.max(0) as u64)
            + Duration::from_micros(time.tv_usec.max(0) as u64)
    };
    (duration(usage.ru_utime), duration(usage.ru_stime))
}

/// The `kB` figure of one `/proc/self/status` (or `/proc/meminfo`) line, 0 if absent.
fn status_kib(text: &str, field: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// This process's static facts: pid, executable, `uname`, word size, physical memory.
/// `config_file` and `tcp_port` are the caller's to fill in.
pub fn process_info() -> ProcessInfo {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    ProcessInfo {
        process_id: std::process::id(),
        executable: std::env::current_exe()
            .map(|path| path.display().to_string())
            .unwrap_or_default(),
        config_file: String::new(),
        os: uname(),
        arch_bits: usize::BITS,
        tcp_port: 0,
        // Rust's default global allocator is the C library's malloc.
        mem_allocator: "libc".to_owned(),
        system_memory_bytes: status_kib(&meminfo, "MemTotal:") * 1024,
    }
}

/// `uname -srm`: `Linux 6.1.0 x86_64`, as Redis's `os` field prints it.
fn uname() -> String {
    // SAFETY: uname with a zeroed utsname it fills in; its fields are NUL-terminated.
    unsafe {
        let mut name: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut name) != 0 {
            return std::env::consts::OS.to_owned();
        }
        let field = |chars: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(chars.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        format!(
            "{} {} {}",
            field(&name.sysname),
            field(&name.release),
            field(&name.machine)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\tseshat\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), 1024);
        assert_eq!(status_kib(status, "VmHWM:"), 2048);
        assert_eq!(status_kib(status, "VmSwap:"), 0);
    }

    #[test]
    fn the_operating_system_probe_sees_this_process() {
        // Goal: the probe reads real figures on Linux. Method: this test process has some
        // resident memory and has used some CPU time by now.
        let sample = Probe::OperatingSystem.sample();
        assert!(sample.rss_bytes > 0);
        assert!(sample.rss_peak_bytes >= sample.rss_bytes);
        assert!(process_info().os.starts_with("Linux "));
        assert_eq!(Probe::None.sample(), ProcessSample::default());
    }
}
