# Seen by machines booted from the image (candidates and servers), never by builders: applied at first
# boot by the fleet's boot states.
webapp:
  api_key: example-api-key-not-a-real-secret
