# The fleet spec: bump a fleet's version and run `salt-run immutable.roll` to replace its servers.
# No secret belongs here: the Linode token lives in the master config (see README).
immutable:
  linode:
    region: us-east
    type: g6-standard-1
    base_image: linode/debian12
  fleets:
    web:
      version: "1.0.0"
      count: 3
      bake:
        states: [examples.webapp]
        secrets: [webapp:build_token]
      boot:
        states: [examples.webapp.secrets]
      tests:
        saltcheck: [examples.webapp]
        converge: true
        http: {port: 8080, path: /healthz}
      rollout: {max_surge: 1, max_unavailable: 0, warmup: 2, progress_deadline: 600}
      nodebalancer: {label: web-lb, port: 80, drain_seconds: 2}   # managed: the roll creates it
      retention: {keep: 3}
