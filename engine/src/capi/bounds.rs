//! What a buffer from C may be: the one check every length from C passes
//! before a slice or pointer offset is made from it.

/// Whether `n` values of `T` at `p` fit one Rust slice: at most
/// `isize::MAX` bytes (`PTRDIFF_MAX` in C), not wrapping past the end of
/// the address space. `slice::from_raw_parts` and `pointer::add` are
/// undefined behaviour beyond that, whatever the memory holds.
pub(super) fn fits<T>(p: *const T, n: usize) -> bool {
    n.checked_mul(core::mem::size_of::<T>())
        .is_some_and(|bytes| bytes <= isize::MAX as usize && (p as usize).checked_add(bytes).is_some())
}
