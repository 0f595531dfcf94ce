server_is_installed:
  module_and_function: file.file_exists
  args:
    - /opt/webapp/server.py
  assertion: assertTrue

config_sets_the_port:
  module_and_function: file.search
  args:
    - /etc/webapp/webapp.conf
    - "port = 8080"
  assertion: assertTrue

starts_at_every_boot:
  module_and_function: file.file_exists
  args:
    - /var/lib/cloud/scripts/per-boot/50-webapp.sh
  assertion: assertTrue

fetched_with_the_build_secret:
  module_and_function: file.file_exists
  args:
    - /opt/webapp/vendor/fetched
  assertion: assertTrue

build_secret_is_gone:
  module_and_function: file.file_exists
  args:
    - /root/.config/webapp/build.env
  assertion: assertFalse
