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

// LockStage is werf's LockStage(project, digest): exclusive lock "PROJECT.DIGEST", held
// until Unlock(handle) or Close. Waits until ctx is done, like Lock.
func (s *Sync) LockStage(ctx context.Context, project, digest string) (LockHandle, error) {
	pp, pn := cstr(project)
	dp, dn := cstr(digest)
	return s.managerWait(ctx, func(ptr *C.WerfSync, ms C.int64_t, t *C.WerfSyncCancelToken, out **C.WerfSyncLockHandle, e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_lock_stage(ptr, pp, pn, dp, dn, ms, t, out, e)
	})
}

// LockStageCache is werf's LockStageCache(project, digest) (werf ≤ v1.2.76): exclusive lock
// "PROJECT.DIGEST.cache".
func (s *Sync) LockStageCache(ctx context.Context, project, digest string) (LockHandle, error) {
	pp, pn := cstr(project)
	dp, dn := cstr(digest)
	return s.managerWait(ctx, func(ptr *C.WerfSync, ms C.int64_t, t *C.WerfSyncCancelToken, out **C.WerfSyncLockHandle, e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_lock_stage_cache(ptr, pp, pn, dp, dn, ms, t, out, e)
	})
}

// LockImage is werf's LockImage(image) (werf v1.1): exclusive lock "IMAGE.image".
func (s *Sync) LockImage(ctx context.Context, image string) (LockHandle, error) {
	ip, in := cstr(image)
	return s.managerWait(ctx, func(ptr *C.WerfSync, ms C.int64_t, t *C.WerfSyncCancelToken, out **C.WerfSyncLockHandle, e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_lock_image(ptr, ip, in, ms, t, out, e)
	})
}

// LockStagesAndImages is werf's LockStagesAndImages(project) (werf v1.1): lock
// "PROJECT.stages_and_images", shared when werf only gets or creates images.
func (s *Sync) LockStagesAndImages(ctx context.Context, project string, shared bool) (LockHandle, error) {
	pp, pn := cstr(project)
	return s.managerWait(ctx, func(ptr *C.WerfSync, ms C.int64_t, t *C.WerfSyncCancelToken, out **C.WerfSyncLockHandle, e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_lock_stages_and_images(ptr, pp, pn, C.bool(shared), ms, t, out, e)
	})
}

// LockDeployProcess is werf's LockDeployProcess(project, release, kubeContext) (werf v1.1):
// exclusive lock "project/PROJECT;release/RELEASE;kube_context/CONTEXT".
func (s *Sync) LockDeployProcess(ctx context.Context, project, release, kubeContext string) (LockHandle, error) {
	pp, pn := cstr(project)
	rp, rn := cstr(release)
	kp, kn := cstr(kubeContext)
	return s.managerWait(ctx, func(ptr *C.WerfSync, ms C.int64_t, t *C.WerfSyncCancelToken, out **C.WerfSyncLockHandle, e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_lock_deploy_process(ptr, pp, pn, rp, rn, kp, kn, ms, t, out, e)
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
		return call(func(e **C.WerfSyncError) C.WerfSyncStatus { return C.werf_sync_unlock(ptr, h, e) })
	})
}
