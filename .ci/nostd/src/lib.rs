//! Links bemm-formats and bemm-engine into a `#![no_std]` staticlib with its
//! own panic handler. Any `std` in the dependency graph makes this fail with
//! a duplicate `panic_impl` lang item.
#![no_std]

use core::panic::PanicInfo;

/// Parse a model file from raw bytes; returns the class count or 0.
#[no_mangle]
pub extern "C" fn bemm_nostd_probe(ptr: *const u8, len: usize) -> u32 {
    if ptr.is_null() {
        return 0;
    }
    // SAFETY: the C caller promises `ptr` points at `len` readable bytes.
    let bytes = unsafe { core::slice::from_raw_parts(ptr, len) };
    match bemm_formats::model::ModelFile::parse(bytes) {
        Ok(m) => m.num_classes() as u32,
        Err(_) => 0,
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}
