{#-
  Two fleets that depend on each other: the db fleet rolls first, and web rolls only once every db
  server runs its new version. A failed db roll (rolled back or not) leaves web untouched.

    salt-run state.orch orch.immutable.multi_fleet
    salt-run state.orch orch.immutable.multi_fleet test=True

  Copy it and rename the fleets to fit your pillar.
-#}
db-servers:
  immutable.fleet_converged:
    - name: db

web-servers:
  immutable.fleet_converged:
    - name: web
    - require:
      - immutable: db-servers
