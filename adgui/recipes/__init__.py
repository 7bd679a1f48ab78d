"""A recipe's versions (threshold, region of interest) kept beside its model file."""
