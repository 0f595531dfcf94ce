"""Thin handlers of the compute API: parse the request (JSON body, X-Filter, pagination), check the wire
shape of its fields, call one backend verb, and return the JSON answer. No state lives here.

Every handler is ``handler(backend, request) -> dict``; the HTTP status is 200 (Linode answers 200
with the object for creates and ``{}`` for actions). This module: the catalogue, Linodes, their disks,
configs and addresses, tags and events; ``storage_handlers`` and ``network_handlers`` hold the others.
"""

from __future__ import annotations

from linode_emu.backend import Backend
from linode_emu.wire import (
    CONFIG_FILTERS,
    DISK_FILTERS,
    EVENT_FILTERS,
    INSTANCE_FILTERS,
    NOTHING_FILTERABLE,
    TYPE_FILTERS,
    VOLUME_FILTERS,
    ApiRequest,
    Body,
    done,
    listing,
)

# ---------------------------------------------------------------- catalogue


def list_regions(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_regions(), NOTHING_FILTERABLE)


def get_region(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_region(request.params["id"])


def list_types(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_types(), TYPE_FILTERS)


def get_type(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_type(request.params["id"])


# ---------------------------------------------------------------- instances


def list_instances(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_instances(), INSTANCE_FILTERS)


def create_instance(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_instance(
        region=body.text("region"),
        type=body.text("type"),
        image=body.text("image"),
        label=body.text("label"),
        tags=body.texts("tags"),
        group=body.text("group", ""),
        root_pass=body.text("root_pass"),
        authorized_keys=body.texts("authorized_keys"),
        authorized_users=body.texts("authorized_users"),
        booted=body.boolean("booted"),
        user_data=body.object("metadata").text("user_data"),
        firewall_id=body.integer("firewall_id"),
        private_ip=body.boolean("private_ip", False),
        disk_encryption=body.text("disk_encryption"),
        boot_size=body.integer("boot_size"),
        kernel=body.text("kernel"),
    )


def get_instance(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_instance(request.int_param("id"))


def update_instance(backend: Backend, request: ApiRequest) -> dict:
    changes = Body.parse(request.body).changes(
        label="text", tags="texts", group="text", watchdog_enabled="boolean", alerts="mapping"
    )
    return backend.update_instance(request.int_param("id"), changes)


def delete_instance(backend: Backend, request: ApiRequest) -> dict:
    return done(backend.delete_instance(request.int_param("id")))


def boot_instance(backend: Backend, request: ApiRequest) -> dict:
    config_id = Body.parse(request.body).integer("config_id")
    return done(backend.boot_instance(request.int_param("id"), config_id))


def reboot_instance(backend: Backend, request: ApiRequest) -> dict:
    config_id = Body.parse(request.body).integer("config_id")
    return done(backend.reboot_instance(request.int_param("id"), config_id))


def shutdown_instance(backend: Backend, request: ApiRequest) -> dict:
    return done(backend.shutdown_instance(request.int_param("id")))


def rebuild_instance(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.rebuild_instance(
        request.int_param("id"),
        image=body.text("image"),
        root_pass=body.text("root_pass"),
        authorized_keys=body.texts("authorized_keys"),
        authorized_users=body.texts("authorized_users"),
        booted=body.boolean("booted"),
        user_data=body.object("metadata").text("user_data"),
        disk_encryption=body.text("disk_encryption"),
    )


def resize_instance(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return done(
        backend.resize_instance(
            request.int_param("id"),
            type=body.text("type"),
            allow_auto_disk_resize=body.boolean("allow_auto_disk_resize", True),
            migration_type=body.text("migration_type", "cold"),
        )
    )


def reset_instance_password(backend: Backend, request: ApiRequest) -> dict:
    root_pass = Body.parse(request.body).text("root_pass")
    return done(backend.reset_root_password(request.int_param("id"), root_pass))


def get_instance_transfer(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_instance_transfer(request.int_param("id"))


def list_instance_ips(backend: Backend, request: ApiRequest) -> dict:
    return backend.list_instance_ips(request.int_param("id"))


def get_ip(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_ip(request.params["id"])


def list_disks(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_disks(request.int_param("id")), DISK_FILTERS)


def get_disk(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_disk(request.int_param("id"), request.int_param("disk_id"))


def create_disk(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_disk(
        request.int_param("id"),
        size=body.integer("size"),
        label=body.text("label"),
        filesystem=body.text("filesystem"),
        image=body.text("image"),
        disk_encryption=body.text("disk_encryption"),
        root_pass=body.text("root_pass"),
        authorized_keys=body.texts("authorized_keys"),
        authorized_users=body.texts("authorized_users"),
    )


def resize_disk(backend: Backend, request: ApiRequest) -> dict:
    size = Body.parse(request.body).integer("size")
    return done(backend.resize_disk(request.int_param("id"), request.int_param("disk_id"), size))


def delete_disk(backend: Backend, request: ApiRequest) -> dict:
    return done(backend.delete_disk(request.int_param("id"), request.int_param("disk_id")))


def clone_disk(backend: Backend, request: ApiRequest) -> dict:
    return backend.clone_disk(request.int_param("id"), request.int_param("disk_id"))


_CONFIG_FIELDS = {"label": "text", "kernel": "text", "comments": "text", "root_device": "text"}


def create_config(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_config(
        request.int_param("id"),
        devices=body.mapping("devices"),
        interfaces=body.array("interfaces"),
        **body.changes(**_CONFIG_FIELDS),
    )


def update_config(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    changes = {**body.changes(**_CONFIG_FIELDS, devices="mapping"), "interfaces": body.array("interfaces")}
    return backend.update_config(request.int_param("id"), request.int_param("config_id"), changes)


def list_configs(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_configs(request.int_param("id")), CONFIG_FILTERS)


def get_config(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_config(request.int_param("id"), request.int_param("config_id"))


def list_instance_volumes(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_instance_volumes(request.int_param("id")), VOLUME_FILTERS)


# ---------------------------------------------------------------- tags


def list_tags(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_tags(), NOTHING_FILTERABLE)


def create_tag(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_tag(
        body.text("label"),
        linodes=body.integers("linodes"),
        volumes=body.integers("volumes"),
        nodebalancers=body.integers("nodebalancers"),
    )


def get_tagged_objects(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.tagged_objects(request.params["label"]), NOTHING_FILTERABLE)


def delete_tag(backend: Backend, request: ApiRequest) -> dict:
    return done(backend.delete_tag(request.params["label"]))


# ---------------------------------------------------------------- events


def list_events(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_events(), EVENT_FILTERS)


def get_event(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_event(request.int_param("id"))
