# The fleet spec is compiled for the master's own id (salt-run and orchestration both do that).
# Salt's default master id ends in "_master"; set immutable:pillar_id in the master config to use another.
base:
  '*_master':
    - immutable
