"""Operating a deployment's studies: `radstream failures`, `radstream reconcile`, `radstream redrive`.

``inventory`` reads what the deployment holds (uploads, records, executions, the upload trigger's
failure queue); ``checks`` says which studies failed and what does not add up; ``redrive`` runs failed
or lost studies again, keeping the record of every earlier attempt.
"""
