"""The pipeline's definition: the Step Functions state machine, resource names and infrastructure.

Data only (no AWS calls): ``radstream.infra`` deploys it; the deployed code never imports it.
"""
