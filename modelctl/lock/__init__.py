"""The `lock` use case: pin every asset of a manifest to a commit, sha256 and size from metadata."""
