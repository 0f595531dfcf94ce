"""What salt-immutable asks of the Salt master it runs in: the fleet pillar, for now.

Takes the master ``opts`` explicitly; never reads Salt's dunders.
"""

import salt.pillar

from salt_immutable.errors import ConfigError


def compile_fleet_pillar(opts, pillar_id):
    """Compile the pillar the master holds for ``pillar_id`` (the master's own id by default).

    Orchestration compiles pillar for the master's id too, so one top-file target serves both.
    """
    pillar = salt.pillar.get_pillar(
        opts,
        opts.get("grains", {}),
        pillar_id,
        saltenv=opts.get("saltenv"),
        pillarenv=opts.get("pillarenv"),
    ).compile_pillar()
    render_errors = pillar.get("_errors")
    if render_errors:
        raise ConfigError(f"compile pillar for {pillar_id} failed: {'; '.join(map(str, render_errors))}")
    return pillar
