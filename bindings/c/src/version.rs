//! The library version, as a macro in the header and as a function for the linked library.

use std::ffi::c_char;

// The header's `WERF_SYNC_VERSION` string macro comes from `cbindgen.toml` (cbindgen cannot
// emit string constants); the test below keeps it equal to the package version.

/// Major version of the header.
pub const WERF_SYNC_VERSION_MAJOR: u32 = 0;
/// Minor version of the header.
pub const WERF_SYNC_VERSION_MINOR: u32 = 1;
/// Patch version of the header.
pub const WERF_SYNC_VERSION_PATCH: u32 = 0;

const VERSION_C: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(version) => version,
    Err(_) => panic!("the package version contains a NUL byte"),
};

/// The version of the linked library, `"MAJOR.MINOR.PATCH"` (static; never freed).
#[no_mangle]
pub extern "C" fn werf_sync_version() -> *const c_char {
    VERSION_C.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_constants_match_the_package_version() {
        let header = include_str!("../../../include/werf_sync.h");
        let define = format!(
            "#define WERF_SYNC_VERSION \"{}\"",
            env!("CARGO_PKG_VERSION")
        );
        assert!(
            header.contains(&define),
            "include/werf_sync.h lacks {define}"
        );
        let parts = [
            WERF_SYNC_VERSION_MAJOR,
            WERF_SYNC_VERSION_MINOR,
            WERF_SYNC_VERSION_PATCH,
        ]
        .map(|p| p.to_string())
        .join(".");
        assert_eq!(parts, env!("CARGO_PKG_VERSION"));
        let linked = unsafe { std::ffi::CStr::from_ptr(werf_sync_version()) };
        assert_eq!(linked.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
