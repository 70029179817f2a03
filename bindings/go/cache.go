package werfsync

/*
#include <stdlib.h>
#include "werf_sync.h"
*/
import "C"

import (
	"strconv"
	"unsafe"
)

// StageID is one stage in the stages storage: its digest and its unique ID, the Unix epoch
// time in milliseconds when it was stored. It marshals as werf's {"digest","uniqueID"}.
type StageID struct {
	Digest   string `json:"digest"`
	UniqueID int64  `json:"uniqueID"`
}

// String returns werf's form DIGEST-UNIXMILLIS (also the stage's image tag).
func (id StageID) String() string { return id.Digest + "-" + strconv.FormatInt(id.UniqueID, 10) }

// cacheRead runs a cache read; found is false on a miss.
func (s *Sync) cacheRead(f func(ptr *C.WerfSync, out **C.WerfSyncStageList, e **C.WerfSyncError) C.WerfSyncStatus) (stages []StageID, found bool, err error) {
	err = s.use(func(ptr *C.WerfSync) error {
		var list *C.WerfSyncStageList
		err := call(func(e **C.WerfSyncError) C.WerfSyncStatus { return f(ptr, &list, e) })
		if err != nil || list == nil {
			return err
		}
		defer C.werf_sync_stage_list_free(list)
		var n C.size_t
		items := unsafe.Slice(C.werf_sync_stage_list_items(list, &n), int(n))
		stages = make([]StageID, len(items))
		for i, item := range items {
			stages[i] = StageID{Digest: C.GoStringN(item.digest, C.int(item.digest_len)), UniqueID: int64(item.unique_id)}
		}
		found = true
		return nil
	})
	return stages, found, err
}

// GetAllStages is werf's GetAllStages: every stage cached for project, over all its digests.
// found is false when nothing is cached for the project; unreadable records are skipped.
func (s *Sync) GetAllStages(project string) (stages []StageID, found bool, err error) {
	pp, pn := cstr(project)
	return s.cacheRead(func(ptr *C.WerfSync, out **C.WerfSyncStageList, e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_cache_get_all_stages(ptr, pp, pn, out, e)
	})
}

// GetStagesByDigest is werf's GetStagesByDigest. found is false on a miss (no record, or a
// record that cannot be read); found with no stages means "cached: there are none".
func (s *Sync) GetStagesByDigest(project, digest string) (stages []StageID, found bool, err error) {
	pp, pn := cstr(project)
	dp, dn := cstr(digest)
	return s.cacheRead(func(ptr *C.WerfSync, out **C.WerfSyncStageList, e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_cache_get_stages_by_digest(ptr, pp, pn, dp, dn, out, e)
	})
}

// StoreStagesByDigest is werf's StoreStagesByDigest: replaces the record of digest with
// stages, atomically and under werf's cache lock.
func (s *Sync) StoreStagesByDigest(project, digest string, stages []StageID) error {
	pp, pn := cstr(project)
	dp, dn := cstr(digest)
	// The array handed to C holds pointers, so it and the digests live in C memory (cgo
	// forbids passing Go memory that contains Go pointers).
	var items *C.WerfSyncStageId
	if len(stages) > 0 {
		items = (*C.WerfSyncStageId)(C.malloc(C.size_t(len(stages)) * C.size_t(unsafe.Sizeof(C.WerfSyncStageId{}))))
		defer C.free(unsafe.Pointer(items))
	}
	cItems := unsafe.Slice(items, len(stages))
	for i, stage := range stages {
		digest := C.CString(stage.Digest)
		defer C.free(unsafe.Pointer(digest))
		cItems[i] = C.WerfSyncStageId{digest: digest, digest_len: C.size_t(len(stage.Digest)), unique_id: C.int64_t(stage.UniqueID)}
	}
	return s.use(func(ptr *C.WerfSync) error {
		return call(func(e **C.WerfSyncError) C.WerfSyncStatus {
			return C.werf_sync_cache_store_stages_by_digest(ptr, pp, pn, dp, dn, items, C.size_t(len(stages)), e)
		})
	})
}

// DeleteStagesByDigest is werf's DeleteStagesByDigest; a missing record is not an error.
func (s *Sync) DeleteStagesByDigest(project, digest string) error {
	pp, pn := cstr(project)
	dp, dn := cstr(digest)
	return s.use(func(ptr *C.WerfSync) error {
		return call(func(e **C.WerfSyncError) C.WerfSyncStatus {
			return C.werf_sync_cache_delete_stages_by_digest(ptr, pp, pn, dp, dn, e)
		})
	})
}

// DeleteAllStages is werf's DeleteAllStages: the cache reset werf does after an error that
// matches ErrShouldResetCache. Readers see the whole project or none of it.
func (s *Sync) DeleteAllStages(project string) error {
	pp, pn := cstr(project)
	return s.use(func(ptr *C.WerfSync) error {
		return call(func(e **C.WerfSyncError) C.WerfSyncStatus {
			return C.werf_sync_cache_delete_all_stages(ptr, pp, pn, e)
		})
	})
}
