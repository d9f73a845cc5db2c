"""Intake: is this a study we can take? Study ids, sidecar validation, the workflow's input."""
