"""Open Inference Protocol (KServe v2) model server for RadStream."""
