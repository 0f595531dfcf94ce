{#-
  Approve (or reject) a roll waiting at a checkpoint from outside the master: a chat bot or a CI job
  POSTs to salt-api's webhook (rest_cherrypy or rest_tornado)

    curl -sS https://salt-api.example.com/hook/immutable/approve \
      -H 'X-Auth-Token: <salt-api token>' -H 'X-Immutable-Approval: <shared secret>' \
      -d fleet=web -d roll_id=1a2b3c4d                   # add -d approved=false to reject

  and this reactor runs `salt-run immutable.approve` for it. The webhook's event carries the request's
  body under `post` and its headers under `headers`; the shared secret must match the master config:

    immutable_reactor:
      approval_secret: <a long random string>
    reactor:
      - 'salt/netapi/hook/immutable/approve':
        - salt://reactor/immutable/approve.sls

  Without immutable_reactor:approval_secret, or with a wrong one, it does nothing; nor for an event a
  minion sent (event.send), which the master marks with the minion's id.
-#}
{%- set secret = salt['config.get']('immutable_reactor:approval_secret') %}
{%- set body = data.get('post') or {} %}
{%- set given = (data.get('headers') or {}).get('X-Immutable-Approval') %}
{%- set rejected = body.get('approved') in (false, 'false', 'False', 'no', '0') %}
{%- set from_minion = data.get('cmd') == '_minion_event' or 'id' in data %}
{%- if secret and given == secret and body.get('fleet') and not from_minion %}

immutable-approve:
  runner.immutable.approve:
    - args:
      - fleet: {{ body['fleet'] | string | json }}
      {%- if body.get('roll_id') %}
      - roll_id: {{ body['roll_id'] | string | json }}
      {%- endif %}
      - reject: {{ rejected | json }}
{%- endif %}
