"""What ships to AWS Lambda: the domain code and the thin handlers that call it.

The Lambda package is exactly this tree (plus ``radstream/__init__.py``), built from an allow-list
by ``radstream.infra.package``. Nothing here imports tooling, the definition, analytics or the
emulator, and only ``handlers`` imports AWS SDKs; an import contract in the tests enforces both.
The subpackages follow a study through the pipeline: ``intake`` (ids, sidecar, workflow input),
``imaging`` (image -> tensor), ``inference`` (tensor -> findings), ``records`` (result or failure),
``telemetry`` (events to Kinesis); ``s3_layout`` says where each lands.
"""
