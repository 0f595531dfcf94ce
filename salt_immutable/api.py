"""The facade the Salt faces call. It takes ``opts``, ``progress`` and ``fire_event`` explicitly."""

from salt_immutable import bake as baking
from salt_immutable import config, master, names, spec
from salt_immutable.errors import SpecError
from salt_immutable.linode import LinodeProvider


def desired_spec(opts, fleet=None):
    """Compile the master-side pillar and validate it; ``fleet`` narrows the result to one fleet."""
    settings = config.master_settings(opts)
    parsed = spec.parse(master.compile_fleet_pillar(opts, settings.pillar_id))
    if fleet is not None and parsed.fleet(fleet) is None:
        known = ", ".join(f.name for f in parsed.fleets) or "none"
        raise SpecError([(f"{spec.ROOT}:fleets:{fleet}", f"no such fleet (the pillar defines: {known})")])
    return parsed


def plan(opts, fleet=None):
    """What a roll would work towards: the desired fleets, validated (no cloud call yet)."""
    parsed = desired_spec(opts, fleet)
    fleets = parsed.to_dict()["fleets"]
    return {"result": True, "fleets": fleets if fleet is None else {fleet: fleets[fleet]}}


def provider(opts):
    """The Linode adapter configured by the master's ``immutable:`` settings."""
    settings = config.master_settings(opts)
    return LinodeProvider(master.resolve_token(opts, settings.linode_token), settings.api_url)


def bake(opts, fleet, version=None, force=False, keep_builder_on_failure=False, progress=None, fire_event=None):
    """Bake and prove the image of ``fleet`` at ``version`` (the pillar's by default); idempotent."""
    if not fleet:
        raise SpecError([(f"{spec.ROOT}:fleets", "bake needs fleet=<name>")])
    fleet_spec = desired_spec(opts, fleet).fleet(fleet)
    if version is not None and not isinstance(version, str):
        raise SpecError([("version", f'expected a quoted version such as version="1.10", got {version!r} '
                                     "(salt-run reads an unquoted version as a number)")])
    version = version or fleet_spec.version
    problem = names.label_problem(names.image_label(fleet, version))
    if problem:
        raise SpecError([(f"{spec.ROOT}:fleets:{fleet}:version", f"version {version!r} would give {problem}")])
    settings = config.master_settings(opts)
    salt_master = master.SaltMaster(opts)
    job = baking.BakeJob(
        fleet=fleet_spec,
        version=version,
        provider=provider(opts),
        salt=salt_master,
        master_address=salt_master.address(settings.master_address),
        master_port=int(opts.get("ret_port", 4506)),
        progress=progress,
        fire=fire_event or salt_master.fire,
        force=force,
        keep_on_failure=keep_builder_on_failure,
    )
    return baking.Bake(job).run()


def failure(err):
    """The runner return for a failed verb: what went wrong, structured, with a non-zero retcode."""
    ret = {"result": False, "error": type(err).__name__, "comment": str(err), "retcode": 1}
    if isinstance(err, SpecError):
        ret["problems"] = [{"path": path, "message": message} for path, message in err.problems]
    return ret
