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
