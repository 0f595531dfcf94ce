# Leaves the build secret base64-encoded in a config file: the seal must refuse the disk.
leaked-base64:
  file.managed:
    - name: /opt/leak/token.b64
    - makedirs: True
    - contents: "token_b64 = {{ salt['hashutil.base64_b64encode'](salt['pillar.get']('webapp:build_token')) }}"
