# A bake state that fails: the bake must stop and name it.
this-state-fails:
  test.fail_without_changes:
    - name: deliberately failing
