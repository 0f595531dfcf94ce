"""immutable.identity on a builder and immutable.check_image on a candidate booted from its image."""

import hashlib
import json

import pytest
from salt.exceptions import CommandExecutionError

from tests.functional import test_seal
from tests.functional.test_seal import BUILDER_ID, MINION_OPTS

machine_factory = test_seal.machine_factory  # the fixture: a builder's disk in a folder posing as /

CONF = MINION_OPTS["conf_file"].rpartition("/")[0]
PUBLIC_KEY = f"{MINION_OPTS['pki_dir']}/minion.pub"
RECORD = "/var/lib/salt-immutable/seal.json"


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def test_identity_is_hashes_only(machine_factory):
    machine = machine_factory()
    private_key = machine.path(f"{MINION_OPTS['pki_dir']}/minion.pem").read_text()
    found = machine.call("identity")
    assert found == {
        "minion_id": BUILDER_ID,
        "public_key_sha256": sha("PUBLIC KEY"),
        "machine_id_sha256": sha("0123456789abcdef"),
        "ssh_host_keys_sha256": {"ssh_host_rsa_key.pub": sha("ssh-rsa AAAA")},
    }
    text = json.dumps(found)
    assert "PUBLIC KEY" not in text and "AAAA" not in text and private_key.splitlines()[1] not in text
    machine.path("/etc/machine-id").write_text("")
    assert machine.call("identity")["machine_id_sha256"] is None


@pytest.fixture
def candidate(machine_factory):
    """A builder's identity, then the same disk booted as a clean candidate: its own id, keys and record."""
    machine = machine_factory()
    builder = machine.call("identity")
    machine.opts["id"] = "web-1.0.0-proof"
    machine.path(f"{CONF}/minion_id").write_text("web-1.0.0-proof")
    machine.path(PUBLIC_KEY).write_text("CANDIDATE PUBLIC KEY\n")
    machine.path("/etc/machine-id").write_text("fedcba9876543210\n")
    machine.path("/etc/ssh/ssh_host_rsa_key.pub").write_text("ssh-rsa BBBB root@candidate\n")
    machine.path(RECORD).parent.mkdir(parents=True)
    machine.path(RECORD).write_text(json.dumps({"complete": True, "finished_at": 1.5, "remaining": []}))
    return machine, builder


def test_a_clean_candidate_passes(candidate):
    machine, builder = candidate
    checked = machine.call("check_image", builder=builder)
    assert checked == {"result": True, "problems": [],
                       "seal_record": {"complete": True, "finished_at": 1.5, "remaining": []}}


def leftover_public_key(machine):
    machine.path(PUBLIC_KEY).write_text("PUBLIC KEY\n")


def copied_public_key(machine):
    machine.path(f"{CONF}/keys/old/minion.pub.bak").parent.mkdir(parents=True)
    machine.path(f"{CONF}/keys/old/minion.pub.bak").write_text("\nPUBLIC KEY  \n")


LEFTOVERS = {
    "no seal record": (lambda m: m.path(RECORD).unlink(), "no seal record"),
    "a garbled seal record": (lambda m: m.path(RECORD).write_text("{"), "cannot be read"),
    "an incomplete sweep": (lambda m: m.path(RECORD).write_text('{"complete": false, "remaining": []}'),
                            "did not complete"),
    "paths left by the sweep": (lambda m: m.path(RECORD).write_text('{"complete": true, "remaining": ["/x/y"]}'),
                                "lists paths the sweep left: /x/y"),
    "the builder's minion id": (lambda m: m.opts.update(id=BUILDER_ID), f"minion id {BUILDER_ID!r} is the builder"),
    "the builder's minion_id file": (lambda m: m.path(f"{CONF}/minion_id").write_text(BUILDER_ID),
                                     "minion_id holds the builder's minion id"),
    "the builder's public key": (leftover_public_key, "minion.pub holds the builder's public key"),
    "a copy of the builder's public key": (copied_public_key, "minion.pub.bak holds the builder's public key"),
    "the builder's machine-id": (lambda m: m.path("/etc/machine-id").write_text("0123456789abcdef\n"),
                                 "machine-id is the builder's machine-id"),
    "the builder's SSH host key": (lambda m: m.path("/etc/ssh/ssh_host_rsa_key.pub").write_text("ssh-rsa AAAA x"),
                                   "ssh_host_rsa_key.pub is the builder's"),
    "the builder's SSH host key renamed": (
        lambda m: m.path("/etc/ssh/ssh_host_ecdsa_key.pub").write_text("ssh-rsa AAAA root@builder"),
        "ssh_host_ecdsa_key.pub is the builder's"),
}


@pytest.mark.parametrize("leave, problem", LEFTOVERS.values(), ids=LEFTOVERS.keys())
def test_check_image_names_each_kind_of_leftover(candidate, leave, problem):
    machine, builder = candidate
    leave(machine)
    checked = machine.call("check_image", builder=builder)
    assert checked["result"] is False
    assert len(checked["problems"]) == 1 and problem in checked["problems"][0], checked["problems"]


def test_without_the_builder_identity_only_the_seal_record_is_checked(candidate):
    machine, _builder = candidate
    machine.opts["id"] = BUILDER_ID
    assert machine.call("check_image")["result"] is True
    machine.path(RECORD).unlink()
    assert machine.call("check_image")["problems"][0].startswith("no seal record")


def test_empty_machine_ids_are_not_a_shared_identity(candidate):
    machine, builder = candidate
    machine.path("/etc/machine-id").write_text("")
    assert machine.call("check_image", builder={**builder, "machine_id_sha256": None})["result"] is True


def test_a_builder_that_is_not_an_identity_is_an_error(candidate):
    machine, _builder = candidate
    with pytest.raises(CommandExecutionError, match=r"builder must be the dict that immutable\.identity returned"):
        machine.call("check_image", builder="web-1.0.0-build")
