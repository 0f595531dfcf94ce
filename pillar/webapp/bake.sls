# Seen by builders only. Keys listed under the fleet's bake:secrets may be used while baking but must
# not be left in the image: the seal refuses to capture a disk that still holds one of their values.
webapp:
  build_token: example-build-token-not-a-real-secret
