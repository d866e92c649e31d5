//! Counts the heap allocations and bytes of each phase of compiling one
//! host (`compile --host`): parsing the inventory into a tree, loading the
//! deployment, planning the host, naming the address sets, building its
//! ruleset. A benchmark aid for `bench/README.md` (allocations and freshly
//! touched pages are most of a large one-host compile); it asserts nothing.
//!
//! Usage: cargo run --release -p portmatrix-targets --example host_allocations -- INVENTORY.yaml HOST

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The system allocator, counting.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static COUNT: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        COUNT.fetch_add(1, Relaxed);
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn report(what: &str) {
    let mb = |n: usize| n as f64 / 1e6;
    println!(
        "{what:<28} live {:6.1} MB  peak {:6.1} MB  allocations so far {:8}",
        mb(LIVE.load(Relaxed)),
        mb(PEAK.load(Relaxed)),
        COUNT.load(Relaxed)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [inv, host] = args.as_slice() else {
        eprintln!("usage: host_allocations INVENTORY.yaml HOST");
        std::process::exit(2)
    };
    let path = std::path::Path::new(inv);
    report("start");
    let file = portmatrix_model::read_source(path).expect("readable");
    report("read");
    let mut diags = portmatrix_model::Diagnostics::default();
    let tree = portmatrix_model::yaml::parse(&file, &mut diags);
    report("YAML tree");
    drop(tree);
    report("tree dropped");
    let dep = portmatrix_plan::Deployment::load(path, &portmatrix_catalog::Catalog).expect("loads");
    report("deployment (parsed again)");
    let plan = portmatrix_plan::plan_for_host(&dep, host).expect("plans");
    report("plan_for_host");
    let shared = portmatrix_targets::Shared::new(&plan);
    report("address sets named");
    let rs = shared.host_ruleset(host).expect("a managed host");
    report("host ruleset");
    println!("{} rules", rs.rules.len());
}
