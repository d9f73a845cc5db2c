"""Open Inference Protocol (KServe v2 REST) model server for RadStream.

Run it: ``python -m radstream_model_server --host 127.0.0.1 --port 8080``. See ``app.py``
for the endpoints, ``model.py`` for where the model comes from, ``batcher.py`` for dynamic
batching.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "create_app", "Settings"]


def __getattr__(name):  # lazy: importing the package must not load onnxruntime
    if name in ("create_app", "Settings"):
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
