"""The facade the Salt faces call. It takes ``opts`` (and later ``context``/``fire_event``) explicitly."""

from salt_immutable import config, master, spec
from salt_immutable.errors import SpecError


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


def failure(err):
    """The runner return for a failed verb: what went wrong, structured, with a non-zero retcode."""
    ret = {"result": False, "error": type(err).__name__, "comment": str(err), "retcode": 1}
    if isinstance(err, SpecError):
        ret["problems"] = [{"path": path, "message": message} for path, message in err.problems]
    return ret
