"""The facade the Salt faces call. It takes ``opts``, ``progress`` and ``fire_event`` explicitly."""

import getpass
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from salt_immutable import bake as baking
from salt_immutable import config, fleetops, master, names, spec, timeline
from salt_immutable import history as records
from salt_immutable import lock as locking
from salt_immutable import prune as pruning
from salt_immutable import retire as retiring
from salt_immutable.budget import RateBudget
from salt_immutable.errors import ArgumentError, ConfigError, ImmutableError, RollError, SpecError
from salt_immutable.linode import LinodeProvider
from salt_immutable.roll import approval_tag


def desired_spec(opts, fleet=None):
    """Compile the master-side pillar and validate it; ``fleet`` narrows the result to one fleet."""
    settings = config.master_settings(opts)
    parsed = spec.parse(master.compile_fleet_pillar(opts, settings.pillar_id))
    if fleet is not None and parsed.fleet(fleet) is None:
        known = ", ".join(f.name for f in parsed.fleets) or "none"
        raise ArgumentError([("fleet", f"no fleet {fleet!r} in the pillar (it defines: {known})")])
    return parsed


def chosen_fleets(opts, fleet=None):
    """The fleet specs a verb works on: the named one, or every fleet of the pillar."""
    parsed = desired_spec(opts, fleet)
    return [parsed.fleet(fleet)] if fleet is not None else list(parsed.fleets)


def checked_version(fleet_spec, version, argument="version"):
    """``version`` (a quoted CLI string) or the pillar's; ArgumentError (the argument's) or SpecError (the
    pillar's) when it cannot name an image."""
    if version is not None and not isinstance(version, str):
        raise ArgumentError([(argument, f"expected a version string, got the number {version!r}: salt-run reads "
                                        f"{argument}=1.10 as a number; quote it for salt-run inside the shell's "
                                        f"quotes: {argument}='\"1.10\"'")])
    problem = names.label_problem(names.image_label(fleet_spec.name, version or fleet_spec.version))
    if problem and version:
        raise ArgumentError([(argument, f"version {version!r} would give {problem}")])
    if problem:
        raise SpecError([(f"{spec.ROOT}:fleets:{fleet_spec.name}:version",
                          f"version {fleet_spec.version!r} would give {problem}")])
    return version or fleet_spec.version


def provider(opts):
    """The Linode adapter configured by the master's ``immutable:`` settings."""
    settings = config.master_settings(opts)
    return LinodeProvider(
        master.resolve_token(opts, settings.linode_token), settings.api_url, poll_interval=settings.poll_interval,
        budget=RateBudget(),
    )


def state_folder(opts):
    """Where locks and roll history live: the master's cache dir (it survives restarts)."""
    return os.path.join(opts["cachedir"], "immutable")


def operator_name():
    return os.environ.get("SUDO_USER") or getpass.getuser()


def one_at_a_time(progress):
    """``progress`` made safe to call from the roll's threads (Salt's ``__jid_event__`` is not)."""
    if progress is None:
        return None
    guard = threading.Lock()

    def say(message):
        with guard:
            progress(message)

    return say


def context(opts, progress=None, fire_event=None, keep_builder_on_failure=False):
    """The :class:`fleetops.Context` for this master: one adapter shared by every fleet of a verb."""
    progress = one_at_a_time(progress)
    settings = config.master_settings(opts)
    salt_master = master.SaltMaster(opts)
    cloud = provider(opts)
    address, port = salt_master.address(settings.master_address), int(opts.get("ret_port", 4506))
    fire = fire_event or salt_master.fire

    def bake_image(fleet_spec, version, force=False):
        job = baking.BakeJob(
            fleet=fleet_spec, version=version, provider=cloud, salt=salt_master, master_address=address,
            master_port=port, progress=progress, fire=fire, force=force, keep_on_failure=keep_builder_on_failure,
        )
        return baking.Bake(job).run()

    return fleetops.Context(
        provider=cloud, salt=salt_master, master_address=address, master_port=port, folder=state_folder(opts),
        bake=bake_image, user=operator_name(), progress=progress, fire=fire,
    )


def plan(opts, fleet=None, version=None, offline=False):
    """What a roll would do: per fleet, the API operations in batches, the peak and the surge's cost.

    ``offline`` only validates the pillar and returns the desired fleets (no cloud call).
    """
    parsed = desired_spec(opts, fleet)
    fleets = parsed.to_dict()["fleets"]
    desired = fleets if fleet is None else {fleet: fleets[fleet]}
    if offline:
        return {"result": True, "fleets": desired}
    ctx = context(opts)
    chosen = [parsed.fleet(name) for name in desired]
    return {
        "result": True,
        "test": True,
        "fleets": {f.name: fleetops.preview(ctx, f, checked_version(f, version)) for f in chosen},
    }


def bake(opts, fleet, version=None, force=False, keep_builder_on_failure=False, wait=0, progress=None,
         fire_event=None):
    """Bake and prove the image of ``fleet`` at ``version`` (the pillar's by default); idempotent."""
    if not fleet:
        raise ArgumentError([("fleet", "bake needs fleet=<name>")])
    fleet_spec = desired_spec(opts, fleet).fleet(fleet)
    version = checked_version(fleet_spec, version)
    ctx = context(opts, progress, fire_event, keep_builder_on_failure)
    with locking.FleetLock(ctx.folder, fleet, "bake", warn=progress).acquire(wait):
        return ctx.bake(fleet_spec, version, force=force)


def roll(opts, fleet=None, version=None, test=False, quarantine=False, wait=0, progress=None, fire_event=None):
    """Roll every fleet (or ``fleet``) whose servers differ from the pillar (or ``version``).

    Fleets roll concurrently, each under its own lock, sharing one API client.
    """
    chosen = chosen_fleets(opts, fleet)
    versions = {f.name: checked_version(f, version) for f in chosen}
    if test:
        return plan(opts, fleet, version)
    ctx = context(opts, progress, fire_event)

    def one(fleet_spec):
        return pruning.roll_and_prune(ctx, fleet_spec, versions[fleet_spec.name], quarantine=quarantine, wait=wait)

    return gather(chosen, one)


def rollback(opts, fleet, to=None, quarantine=False, wait=0, progress=None, fire_event=None):
    """Roll ``fleet`` back to ``to``, or to the previous good version (history, else the proven images)."""
    if not fleet:
        raise ArgumentError([("fleet", "rollback needs fleet=<name>")])
    fleet_spec = desired_spec(opts, fleet).fleet(fleet)
    target = checked_version(fleet_spec, to, "to") if to is not None else None
    ctx = context(opts, progress, fire_event)
    current = fleetops.status(ctx, fleet_spec, ctx.folder)
    target = target or current["rollback_target"]
    if target is None:
        raise RollError(f"rollback {fleet}: no earlier version to go back to (no roll history, no other proven image)")
    proven = [image["version"] for image in current["images"] if image["proven"]]
    if target not in proven:
        raise RollError(f"rollback {fleet} to {target}: there is no proven image {names.image_label(fleet, target)} "
                        f"(deleted?); proven images: {', '.join(proven) or 'none'}")

    def one(fleet_spec):
        return fleetops.roll_fleet(ctx, fleet_spec, target, verb="rollback", quarantine=quarantine, wait=wait)

    return gather([fleet_spec], one)


def gather(fleet_specs, work):
    """Run ``work`` for each fleet concurrently; one result per fleet, failures included."""
    with ThreadPoolExecutor(max_workers=max(1, len(fleet_specs))) as pool:
        futures = {f.name: pool.submit(work, f) for f in fleet_specs}
    reports, problems = {}, []
    for name, future in futures.items():
        try:
            reports[name] = future.result()
        except RollError as err:
            reports[name] = err.report or failure(err)
            problems.append(str(err))
        except ImmutableError as err:
            reports[name] = failure(err)
            problems.append(f"{name}: {err}")
    ret = {"result": not problems, "changed": any(r.get("changed") for r in reports.values()), "fleets": reports}
    if problems:
        ret.update(comment="\n".join(problems), retcode=1)
    return ret


def status(opts, fleet=None):
    """Per fleet: desired and running versions, servers, images and the lock."""
    chosen = chosen_fleets(opts, fleet)  # the arguments first: a wrong fleet is named before any set-up
    ctx = context(opts)
    return {"result": True, "fleets": {f.name: fleetops.status(ctx, f, ctx.folder) for f in chosen}}


def history(opts, fleet=None, roll_id=None, picture=None):
    """Every roll and rollback recorded on this master, oldest first, and the images pruned since.

    With ``roll_id`` (or ``picture``, which defaults to the fleet's latest roll), one roll with its
    timeline of events; ``picture`` is a file the timeline is drawn into, as SVG.
    """
    if fleet is not None:
        desired_spec(opts, fleet)
    folder = state_folder(opts)
    if roll_id is None and picture is None:
        return {"result": True, "rolls": fleetops.history_rows(folder, fleet),
                "archived_images": records.archived_images(folder, fleet)}
    if fleet is None:
        raise ArgumentError([("fleet", "a roll's timeline needs fleet=<name> with id=<roll id> or picture=<file.svg>")])
    record = records.find(folder, fleet, roll_id)
    ret = {"result": True, "roll": record.to_json(with_events=True)}
    if picture is not None:
        ret["picture"] = write_picture(picture, ret["roll"])
    return ret


def write_picture(path, roll):
    """Draw ``roll``'s timeline into ``path`` (SVG); the absolute path written."""
    path = os.path.abspath(str(path))
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(timeline.render_svg(roll))
    except OSError as err:
        raise ConfigError(f"history: write the timeline picture {path}: {err.strerror}") from err
    return path


def approve(opts, fleet, roll_id=None, reject=False):
    """Answer the checkpoint a roll of ``fleet`` waits at (its running roll unless ``roll_id``)."""
    if not isinstance(fleet, str) or not locking.SAFE_NAME.fullmatch(fleet):
        raise ArgumentError([("fleet", f"approve needs fleet=<name>, got {fleet!r}")])
    if roll_id is None:
        running = [r for r in records.records(state_folder(opts), fleet) if r.outcome == records.RUNNING]
        if not running:
            raise RollError(f"approve {fleet}: no roll of {fleet} is running on this master")
        roll_id = running[-1].roll_id
    answer = {"fleet": fleet, "roll_id": str(roll_id), "approved": not reject, "user": operator_name()}
    master.SaltMaster(opts).fire(approval_tag(fleet), answer)
    verdict = "rejected" if reject else "approved"
    return {"result": True, "comment": f"{verdict} the checkpoint of roll {roll_id} of {fleet}", **answer}


def drift(opts, fleet=None, replace=False, wait=0, progress=None, fire_event=None):
    """Report, per fleet, the servers that no longer match their image; ``replace`` replaces those through
    the roll (same gates and surge rules; the other servers are left alone)."""
    chosen = chosen_fleets(opts, fleet)
    ctx = context(opts, progress, fire_event)

    def one(fleet_spec):
        report = fleetops.check_drift(ctx, fleet_spec)
        if replace and report["drifted"]:
            report["replaced"] = fleetops.replace_drifted(ctx, fleet_spec, report, wait)
        return report

    return gather(chosen, one)


def retire(opts, fleet, delete_volumes=False, test=False, wait=0, progress=None):
    """Remove ``fleet``'s Linodes, keys and managed NodeBalancer, and its volumes with ``delete_volumes``.

    Refused while the pillar still wants servers for it: the next roll would bring them back.
    """
    if not isinstance(fleet, str) or not locking.SAFE_NAME.fullmatch(fleet):
        raise ArgumentError([("fleet", f"retire needs fleet=<name>, got {fleet!r}")])
    wanted = desired_spec(opts).fleet(fleet)
    if wanted is not None and wanted.count > 0:
        raise SpecError([(f"{spec.ROOT}:fleets:{fleet}:count",
                          f"retire {fleet}: the pillar still wants {wanted.count} servers; set count: 0 or remove "
                          "the fleet from the pillar first, or the next roll brings them back")])
    return {"result": True, **retiring.retire_fleet(context(opts, progress), fleet, delete_volumes, test, wait)}


def prune(opts, fleet=None, keep=None, test=False, wait=0, progress=None):
    """Delete every fleet's (or ``fleet``'s) images beyond ``keep`` that nothing needs; ``test`` only lists."""
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise ArgumentError([("keep", f"expected a whole number of images of at least 1, got {keep!r}")])
    chosen = chosen_fleets(opts, fleet)
    ctx = context(opts, progress)
    return gather(chosen, lambda fleet_spec: pruning.prune_fleet(ctx, fleet_spec, keep, test, wait))


def unlock(opts, fleet, lock_id=None):
    """Break the lock of ``fleet`` if it holds ``lock_id``; without ``lock_id``, show who holds it."""
    if not fleet:
        raise ArgumentError([("fleet", "unlock needs fleet=<name>")])
    if not isinstance(fleet, str) or not locking.SAFE_NAME.fullmatch(fleet):
        raise ArgumentError([("fleet", f"{fleet!r} cannot be a fleet name (letters, digits, '.', '_', '-')")])
    folder = state_folder(opts)
    if lock_id is None:
        held = locking.holder(folder, fleet)
        if held is None:
            return {"result": True, "comment": f"fleet {fleet} is not locked", "lock": None}
        return {"result": False, "retcode": 1, "lock": held,
                "comment": f"fleet {fleet} is locked by {locking.describe(held)}; to break it: "
                           f"salt-run immutable.unlock fleet={fleet} lock_id={held.get('lock_id')}"}
    removed = locking.break_lock(folder, fleet, lock_id)
    comment = f"broke the lock of fleet {fleet}" if removed else f"fleet {fleet} was not locked"
    return {"result": True, "comment": comment, "lock": removed}


def failure(err):
    """The runner return for a failed verb: what went wrong, structured, with a non-zero retcode."""
    ret = {"result": False, "error": type(err).__name__, "comment": str(err), "retcode": 1}
    if isinstance(err, SpecError):
        ret["problems"] = [{"path": path, "message": message} for path, message in err.problems]
    if isinstance(err, RollError) and err.report:
        ret["report"] = err.report
    return ret
