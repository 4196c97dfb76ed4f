//! How many calls fit at once: the instance pool and the memory budget.
//!
//! **The pool never fails a call.** Wasmtime's pooling allocator has fixed
//! totals of component instances, core instances, linear memories, tables
//! and stacks, and an instantiation that finds one of them exhausted fails.
//! weld sizes the pool in *slots* and makes every call take, before it
//! instantiates, as many slots as its component needs (a weighted
//! semaphore), so the allocator is never asked for more than it has:
//!
//! - A slot is one component instance and one stack (a call uses one of
//!   each), `memories_per_slot` linear memories and `tables_per_slot`
//!   tables. A call takes `max(1, ⌈memories/memories_per_slot⌉,
//!   ⌈tables/tables_per_slot⌉)` slots, counted from the component when it is
//!   loaded ([`Component::resources_required`]: the memories and tables its
//!   core instances define, summed over every instantiation).
//! - Core instances are not accounted per call: the pool only counts them
//!   (their metadata is allocated when used, and Wasmtime bounds it per
//!   component instance), so their total is set to the per-component
//!   maximum times the slots, which no set of calls can exceed.
//! - The per-component maxima (64 core instances, 8 memories, 32 tables) are
//!   checked by Wasmtime when the component is compiled or loaded. The pool
//!   always holds at least one instance of that maximum (a small pool gets
//!   more memories and tables per slot), so every component that loads can
//!   run, whatever `max_instances` is.
//!
//! **The memory budget** is a byte count shared by all calls: a call
//! reserves its whole memory limit ([`crate::CallLimits::memory`]) before it
//! instantiates and gives it back when it ends, so the linear memory of all
//! running calls together never exceeds the budget. Reserving the limit up
//! front (rather than each page as the guest grows) means a running call
//! never waits and never fails for memory another call holds, and no set of
//! calls can deadlock waiting for each other's pages; the cost is that the
//! budget counts what calls may use, not what they do. It is counted in
//! 64 KiB pages, WebAssembly's unit of growth. It counts linear memory
//! only, never the pool's address-space reservations (several GiB per
//! memory slot, not resident) nor the host's per-call buffers, which have
//! caps of their own.

use std::path::Path;
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::PoolingAllocationConfig;
use wasmtime::component::Component;

/// Core instances one component may instantiate (componentize-py's
/// interpreter and its libraries take several dozen).
pub(crate) const MAX_CORE_INSTANCES: u32 = 64;
/// Linear memories one component may define, over all its core instances.
pub(crate) const MAX_MEMORIES: u32 = 8;
/// Tables one component may define, over all its core instances.
pub(crate) const MAX_TABLES: u32 = 32;
/// Linear memories one core module may define (Wasmtime's pool default,
/// set explicitly so that `footprint` checks the same number).
pub(crate) const MAX_MEMORIES_PER_MODULE: u32 = 1;
/// Tables one core module may define (as above).
pub(crate) const MAX_TABLES_PER_MODULE: u32 = 1;
/// Elements a pooled table holds, so the most a table may start with.
pub(crate) const POOL_TABLE_ELEMENTS: u64 = 20_000;

/// Memories and tables per slot in a pool of at least 4 slots: enough for
/// the usual component (one memory, a few tables) to take one slot.
const MEMORIES_PER_SLOT: u32 = 2;
const TABLES_PER_SLOT: u32 = 8;

/// The bytes of one WebAssembly page, the budget's unit.
const PAGE: u64 = 64 * 1024;

/// One engine's instance pool, in slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolShape {
    slots: u32,
    memories_per_slot: u32,
    tables_per_slot: u32,
}

impl PoolShape {
    /// A pool of `slots` calls (at least one). A pool too small to hold one
    /// instance of the per-component maxima at the usual ratio gets more
    /// memories and tables per slot instead.
    pub(crate) fn new(slots: u32) -> Self {
        let slots = slots.max(1);
        Self {
            slots,
            memories_per_slot: MEMORIES_PER_SLOT.max(MAX_MEMORIES.div_ceil(slots)),
            tables_per_slot: TABLES_PER_SLOT.max(MAX_TABLES.div_ceil(slots)),
        }
    }

    pub(crate) fn slots(&self) -> u32 {
        self.slots
    }

    /// The pooling allocator's configuration for this shape.
    ///
    /// # Errors
    ///
    /// When the totals overflow (an absurd number of slots).
    pub(crate) fn pooling(&self) -> Result<PoolingAllocationConfig, String> {
        let total = |per_slot: u32, what: &str| {
            self.slots.checked_mul(per_slot).ok_or_else(|| {
                format!(
                    "an instance pool of {} calls needs more {what} than Wasmtime can count; \
                     lower --max-instances",
                    self.slots
                )
            })
        };
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(self.slots)
            .total_stacks(self.slots)
            .total_core_instances(total(MAX_CORE_INSTANCES, "core instances")?)
            .total_memories(total(self.memories_per_slot, "memories")?)
            .total_tables(total(self.tables_per_slot, "tables")?)
            .max_core_instances_per_component(MAX_CORE_INSTANCES)
            .max_memories_per_component(MAX_MEMORIES)
            .max_tables_per_component(MAX_TABLES)
            .max_memories_per_module(MAX_MEMORIES_PER_MODULE)
            .max_tables_per_module(MAX_TABLES_PER_MODULE)
            .table_elements(POOL_TABLE_ELEMENTS as usize);
        Ok(pool)
    }

    /// The slots one instantiation of `footprint` takes.
    pub(crate) fn weight(&self, footprint: Footprint) -> u32 {
        1.max(footprint.memories.div_ceil(self.memories_per_slot))
            .max(footprint.tables.div_ceil(self.tables_per_slot))
    }
}

/// What one call (one instantiation) of a component takes from the pool,
/// besides one component instance and one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Footprint {
    /// Core module instances, over every component it instantiates.
    pub core_instances: u32,
    /// Linear memories its core instances define.
    pub memories: u32,
    /// Tables its core instances define.
    pub tables: u32,
}

impl Footprint {
    pub(crate) const ZERO: Self = Self {
        core_instances: 0,
        memories: 0,
        tables: 0,
    };
    pub(crate) const ONE_INSTANCE: Self = Self {
        core_instances: 1,
        memories: 0,
        tables: 0,
    };
    /// The per-component maxima: what a component that cannot be counted
    /// is taken to need.
    pub(crate) const MAXIMA: Self = Self {
        core_instances: MAX_CORE_INSTANCES,
        memories: MAX_MEMORIES,
        tables: MAX_TABLES,
    };

    pub(crate) fn plus(self, other: Self) -> Self {
        Self {
            core_instances: self.core_instances.saturating_add(other.core_instances),
            memories: self.memories.saturating_add(other.memories),
            tables: self.tables.saturating_add(other.tables),
        }
    }

    /// Counted from the compiled component: memories and tables exactly as
    /// Wasmtime counts them. Wasmtime does not say how many core instances
    /// it counted, only refuses a component beyond
    /// [`MAX_CORE_INSTANCES`], so that is the bound given (the pool holds it
    /// for every slot, see the module docs). A component that instantiates
    /// a core module it imports cannot be counted (nor linked by weld): it
    /// is taken to need the per-component maxima.
    pub(crate) fn of(component: &Component) -> Self {
        match component.resources_required() {
            Some(r) => Self {
                core_instances: MAX_CORE_INSTANCES,
                memories: r.num_memories,
                tables: r.num_tables,
            },
            None => Self::MAXIMA,
        }
    }
}

/// Something a call waits for before it starts; named in the errors of a
/// call that could not get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// The instance pool's slots (`--max-instances`).
    InstanceSlots,
    /// The metered engine's own, smaller pool.
    MeteredSlots,
    /// The memory budget (`--memory-budget-mib`).
    MemoryBudget,
}

impl Capacity {
    /// What the resource is, for a sentence.
    pub fn description(self) -> &'static str {
        match self {
            Self::InstanceSlots => "weld's instance slots",
            Self::MeteredSlots => "the instance slots of tools with a fuel budget",
            Self::MemoryBudget => {
                "weld's memory budget (each running call reserves its memory limit)"
            }
        }
    }

    /// What gives a call more of it.
    pub fn remedy(self) -> &'static str {
        match self {
            Self::InstanceSlots => "raise `--max-instances`",
            Self::MeteredSlots => {
                "give the tool's policy no `fuel` (metered tools share a pool of at most 16 \
                 slots), or raise `--max-instances` if it is below 16"
            }
            Self::MemoryBudget => {
                "raise `--memory-budget-mib`, or lower the tool's memory limit \
                 (`resources.limits.memory` in its policy, or `--memory-mib`)"
            }
        }
    }
}

impl std::fmt::Display for Capacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

/// How many calls of one component may run at once so that it holds at
/// most half of any shared resource, leaving the rest to other tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// At least 1 when the component can run at all; 0 when its memory
    /// limit exceeds the whole budget (its calls are refused).
    pub calls: u32,
    /// The resource that sets `calls`.
    pub bound_by: Capacity,
}

/// The calls of weight `weight` that fit in half of `total`, at least one.
pub(crate) fn half(total: u64, weight: u64) -> u32 {
    let calls = (total / 2) / weight.max(1);
    u32::try_from(calls).unwrap_or(u32::MAX).max(1)
}

/// The memory budget, in pages.
#[derive(Debug)]
pub(crate) struct Budget {
    pub(crate) pages: Semaphore,
    pub(crate) total_pages: u32,
}

impl Budget {
    /// A budget of `bytes` (rounded down to whole pages, at most what one
    /// `u32` of pages can count: 256 TiB).
    pub(crate) fn new(bytes: u64) -> Self {
        let total_pages = u32::try_from(bytes / PAGE).unwrap_or(u32::MAX);
        Self {
            pages: Semaphore::new(total_pages as usize),
            total_pages,
        }
    }

    /// The budget in bytes.
    pub(crate) fn bytes(&self) -> u64 {
        u64::from(self.total_pages) * PAGE
    }

    /// The pages a call with memory limit `limit` reserves, or `None` when
    /// that is more than the whole budget.
    pub(crate) fn pages_for(&self, limit: u64) -> Option<u32> {
        u32::try_from(limit.div_ceil(PAGE))
            .ok()
            .filter(|pages| *pages <= self.total_pages)
    }
}

/// The default memory budget: half of the machine's memory, or of the
/// memory limit of weld's cgroup when that is smaller. Half, because guest
/// linear memory is not all a call costs (the host's buffers, WASI, HTTP
/// bodies, stacks) and weld is rarely alone on the machine: the MCP client
/// that started it runs beside it. 4 GiB when neither can be read.
pub fn machine_memory_budget() -> u64 {
    const FALLBACK: u64 = 8 * 1024 * 1024 * 1024;
    let total = mem_total(Path::new("/proc/meminfo"));
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| cgroup_limit(&text, Path::new("/sys/fs/cgroup")));
    let machine = match (total, cgroup) {
        (Some(t), Some(c)) => t.min(c),
        (Some(t), None) => t,
        (None, Some(c)) => c,
        (None, None) => {
            tracing::warn!(
                "could not read the machine's memory size (/proc/meminfo); the memory budget \
                 defaults to 4 GiB (set --memory-budget-mib)"
            );
            FALLBACK
        }
    };
    machine / 2
}

/// `MemTotal` from a `/proc/meminfo`-style file, in bytes.
fn mem_total(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// The smallest memory limit on weld's cgroup and its ancestors, under
/// cgroup v2 (`memory.max`) or v1 (`memory.limit_in_bytes`); `None` when
/// there is none. `proc_cgroup` is `/proc/self/cgroup`; `root` where the
/// hierarchies are mounted.
fn cgroup_limit(proc_cgroup: &str, root: &Path) -> Option<u64> {
    let mut limits = Vec::new();
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (mount, file) = if id == "0" && controllers.is_empty() {
            (root.to_path_buf(), "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            (root.join("memory"), "memory.limit_in_bytes")
        } else {
            continue;
        };
        // Inside a cgroup namespace the path may not exist below the mount:
        // then the mount's own root is weld's cgroup. Ancestors' limits
        // apply too.
        let own = mount.join(path.trim_start_matches('/'));
        for dir in own.ancestors().take_while(|d| d.starts_with(&mount)) {
            if let Some(limit) = read_limit(&dir.join(file)) {
                limits.push(limit);
            }
        }
    }
    limits.into_iter().min()
}

/// A cgroup memory limit file: a byte count, or `max` (v2) or a number
/// near `i64::MAX` (v1) for none.
fn read_limit(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < 1 << 62).then_some(bytes)
}

/// A deadline `timeout` from now, capped so that a library caller's
/// `Duration::MAX` cannot overflow `Instant`.
pub(crate) fn deadline_after(timeout: Duration) -> std::time::Instant {
    std::time::Instant::now() + timeout.min(weld_policy::MAX_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usual_component_takes_one_slot_and_a_heavy_one_takes_more() {
        let pool = PoolShape::new(128);
        let usual = Footprint {
            core_instances: 3,
            memories: 1,
            tables: 3,
        };
        assert_eq!(pool.weight(usual), 1);
        let heavy = Footprint {
            core_instances: 40,
            memories: MAX_MEMORIES,
            tables: 9,
        };
        assert_eq!(pool.weight(heavy), 4);
    }

    #[test]
    fn every_pool_holds_one_instance_of_the_largest_component_weld_loads() {
        let largest = Footprint::MAXIMA;
        for slots in [0, 1, 2, 3, 4, 5, 7, 16, 128, 1000] {
            let pool = PoolShape::new(slots);
            assert!(
                pool.weight(largest) <= pool.slots(),
                "{slots} slots: {pool:?} cannot hold {largest:?}"
            );
        }
    }

    #[test]
    fn a_pool_too_large_to_count_is_refused() {
        assert!(PoolShape::new(u32::MAX).pooling().is_err());
        assert!(PoolShape::new(128).pooling().is_ok());
    }

    #[test]
    fn the_budget_counts_whole_pages_and_refuses_a_limit_beyond_it() {
        let budget = Budget::new(10 * PAGE + 5);
        assert_eq!(budget.total_pages, 10);
        assert_eq!(budget.pages_for(PAGE + 1), Some(2));
        assert_eq!(budget.pages_for(10 * PAGE), Some(10));
        assert_eq!(budget.pages_for(10 * PAGE + 1), None);
        assert_eq!(budget.pages_for(u64::MAX), None);
    }

    #[test]
    fn half_a_resource_is_at_least_one_call() {
        assert_eq!(half(128, 1), 64);
        assert_eq!(half(128, 4), 16);
        assert_eq!(half(1, 1), 1);
        assert_eq!(half(4, 4), 1);
    }

    #[test]
    fn the_machine_memory_is_read_from_meminfo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meminfo = dir.path().join("meminfo");
        std::fs::write(&meminfo, "MemTotal:       24683772 kB\nMemFree: 1 kB\n").expect("write");
        assert_eq!(mem_total(&meminfo), Some(24_683_772 * 1024));
        std::fs::write(&meminfo, "nothing here\n").expect("write");
        assert_eq!(mem_total(&meminfo), None);
    }

    #[test]
    fn the_smallest_cgroup_limit_on_the_path_counts_and_unlimited_ones_do_not() {
        let root = tempfile::tempdir().expect("tempdir");
        let v2 = root.path().join("user.slice/weld.scope");
        std::fs::create_dir_all(&v2).expect("mkdir");
        std::fs::write(v2.join("memory.max"), "max\n").expect("write");
        std::fs::write(root.path().join("user.slice/memory.max"), "2147483648\n").expect("write");
        assert_eq!(
            cgroup_limit("0::/user.slice/weld.scope\n", root.path()),
            Some(2_147_483_648)
        );

        let v1 = root.path().join("memory/box");
        std::fs::create_dir_all(&v1).expect("mkdir");
        std::fs::write(v1.join("memory.limit_in_bytes"), "9223372036854771712\n").expect("write");
        std::fs::write(
            root.path().join("memory/memory.limit_in_bytes"),
            "1073741824\n",
        )
        .expect("write");
        assert_eq!(
            cgroup_limit("4:memory:/box\n1:cpu:/box\n", root.path()),
            Some(1_073_741_824)
        );
        assert_eq!(cgroup_limit("1:cpu:/box\n", root.path()), None);
    }
}
