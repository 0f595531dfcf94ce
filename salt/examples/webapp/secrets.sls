# A boot state: per-instance secrets arrive after first boot, never in the image.
webapp-secret:
  file.managed:
    - name: /etc/webapp/secret.conf
    - mode: "0600"
    - makedirs: True
    - contents: "api_key = {{ salt['pillar.get']('webapp:api_key') }}"
