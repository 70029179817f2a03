//! The `--synchronization` address parser: werf's address language, parsed as werf parses it.

use std::ffi::c_char;

use super::args::{handle_arg, out_arg, str_arg};
use super::boundary::{catch, catch_value};
use super::error::{Failure, WerfSyncError};
use super::status::WerfSyncStatus;
use werf_sync::address::{Address, KubeConfig, Mode};

/// The kind of synchronization an address selects.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WerfSyncAddressMode {
    /// `:local`: file locks and cache below the werf home (what this library implements).
    Local = 0,
    /// `kubernetes://NAMESPACE[:CONTEXT][@(base64:CONFIG_DATA)|CONFIG_PATH]`.
    Kubernetes = 1,
    /// `http://…` or `https://…`: a werf synchronization server.
    Http = 2,
}

/// A part of a parsed address, for `werf_sync_address_part` (passed as `uint32_t`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WerfSyncAddressPart {
    /// The address text; parsing it again gives an equal address. May hold secrets.
    Text = 0,
    /// The address for logs: kubeconfig data and URL credentials removed.
    Redacted = 1,
    /// `kubernetes://` only: the namespace.
    KubernetesNamespace = 2,
    /// `kubernetes://` only, when given: the kube context.
    KubernetesContext = 3,
    /// `kubernetes://` only, when given as a path: the kubeconfig path.
    KubeconfigPath = 4,
    /// `kubernetes://` only, when given as `base64:`: the decoded kubeconfig bytes.
    KubeconfigData = 5,
    /// `http(s)://` only: the server URL, normalised.
    HttpUrl = 6,
}

/// A parsed synchronization address. Immutable; may be read from any thread.
pub struct WerfSyncAddress {
    address: Address,
    /// NUL-terminated copies of the parts, indexed by `WerfSyncAddressPart`.
    parts: [Option<Vec<u8>>; 7],
}

impl WerfSyncAddress {
    fn new(address: Address) -> Self {
        let with_nul = |bytes: &[u8]| Some(bytes.iter().copied().chain([0]).collect::<Vec<u8>>());
        let mut parts: [Option<Vec<u8>>; 7] = Default::default();
        parts[0] = with_nul(address.to_string().as_bytes());
        parts[1] = with_nul(address.redacted().as_bytes());
        match &address {
            Address::Local => {}
            Address::Kubernetes(k) => {
                parts[2] = with_nul(k.namespace().as_bytes());
                parts[3] = k.context().and_then(|c| with_nul(c.as_bytes()));
                match k.config() {
                    Some(KubeConfig::Path(path)) => parts[4] = with_nul(path.as_bytes()),
                    Some(KubeConfig::Data { decoded, .. }) => parts[5] = with_nul(decoded),
                    None => {}
                }
            }
            Address::Http(h) => parts[6] = with_nul(h.url().as_str().as_bytes()),
        }
        WerfSyncAddress { address, parts }
    }
}

/// Parses a `--synchronization` address as werf does (`:local` exactly, `kubernetes://…`,
/// `http(s)://…`). Anything else — including the empty string, which in werf means "the
/// default" — is `WERF_SYNC_STATUS_INVALID_ARGUMENT` with werf's message.
///
/// Memory: on success the caller owns `*out_address` and frees it with
/// `werf_sync_address_free`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_address_parse(
    text: *const c_char,
    text_len: usize,
    out_address: *mut *mut WerfSyncAddress,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for `(text, text_len)`.
        let text = unsafe { str_arg(text, text_len, "synchronization address") }?;
        let out = out_arg(out_address, "out_address")?;
        let address = Address::parse(text).map_err(werf_sync::Error::from)?;
        // SAFETY: `out_address` is writable by the caller's contract.
        unsafe { out.write(Box::into_raw(Box::new(WerfSyncAddress::new(address)))) };
        Ok(())
    })
}

/// The mode of `address` (`WERF_SYNC_ADDRESS_MODE_*`), or `UINT32_MAX` for NULL.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_address_mode(address: *const WerfSyncAddress) -> u32 {
    catch_value(u32::MAX, || {
        // SAFETY: the caller's contract for `address`.
        match unsafe { address.as_ref() }.map(|a| a.address.mode()) {
            Some(Mode::Local) => WerfSyncAddressMode::Local as u32,
            Some(Mode::Kubernetes) => WerfSyncAddressMode::Kubernetes as u32,
            Some(Mode::Http) => WerfSyncAddressMode::Http as u32,
            None => u32::MAX,
        }
    })
}

/// One part of `address` (`part` is a `WERF_SYNC_ADDRESS_PART_*` value).
///
/// On success `*out_ptr` points to the part's bytes, NUL-terminated, and `*out_len` (if
/// `out_len` is not NULL) is their length without the NUL (kubeconfig data may itself contain
/// NUL bytes). Returns `WERF_SYNC_STATUS_NOT_FOUND` when the address has no such part (e.g.
/// a namespace of an `http` address, or a context that was not given), and
/// `WERF_SYNC_STATUS_INVALID_ARGUMENT` for an unknown `part`.
///
/// Memory: the bytes belong to `address` and stay valid until `werf_sync_address_free`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_address_part(
    address: *const WerfSyncAddress,
    part: u32,
    out_ptr: *mut *const c_char,
    out_len: *mut usize,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for `address`.
        let address = unsafe { handle_arg(address, "address") }?;
        let out = out_arg(out_ptr, "out_ptr")?;
        let index = usize::try_from(part)
            .ok()
            .filter(|&i| i < address.parts.len())
            .ok_or_else(|| {
                Failure::invalid(
                    "address part",
                    format!("{part} is not a WERF_SYNC_ADDRESS_PART_* value (0-6)"),
                )
            })?;
        let bytes = address.parts[index].as_ref().ok_or_else(|| {
            Failure::new(
                WerfSyncStatus::NotFound,
                format!(
                    "the {} address {} has no part {part}",
                    address.address.mode(),
                    address.address.redacted()
                ),
            )
        })?;
        if !out_len.is_null() {
            // SAFETY: a non-NULL `out_len` is writable by the caller's contract.
            unsafe { out_len.write(bytes.len() - 1) };
        }
        // SAFETY: `out_ptr` is writable by the caller's contract.
        unsafe { out.write(bytes.as_ptr().cast()) };
        Ok(())
    })
}

/// Frees a parsed address. NULL is accepted and ignored.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_address_free(address: *mut WerfSyncAddress) {
    catch_value((), || {
        if !address.is_null() {
            // SAFETY: created by `Box::into_raw` in `werf_sync_address_parse`; freed once.
            drop(unsafe { Box::from_raw(address) });
        }
    })
}
