//! Reading a notified caller's memory: the path, argv and envp of an exec held in the kernel.
//!
//! Through `process_vm_readv(2)` (nix's safe wrapper): one call per page, nothing to open or close.
//! Where it is refused (a seccomp profile without it, or a caller that only a switched fsuid may
//! read: process_vm_readv checks the real ids, `/proc/<tid>/mem` the filesystem ids) the sensor falls
//! back to `pread` on `/proc/<tid>/mem` ([`Remote::open`]). Reads go through whole 4 KiB pages kept for the one notification: an argv and the strings it points
//! at usually share a few pages, so an exec costs a handful of reads rather than one per string.
//! Every read is bounded: a string by the caller's budget, the page cache by [`PAGES_MAX`].
//!
//! Not procfs: memory is read with `process_vm_readv` (nix), and procfs's `mem()` is only an open of
//! the same file the fallback opens.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

const PAGE_BYTES: u64 = 4096;
/// Pages kept per notification (1 MiB): argv (32 KiB kept) and the environment scanned (128 KiB)
/// fit several times over; a hostile argv of pointers scattered over memory hits this and reads on.
const PAGES_MAX: usize = 256;

/// Anything that reads `len` bytes at `addr` of another process (a file in production, a buffer in
/// tests). Short reads mean the rest is not mapped.
pub trait ReadAt {
    fn read_at(&self, buf: &mut [u8], addr: u64) -> std::io::Result<usize>;
}

impl ReadAt for File {
    fn read_at(&self, buf: &mut [u8], addr: u64) -> std::io::Result<usize> {
        FileExt::read_at(self, buf, addr)
    }
}

/// A notified caller's memory as the sensor reads it.
pub enum Remote {
    /// `process_vm_readv` on this pid (a thread id names its process's memory).
    Vm(nix::unistd::Pid),
    /// `/proc/<tid>/mem`, opened.
    File(File),
}

impl ReadAt for Remote {
    fn read_at(&self, buf: &mut [u8], addr: u64) -> std::io::Result<usize> {
        match self {
            Remote::File(f) => FileExt::read_at(f, buf, addr),
            Remote::Vm(pid) => {
                let remote = [nix::sys::uio::RemoteIoVec { base: addr as usize, len: buf.len() }];
                nix::sys::uio::process_vm_readv(*pid, &mut [std::io::IoSliceMut::new(buf)], &remote)
                    .map_err(std::io::Error::from)
            }
        }
    }
}

/// Errors that say "this way of reading is not allowed here", as opposed to "nothing is mapped there"
/// (EFAULT) or "the caller is gone" (ESRCH).
fn refused(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES | libc::ENOSYS))
}

impl Remote {
    /// The memory of thread `tid`, through `process_vm_readv` when it reads the page at `probe` (the
    /// exec's path, needed anyway: the page is handed back to seed the cache), else through
    /// `/proc/<tid>/mem` under `proc_root` (whose open errors, PermissionDenied included, are the
    /// caller's to handle). With a `proc_root` other than `/proc` (tests) only the file is used.
    pub fn open(
        proc_root: &std::path::Path,
        tid: i32,
        probe: u64,
    ) -> std::io::Result<(Remote, Option<Prefetched>)> {
        if proc_root == std::path::Path::new("/proc") && probe != 0 {
            let vm = Remote::Vm(nix::unistd::Pid::from_raw(tid));
            let base = probe & !(PAGE_BYTES - 1);
            match read_page(&vm, base) {
                Ok(page) => return Ok((vm, Some((base, page)))),
                Err(e) if !refused(&e) => return Ok((vm, None)),
                Err(_) => {}
            }
        }
        let file = File::open(proc_root.join(format!("{tid}/mem")))?;
        Ok((Remote::File(file), None))
    }
}

/// A page read ahead: its aligned base and the bytes mapped there.
pub type Prefetched = (u64, Box<[u8]>);

/// The page at `base` as far as it is mapped; the error of the first read when nothing could be read.
fn read_page<R: ReadAt>(source: &R, base: u64) -> std::io::Result<Box<[u8]>> {
    let mut buf = vec![0u8; PAGE_BYTES as usize];
    let mut got = 0;
    while got < buf.len() {
        match source.read_at(&mut buf[got..], base + got as u64) {
            Ok(0) => break,
            Err(e) if got == 0 => return Err(e),
            Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf.truncate(got);
    Ok(buf.into_boxed_slice())
}

/// A caller's memory, read through a page cache.
pub struct Mem<R> {
    source: R,
    pages: HashMap<u64, Box<[u8]>>,
    /// Pointer width of the caller's ABI: 8 (x86_64) or 4 (i386, x32).
    pub pointer_bytes: usize,
}

impl<R: ReadAt> Mem<R> {
    pub fn new(source: R, pointer_bytes: usize) -> Self {
        Mem { source, pages: HashMap::new(), pointer_bytes }
    }

    /// Starts from a page already read ([`Remote::open`]'s probe).
    pub fn with_page(mut self, page: Option<Prefetched>) -> Self {
        if let Some((base, bytes)) = page {
            self.pages.insert(base, bytes);
        }
        self
    }

    /// The page at `base` (aligned), as far as it is mapped; empty when not at all.
    fn page(&mut self, base: u64) -> &[u8] {
        if !self.pages.contains_key(&base) {
            if self.pages.len() >= PAGES_MAX {
                self.pages.clear();
            }
            let page = read_page(&self.source, base).unwrap_or_default();
            self.pages.insert(base, page);
        }
        &self.pages[&base]
    }

    /// Up to `len` bytes at `addr`; fewer where memory ends (unmapped). `None` for a null pointer.
    pub fn bytes(&mut self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if addr == 0 {
            return None;
        }
        let mut out = Vec::with_capacity(len.min(PAGE_BYTES as usize));
        let mut at = addr;
        while out.len() < len {
            let base = at & !(PAGE_BYTES - 1);
            let off = (at - base) as usize;
            let page = self.page(base);
            if off >= page.len() {
                break;
            }
            let take = (page.len() - off).min(len - out.len());
            out.extend_from_slice(&page[off..off + take]);
            if page.len() < PAGE_BYTES as usize {
                break;
            }
            at = match base.checked_add(PAGE_BYTES) {
                Some(next) => next,
                None => break,
            };
        }
        Some(out)
    }

    /// The NUL-terminated string at `addr`, at most `max` bytes; the flag says it was cut there (or
    /// at the end of mapped memory). `None` for a null or unmapped pointer.
    pub fn c_string(&mut self, addr: u64, max: usize) -> Option<(Vec<u8>, bool)> {
        if addr == 0 {
            return None;
        }
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < max {
            let base = at & !(PAGE_BYTES - 1);
            let off = (at - base) as usize;
            let page = self.page(base);
            if off >= page.len() {
                return (!out.is_empty()).then_some((out, true));
            }
            let chunk = &page[off..page.len().min(off + (max - out.len()))];
            if let Some(nul) = chunk.iter().position(|b| *b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return Some((out, false));
            }
            out.extend_from_slice(chunk);
            at = base.checked_add(PAGE_BYTES)?;
        }
        Some((out, true))
    }

    /// The pointer at `addr` (little endian, the ABI's width).
    pub fn pointer(&mut self, addr: u64) -> Option<u64> {
        let b = self.bytes(addr, self.pointer_bytes)?;
        match b.len() {
            8 => Some(u64::from_le_bytes(b.try_into().ok()?)),
            4 => Some(u64::from(u32::from_le_bytes(b.try_into().ok()?))),
            _ => None,
        }
    }

    /// A NULL-terminated array of string pointers (argv, envp), read while `keep` says so: it gets
    /// each string and the bytes taken so far, and returns false to stop. At most `count_max`
    /// entries. Returns the strings and whether the array was cut short (a bound, or unmapped).
    pub fn string_array(
        &mut self,
        addr: u64,
        count_max: usize,
        bytes_max: usize,
        mut keep: impl FnMut(&[u8]) -> bool,
    ) -> (Vec<Vec<u8>>, bool) {
        let mut out = Vec::new();
        if addr == 0 {
            return (out, false);
        }
        let mut total = 0usize;
        for i in 0..count_max {
            let Some(p) = self.pointer(addr + (i * self.pointer_bytes) as u64) else {
                return (out, true);
            };
            if p == 0 {
                return (out, false);
            }
            let room = bytes_max.saturating_sub(total);
            if room == 0 {
                return (out, true);
            }
            let Some((s, cut)) = self.c_string(p, room) else {
                return (out, true);
            };
            total += s.len() + 1;
            if keep(&s) {
                out.push(s);
            }
            if cut {
                return (out, true);
            }
        }
        (out, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory from `base` to `base + data.len()`, nothing mapped elsewhere.
    struct Fake {
        base: u64,
        data: Vec<u8>,
    }

    impl ReadAt for Fake {
        fn read_at(&self, buf: &mut [u8], addr: u64) -> std::io::Result<usize> {
            if addr < self.base || addr >= self.base + self.data.len() as u64 {
                return Err(std::io::Error::from_raw_os_error(libc::EIO));
            }
            let off = (addr - self.base) as usize;
            let n = buf.len().min(self.data.len() - off);
            buf[..n].copy_from_slice(&self.data[off..off + n]);
            Ok(n)
        }
    }

    /// Lays out strings and a pointer array the way a caller's stack or heap would.
    fn layout(strings: &[&[u8]], ptr: usize) -> (Fake, u64) {
        let base = 0x10000u64;
        let mut data = vec![0u8; 64];
        let mut addrs = Vec::new();
        for s in strings {
            addrs.push(base + data.len() as u64);
            data.extend_from_slice(s);
            data.push(0);
        }
        let array = base + data.len() as u64;
        for a in addrs.iter().chain(std::iter::once(&0)) {
            if ptr == 8 {
                data.extend_from_slice(&a.to_le_bytes());
            } else {
                data.extend_from_slice(&(*a as u32).to_le_bytes());
            }
        }
        (Fake { base, data }, array)
    }

    #[test]
    fn reads_an_argv_in_either_pointer_width() {
        for ptr in [8, 4] {
            let (fake, array) = layout(&[b"/bin/sh", b"-c", b"echo hi"], ptr);
            let mut m = Mem::new(fake, ptr);
            let (args, cut) = m.string_array(array, 100, 1000, |_| true);
            assert_eq!(args, vec![b"/bin/sh".to_vec(), b"-c".to_vec(), b"echo hi".to_vec()]);
            assert!(!cut);
        }
    }

    #[test]
    fn bounds_cut_and_say_so() {
        let (fake, array) = layout(&[b"aaaa", b"bbbb", b"cccc"], 8);
        let mut m = Mem::new(fake, 8);
        let (args, cut) = m.string_array(array, 2, 1000, |_| true);
        assert_eq!(args.len(), 2);
        assert!(cut);
        let (args, cut) = m.string_array(array, 100, 7, |_| true);
        assert_eq!(args, vec![b"aaaa".to_vec(), b"bb".to_vec()]);
        assert!(cut);
    }

    #[test]
    fn a_string_running_into_unmapped_memory_is_cut_not_lost() {
        let fake = Fake { base: 0x2000, data: b"no terminator".to_vec() };
        let mut m = Mem::new(fake, 8);
        assert_eq!(m.c_string(0x2000, 100), Some((b"no terminator".to_vec(), true)));
        assert_eq!(m.c_string(0x9000, 100), None);
        assert_eq!(m.c_string(0, 100), None);
    }

    #[test]
    fn strings_across_a_page_boundary() {
        let base = 0x1000u64;
        let mut data = vec![b'x'; 4096 - 3];
        data.extend_from_slice(b"abcdef\0");
        let mut m = Mem::new(Fake { base, data }, 8);
        assert_eq!(m.c_string(base + 4096 - 3, 100), Some((b"abcdef".to_vec(), false)));
    }

    #[test]
    fn keep_filters_without_changing_the_budget() {
        let (fake, array) = layout(&[b"PATH=/bin", b"HTTPS_PROXY=http://p:3128", b"HOME=/root"], 8);
        let mut m = Mem::new(fake, 8);
        let (env, cut) = m.string_array(array, 100, 1000, |s| s.starts_with(b"HTTPS_PROXY="));
        assert_eq!(env, vec![b"HTTPS_PROXY=http://p:3128".to_vec()]);
        assert!(!cut);
    }

    #[test]
    fn a_process_memory_is_read_with_process_vm_readv_and_the_probe_page_kept() {
        let text: &'static [u8] = b"runwarden-probe-string\0";
        let addr = text.as_ptr() as u64;
        let me = std::process::id() as i32;
        let (remote, page) = Remote::open(std::path::Path::new("/proc"), me, addr).unwrap();
        assert!(matches!(remote, Remote::Vm(_)), "process_vm_readv on our own memory");
        let (base, bytes) = page.expect("the probe page");
        assert_eq!(base, addr & !(PAGE_BYTES - 1));
        assert!(!bytes.is_empty());
        let mut mem = Mem::new(remote, 8).with_page(Some((base, bytes)));
        assert_eq!(mem.c_string(addr, 64), Some((b"runwarden-probe-string".to_vec(), false)));

        // An unmapped address reads as nothing, not as a refusal: the same source is kept.
        let (remote, page) = Remote::open(std::path::Path::new("/proc"), me, 8).unwrap();
        assert!(matches!(remote, Remote::Vm(_)) && page.is_none());

        // Another /proc (tests) means the file.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(me.to_string())).unwrap();
        std::fs::write(dir.path().join(format!("{me}/mem")), b"").unwrap();
        let (remote, _) = Remote::open(dir.path(), me, addr).unwrap();
        assert!(matches!(remote, Remote::File(_)));
    }
}
