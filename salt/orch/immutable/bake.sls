{#-
  Bake and prove the image of one fleet, or of every fleet of the immutable pillar.

    salt-run state.orch orch.immutable.bake pillar='{"fleet": "web"}'
    salt-run state.orch orch.immutable.bake                      # every fleet
    salt-run state.orch orch.immutable.bake test=True            # what would be baked

  Pillar keys: fleet (default: every fleet), version (default: the fleet's version in pillar).
-#}
{%- set chosen = pillar.get('fleet') %}
{%- set fleets = [chosen] if chosen else (pillar.get('immutable', {}).get('fleets', {}) | list) %}
{%- for fleet in fleets %}

immutable-{{ fleet }}-image:
  immutable.image_present:
    - name: {{ fleet }}
    {%- if pillar.get('version') %}
    - version: {{ pillar['version'] | string | json }}
    {%- endif %}
{%- endfor %}
