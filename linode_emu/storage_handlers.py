"""Thin handlers of images and Block Storage volumes (see ``linode_emu.handlers`` for the pattern)."""

from __future__ import annotations

from linode_emu.backend import Backend
from linode_emu.wire import (
    IMAGE_FILTERS,
    NOTHING_FILTERABLE,
    UPLOAD_PREFIX,
    VOLUME_FILTERS,
    ApiRequest,
    Body,
    done,
    listing,
)

# ---------------------------------------------------------------- images


def list_images(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_images(), IMAGE_FILTERS)


def create_image(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_image(
        disk_id=body.integer("disk_id"),
        label=body.text("label"),
        description=body.text("description"),
        tags=body.texts("tags"),
        cloud_init=body.boolean("cloud_init", False),
    )


def create_image_upload(backend: Backend, request: ApiRequest) -> dict:
    """``{"image", "upload_to"}``: the upload URL is on the emulator, at the address the client used."""
    body = Body.parse(request.body)
    created = backend.create_image_upload(
        label=body.text("label"),
        region=body.text("region"),
        description=body.text("description"),
        tags=body.texts("tags"),
        cloud_init=body.boolean("cloud_init", False),
    )
    return {"image": created["image"], "upload_to": f"http://{request.host}{UPLOAD_PREFIX}/{created['upload_path']}"}


def replicate_image(backend: Backend, request: ApiRequest) -> dict:
    return backend.replicate_image(request.params["id"], Body.parse(request.body).texts("regions"))


def get_image(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_image(request.params["id"])


def update_image(backend: Backend, request: ApiRequest) -> dict:
    changes = Body.parse(request.body).changes(label="text", description="text", tags="texts")
    return backend.update_image(request.params["id"], changes)


def delete_image(backend: Backend, request: ApiRequest) -> dict:
    return done(backend.delete_image(request.params["id"]))


# ---------------------------------------------------------------- volumes


def list_volumes(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_volumes(), VOLUME_FILTERS)


def create_volume(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_volume(
        label=body.text("label"),
        size=body.integer("size", 20),
        region=body.text("region"),
        linode_id=body.integer("linode_id"),
        config_id=body.integer("config_id"),
        tags=body.texts("tags"),
        encryption=body.text("encryption"),
    )


def resize_volume(backend: Backend, request: ApiRequest) -> dict:
    return backend.resize_volume(request.int_param("id"), Body.parse(request.body).integer("size"))


def clone_volume(backend: Backend, request: ApiRequest) -> dict:
    return backend.clone_volume(request.int_param("id"), Body.parse(request.body).text("label"))


def list_volume_types(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_volume_types(), NOTHING_FILTERABLE)


def get_volume(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_volume(request.int_param("id"))


def update_volume(backend: Backend, request: ApiRequest) -> dict:
    changes = Body.parse(request.body).changes(label="text", tags="texts")
    return backend.update_volume(request.int_param("id"), changes)


def delete_volume(backend: Backend, request: ApiRequest) -> dict:
    return done(backend.delete_volume(request.int_param("id")))


def attach_volume(backend: Backend, request: ApiRequest) -> dict:
    # linode_api4's Volume.attach(config=...) sends "config"; the API reads only "config_id".
    body = Body.parse(request.body)
    return backend.attach_volume(
        request.int_param("id"), body.integer("linode_id"), body.integer("config_id")
    )


def detach_volume(backend: Backend, request: ApiRequest) -> dict:
    return done(backend.detach_volume(request.int_param("id")))


