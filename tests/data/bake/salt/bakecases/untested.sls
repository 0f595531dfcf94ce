# Applies fine, but its saltcheck test expects something else.
untested-file:
  file.managed:
    - name: /etc/bakecases/untested.conf
    - makedirs: True
    - contents: "applied"
