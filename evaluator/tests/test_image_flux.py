"""The image evaluator on a tiny random Flux pipeline (see image_pipeline_contract.py)."""

from image_pipeline_contract import PipelineContract


class TestFluxEvaluation(PipelineContract):
    model_type = "flux"
