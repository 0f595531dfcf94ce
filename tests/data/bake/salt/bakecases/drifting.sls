# Never converges: a command without a guard would run again on every apply.
drifting-command:
  cmd.run:
    - name: date > /etc/drifting-stamp
