//! The next definitions of the symbols we interpose (`dlsym(RTLD_NEXT)`), resolved on first
//! use and cached in atomics: after the first call of a function, passing it through costs one
//! relaxed load and an indirect call, with no allocation and no lock.

use std::ffi::CStr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A lazily resolved symbol.
pub struct Sym {
    name: &'static CStr,
    addr: AtomicUsize,
}

impl Sym {
    /// A symbol to resolve with `dlsym(RTLD_NEXT, name)`.
    pub const fn new(name: &'static CStr) -> Sym {
        Sym {
            name,
            addr: AtomicUsize::new(0),
        }
    }

    /// The address, or 0 if no later object defines it.
    pub fn addr(&self) -> usize {
        let a = self.addr.load(Ordering::Relaxed);
        if a != 0 {
            return a;
        }
        // SAFETY: dlsym with a valid NUL-terminated name; RTLD_NEXT finds the definition after
        // this library (libc's), never our own.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
        self.addr.store(p, Ordering::Relaxed);
        p
    }
}

/// Declares a pass-through caller for an interposed libc function.
/// `fail` is what the caller gets (with errno ENOSYS) if no definition exists: -1 unless given.
macro_rules! real {
    ($vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty; $sym:literal) => {
        $crate::real::real! { $vis fn $name($($arg: $ty),*) -> $ret; $sym; fail = -1 as $ret }
    };
    ($vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty; $sym:literal; fail = $fail:expr) => {
        $vis unsafe fn $name($($arg: $ty),*) -> $ret {
            static SYM: $crate::real::Sym = $crate::real::Sym::new($sym);
            let a = SYM.addr();
            if a == 0 {
                $crate::set_errno(libc::ENOSYS);
                return $fail;
            }
            // SAFETY: `a` is the address of the libc function of exactly this C signature.
            let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(a) };
            // SAFETY: forwarding the caller's arguments unchanged.
            unsafe { f($($arg),*) }
        }
    };
}
pub(crate) use real;
