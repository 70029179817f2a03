package werfsync

/*
#include "werf_sync.h"
*/
import "C"

import "context"

// LockHandle identifies a lock held through the lock manager methods, as werf and lockgate
// do: a random UUID and the lock name. It marshals to lockgate's JSON form
// {"uuid":"…","lockName":"…"}.
type LockHandle struct {
	UUID     string `json:"uuid"`
	LockName string `json:"lockName"`
}

// managerWait runs a waiting lock-manager call under ctx and returns its handle.
func (s *Sync) managerWait(ctx context.Context, f func(ptr *C.WerfSync, ms C.int64_t, token *C.WerfSyncCancelToken, out **C.WerfSyncLockHandle, e **C.WerfSyncError) C.WerfSyncStatus) (LockHandle, error) {
	var handle *C.WerfSyncLockHandle
	err := s.use(func(ptr *C.WerfSync) error {
		return s.wait(ctx, func(ms C.int64_t, token *C.WerfSyncCancelToken, e **C.WerfSyncError) C.WerfSyncStatus {
			return f(ptr, ms, token, &handle, e)
		})
	})
	if err != nil {
		return LockHandle{}, err
	}
	return takeHandle(handle), nil
}

// takeHandle copies and frees a C lock handle.
func takeHandle(h *C.WerfSyncLockHandle) LockHandle {
	defer C.werf_sync_lock_handle_free(h)
	var n C.size_t
	name := C.werf_sync_lock_handle_name(h, &n)
	return LockHandle{
		UUID:     C.GoString(C.werf_sync_lock_handle_uuid(h)),
		LockName: C.GoStringN(name, C.int(n)),
	}
}

// werf's lock names (README, "werf's lock names"): each werf lock operation is Acquire of
// one of these names, exclusive unless noted.

// StageLockName is the name of werf's LockStage(project, digest) in :local and http(s)://
// synchronization: "PROJECT.DIGEST" (kubernetes:// names it "PROJECT/stage/DIGEST"; LockStage
// asks the synchronization).
func StageLockName(project, digest string) string { return project + "." + digest }

// StageCacheLockName is the name of werf's LockStageCache(project, digest) (werf ≤ v1.2.76):
// "PROJECT.DIGEST.cache".
func StageCacheLockName(project, digest string) string { return project + "." + digest + ".cache" }

// ImageLockName is the name of werf's LockImage(image) (werf v1.1): "IMAGE.image".
func ImageLockName(image string) string { return image + ".image" }

// StagesAndImagesLockName is the name of werf's LockStagesAndImages(project) (werf v1.1):
// "PROJECT.stages_and_images", taken shared when werf only gets or creates images.
func StagesAndImagesLockName(project string) string { return project + ".stages_and_images" }

// DeployProcessLockName is the name of werf's LockDeployProcess(project, release,
// kubeContext) (werf v1.1): "project/PROJECT;release/RELEASE;kube_context/CONTEXT".
func DeployProcessLockName(project, release, kubeContext string) string {
	return "project/" + project + ";release/" + release + ";kube_context/" + kubeContext
}

// LockStage is werf's LockStage(project, digest): the stage's lock under the name the
// synchronization's mode gives it, exclusive, held until Unlock(handle) or Close. Waits until
// ctx is done.
func (s *Sync) LockStage(ctx context.Context, project, digest string) (LockHandle, error) {
	// Through werf_sync_lock_stage, not Acquire(StageLockName(...)): the synchronization's
	// mode names the stage (kubernetes:// calls it "PROJECT/stage/DIGEST").
	pp, pn := cstr(project)
	dp, dn := cstr(digest)
	return s.managerWait(ctx, func(ptr *C.WerfSync, ms C.int64_t, t *C.WerfSyncCancelToken, out **C.WerfSyncLockHandle, e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_lock_stage(ptr, pp, pn, dp, dn, ms, t, out, e)
	})
}

// Acquire takes any lock name through the lock manager (lockgate's Acquire), waiting until
// ctx is done. opts.OnWait is not used here.
func (s *Sync) Acquire(ctx context.Context, name string, opts LockOptions) (LockHandle, error) {
	np, nn := cstr(name)
	mode := opts.mode()
	return s.managerWait(ctx, func(ptr *C.WerfSync, ms C.int64_t, t *C.WerfSyncCancelToken, out **C.WerfSyncLockHandle, e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_manager_lock(ptr, np, nn, mode, ms, t, out, e)
	})
}

// TryAcquire makes one attempt to take lock name through the lock manager (lockgate's
// Acquire with NonBlocking); the error matches ErrWouldBlock when it is held elsewhere.
func (s *Sync) TryAcquire(name string, opts LockOptions) (LockHandle, error) {
	var handle *C.WerfSyncLockHandle
	np, nn := cstr(name)
	err := s.use(func(ptr *C.WerfSync) error {
		return call(func(e **C.WerfSyncError) C.WerfSyncStatus {
			return C.werf_sync_manager_try_lock(ptr, np, nn, opts.mode(), &handle, e)
		})
	})
	if err != nil {
		return LockHandle{}, err
	}
	return takeHandle(handle), nil
}

// Unlock releases the lock of handle (lockgate's Release). The error matches ErrNotFound
// when this Sync does not hold it (never acquired here, or already unlocked).
func (s *Sync) Unlock(handle LockHandle) error {
	return s.callWithHandle(handle, func(ptr *C.WerfSync, h *C.WerfSyncLockHandle, e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_unlock(ptr, h, e)
	})
}

// callWithHandle calls f with the library's copy of handle, freed afterwards.
func (s *Sync) callWithHandle(handle LockHandle, f func(*C.WerfSync, *C.WerfSyncLockHandle, **C.WerfSyncError) C.WerfSyncStatus) error {
	up, un := cstr(handle.UUID)
	np, nn := cstr(handle.LockName)
	return s.use(func(ptr *C.WerfSync) error {
		var h *C.WerfSyncLockHandle
		err := call(func(e **C.WerfSyncError) C.WerfSyncStatus {
			return C.werf_sync_lock_handle_new(up, un, np, nn, &h, e)
		})
		if err != nil {
			return err
		}
		defer C.werf_sync_lock_handle_free(h)
		return call(func(e **C.WerfSyncError) C.WerfSyncStatus { return f(ptr, h, e) })
	})
}
