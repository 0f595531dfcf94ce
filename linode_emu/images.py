"""Private images: captures of a disk (``disk_imagize``), and their reads, updates and deletes. Mixed into
the ``Backend`` facade.
"""

from __future__ import annotations

import hashlib

from linode_emu import catalog, validation
from linode_emu.errors import EmuApiError, FieldProblems, invalid, not_found
from linode_emu.machines import MachineError
from linode_emu.models import Disk, Event, Image, Job, api_time, entity_ref
from linode_emu.transitions import check_transition
from linode_emu.verbs import reads as _reads
from linode_emu.verbs import writes as _writes

MB = 1024 * 1024
# The emulator keeps an uploaded file in memory: far below Linode's 5 GB.
MAX_UPLOAD_BYTES = 64 * MB


def upload_path(image: Image) -> str:
    """``<image id>/<signature>``: where the file of a ``pending_upload`` image is PUT (after the
    server's upload prefix). The signature is derived from the image, as reproducible as its id."""
    signature = hashlib.sha256(f"upload {image.id} {image.created}".encode()).hexdigest()[:32]
    return f"{image.id}/{signature}"


class ImageFamily:
    """Private images and the public catalogue's images."""

    def _finish_disk_imagize(self, event: Event, job: Job, end: float) -> None:
        image = self._images[job.params["image_id"]]
        if job.fails:
            event.message = "Image creation failed: the disk could not be read"
            del self._images[image.id]
            self._driver.delete_image(image.id)
            return
        check_transition("image", image.status, "available")
        image.status = "available"
        image.regions = [{"region": job.params["region"], "status": "available"}]
        image.updated = api_time(end)

    @_writes
    def create_image(
        self,
        *,
        disk_id: int | None,
        label: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        cloud_init: bool = False,
    ) -> dict:
        """Capture a disk of an offline Linode as a private image (``disk_imagize``)."""
        self._advance()
        disk = self._imageable_disk(disk_id)
        instance = self._idle_instance(disk.linode_id)
        if instance.status != "offline":
            raise invalid("disk_id", "The Linode must be shut down before one of its disks is imaged")
        label = label if label is not None else disk.label
        self._check_image_text(label, description)
        image = self._new_image(label, description, tags, cloud_init, size=disk.size)
        fails = self._capture_failures > 0
        self._capture_failures -= int(fails)
        try:
            image.size = self._driver.capture(disk.id, image.id) or image.size
        except MachineError as err:
            raise invalid("disk_id", f"The disk could not be imaged: {err}") from err
        self._images[image.id] = image
        self._start_job(
            "disk_imagize",
            instance.ref(),
            image.ref(),
            fails=fails,
            image_id=image.id,
            region=instance.region,
        )
        return image.to_json()

    @_writes
    def create_image_upload(
        self,
        *,
        label: str | None,
        region: str | None,
        description: str | None = None,
        tags: list[str] | None = None,
        cloud_init: bool = False,
    ) -> dict:
        """A ``pending_upload`` image and the secret of its upload URL (``upload_path``): the image is
        ``available`` in ``region`` after a PUT of its file there (:meth:`receive_image_upload`)."""
        self._advance()
        problems = FieldProblems()
        problems.value(self._check_image_text, label, description)
        problems.value(self._check_region, region)
        problems.raise_any()
        image = self._new_image(label, description, tags, cloud_init, size=0)
        image.status = "pending_upload"
        image.upload_region = region
        self._images[image.id] = image
        return {"image": image.to_json(), "upload_path": upload_path(image)}

    @_writes
    def receive_image_upload(self, image_id: str, signature: str, data: bytes) -> None:
        """The file of a ``pending_upload`` image arrives (gzip of a raw disk); it is processed (job
        ``image_upload``) and then ``available``. A wrong signature is a 403, as an expired URL."""
        image = self._images.get(image_id)
        waiting = image is not None and image.status == "pending_upload" and not self._jobs_of("image", image_id)
        if not waiting or upload_path(image) != f"{image_id}/{signature}":
            raise EmuApiError(403, "The upload URL is not valid (wrong, used or expired)")
        if not data or len(data) > MAX_UPLOAD_BYTES:
            raise EmuApiError(400, f"An image file must hold 1 to {MAX_UPLOAD_BYTES} bytes")
        try:
            self._driver.receive_image(image_id, data)
        except MachineError as err:
            raise EmuApiError(400, f"Image {image_id} could not be used: {err}") from err
        image.size = max(1, len(data) // MB)
        self._start_job("image_upload", image.ref(), None, image_id=image_id)

    def _new_image(self, label: str, description: str | None, tags, cloud_init: bool, size: int) -> Image:
        """A ``creating`` private image, not yet in the account."""
        now = self._stamp()
        return Image(
            id=f"private/{self._next_id('image')}",
            label=label,
            description=description,
            size=size,
            status="creating",
            created=now,
            updated=now,
            capabilities=["cloud-init"] if cloud_init else [],
            tags=self._use_tags(tags or []),
            regions=[],
            created_by="emulator",
        )

    @staticmethod
    def _check_image_text(label: str | None, description: str | None) -> None:
        if label is None:
            raise invalid("label", "label is required")
        validation.check_length("label", label, 1, 128)
        if description is not None:
            validation.check_length("description", description, 1, 65000)

    def _finish_image_upload(self, event: Event, job: Job, end: float) -> None:
        image = self._images[job.params["image_id"]]
        check_transition("image", image.status, "available")
        image.status = "available"
        image.regions = [{"region": image.upload_region, "status": "available"}]
        image.updated = api_time(end)

    @_writes
    def replicate_image(self, image_id: str, regions: list[str] | None) -> dict:
        """Make an ``available`` private image available in exactly ``regions`` (replication is immediate)."""
        self._advance()
        image = self._private_image(image_id)
        if not regions:
            raise invalid("regions", "At least one region is required")
        for region in regions:
            self._check_region(region)
        if image.status != "available":
            raise EmuApiError(400, f"Image {image_id} is not available (it is {image.status})")
        image.regions = [{"region": region, "status": "available"} for region in dict.fromkeys(regions)]
        image.updated = self._stamp()
        return image.to_json()

    @_reads
    def list_images(self) -> list[dict]:
        self._observe("image", self._images)
        return [dict(image) for image in catalog.PUBLIC_IMAGES] + [i.to_json() for i in self._images.values()]

    @_reads
    def get_image(self, image_id: str) -> dict:
        self._observe("image", [image_id])
        image = self._image_json(image_id)
        if image is None:
            raise not_found()
        return image

    @_writes
    def update_image(self, image_id: str, changes: dict) -> dict:
        """Change a private image's ``label``, ``description`` and/or ``tags``."""
        self._advance()
        image = self._private_image(image_id)
        self._apply_changes(image, changes, ("label", "description", "tags"))
        self._notify("image_update", image.ref())
        return image.to_json()

    @_writes
    def delete_image(self, image_id: str) -> None:
        """Delete a private image; a capture or upload still running for it fails."""
        self._advance()
        image = self._private_image(image_id)
        for event_id in sorted(self._active):
            event = self._events[event_id]
            if event.action in ("disk_imagize", "image_upload") and event.job.params["image_id"] == image_id:
                self._cancel(event, "Image deleted")
        self._images.pop(image_id, None)
        self._driver.delete_image(image_id)
        self._notify("image_delete", image.ref())

    def _image_json(self, image_id: str) -> dict | None:
        public = catalog.find(catalog.PUBLIC_IMAGES, image_id)
        if public is not None:
            return dict(public)
        image = self._images.get(image_id)
        return image.to_json() if image else None

    @staticmethod
    def _image_ref(image: dict) -> dict:
        return entity_ref("image", image["id"], image["label"], f"/images/{image['id']}")

    def _private_image(self, image_id: str) -> Image:
        image = self._images.get(image_id)
        if image is None:
            if catalog.find(catalog.PUBLIC_IMAGES, image_id):
                raise EmuApiError(403, "Unauthorized")
            raise not_found()
        return image

    def _imageable_disk(self, disk_id: int | None) -> Disk:
        if disk_id is None:
            raise invalid("disk_id", "disk_id is required")
        disk = self._disks.get(disk_id)
        if disk is None:
            raise invalid("disk_id", "Not found")
        if disk.filesystem not in ("ext3", "ext4"):
            raise invalid("disk_id", "Only ext3 and ext4 disks can be imaged")
        return disk

