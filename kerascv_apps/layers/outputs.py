"""Marks auxiliary (training-only) outputs of a model and the weight of their loss."""

import keras


@keras.saving.register_keras_serializable(package="kerascv_apps")
class AuxiliaryOutput(keras.layers.Layer):
    """Identity (float32) on an auxiliary head's final tensor; its name is the output name.

    ``kerascv_apps.models.outputs.inference_model`` drops every output produced by this layer
    and ``output_loss_weights`` weights its loss by ``loss_weight`` (GoogLeNet: 0.3 per
    auxiliary classifier; PSPNet: 0.4). The weight travels with the saved model.
    """

    def __init__(self, loss_weight, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        loss_weight = float(loss_weight)
        if not loss_weight >= 0:
            raise ValueError(f"AuxiliaryOutput: loss_weight must be >= 0, got {loss_weight!r}")
        self.loss_weight = loss_weight

    def call(self, x):
        return keras.ops.cast(x, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(loss_weight=self.loss_weight)
        return config
