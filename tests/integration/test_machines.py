"""Emulated machines: a real OS and a real salt-minion behind every emulated Linode.

A real salt-master (pytest-salt-factories), the emulator with namespace machines, and the project's own
cloud adapter over HTTP. Minion keys are pre-accepted with key.gen_accept; nothing is auto-accepted.
"""

import json
import os
from pathlib import Path

import pytest
import requests

from tests.support.machines import (
    BASE,
    REGION,
    TYPE,
    disk_upper,
    machine_cloud,
    minion_user_data,
    port_open,
    provider_for,
    wait_for,
)
from tests.support.mounts import mounts_anywhere

TAGS = ("immutable", "fleet:machines")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with machine_cloud(tmp_path_factory.mktemp("machines-emulator")) as server:
        yield server


@pytest.fixture(scope="module")
def provider(cloud):
    return provider_for(cloud)


def boot(provider, label, user_data=None, image=BASE, booted=True):
    server = provider.create_instance(label, REGION, TYPE, image, tags=TAGS, user_data=user_data, booted=booted)
    if booted:
        server = provider.wait_for_status(server.id, "running", provider.deadline(60))
    return server


def wait_for_minion(master, minion_id, timeout=240):
    salt = master.salt_cli(timeout=15)

    def answers():
        result = salt.run("test.ping", minion_tgt=minion_id)
        return result.returncode == 0 and result.data is True

    wait_for(answers, timeout=timeout, interval=1, what=f"minion {minion_id} to answer")
    return salt


def web_user_data(body):
    """A machine that serves ``body`` on port 8080 of its own address, started at every boot."""
    script = (
        "#!/bin/sh\nmkdir -p /srv/www\n"
        "cd /srv/www && nohup python3 -m http.server 8080 --bind \"$(hostname -i | cut -d' ' -f1)\" "
        ">/var/log/www.log 2>&1 &\n"
    )
    config = {
        "write_files": [
            {"path": "/srv/www/index.html", "content": body},
            {"path": "/var/lib/cloud/scripts/per-boot/10-www.sh", "content": script, "permissions": "0755"},
        ]
    }
    return "#cloud-config\n" + json.dumps(config)


# ------------------------------------------------------------------ minions, disks and images


@pytest.mark.slow  # `make test-slow`: in `make test`, test_bake.py shows the same through the product's bake
def test_minion_state_apply_and_captured_image(cloud, provider, pip_master):
    first = boot(provider, "machine-a", minion_user_data(pip_master, "machine-a", grains={"role": "builder"}))
    salt = wait_for_minion(pip_master, "machine-a")
    assert salt.run("grains.get", "role", minion_tgt="machine-a").data == "builder"
    assert salt.run("grains.get", "host", minion_tgt="machine-a").data == "machine-a"

    build = {"webapp": {"build_token": "machines-test-build-token"}}  # the example bake fetches with it
    applied = salt.run("state.apply", "examples.webapp", pillar=build, minion_tgt="machine-a", _timeout=120)
    assert applied.returncode == 0, applied.stdout
    assert all(state["result"] for state in applied.data.values())
    upper = disk_upper(cloud.state_dir, provider, first.id)
    assert (upper / "opt/webapp/server.py").is_file()
    assert (upper / "etc/webapp/webapp.conf").read_text() == "port = 8080\n"
    assert not Path("/opt/webapp/server.py").exists() and not Path("/etc/webapp").exists()

    provider.shutdown(first.id)
    provider.wait_for_status(first.id, "offline", provider.deadline(30))
    image = provider.capture_image(provider.root_disk(first.id).id, "machines-image", tags=TAGS)
    image = provider.wait_for_image(image.id, provider.deadline(60))
    assert image.status == "available" and image.size >= 1

    # No state runs on machine-b: what it has, it has from the image.
    second = boot(provider, "machine-b", minion_user_data(pip_master, "machine-b"), image=image.id)
    salt = wait_for_minion(pip_master, "machine-b")
    second_upper = disk_upper(cloud.state_dir, provider, second.id)
    assert (second_upper / "opt/webapp/server.py").read_bytes() == (upper / "opt/webapp/server.py").read_bytes()
    assert salt.run("file.file_exists", "/etc/webapp/webapp.conf", minion_tgt="machine-b").data is True
    assert salt.run("config.get", "id", minion_tgt="machine-b").data == "machine-b"
    key_a = (upper / "etc/salt/pki/minion/minion.pub").read_text()
    key_b = (second_upper / "etc/salt/pki/minion/minion.pub").read_text()
    assert key_a != key_b
    for server in (first, second):
        provider.delete_instance(server.id)


def test_bad_user_data_fails_the_boot_visibly(cloud, provider):
    server = provider.create_instance(
        "machine-bad", REGION, TYPE, BASE, tags=TAGS, user_data="#cloud-config\nwrite_files: 3\n"
    )
    offline = wait_for(
        lambda: provider.get_instance(server.id).status == "offline", timeout=30, what="the failed boot"
    )
    assert offline
    events = cloud.backend.list_events()
    boot_event = next(e for e in events if e["action"] == "linode_boot" and e["entity"]["id"] == server.id)
    assert boot_event["status"] == "failed"
    assert "write_files: expected a list" in boot_event["message"]
    provider.delete_instance(server.id)


# ------------------------------------------------------------------ networking, volumes, NodeBalancers


@pytest.fixture(scope="module")
def web_pair(provider):
    servers = [boot(provider, f"machine-web-{n}", web_user_data(f"hello from web-{n}\n")) for n in (1, 2)]
    for server in servers:
        wait_for(lambda s=server: port_open(s.private_ip, 8080), timeout=30, what=f"{server.label}:8080")
    yield servers
    for server in servers:
        provider.delete_instance(server.id)


def test_two_machines_serve_the_same_port_on_their_own_addresses(web_pair):
    first, second = web_pair
    assert first.private_ip != second.private_ip
    assert requests.get(f"http://{first.private_ip}:8080/", timeout=5).text == "hello from web-1\n"
    assert requests.get(f"http://{second.private_ip}:8080/", timeout=5).text == "hello from web-2\n"


def test_volume_data_survives_a_move_between_linodes(cloud, provider):
    volume = provider.create_volume("machines-data", 10, REGION, tags=TAGS)
    volume = provider.wait_for_volume(volume.id, provider.deadline(30))
    mount = [volume.filesystem_path, "/srv/data", "ext4", "defaults,nofail"]
    writer = boot(provider, "machine-writer", booted=False, user_data="#cloud-config\n" + json.dumps(
        {"mounts": [mount], "runcmd": ["echo written-by-writer > /srv/data/hello"]}))
    provider.wait_for_status(writer.id, "offline", provider.deadline(30))
    provider.attach_volume(volume.id, writer.id)
    provider.boot(writer.id)
    volume_dir = Path(cloud.state_dir) / "volumes" / str(volume.id)
    wait_for(lambda: (volume_dir / "hello").exists(), timeout=30, what="the writer's file on the volume")
    assert not (disk_upper(cloud.state_dir, provider, writer.id) / "srv/data/hello").exists()

    provider.shutdown(writer.id)
    provider.wait_for_status(writer.id, "offline", provider.deadline(30))
    provider.detach_volume(volume.id)
    reader = boot(provider, "machine-reader", booted=False, user_data="#cloud-config\n" + json.dumps(
        {"mounts": [mount], "runcmd": ["cat /srv/data/hello > /root/seen"]}))
    provider.wait_for_status(reader.id, "offline", provider.deadline(30))
    provider.attach_volume(volume.id, reader.id)
    provider.boot(reader.id)
    seen = disk_upper(cloud.state_dir, provider, reader.id) / "root/seen"
    wait_for(lambda: seen.exists() and seen.read_text(), timeout=30, what="the reader's copy")
    assert seen.read_text() == "written-by-writer\n"
    for server in (writer, reader):
        provider.delete_instance(server.id)


def nodebalancer_with(cloud, servers, port):
    client = requests.Session()
    client.headers["Authorization"] = "Bearer machines-token"
    api = cloud.api_url
    nodebalancer = client.post(f"{api}/nodebalancers", json={"region": REGION, "label": "machines-nb"}).json()
    config = client.post(
        f"{api}/nodebalancers/{nodebalancer['id']}/configs",
        json={"port": port, "protocol": "http", "check": "http", "check_path": "/",
              "check_interval": 2, "check_timeout": 1, "check_attempts": 1},
    ).json()
    for server in servers:
        client.post(
            f"{api}/nodebalancers/{nodebalancer['id']}/configs/{config['id']}/nodes",
            json={"label": server.label, "address": f"{server.private_ip}:8080", "mode": "accept"},
        ).raise_for_status()
    return nodebalancer, config


def test_nodebalancer_marks_a_stopped_node_down_and_stops_sending_it_traffic(cloud, provider, web_pair):
    port = 18080
    nodebalancer, config = nodebalancer_with(cloud, web_pair, port)

    def statuses():
        nodes = provider.list_nodes(nodebalancer["id"], config["id"])
        return {node.label: node.status for node in nodes}

    wait_for(lambda: set(statuses().values()) == {"UP"}, timeout=30, what="both nodes UP")
    url = f"http://{nodebalancer['ipv4']}:{port}/"
    bodies = {requests.get(url, timeout=5).text for _ in range(10)}
    assert bodies == {"hello from web-1\n", "hello from web-2\n"}

    stopped, alive = web_pair
    provider.shutdown(stopped.id)
    provider.wait_for_status(stopped.id, "offline", provider.deadline(30))
    wait_for(lambda: statuses()[stopped.label] == "DOWN", timeout=30, what="the stopped node DOWN")
    assert statuses()[alive.label] == "UP"
    assert {requests.get(url, timeout=5).text for _ in range(20)} == {"hello from web-2\n"}
    provider.boot(stopped.id)
    provider.wait_for_status(stopped.id, "running", provider.deadline(30))


# ------------------------------------------------------------------ no leftovers


def host_mounts_under(folder):
    return [line for line in Path("/proc/mounts").read_text().splitlines() if str(folder) in line]


def test_stopping_the_emulator_leaves_no_process_and_no_mount(tmp_path):
    with machine_cloud(tmp_path) as server:
        provider = provider_for(server)
        machine = boot(provider, "machine-leftover", web_user_data("x\n"))
        wait_for(lambda: port_open(machine.private_ip, 8080), timeout=30, what="the machine's service")
        driver = server.backend._driver
        process = driver.running[machine.id]
        machine_pids = [int(p) for p in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
        # The machine's mounts live in its own namespace: the host does not see them, a scan of every
        # namespace does (else the check after the stop would prove nothing).
        assert machine_pids and host_mounts_under(tmp_path) == []
        machine_namespace = os.readlink(f"/proc/{machine_pids[0]}/ns/mnt")
        assert [pid for pid in mounts_anywhere(tmp_path) if os.readlink(f"/proc/{pid}/ns/mnt") == machine_namespace]
    for pid in [process.pid, *machine_pids]:
        wait_for(lambda p=pid: not Path(f"/proc/{p}").exists(), timeout=10, what=f"process {pid} to end")
    assert not port_open(machine.private_ip, 8080)
    assert mounts_anywhere(tmp_path) == {}
