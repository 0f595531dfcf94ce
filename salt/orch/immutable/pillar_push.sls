{#-
  A push to the git-backed pillar: fetch it, then roll every fleet whose servers differ from it (bake
  the images it names first). Started by salt/reactor/immutable/pillar_push.sls, or by hand:

    salt-run state.orch orch.immutable.pillar_push

  The roll compiles the pillar when it starts, after the fetch: a version bump in the push is what it
  rolls to. A fleet already rolling keeps its lock: that fleet's roll here fails, the others go on.
-#}
immutable-git-pillar-fetched:
  salt.runner:
    - name: git_pillar.update

immutable-fleets-rolled:
  salt.runner:
    - name: immutable.roll
    - quiet: True
    - require:
      - salt: immutable-git-pillar-fetched
