"""`POST /v1/jobs`: one form, validated per job kind, saved, probed and queued (`submit_job`).

`common.py` holds what every kind shares (model lookup, sizes, quota reservation, saving uploads); `translate.py`,
`predict.py` and `generate.py` check and store what their kind takes and build its `JobSpec.inputs`.
"""

from app.intake.common import SubmitForm, Upload, submit_job

__all__ = ["SubmitForm", "Upload", "submit_job"]
