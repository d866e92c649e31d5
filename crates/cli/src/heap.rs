//! The process heap: the allocator, and faulting in ahead of time the pages
//! a large inventory is about to be loaded into.

use std::path::Path;

// Planning and diffing allocate many small, short-lived values (source sets,
// rule keys, summaries); mimalloc serves them with less CPU than the system
// allocator (bench/README.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Heap bytes a load takes per byte of inventory: a 10,000-host inventory
/// of 808 KB grows the heap by about 25 MB (bench/README.md, "One host of
/// 10,000 (stop 27)").
const HEAP_PER_INVENTORY_BYTE: u64 = 32;

/// The most faulted in ahead: beyond this a load takes long enough that
/// its own page faults matter less.
const PREFAULT_MAX: usize = 256 << 20;

/// Faulted in per call, so that the loading thread, touching the same
/// region from its start, finds most pages ready rather than waiting.
const STEP: usize = 2 << 20;

/// Before loading the inventory at `path`: faults in, on another thread,
/// the part of the heap the load will write to. On this machine a first
/// touch of a page costs about 1.8 µs (zeroing it, accounting it to the
/// process), about a third of a large load; faulted in ahead by
/// `MADV_POPULATE_WRITE` on the other core, it costs the load nothing.
///
/// Only pages of the heap's own anonymous mapping are touched, and only
/// as a write fault would: their contents stay zero, so the allocator
/// sees no difference. Where the kernel lacks the advice (Linux < 5.14),
/// or on other systems, this does nothing.
pub fn prefault_for_inventory(path: &Path) {
    let Ok(meta) = std::fs::metadata(path) else { return };
    let bytes = usize::try_from(meta.len().saturating_mul(HEAP_PER_INVENTORY_BYTE)).unwrap_or(usize::MAX).min(PREFAULT_MAX);
    if bytes < (4 << 20) {
        // A small inventory loads before a thread would have started.
        return;
    }
    if let Some(range) = heap_range(bytes) {
        std::thread::spawn(move || populate(range));
    }
}

/// Up to `bytes` of the anonymous mapping the allocator hands small
/// values out of, from the page it last handed out onwards.
fn heap_range(bytes: usize) -> Option<std::ops::Range<usize>> {
    let probe = Box::new([0u8; 64]);
    let at = std::hint::black_box(probe.as_ptr()) as usize;
    let page = page_size()?;
    let start = at & !(page - 1);
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let end = mapping_end(&maps, at)?;
    Some(start..end.min(start.saturating_add(bytes)))
}

/// The end of the private anonymous read-write mapping of
/// `/proc/self/maps` that holds `at`, if that is what holds it.
fn mapping_end(maps: &str, at: usize) -> Option<usize> {
    maps.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (lo, hi) = fields.next()?.split_once('-')?;
        let (lo, hi) = (usize::from_str_radix(lo, 16).ok()?, usize::from_str_radix(hi, 16).ok()?);
        let perms = fields.next()?;
        let inode = fields.nth(2)?;
        // No path after the inode: anonymous (named mappings are files or
        // the stack, the vdso ...).
        let anonymous = inode == "0" && fields.next().is_none();
        (lo <= at && at < hi && perms == "rw-p" && anonymous).then_some(hi)
    })
}

#[cfg(target_os = "linux")]
fn page_size() -> Option<usize> {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().and_then(|p| usize::try_from(p).ok())
}

#[cfg(not(target_os = "linux"))]
fn page_size() -> Option<usize> {
    None
}

/// Faults `range` in, a step at a time; stops at the first refusal.
/// Whether all of it was faulted in.
#[cfg(target_os = "linux")]
fn populate(range: std::ops::Range<usize>) -> bool {
    use nix::sys::mman::{madvise, MmapAdvise};
    let mut at = range.start;
    while at < range.end {
        let len = STEP.min(range.end - at);
        let Some(addr) = std::ptr::NonNull::new(at as *mut std::ffi::c_void) else { return false };
        // SAFETY: the range lies in one private anonymous read-write
        // mapping of this process (`heap_range`); populating it for writing
        // changes no byte of it, whoever owns the pages.
        if unsafe { madvise(addr, len, MmapAdvise::MADV_POPULATE_WRITE) }.is_err() {
            return false;
        }
        at += len;
    }
    true
}

#[cfg(not(target_os = "linux"))]
fn populate(_: std::ops::Range<usize>) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0000000-55d0c0100000 r--p 00000000 fe:00 1234 /usr/bin/portmatrix
7f0000000000-7f0000400000 rw-p 00000000 00:00 0 
7f0000400000-7f0000500000 rw-p 00000000 00:00 0 [stack]
7f0000500000-7f0000600000 rw-s 00000000 00:01 77 /dev/shm/x
7f0000600000-7f0000700000 r--p 00000000 00:00 0 
";

    #[test]
    fn only_a_private_anonymous_writable_mapping_is_taken() {
        assert_eq!(mapping_end(MAPS, 0x7f00_0000_1000), Some(0x7f00_0040_0000));
        // The last byte belongs to it, the end does not.
        assert_eq!(mapping_end(MAPS, 0x7f00_003f_ffff), Some(0x7f00_0040_0000));
        // The stack, a shared file mapping, a read-only one, the binary,
        // and an address outside every mapping.
        for at in [0x7f00_0040_0000, 0x7f00_0050_0000, 0x7f00_0060_0000, 0x55d0_c000_0000, 0x1000] {
            assert_eq!(mapping_end(MAPS, at), None, "{at:#x}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_range_starts_at_the_heap_and_stays_inside_its_mapping() {
        let range = heap_range(8 << 20).expect("the allocator's mapping is found on Linux");
        let maps = std::fs::read_to_string("/proc/self/maps").expect("linux");
        let end = mapping_end(&maps, range.start).expect("the range starts in an anonymous mapping");
        assert!(range.end <= end && range.end > range.start);
        assert!(range.end - range.start <= 8 << 20);
    }

    /// Pages of a fresh mapping are resident after `populate`, and still zero.
    #[cfg(target_os = "linux")]
    #[test]
    fn populate_faults_pages_in_and_keeps_them_zero() {
        use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};
        let len = 4 << 20;
        let page = page_size().expect("page size");
        // SAFETY: a fresh private mapping, unmapped at the end.
        let p = unsafe {
            mmap_anonymous(
                None,
                std::num::NonZeroUsize::new(len).unwrap(),
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
        }
        .expect("mmap");
        let start = p.as_ptr() as usize;
        let resident = |from: usize| {
            let mut v = vec![0u8; len / page];
            // SAFETY: `v` has one byte per page of the mapping.
            let r = unsafe { libc::mincore(from as *mut libc::c_void, len, v.as_mut_ptr()) };
            assert_eq!(r, 0);
            v.iter().filter(|b| **b & 1 == 1).count()
        };
        assert_eq!(resident(start), 0, "a fresh mapping has no pages yet");
        // Whether this kernel knows the advice (Linux 5.14 and later), asked
        // of a page of its own.
        // SAFETY: a fresh one-page private mapping, unmapped right after.
        let supported = unsafe {
            let one = mmap_anonymous(
                None,
                std::num::NonZeroUsize::new(page).unwrap(),
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
            .expect("mmap");
            let ok = libc::madvise(one.as_ptr(), page, libc::MADV_POPULATE_WRITE) == 0;
            munmap(one, page).expect("munmap");
            ok
        };
        assert_eq!(populate(start..start + len), supported);
        assert_eq!(resident(start), if supported { len / page } else { 0 });
        // SAFETY: the mapping is `len` bytes long and readable.
        let bytes = unsafe { std::slice::from_raw_parts(start as *const u8, len) };
        assert!(bytes.iter().all(|b| *b == 0));
        // SAFETY: unmapped once, nothing refers to it.
        unsafe { munmap(p, len) }.expect("munmap");
    }
}
