"""RadStream: a local-first streaming inference pipeline for radiology AI on AWS."""
