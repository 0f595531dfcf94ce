# The fleet spec is compiled for the master's own id (salt-run and orchestration both do that).
# Salt's default master id ends in "_master"; set immutable:pillar_id in the master config to use another.
#
# Bake-time and boot-time pillar are kept apart by the grains salt-immutable gives the machines it boots
# (immutable:fleet, immutable:role = builder | candidate | server): builders see only what may be baked,
# boot-time secrets reach only machines booted from the image.
base:
  '*_master':
    - immutable
  'G@immutable:fleet:web and G@immutable:role:builder':
    - match: compound
    - webapp.bake
  'G@immutable:fleet:web and not G@immutable:role:builder':
    - match: compound
    - webapp.secrets
