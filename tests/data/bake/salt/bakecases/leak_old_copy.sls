# Leaves a copy of the build secret whose mtime says 2001 (as `cp -p` or an archive would): the seal
# must still see it, by its ctime.
leaked-old-copy:
  cmd.run:
    - name: >-
        mkdir -p /srv/leak &&
        printf 'token=%s\n' '{{ salt['pillar.get']('webapp:build_token') }}' > /srv/leak/token.txt &&
        touch -d 2001-01-01 /srv/leak/token.txt
    - creates: /srv/leak/token.txt
