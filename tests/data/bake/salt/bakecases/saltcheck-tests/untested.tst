untested_file_says_expected:
  module_and_function: file.search
  args:
    - /etc/bakecases/untested.conf
    - "expected"
  assertion: assertTrue
