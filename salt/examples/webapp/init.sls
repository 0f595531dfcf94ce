# A tiny web app, small enough to bake in seconds: a Python HTTP server started at every boot by
# cloud-init's per-boot scripts (emulated machines have no systemd; real Linodes run these too).
webapp-dir:
  file.directory:
    - name: /opt/webapp
    - makedirs: True

webapp-server:
  file.managed:
    - name: /opt/webapp/server.py
    - source: salt://examples/webapp/files/server.py
    - mode: "0755"
    - require:
      - file: webapp-dir

webapp-config:
  file.managed:
    - name: /etc/webapp/webapp.conf
    - makedirs: True
    - contents: |
        port = 8080

webapp-start-at-boot:
  file.managed:
    - name: /var/lib/cloud/scripts/per-boot/50-webapp.sh
    - makedirs: True
    - mode: "0755"
    - contents: |
        #!/bin/sh
        # Started at every boot; logs next to the app.
        nohup python3 /opt/webapp/server.py >/var/log/webapp.log 2>&1 &

# The build secret (bake:secrets in the fleet spec), used as real bakes use one: written to a config,
# used to fetch what the app needs (here, a stand-in for a download from a private artifact store:
# loopback is all this lab has), and removed before the bake ends. The seal refuses to capture a disk
# still holding its value, in any file and any encoding. A machine booted from the image has fetched
# already (``unless``/``creates``), so these states converge there without the secret.
webapp-build-credentials:
  file.managed:
    - name: /root/.config/webapp/build.env
    - makedirs: True
    - mode: "0600"
    - contents: "WEBAPP_BUILD_TOKEN={{ salt['pillar.get']('webapp:build_token') }}"
    - unless: test -f /opt/webapp/vendor/fetched

webapp-fetch-vendor:
  cmd.run:
    - name: >-
        . /root/.config/webapp/build.env && test -n "$WEBAPP_BUILD_TOKEN" &&
        mkdir -p /opt/webapp/vendor && date -u +%Y-%m-%dT%H:%M:%SZ > /opt/webapp/vendor/fetched
    - creates: /opt/webapp/vendor/fetched
    - require:
      - file: webapp-build-credentials
      - file: webapp-dir

webapp-build-credentials-removed:
  file.absent:
    - name: /root/.config/webapp/build.env
    - require:
      - cmd: webapp-fetch-vendor
