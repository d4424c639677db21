//! Election timeouts from the group's seeded RNG.
//!
//! raft-rs draws a new randomized election timeout from `rand::thread_rng()` whenever it resets
//! (on every change of role, term or leader): seeded under madsim, not in plain core tests.
//! [`ElectionTimeout::pin`] replaces each draw with one from a `ChaCha8Rng` seeded by
//! `GroupConfig::rng_seed`, so that one seed decides every election (etcd's tests pin
//! `SetRandomizedElectionTimeout` the same way).

use raft::{Raft, StateRole};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::consensus::log_view::LogView;

/// Role, leader and term as last seen, to notice changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SoftState {
    pub(super) role: StateRole,
    /// The leader's node id, or `INVALID_ID` when none is known.
    pub(super) leader: u64,
    pub(super) term: u64,
}

impl SoftState {
    /// The role, leader and term raft-rs holds now.
    pub(super) fn of(raft: &Raft<LogView>) -> SoftState {
        SoftState {
            role: raft.state,
            leader: raft.leader_id,
            term: raft.term,
        }
    }
}

/// The election timeout one group pinned in raft-rs, and the RNG it draws them from.
#[derive(Debug)]
pub(super) struct ElectionTimeout {
    /// Draws every timeout. Seeded from the configuration, and drawn from only when the role,
    /// term or leader changed, so the draws never depend on what raft-rs drew.
    rng: ChaCha8Rng,
    /// Timeouts are drawn from `ticks_min..ticks_max`, in ticks.
    ticks_min: usize,
    /// Exclusive upper bound of the draws, in ticks.
    ticks_max: usize,
    /// The timeout last pinned, in ticks; 0 before the first pin (raft-rs never draws 0).
    pinned_ticks: usize,
    /// The role, term and leader `pinned_ticks` was drawn for.
    pinned_for: SoftState,
}

impl ElectionTimeout {
    /// Starts with nothing pinned yet; call [`ElectionTimeout::pin`] once the group is built.
    pub(super) fn new(
        rng_seed: u64,
        ticks_min: usize,
        ticks_max: usize,
        raft: &Raft<LogView>,
    ) -> ElectionTimeout {
        ElectionTimeout {
            rng: ChaCha8Rng::seed_from_u64(rng_seed),
            ticks_min,
            ticks_max,
            pinned_ticks: 0,
            pinned_for: SoftState::of(raft),
        }
    }

    /// Replaces an election timeout raft-rs drew from its own RNG with one from ours. Call it
    /// after every input that can change the role, term or leader.
    pub(super) fn pin(&mut self, raft: &mut Raft<LogView>) {
        let soft = SoftState::of(raft);
        // Deciding on the role, term and leader alone keeps our RNG's draws independent of what
        // raft-rs drew; the value check is a second net should raft-rs ever reset without one
        // of them changing.
        if soft != self.pinned_for || raft.randomized_election_timeout() != self.pinned_ticks {
            let timeout = self.rng.gen_range(self.ticks_min..self.ticks_max);
            raft.set_randomized_election_timeout(timeout);
            self.pinned_ticks = timeout;
            self.pinned_for = soft;
        }
    }
}
