{#-
  Bake → roll → prune, for one fleet or for every fleet of the immutable pillar. Each step requires the
  one before it: a failed bake leaves the fleet untouched, a failed roll prunes nothing.

    salt-run state.orch orch.immutable.roll pillar='{"fleet": "web"}'
    salt-run state.orch orch.immutable.roll                      # every fleet, one after the other
    salt-run state.orch orch.immutable.roll test=True            # the plan, nothing changed

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

immutable-{{ fleet }}-servers:
  immutable.fleet_converged:
    - name: {{ fleet }}
    {%- if pillar.get('version') %}
    - version: {{ pillar['version'] | string | json }}
    {%- endif %}
    - require:
      - immutable: immutable-{{ fleet }}-image

immutable-{{ fleet }}-images:
  immutable.images_pruned:
    - name: {{ fleet }}
    - require:
      - immutable: immutable-{{ fleet }}-servers
{%- endfor %}
