# The example app's bake without the step that removes its build credentials: the build secret stays on
# disk in plain text, and the seal must refuse the disk, naming the file.
include:
  - examples.webapp

exclude:
  - id: webapp-build-credentials-removed
