"""werf's lock names: each werf operation is defined once, as the name of the lock it takes
(as the Rust crate's ``werf_sync::manager::names``). Lock them with ``Sync.manager_lock``
(held by handle, as werf's lock manager does) or ``Sync.lock`` (a guard)::

    handle = sync.manager_lock(werf_sync.names.deploy_process("proj", "rel", "ctx"))
"""

from __future__ import annotations


def stage(project: str, digest: str) -> str:
    """``PROJECT.DIGEST``: building a stage (werf's ``LockStage``)."""
    return f"{project}.{digest}"


def stage_cache(project: str, digest: str) -> str:
    """``PROJECT.DIGEST.cache``: a stage's cache record (werf <= v1.2.76's ``LockStageCache``)."""
    return f"{project}.{digest}.cache"


def image(image: str) -> str:
    """``IMAGE.image`` (werf v1.1's ``LockImage``)."""
    return f"{image}.image"


def stages_and_images(project: str) -> str:
    """``PROJECT.stages_and_images`` (werf v1.1's ``LockStagesAndImages``; shared when werf
    only gets or creates images)."""
    return f"{project}.stages_and_images"


def deploy_process(project: str, release: str, kube_context: str) -> str:
    """``project/PROJECT;release/RELEASE;kube_context/CONTEXT`` (werf v1.1's
    ``LockDeployProcess``)."""
    return f"project/{project};release/{release};kube_context/{kube_context}"
