"""Quantization-aware training, magnitude pruning and weight clustering through tfmot.

tfmot only accepts tf_keras models, so the Keras 3 model is rebuilt as its tf_keras twin
(``twin.tf_keras_twin``), output parity is checked, and ``tfmot_ops`` optimizes the twin.
"""
