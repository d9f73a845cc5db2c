"""Deploy the definition to a target: target resolution, packaging, plan/apply."""
