# The fleet spec is compiled for the master's own id (salt-run and orchestration both do that).
# Salt's default master id ends in "_master"; set immutable:pillar_id in the master config to use another.
#
# Bake-time and boot-time pillar are kept apart by minion id, which the master binds to the key it
# accepted for each machine salt-immutable boots: builders are <fleet>-<version>-build, candidates
# <fleet>-<version>-proof, servers <fleet>-g<generation>-<n>. Never by grains alone: any code running
# on a builder can rewrite its grains. Builders see only what may be baked; boot-time secrets reach only
# machines booted from the image.
{% from "immutable_targets.jinja" import builders, booted %}
base:
  '*_master':
    - immutable
  '{{ builders("web") }}':
    - match: compound
    - webapp.bake
  '{{ booted("web") }}':
    - match: compound
    - webapp.secrets
