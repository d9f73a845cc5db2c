"""store-results, called as Lambda calls it, with the seed's test event verbatim."""

import json

from radstream.deployed import s3_layout


def test_seed_event_writes_the_result_record(account, lambda_function):
    seed_path = f"s3://{account.names.images_bucket}/test.jpg"
    store = lambda_function("store-results")

    body = store({"s3_path": seed_path, "metadata": {"study_id": "test-001", "view": "PA"},
                  "inference_results": {"findings": "Normal chest X-ray", "confidence": 0.95}})

    assert body["status"] == "SUCCESS" and body["study_id"] == "test-001"
    assert body["results_s3_path"] == f"s3://{account.names.results_bucket}/{s3_layout.result_key('test-001')}"
    stored = json.loads(account.get(body["results_s3_path"]))
    assert stored["study_id"] == "test-001" and stored["status"] == "SUCCEEDED" and stored["image"] == seed_path
    assert stored["metadata"] == {"study_id": "test-001", "view": "PA"}
    assert stored["inference_results"] == {"findings": "Normal chest X-ray", "confidence": 0.95}
