"""A convolution whose output maps see only some input maps: LeNet-5's C3 connection table
(LeCun et al. 1998, "Gradient-based learning applied to document recognition", Table I)."""

import keras
import numpy as np
from keras import ops

# LeCun et al. 1998, Table I: the S2 maps (0-5) each C3 map (0-15) takes. Maps 0-5 take three
# contiguous S2 maps, 6-11 four contiguous, 12-14 four discontinuous, 15 all six: 60
# connections, 60 * 25 weights + 16 biases = 1,516 parameters (2,416 when fully connected).
LENET5_C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


@keras.saving.register_keras_serializable(package="kerascv_apps")
class ConnectionTableConv2D(keras.layers.Layer):
    """2-D convolution with a connection table: output map ``j`` is a convolution of the input
    maps ``connections[j]`` only (LeNet-5's C3: "break the symmetry", fewer weights).

    Only the connected kernels are weights: ``kernel`` has shape ``(k, k, n)`` for the ``n``
    (input, output) pairs of the table, so ``count_params`` is ``k*k*n + filters``. The full
    ``(k, k, in, out)`` kernel is made from it by one 2-D matmul with a constant 0/1 placement
    matrix (absent connections are exact zeros, never trained), then one ordinary
    convolution runs, which TFLite converts to its builtin ``CONV_2D``.

    Args:
        connections: for each output map, the indices of the input maps it takes.
        kernel_size: an int (square kernel).
        strides: an int.
        padding: 'valid' (LeNet-5) or 'same'.
        activation: activation after the bias.
        use_bias: one bias per output map.
        kernel_initializer: initializer of the full ``(k, k, in, out)`` kernel; the connected
            entries are kept (so the fan-in/fan-out of e.g. Glorot are the full layer's).
        bias_initializer: initializer of the biases.
    """

    def __init__(self, connections, kernel_size, strides=1, padding="valid", activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        try:
            table = tuple(tuple(int(i) for i in maps) for maps in connections)
        except TypeError as error:
            raise ValueError("ConnectionTableConv2D: connections must be a list of lists of "
                             f"input-map indices, got {connections!r}") from error
        if not table or any(not maps for maps in table):
            raise ValueError("ConnectionTableConv2D: every output map needs at least one input "
                             f"map, got connections={connections!r}")
        if any(len(set(maps)) != len(maps) or min(maps) < 0 for maps in table):
            raise ValueError("ConnectionTableConv2D: connections must hold distinct indices "
                             f">= 0 per output map, got {connections!r}")
        if padding not in ("valid", "same"):
            raise ValueError(f"ConnectionTableConv2D: padding must be 'valid' or 'same', got "
                             f"{padding!r}")
        self.connections = table
        self.filters = len(table)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.padding = padding
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def _pairs(self):
        """(input map, output map) of every connection, in kernel order."""
        return [(i, j) for j, maps in enumerate(self.connections) for i in maps]

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("ConnectionTableConv2D: the number of input channels must be known")
        channels = int(channels)
        largest = max(max(maps) for maps in self.connections)
        if largest >= channels:
            raise ValueError(f"ConnectionTableConv2D {self.name!r}: connections name input map "
                             f"{largest} but the input has {channels} channels")
        pairs = self._pairs()
        k = self.kernel_size
        placement = np.zeros((len(pairs), channels * self.filters), "float32")
        for n, (i, j) in enumerate(pairs):
            placement[n, i * self.filters + j] = 1.0  # (in, out) flattened row-major
        self._placement = placement
        self._in_channels = channels
        full_init = self.kernel_initializer
        rows, cols = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])

        def compact_init(shape, dtype=None):
            full = full_init((k, k, channels, self.filters), dtype=dtype)
            return ops.convert_to_tensor(np.asarray(full)[:, :, rows, cols], dtype=dtype)

        self.kernel = self.add_weight(name="kernel", shape=(k, k, len(pairs)),
                                      initializer=compact_init, trainable=True)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,),
                                     initializer=self.bias_initializer, trainable=True)
                     if self.use_bias else None)
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})

    def full_kernel(self):
        """The ``(k, k, in, out)`` kernel with zeros where the table has no connection."""
        k, pairs = self.kernel_size, len(self._pairs())
        compact = ops.convert_to_tensor(self.kernel)
        placement = ops.convert_to_tensor(self._placement, dtype=compact.dtype)
        full = ops.matmul(ops.reshape(compact, (k * k, pairs)), placement)
        return ops.reshape(full, (k, k, self._in_channels, self.filters))

    def call(self, inputs):
        kernel = ops.cast(self.full_kernel(), inputs.dtype)
        x = ops.conv(inputs, kernel, strides=self.strides, padding=self.padding,
                     data_format="channels_last")
        if self.bias is not None:
            x = x + ops.cast(self.bias, x.dtype)
        return self.activation(x)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        k, s = self.kernel_size, self.strides

        def size(d):
            if d is None:
                return None
            return -(-d // s) if self.padding == "same" else (d - k) // s + 1

        return (n, size(h), size(w), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({
            "connections": [list(maps) for maps in self.connections],
            "kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config
