"""The bake pipeline's decisions and clean-up, with fakes for Linode and Salt (no daemons, no HTTP)."""

import json
from dataclasses import replace

import pytest

from salt_immutable import bake, checks, spec
from salt_immutable.deadline import Deadline
from salt_immutable.errors import BakeError, ProviderTimeout, SaltCallError
from salt_immutable.model import Disk, ImageRef, ObservedServer

FLEET = spec.parse(
    {
        "immutable": {
            "linode": {"region": "us-east"},
            "fleets": {
                "web": {
                    "version": "1.0.0",
                    "count": 2,
                    "bake": {"states": ["webapp"], "secrets": ["webapp:token"]},
                    "boot": {"states": ["webapp.secrets"]},
                    "tests": {"saltcheck": ["webapp"]},
                }
            },
        }
    }
).fleet("web")


def server(id_, label, tags=(), status="running"):
    return ObservedServer(id_, label, status, tuple(tags), ("127.0.1.1",), "127.0.1.1", "us-east",
                          "g6-standard-1", None, None)


def image(tags=("immutable", "fleet:web", "version:1.0.0"), status="available"):
    return ImageRef(id="private/7", label="web-1.0.0", status=status, size=3, tags=tuple(tags),
                    description=json.dumps({"fleet": "web"}), created=None, capabilities=("cloud-init",),
                    is_public=False)


class FakeProvider:
    def __init__(self, existing=None, fleet=()):
        self.existing = existing
        self.fleet = list(fleet)
        self.calls = []
        self.next_id = 100
        self.never = set()  # (id, status) never reached

    def deadline(self, seconds):
        return Deadline(seconds)

    def find_image(self, label, tags):
        self.calls.append(("find_image", label))
        return self.existing

    def list_fleet(self, fleet):
        self.calls.append(("list_fleet", fleet))
        return self.fleet

    def create_instance(self, label, region, type_, image_id, tags, user_data, firewall_id=None):
        self.calls.append(("create_instance", label, image_id, tags))
        self.next_id += 1
        return server(self.next_id, label, tags, "provisioning")

    def wait_for_status(self, id_, status, deadline):
        self.calls.append(("wait_for_status", id_, status))
        if (id_, status) in self.never:
            raise ProviderTimeout("wait for instance", id_, [f"not {status} after {deadline.seconds:g}s"])
        return server(id_, "x", status=status)

    def disable_watchdog(self, id_):
        self.calls.append(("disable_watchdog", id_))

    def root_disk(self, id_):
        return Disk(5, "root", "ext4", 1000, "ready")

    def capture_image(self, disk_id, label, description, tags):
        self.calls.append(("capture_image", label, tags))
        return image(status="creating")

    def wait_for_image(self, image_id, deadline):
        self.calls.append(("wait_for_image", image_id))
        return image()

    def set_image_tags(self, image_id, tags):
        self.calls.append(("set_image_tags", image_id, tuple(tags)))
        return image(tags)

    def delete_instance(self, id_):
        self.calls.append(("delete_instance", id_))

    def delete_image(self, image_id):
        self.calls.append(("delete_image", image_id))


BUILDER_IDENTITY = {"minion_id": "web-1.0.0-build", "public_key_sha256": "ab12", "machine_id_sha256": "cd34",
                    "ssh_host_keys_sha256": {"ssh_host_ed25519_key.pub": "ef56"}}


class FakeSalt:
    def __init__(self, fail=None):
        self.fail = fail or {}
        self.calls = []
        self.keys = set()

    def accept_new_key(self, minion_id):
        self.keys.add(minion_id)
        return {"pub": "PUB", "priv": "PRIV"}

    def delete_key(self, minion_id):
        self.keys.discard(minion_id)
        self.calls.append(("delete_key", minion_id))

    def wait_for_minion(self, minion_id, deadline):
        self.calls.append(("wait_for_minion", minion_id))
        failure = self.fail.get((minion_id, "wait_for_minion"))
        if failure is not None:
            raise failure

    def state_tree_commit(self):
        return "abc123"

    def call(self, minion_id, fun, arg=(), kwarg=None, timeout=300):
        self.calls.append((minion_id, fun, tuple(arg), kwarg))
        failure = self.fail.get((minion_id, fun))
        if isinstance(failure, BaseException):
            raise failure
        if failure is not None:
            return failure, 1
        answers = {
            "state.apply": {"file_|-a_|-a_|-managed": {"result": True, "__id__": "a", "changes": {}}},
            "immutable.verify": {"result": True, "failures": []},
            "state.show_low_sls": [{"state": "file"}],
            "test.version": "3008.4",
            "immutable.release": {"fleet": "web"},
            "immutable.identity": BUILDER_IDENTITY,
            "immutable.check_image": {"result": True, "problems": []},
        }
        return answers.get(fun, True), 0


def run_bake(provider, salt, fleet=FLEET, **options):
    events, lines = [], []
    job = bake.BakeJob(fleet=fleet, version="1.0.0", provider=provider, salt=salt, master_address="127.0.0.1",
                       master_port=4506, progress=lines.append, fire=lambda tag, data: events.append((tag, data)),
                       **options)
    return bake.Bake(job).run(), events, lines


def mutations(provider):
    return [call for call in provider.calls if call[0] not in ("find_image", "list_fleet", "wait_for_status",
                                                                 "wait_for_image")]


def test_a_proven_image_is_returned_without_any_mutation():
    provider, salt = FakeProvider(existing=image((*image().tags, "proven"))), FakeSalt()
    result, events, _ = run_bake(provider, salt)
    assert result["changed"] is False and result["image"]["id"] == "private/7"
    assert mutations(provider) == [] and salt.calls == [] and events == []


def test_a_full_bake_builds_seals_captures_and_proves_in_order():
    provider, salt = FakeProvider(), FakeSalt()
    result, events, lines = run_bake(provider, salt)
    sealing = [line for line in lines if "seal" in line]
    assert [line.split(":")[0] for line in sealing] == ["[web@1.0.0] sealing web-1.0.0-build",
                                                        "[web@1.0.0] sealed web-1.0.0-build in 0 s"], lines
    assert result["changed"] is True and "proven" in result["image"]["tags"]
    assert [tag.rsplit("/", 1)[1] for tag, data in events if data["status"] == "finished"] == [
        "builder", "configure", "test", "seal", "capture", "prove"]
    builder, candidate = (c for c in provider.calls if c[0] == "create_instance")
    assert builder[1:3] == ("web-1.0.0-build", "linode/debian12") and "bake:builder" in builder[3]
    assert candidate[1:3] == ("web-1.0.0-proof", "private/7") and "bake:candidate" in candidate[3]
    seal = next(c for c in salt.calls if c[1] == "immutable.seal")
    assert seal[3]["secret_keys"] == ["webapp:token"] and seal[3]["release"]["lowstate_sha256"]
    boot_states = [c for c in salt.calls if c[0] == "web-1.0.0-proof" and c[1] == "state.apply"]
    assert boot_states[0][2] == ("webapp.secrets",)
    assert salt.keys == set()
    assert [c[1] for c in provider.calls if c[0] == "delete_instance"] == [101, 102]


@pytest.mark.parametrize(
    ("failing", "phase", "message"),
    [
        (("web-1.0.0-build", "state.apply"), "configure", "bake states failed"),
        (("web-1.0.0-build", "immutable.verify"), "test", "tests failed on web-1.0.0-build"),
        (("web-1.0.0-proof", "immutable.verify"), "prove", "tests failed on web-1.0.0-proof"),
        (("web-1.0.0-proof", "immutable.release"), "prove", "reports release"),
    ],
)
def test_every_failure_removes_what_the_bake_created(failing, phase, message):
    answers = {
        "state.apply": {"x": {"result": False, "__id__": "broken-state", "changes": {}}},
        "immutable.verify": {"result": False, "failures": ["saltcheck webapp: t1"]},
        "immutable.release": {"fleet": "db"},
    }
    provider, salt = FakeProvider(), FakeSalt(fail={failing: answers[failing[1]]})
    with pytest.raises(BakeError, match=f"bake web@1.0.0 failed in {phase}: .*{message}"):
        run_bake(provider, salt)
    created = [c for c in provider.calls if c[0] == "create_instance"]
    deleted = [c for c in provider.calls if c[0] == "delete_instance"]
    assert len(deleted) == len(created) and salt.keys == set()


def test_a_refused_seal_fails_the_bake_in_seal_captures_nothing_and_removes_the_builder():
    """What the minion's refusal says is the minion's business (tests/functional/test_seal.py); the bake's is to stop
    before any capture, say where, fire the failure and leave nothing."""
    refusal = SaltCallError("immutable.seal on web-1.0.0-build failed: <the minion's refusal>")
    provider, salt = FakeProvider(), FakeSalt(fail={("web-1.0.0-build", "immutable.seal"): refusal})
    events = []
    job = bake.BakeJob(fleet=FLEET, version="1.0.0", provider=provider, salt=salt, master_address="127.0.0.1",
                       master_port=4506, fire=lambda tag, data: events.append((tag, data)))
    with pytest.raises(BakeError) as failed:
        bake.Bake(job).run()
    assert str(failed.value) == f"bake web@1.0.0 failed in seal: {refusal}" and failed.value.__cause__ is refusal
    assert [call[0] for call in provider.calls if call[0] in ("capture_image", "set_image_tags")] == []
    assert ("wait_for_status", 101, "offline") not in provider.calls, "no wait for a poweroff that never comes"
    assert events[-1] == ("salt/immutable/web/bake/seal", {"fleet": "web", "version": "1.0.0", "phase": "seal",
                                                          "status": "failed", "error": str(refusal)})
    assert [c[1] for c in provider.calls if c[0] == "delete_instance"] == [101] and salt.keys == set()


def test_keep_builder_on_failure_keeps_the_builder_and_its_key():
    provider = FakeProvider()
    salt = FakeSalt(fail={("web-1.0.0-build", "state.apply"): ["Rendering SLS failed"]})
    with pytest.raises(BakeError, match="Rendering SLS failed"):
        run_bake(provider, salt, keep_on_failure=True)
    assert not [c for c in provider.calls if c[0] == "delete_instance"]
    assert salt.keys == {"web-1.0.0-build"}


def test_an_unproven_image_is_proven_without_building_again():
    provider, salt = FakeProvider(existing=image()), FakeSalt()
    result, _, _ = run_bake(provider, salt)
    labels = [c[1] for c in provider.calls if c[0] == "create_instance"]
    assert labels == ["web-1.0.0-proof"] and "proven" in result["image"]["tags"]


def test_force_rebakes_an_unproven_image():
    provider, salt = FakeProvider(existing=image()), FakeSalt()
    run_bake(provider, salt, force=True)
    assert ("delete_image", "private/7") in provider.calls
    assert [c[1] for c in provider.calls if c[0] == "create_instance"] == ["web-1.0.0-build", "web-1.0.0-proof"]


def test_leftovers_of_crashed_bakes_of_any_version_are_removed_first():
    leftover = server(9, "web-1.0.0-build", ("immutable", "fleet:web", "version:1.0.0", "bake:builder"))
    older = server(11, "web-0.9.0-proof", ("immutable", "fleet:web", "version:0.9.0", "bake:candidate"))
    running = server(10, "web-g1-1", ("immutable", "fleet:web", "version:0.9.0"))
    provider, salt = FakeProvider(fleet=[leftover, older, running]), FakeSalt()
    run_bake(provider, salt)
    deleted = {c[1] for c in provider.calls if c[0] == "delete_instance"}
    assert {9, 11} <= deleted and 10 not in deleted
    assert ("delete_key", "web-1.0.0-build") in salt.calls and ("delete_key", "web-0.9.0-proof") in salt.calls


@pytest.mark.parametrize(
    ("label", "tags"),
    [
        ("web-g1-1", ("version:1.0.0", "bake:builder")),  # a server wrongly tagged as a builder
        ("web-0.5.0-build", ("version:2.0.0", "bake:builder")),  # label and version tag disagree
        ("web-0.5.0-build", ("version:0.5.0", "bake:candidate")),  # label and role disagree
        ("web-0.5.0-build", ("version:0.5.0", "bake:builder", "bake:candidate")),
        ("web-0.5.0-build\n", ("version:0.5.0", "bake:builder")),
        ("webx-1.0.0-build", ("version:1.0.0", "bake:builder")),
    ],
)
def test_a_linode_tagged_as_a_bake_machine_but_not_named_as_one_is_left_alone(label, tags):
    suspect = server(120, label, ("immutable", "fleet:web", *tags))
    provider, salt = FakeProvider(fleet=[suspect]), FakeSalt()
    _, _, lines = run_bake(provider, salt)
    assert ("delete_instance", 120) not in provider.calls
    assert ("delete_key", label) not in salt.calls
    assert any(line.endswith(f"leaving {label} (120): tagged {', '.join(t[5:] for t in tags if t.startswith('bake:'))}"
                                 " but not named as one") for line in lines)


def test_an_unexpected_error_still_removes_what_the_bake_created():
    provider = FakeProvider()
    salt = FakeSalt(fail={("web-1.0.0-build", "state.apply"): KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        run_bake(provider, salt)
    assert [c[1] for c in provider.calls if c[0] == "delete_instance"] == [101] and salt.keys == set()


def test_a_failing_delete_still_forgets_the_key_and_cleans_the_rest(monkeypatch):
    provider = FakeProvider()
    salt = FakeSalt(fail={("web-1.0.0-build", "state.apply"): ["boom"]})

    def refuse(id_):
        raise SaltCallError(f"delete {id_} refused")

    monkeypatch.setattr(provider, "delete_instance", refuse)
    with pytest.raises(BakeError, match="boom"):
        run_bake(provider, salt)
    assert salt.keys == set()


def test_failed_states_lists_ids_or_render_errors():
    applied = {"a": {"result": True, "__id__": "ok"}, "b": {"result": False, "__id__": "bad"}}
    assert checks.failed_states(applied) == ["bad"]
    assert checks.failed_states(["Rendering SLS 'base:x' failed"]) == ["Rendering SLS 'base:x' failed"]


def test_image_summary_is_plain_data():
    assert bake.image_summary(replace(image(), size=4))["size"] == 4


def test_the_candidate_is_checked_against_the_identity_the_builder_had_before_its_seal():
    provider, salt = FakeProvider(), FakeSalt()
    run_bake(provider, salt)
    funs = [call[1] for call in salt.calls if call[0] in ("web-1.0.0-build", "web-1.0.0-proof")]
    assert funs.index("immutable.identity") < funs.index("immutable.seal")
    checks = [call for call in salt.calls if call[:2] == ("web-1.0.0-proof", "immutable.check_image")]
    assert [call[3] for call in checks] == [{"builder": BUILDER_IDENTITY}]


def test_an_image_holding_builder_identity_or_an_unfinished_sweep_fails_the_proof_and_is_not_proven():
    problems = ["seal record lists remaining paths: /etc/salt/pki/minion", "machine-id is the builder's"]
    provider = FakeProvider()
    salt = FakeSalt(fail={("web-1.0.0-proof", "immutable.check_image"): {"result": False, "problems": problems}})
    with pytest.raises(BakeError) as failed:
        run_bake(provider, salt)
    assert str(failed.value).endswith("failed in prove: the image web-1.0.0-proof booted from is not sealed: "
                                      "seal record lists remaining paths: /etc/salt/pki/minion; machine-id is the "
                                      "builder's")
    assert not [call for call in provider.calls if call[0] == "set_image_tags"]
    assert salt.keys == set()


def test_an_image_baked_earlier_is_checked_for_its_sweep_only():
    provider, salt = FakeProvider(existing=image()), FakeSalt()
    run_bake(provider, salt)
    checks = [call for call in salt.calls if call[:2] == ("web-1.0.0-proof", "immutable.check_image")]
    assert [call[3] for call in checks] == [{"builder": None}]


def test_a_builder_whose_minion_never_answers_fails_in_builder_and_leaves_nothing():
    never = SaltCallError("minion web-1.0.0-build did not answer within 300s")
    provider, salt = FakeProvider(), FakeSalt(fail={("web-1.0.0-build", "wait_for_minion"): never})
    with pytest.raises(BakeError) as failed:
        run_bake(provider, salt)
    assert str(failed.value) == "bake web@1.0.0 failed in builder: minion web-1.0.0-build did not answer within 300s"
    assert [c[1] for c in provider.calls if c[0] == "delete_instance"] == [101] and salt.keys == set()
    assert not [c for c in provider.calls if c[0] == "capture_image"]


HTTP_FLEET = spec.parse({"immutable": {"linode": {"region": "us-east"}, "fleets": {"web": {
    "version": "1.0.0", "count": 1, "bake": {"states": ["webapp"]}, "tests": {"http": {"port": 8080, "path": "/ok"}},
}}}}).fleet("web")


def test_a_candidate_failing_its_http_check_fails_the_proof_and_its_image_stays_unproven(monkeypatch):
    asked = []
    monkeypatch.setattr(checks, "answers_http", lambda url: asked.append(url) and False)
    monkeypatch.setattr(bake, "HTTP_TIMEOUT", 0.2)
    provider, salt = FakeProvider(), FakeSalt()
    with pytest.raises(BakeError) as failed:
        run_bake(provider, salt, fleet=HTTP_FLEET)
    assert str(failed.value) == ("bake web@1.0.0 failed in prove: health check http://127.0.1.1:8080/ok did not "
                                 "answer 2xx within 0.2s")
    assert asked and set(asked) == {"http://127.0.1.1:8080/ok"}
    assert not [c for c in provider.calls if c[0] in ("set_image_tags", "delete_image")], "kept, never proven"
    assert [c[1] for c in provider.calls if c[0] == "delete_instance"] == [101, 102] and salt.keys == set()


def test_keep_builder_on_failure_keeps_a_failed_candidate_and_its_key():
    provider = FakeProvider()
    salt = FakeSalt(fail={("web-1.0.0-proof", "immutable.verify"): {"result": False, "failures": ["t1"]}})
    with pytest.raises(BakeError, match="failed in prove"):
        run_bake(provider, salt, keep_on_failure=True)
    assert [c[1] for c in provider.calls if c[0] == "delete_instance"] == [101], "the builder went after capture"
    assert salt.keys == {"web-1.0.0-proof"}


def test_the_seal_ends_when_the_builder_has_powered_itself_off_with_its_watchdog_off():
    provider, salt = FakeProvider(), FakeSalt()
    run_bake(provider, salt)
    seal = next(c for c in salt.calls if c[1] == "immutable.seal")
    assert seal[3]["poweroff"] is True
    steps = [c for c in provider.calls if c[0] in ("disable_watchdog", "wait_for_status", "capture_image")
             and c[1] in (101, "web-1.0.0") and c[-1] != "running"]
    assert steps == [("disable_watchdog", 101), ("wait_for_status", 101, "offline"), ("capture_image", "web-1.0.0",
                                                                                       steps[2][2])]


def test_a_builder_that_never_powers_off_fails_the_bake_in_seal_and_captures_nothing():
    provider, salt = FakeProvider(), FakeSalt()
    provider.never.add((101, "offline"))
    with pytest.raises(BakeError) as failed:
        run_bake(provider, salt)
    assert str(failed.value).startswith("bake web@1.0.0 failed in seal: web-1.0.0-build did not power itself off "
                                        "after its seal: ")
    assert not [c for c in provider.calls if c[0] == "capture_image"]
    assert [c[1] for c in provider.calls if c[0] == "delete_instance"] == [101] and salt.keys == set()
