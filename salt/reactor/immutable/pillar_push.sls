{#-
  A push to the git repository that holds the pillar starts a roll: the git server's push webhook calls
  salt-api (rest_cherrypy or rest_tornado), which fires salt/netapi/hook/immutable/pillar, and this
  reactor runs the orchestration orch.immutable.pillar_push (fetch the git pillar, then
  salt-run immutable.roll for every fleet).

    # GitLab: Settings → Webhooks → URL https://salt-api.example.com/hook/immutable/pillar,
    #         Secret token = immutable_reactor:push_secret (sent as X-Gitlab-Token), Push events.
    # Anything else (a CI job after the merge):
    curl -sS https://salt-api.example.com/hook/immutable/pillar \
      -H 'X-Auth-Token: <salt-api token>' -H 'X-Immutable-Push: <shared secret>' -d ref=main

  Master config (the master must have ext_pillar git and GitPython or pygit2 installed):

    immutable_reactor:
      push_secret: <a long random string>
    reactor:
      - 'salt/netapi/hook/immutable/pillar':
        - salt://reactor/immutable/pillar_push.sls

  Without immutable_reactor:push_secret, with a wrong secret, or for an event a minion sent, it does
  nothing.
-#}
{%- set secret = salt['config.get']('immutable_reactor:push_secret') %}
{%- set headers = data.get('headers') or {} %}
{%- set given = headers.get('X-Immutable-Push') or headers.get('X-Gitlab-Token') %}
{%- set from_minion = data.get('cmd') == '_minion_event' or 'id' in data %}
{%- if secret and given == secret and not from_minion %}

immutable-pillar-push:
  runner.state.orchestrate:
    - args:
      - mods: orch.immutable.pillar_push
{%- endif %}
