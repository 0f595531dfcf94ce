{#-
  Tell people what a roll or a bake needs them to know: post the event to a webhook (a chat channel,
  a pager, an incident tool) through Salt's http.query runner, as JSON
  {"text": "...", "tag": "...", "fleet": "...", "event": {...the event's data...}}.

  Master config (the webhook URL is a secret of the master, never pillar):

    immutable_reactor:
      webhook: https://hooks.example.com/services/T000/B000/XXXX
    reactor:
      - 'salt/immutable/*/roll/failed':
        - salt://reactor/immutable/notify.sls
      - 'salt/immutable/*/roll/rolled_back':
        - salt://reactor/immutable/notify.sls
      - 'salt/immutable/*/roll/checkpoint':
        - salt://reactor/immutable/notify.sls
      - 'salt/immutable/*/bake/*':              # only a failed phase is posted
        - salt://reactor/immutable/notify.sls

  Without immutable_reactor:webhook it does nothing.
-#}
{%- set webhook = salt['config.get']('immutable_reactor:webhook') %}
{%- set parts = tag.split('/') %}
{%- set fleet = parts[2] if parts | length > 2 else '?' %}
{%- set phase = parts[-1] %}
{%- set failure = data.get('failure') or {} %}
{%- if phase == 'checkpoint' %}
{%- set text = 'roll ' ~ data.get('roll_id') ~ ' of ' ~ fleet ~ ' waits for approval after batch ' ~ data.get('batch') ~ ' (up to ' ~ data.get('timeout') ~ ' s): ' ~ data.get('approve') %}
{%- elif phase == 'rolled_back' %}
{%- set text = 'roll ' ~ data.get('roll_id') ~ ' of ' ~ fleet ~ ' to ' ~ data.get('to') ~ ' failed and was rolled back to ' ~ data.get('back_to') %}
{%- elif parts[3:4] == ['bake'] %}
{%- set text = 'bake of ' ~ fleet ~ '@' ~ data.get('version') ~ ' failed in ' ~ data.get('phase') ~ ': ' ~ data.get('error') %}
{%- else %}
{%- set text = 'roll ' ~ data.get('roll_id') ~ ' of ' ~ fleet ~ ' to ' ~ data.get('to') ~ ' failed' ~ (' on ' ~ failure.server if failure.get('server') else '') ~ ': ' ~ failure.get('cause', phase) %}
{%- endif %}
{%- set wanted = parts[3:4] != ['bake'] or data.get('status') == 'failed' %}
{%- if webhook and wanted %}

immutable-notify:
  runner.http.query:
    - args:
      - url: {{ webhook | json }}
      - method: POST
      - header_dict: {"Content-Type": "application/json"}
      - data: {{ {"text": text, "tag": tag, "fleet": fleet, "event": data} | json | json }}
{%- endif %}
