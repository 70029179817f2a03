package werfsync

/*
#include "werf_sync.h"
*/
import "C"

import (
	"errors"
	"unsafe"
)

// AddressMode is the kind of synchronization an address selects.
type AddressMode uint32

// The address modes.
const (
	// ModeLocal is ":local": file locks and cache below the werf home.
	ModeLocal AddressMode = C.WERF_SYNC_ADDRESS_MODE_LOCAL
	// ModeKubernetes is "kubernetes://NAMESPACE[:CONTEXT][@(base64:CONFIG_DATA)|CONFIG_PATH]".
	ModeKubernetes AddressMode = C.WERF_SYNC_ADDRESS_MODE_KUBERNETES
	// ModeHTTP is "http(s)://…", a werf synchronization server.
	ModeHTTP AddressMode = C.WERF_SYNC_ADDRESS_MODE_HTTP
)

// Address is a parsed werf --synchronization address.
type Address struct {
	Mode AddressMode
	// Text parses back to the same address. It may hold secrets; log Redacted instead.
	Text string
	// Redacted is the address without kubeconfig data and URL credentials.
	Redacted string
	// Namespace, Context, KubeconfigPath and KubeconfigData are set for ModeKubernetes
	// (Context and the kubeconfig only when given).
	Namespace, Context, KubeconfigPath string
	KubeconfigData                     []byte
	// URL is the normalised server URL for ModeHTTP.
	URL string
}

// ParseAddress parses a --synchronization address exactly as werf does. Anything that is
// not ":local", "kubernetes://…" or "http(s)://…" — including "" — is an error matching
// ErrInvalidArgument with werf's message.
func ParseAddress(text string) (*Address, error) {
	var a *C.WerfSyncAddress
	tp, tn := cstr(text)
	if err := call(func(e **C.WerfSyncError) C.WerfSyncStatus { return C.werf_sync_address_parse(tp, tn, &a, e) }); err != nil {
		return nil, err
	}
	defer C.werf_sync_address_free(a)
	part := func(p C.uint32_t) ([]byte, error) {
		var ptr *C.char
		var n C.size_t
		err := call(func(e **C.WerfSyncError) C.WerfSyncStatus { return C.werf_sync_address_part(a, p, &ptr, &n, e) })
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return C.GoBytes(unsafe.Pointer(ptr), C.int(n)), nil
	}
	out := &Address{Mode: AddressMode(C.werf_sync_address_mode(a))}
	fields := []struct {
		part C.uint32_t
		set  func([]byte)
	}{
		{C.WERF_SYNC_ADDRESS_PART_TEXT, func(b []byte) { out.Text = string(b) }},
		{C.WERF_SYNC_ADDRESS_PART_REDACTED, func(b []byte) { out.Redacted = string(b) }},
		{C.WERF_SYNC_ADDRESS_PART_KUBERNETES_NAMESPACE, func(b []byte) { out.Namespace = string(b) }},
		{C.WERF_SYNC_ADDRESS_PART_KUBERNETES_CONTEXT, func(b []byte) { out.Context = string(b) }},
		{C.WERF_SYNC_ADDRESS_PART_KUBECONFIG_PATH, func(b []byte) { out.KubeconfigPath = string(b) }},
		{C.WERF_SYNC_ADDRESS_PART_KUBECONFIG_DATA, func(b []byte) { out.KubeconfigData = b }},
		{C.WERF_SYNC_ADDRESS_PART_HTTP_URL, func(b []byte) { out.URL = string(b) }},
	}
	for _, f := range fields {
		b, err := part(f.part)
		if err != nil {
			return nil, err
		}
		if b != nil {
			f.set(b)
		}
	}
	return out, nil
}
